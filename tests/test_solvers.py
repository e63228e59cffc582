import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from concur.errors import ConcurError
from concur.solvers import (min_feasible_budget, nondominated, solve_exact, solve_fast, solve_global, solve_local,
                            sort_options, upper_hull)


def brute_force(p, c, budget):
    """Optimal objective by enumerating every assignment (tiny instances only)."""
    n, S = p.shape
    combos = np.array(list(itertools.product(range(S), repeat=n)))
    rows = np.arange(n)
    P, C = p[rows, combos].sum(1), c[rows, combos].sum(1)
    ok = C <= budget + 1e-9
    return P[ok].max()


def random_instance(rng, n_max=5, s_max=4):
    n, S = rng.integers(1, n_max + 1), rng.integers(1, s_max + 1)
    # rounded values create ties and dominated options on purpose
    p = rng.random((n, S)).round(int(rng.integers(1, 3)))
    c = (rng.random((n, S)) * 10).round(int(rng.integers(0, 2)))
    lo, hi = min_feasible_budget(c), c.max(1).sum()
    return p, c, lo + rng.random() * (hi - lo)


def test_exact_matches_brute_force_and_fast_within_certified_gap():
    rng = np.random.default_rng(0)
    for _ in range(150):
        p, c, B = random_instance(rng)
        opt = brute_force(p, c, B)
        e, f = solve_exact(p, c, B), solve_fast(p, c, B)
        assert e.cost <= B + 1e-9 and f.cost <= B + 1e-9
        assert e.objective == pytest.approx(opt, abs=1e-9)
        assert f.objective <= opt + 1e-9
        assert f.lp_bound >= opt - 1e-9  # certified upper bound
        assert opt - f.objective <= f.gap + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.integers(1, 4).flatmap(lambda s: st.tuples(
    arrays(np.float64, (n, s), elements=st.floats(0, 1, width=16)),
    arrays(np.float64, (n, s), elements=st.floats(0, 20, width=16)),
    st.floats(0, 1)))))
def test_property_fast_and_exact(inst):
    p, c, t = inst
    B = min_feasible_budget(c) + t * (c.max(1).sum() - min_feasible_budget(c))
    opt = brute_force(p, c, B)
    f = solve_fast(p, c, B)
    e = solve_exact(p, c, B)
    assert f.cost <= B + 1e-9 * max(1, B) and e.cost <= B + 1e-9 * max(1, B)
    assert f.objective <= opt + 1e-9 <= f.lp_bound + 2e-9
    assert e.objective == pytest.approx(opt, abs=1e-7)


def test_budget_never_exceeded_on_predicted_cost_large():
    rng = np.random.default_rng(1)
    p, c = rng.random((3000, 10)), rng.uniform(0, 50, (3000, 10))
    for per_task in (5.0, 12.0, 30.0):
        for sol in (solve_fast(p, c, per_task * 3000), solve_global(p, c, per_task * 3000, "exact", 30)):
            assert sol.cost <= per_task * 3000 * (1 + 1e-12)
            assert sol.gap >= 0 and sol.gap < 1.0  # optimal up to (less than) one task


def test_generous_budget_gives_best_strategy_ties_cheaper():
    p = np.array([[0.5, 0.9, 0.9], [0.2, 0.2, 0.1]])
    c = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 1.0]])
    for sol in (solve_fast(p, c, 100), solve_exact(p, c, 100)):
        assert sol.choice.tolist() == [2, 1]  # equal p -> the cheaper one
        assert sol.optimal


def test_infeasible_budget_names_minimum():
    c = np.array([[2.0, 3.0], [4.0, 1.0]])
    with pytest.raises(ConcurError, match="minimum feasible budget per task: 1.5"):
        solve_fast(np.ones_like(c), c, 2.9)
    with pytest.raises(ConcurError, match="infeasible"):
        solve_exact(np.ones_like(c), c, 2.9)
    assert solve_fast(np.ones_like(c), c, 3.0).cost == 3.0  # exactly the minimum is feasible


def test_local_mode_and_fallback():
    p = np.array([[0.3, 0.8, 0.9], [0.4, 0.9, 0.9], [0.7, 0.2, 0.6]])
    c = np.array([[1.0, 2.0, 9.0], [3.0, 2.5, 2.0], [8.0, 7.0, 7.0]])
    sol = solve_local(p, c, 2.5)
    # task 0: 0.9 too expensive -> 0.8; task 1: tie 0.9 -> cheaper (col 2);
    # task 2: nothing fits -> cheapest (7.0, tie -> more probable col 2)
    assert sol.choice.tolist() == [1, 2, 2]


def test_sort_options_matches_lexsort():
    rng = np.random.default_rng(5)
    p, c = rng.random((300, 9)).round(1), rng.integers(0, 4, (300, 9)).astype(float)
    order, ps, cs = sort_options(p, c)
    np.testing.assert_array_equal(order.T, np.lexsort((np.arange(9)[None].repeat(300, 0), -p, c), axis=1))
    np.testing.assert_array_equal(ps.T, np.take_along_axis(p, order.T, axis=1))
    one_p, one_c = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])
    sort_options(one_p, one_c)
    assert one_c.tolist() == [[1.0, 0.0]]  # inputs are never modified


def test_upper_hull_vectorised_matches_definition():
    rng = np.random.default_rng(3)
    p, c = rng.random((200, 7)).round(1), rng.random((200, 7)).round(1)
    order, ps, cs = sort_options(p, c)
    hull = upper_hull(ps, cs, nondominated(ps, cs))[0].T
    ps, cs = ps.T, cs.T
    for i in range(200):
        pts = [(cs[i, k], ps[i, k]) for k in range(7) if hull[i, k]]
        # hull vertices: strictly increasing cost and p, strictly decreasing slopes
        assert all(b[0] > a[0] and b[1] > a[1] for a, b in zip(pts, pts[1:]))
        slopes = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(pts, pts[1:])]
        assert all(s1 > s2 for s1, s2 in zip(slopes, slopes[1:]))
        # every option lies on or below the hull's piecewise-linear envelope
        for k in range(7):
            x, y = cs[i, k], ps[i, k]
            if x < pts[0][0]:
                continue
            env = np.interp(x, [q[0] for q in pts], [q[1] for q in pts])
            assert y <= env + 1e-12


def test_auto_dispatch_by_size():
    rng = np.random.default_rng(4)
    p, c = rng.random((50, 4)), rng.random((50, 4))
    B = 0.3 * 50
    assert solve_global(p, c, B, "auto", exact_max_tasks=10).solver == "fast"
    assert solve_global(p, c, B, "auto", exact_max_tasks=100).solver.startswith("exact")
    with pytest.raises(ConcurError):
        solve_global(p, c, B, "dp")


def test_fast_never_gives_back_the_critical_tasks_own_items():
    # Regression: the "take the critical item, give back the least efficient taken items" rounding
    # once gave back the critical task's own earlier hull step, jumping it two vertices for the
    # price of one and overspending (42.67 against a budget of 31.29).
    p = np.array([[0.4819, 0.4213, 0.818, 0.5522, 0.179], [0.1524, 0.3931, 0.4019, 0.9758, 0.4738]])
    c = np.array([[14.7122, 48.6258, 34.8271, 67.4456, 2.3445], [63.0844, 78.6879, 83.733, 7.8413, 50.6265]])
    budget = 31.29456557677952
    for solve in (solve_fast, solve_exact):
        sol = solve(p, c, budget)
        assert c[np.arange(2), sol.choice].sum() <= budget
    # brute force optimum: task 0 at its 14.71 option, task 1 at its cheapest
    assert solve_exact(p, c, budget).objective == pytest.approx(0.4819 + 0.9758)


def test_random_instances_never_overspend():
    rng = np.random.default_rng(0)
    for _ in range(1500):
        n, s = int(rng.integers(2, 40)), int(rng.integers(2, 7))
        p, c = rng.random((n, s)), rng.random((n, s)) * 10
        if rng.random() < 0.3:
            c, p = np.round(c, 1), np.round(p, 1)  # ties and collinear points
        budget = rng.uniform(c.min(axis=1).sum(), c.max(axis=1).sum())
        sol = solve_fast(p, c, budget)
        assert c[np.arange(n), sol.choice].sum() <= budget * (1 + 1e-9)
        assert sol.lp_bound >= sol.objective - 1e-9


# ------------------------------------------------- blocks, selection bracket, budget in float64
def degenerate_instance(rng, family: int):
    """Random instances with ties and degenerate hulls of several kinds."""
    n, S = int(rng.integers(1, 90)), int(rng.integers(1, 9))
    p, c = rng.random((n, S)), rng.random((n, S)) * 10
    if family == 1:  # rounded values: ties in cost and p, collinear points, dominated options
        c, p = np.round(c, int(rng.integers(0, 2))), np.round(p, int(rng.integers(1, 3)))
    elif family == 2:  # every option of a task costs the same
        c[:, 1:] = c[:, :1]
    elif family == 3:  # every option of a task is equally probable
        p[:, 1:] = p[:, :1]
    elif family == 4:  # identical tasks: every hull step ties with n - 1 others
        p, c = np.tile(p[:1], (n, 1)), np.tile(c[:1], (n, 1))
    elif family == 5:  # a few rounded tasks repeated
        p, c = np.tile(np.round(p[:3] * 4) / 4, (n // 3 + 1, 1))[:n], np.tile(np.round(c[:3]), (n // 3 + 1, 1))[:n]
    elif family == 6:  # all options collinear: float round-off decides the hull
        p = c * 0.1 + 0.3
    lo, hi = min_feasible_budget(c), c.max(1).sum()
    u = rng.random()
    budget = lo if u < 0.05 else hi if u < 0.1 else lo + rng.random() * (hi - lo)
    return p, c, budget


def same_solution(a, b):
    return (np.array_equal(a.choice, b.choice) and a.objective == b.objective and a.cost == b.cost
            and a.lp_bound == b.lp_bound and a.lam == b.lam)


def test_fast_answer_does_not_depend_on_block_size(monkeypatch):
    # Small blocks, sums and samples, and a zero-width first bracket around the sampled
    # critical efficiency, so that many blocks, partial blocks and bracket retries occur.
    import concur.solvers as solvers
    monkeypatch.setattr(solvers, "_SUM_BLOCK", 4)
    monkeypatch.setattr(solvers, "_SAMPLE_TASKS", 8)
    monkeypatch.setattr(solvers, "_BRACKET_SIGMAS", 0.0)
    monkeypatch.setattr(solvers, "_BRACKET_MIN", 0)
    passes = []
    real_pass = solvers._lp_pass
    monkeypatch.setattr(solvers, "_lp_pass", lambda *a: passes.append(1) or real_pass(*a))
    rng = np.random.default_rng(11)
    retried = 0
    for it in range(700):
        p, c, budget = degenerate_instance(rng, it % 7)
        passes.clear()
        one = solve_fast(p, c, budget, block_tasks=4)
        retried += len(passes) > 1
        for block in (8, 12 * int(rng.integers(1, 4)), 10**6):
            assert same_solution(solve_fast(p, c, budget, block_tasks=block), one), (it, block)
        assert c[np.arange(len(c)), one.choice].sum() <= budget or (one.cost == min_feasible_budget(c))
    assert retried > 100  # the bracket retries were exercised


def test_fast_answer_does_not_depend_on_the_bracket(monkeypatch):
    # The sampled bracket only decides how many items get sorted, never which are taken.
    import concur.solvers as solvers
    rng = np.random.default_rng(12)
    cases = [degenerate_instance(rng, it % 7) for it in range(400)]
    wide = [solve_fast(p, c, b) for p, c, b in cases]
    monkeypatch.setattr(solvers, "_SAMPLE_TASKS", 4)
    monkeypatch.setattr(solvers, "_BRACKET_SIGMAS", 0.0)
    monkeypatch.setattr(solvers, "_BRACKET_MIN", 0)
    for (p, c, b), w in zip(cases, wide):
        narrow = solve_fast(p, c, b)
        assert np.array_equal(narrow.choice, w.choice) and narrow.lam == w.lam
        assert narrow.lp_bound == pytest.approx(w.lp_bound, rel=1e-12, abs=1e-12)


def test_fast_lp_bound_is_the_lp_relaxation_optimum():
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, vstack

    rng = np.random.default_rng(13)
    for it in range(150):
        p, c, budget = degenerate_instance(rng, it % 6)
        n, S = p.shape
        assign = csr_matrix((np.ones(n * S), (np.repeat(np.arange(n), S), np.arange(n * S))), shape=(n, n * S))
        res = linprog(-p.ravel(), A_ub=csr_matrix(c.ravel()[None]), b_ub=[budget], A_eq=assign, b_eq=np.ones(n),
                      bounds=(0, 1), method="highs")
        assert res.status == 0
        sol = solve_fast(p, c, budget)
        assert sol.lp_bound == pytest.approx(-res.fun, rel=1e-9, abs=1e-9), it
        assert sol.objective <= sol.lp_bound + 1e-9


def test_fast_budget_holds_in_float64_on_the_returned_assignment(monkeypatch):
    # Decimal costs with decimal budgets: exact fills whose float64 sum lands an ulp either side
    # of the budget, and the round-off slack of the decisions, must never leave the returned
    # assignment over budget; the fix moves one task down at the least loss.
    import concur.solvers as solvers
    fixes = []
    real_fix = solvers._downgrade_to_fit
    monkeypatch.setattr(solvers, "_downgrade_to_fit",
                        lambda prob, cost, chosen, budget, spans: fixes.append(chosen.total_cost() > budget)
                        or real_fix(prob, cost, chosen, budget, spans))
    rng = np.random.default_rng(7)
    for _ in range(1200):
        n, S = int(rng.integers(1, 80)), int(rng.integers(2, 8))
        p, c = np.round(rng.random((n, S)), 2), np.round(rng.random((n, S)) * 10, 1)
        lo, hi = min_feasible_budget(c), c.max(1).sum()
        budget = max(lo, round(lo + rng.random() * (hi - lo), 1))
        sol = solve_fast(p, c, budget)
        assert c[np.arange(n), sol.choice].sum() <= budget
        assert sol.cost == c[np.arange(n), sol.choice].sum() and sol.objective == p[np.arange(n), sol.choice].sum()
        assert sol.lp_bound >= sol.objective - 1e-9
        if n <= 6 and S <= 4:
            assert sol.objective <= brute_force(p, c, budget) + 1e-9
    assert sum(fixes) >= 3  # the slack did overshoot, and was fixed


def test_fast_budget_holds_at_scale():
    # With budget 5e6 the round-off slack is 5e-3 cost units: enough for the greedy fill to overshoot.
    rng = np.random.default_rng(14)
    n = 200_000
    p, c = rng.random((n, 6)), rng.uniform(0.1, 50, (n, 6))
    for per_task in (8.0, 13.0, 30.0):
        sol = solve_fast(p, c, per_task * n)
        assert c[np.arange(n), sol.choice].sum() <= per_task * n
        assert 0 <= sol.gap < 1.0


def test_fast_rejects_non_finite_and_accepts_overflowing_sums():
    c = np.array([[1.0, 2.0], [1.0, 3.0]])
    for bad in (np.nan, np.inf):
        p = np.array([[0.5, bad], [0.1, 0.2]])
        with pytest.raises(ConcurError, match="finite"):
            solve_fast(p, c, 4.0)
    huge = np.array([[1e308, 1.5e308], [1e308, 1.2e308]])  # finite entries whose sum overflows
    with np.errstate(over="ignore"):  # the objective itself overflows
        assert solve_fast(huge, c, 3.5).choice.tolist() == [1, 0]
