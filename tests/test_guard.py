import numpy as np
import pytest
from scipy.stats import norm

from concur.errors import ConcurError
from concur.guard import (DEFAULT_RISK, ValidationSpend, bootstrap_weights, calibrate_budget, check_risk, coverage, effective_size,
                          first_crossing, solver_budget)
from concur.pred_files import Predictions
from concur.routing import min_budget_per_task, route_budget


def biased(n: int, seed: int, bias: float, S: int = 4) -> Predictions:
    """Tasks x strategies with dearer = more accurate; predicted cost = bias x realised cost x noise."""
    rng = np.random.default_rng(seed)
    cost = np.geomspace(1.0, 12.0, S) * rng.lognormal(0.0, 0.4, (n, S))
    pred = bias * cost * rng.lognormal(0.0, 0.2, (n, S))
    prob = np.clip(np.linspace(0.3, 0.85, S) + rng.normal(0.0, 0.1, (n, S)), 0.0, 1.0)
    label = (rng.random((n, S)) < prob).astype(float)
    return Predictions("val", np.arange(n).astype(str).astype(object), [f"s{j}" for j in range(S)], prob, pred, label,
                       cost)


def realised(p: Predictions, choice: np.ndarray) -> float:
    return float(p.cost[np.arange(p.n_tasks), choice].mean())


# ------------------------------------------------------------------ the search
def test_first_crossing_hits_a_continuous_target():
    f = lambda x: 3.0 * x**0.5  # noqa: E731
    for target in (1.0, 4.0, 8.9):
        x, sat = first_crossing(f, target, 0.01, 10.0, grid_size=8, tol=1e-6)
        assert sat == ""
        assert f(x) <= target and f(x + 1e-6) > target - 1e-9
        assert x == pytest.approx((target / 3.0) ** 2, abs=1e-5)


def test_first_crossing_takes_the_first_crossing_and_saturates():
    # non-monotone: dips back below the target after the first crossing at 2
    f = lambda x: x if x < 3 else (1.0 if x < 6 else x)  # noqa: E731
    x, sat = first_crossing(f, 2.0, 0.5, 10.0, grid_size=12, tol=1e-4)
    assert sat == "" and x <= 2.0 and x == pytest.approx(2.0, abs=1e-4)
    assert first_crossing(f, 0.1, 0.5, 10.0) == (0.5, "low")
    assert first_crossing(f, 50.0, 0.5, 10.0) == (10.0, "high")


@pytest.mark.parametrize("mode", ["global", "local"])
def test_guard_search_is_monotone_and_hits_target(mode):
    # predictions under-estimate cost by 30%: an unguarded global solve overspends
    val = biased(400, 1, bias=0.7)
    spend = ValidationSpend(val, mode, solver="fast")
    lo_cost, hi_cost = val.cost.min(1).mean(), val.cost[np.arange(400), val.prob.argmax(1)].mean()
    budgets = np.linspace(lo_cost * 1.3, hi_cost * 0.8, 6)
    results = [calibrate_budget(spend, b) for b in budgets]
    internal = [g.internal_budget for g in results]
    val_spend = [g.val_spend for g in results]
    assert np.all(np.diff(internal) > 0) and np.all(np.diff(val_spend) > 0)
    for b, g in zip(budgets, results):
        assert g.val_spend == pytest.approx(realised(val, spend.choice(g.internal_budget)))
        assert g.val_spend <= b
        if g.saturated == "":  # target reached: within 2% (one task switch moves the mean by ~1/400 of a cost)
            assert g.val_spend >= 0.98 * b
            assert spend.spend(g.internal_budget + 2e-3 * b) > b - 0.02 * b
    if mode == "global":
        assert all(g.saturated == "" for g in results)
        assert all(g.internal_budget < b for g, b in zip(results, budgets))  # under-estimated cost: B' < B
        unguarded = [realised(val, route_budget(val.prob, val.pred_cost, b, mode).choice) for b in budgets]
        assert all(u > b for u, b in zip(unguarded, budgets))
    else:
        assert all(g.internal_budget <= b for g, b in zip(results, budgets))


def test_guard_carries_over_to_test_tasks():
    val, test = biased(600, 1, bias=0.7), biased(600, 2, bias=0.7)
    spend = ValidationSpend(val, "global", solver="fast")
    for b in (3.0, 5.0):
        g = calibrate_budget(spend, b)
        internal, note = solver_budget(g, test.pred_cost, "global")
        guarded = realised(test, route_budget(test.prob, test.pred_cost, internal, "global", solver="fast").choice)
        unguarded = realised(test, route_budget(test.prob, test.pred_cost, b, "global", solver="fast").choice)
        assert note == "" and abs(guarded / b - 1) < 0.04 and unguarded / b > 1.15


def two_cost_tasks(n: int, seed: int) -> Predictions:
    """Tasks with a cheap (cost 1) and a dear (cost 50) strategy, costs predicted exactly: a global knapsack
    upgrades whole tasks, so its predicted spend moves in steps of 49 / n."""
    rng = np.random.default_rng(seed)
    prob = np.column_stack([rng.uniform(0.2, 0.5, n), rng.uniform(0.5, 0.9, n)])
    cost = np.tile([1.0, 50.0], (n, 1))
    return Predictions("val", np.arange(n).astype(str).astype(object), ["cheap", "dear"], prob, cost.copy(),
                       (rng.random((n, 2)) < prob).astype(float), cost)


@pytest.mark.parametrize("risk", [None, 0.1])
def test_global_guard_budgets_for_the_tasks_to_route_not_validations_coarse_steps(risk):
    # 40 validation tasks: an upgrade moves their mean predicted spend by 1.2, so the validation assignment
    # spends up to 1.2 less than the solver's budget; 4,000 test tasks fill it. Exact predictions: no margin is due.
    val, test = two_cost_tasks(40, 1), two_cost_tasks(4000, 2)
    spend = ValidationSpend(val, "global", solver="fast")
    for b in (5.0, 10.3, 17.7):
        g = calibrate_budget(spend, b, risk, test.n_tasks, n_boot=200)
        internal, _ = solver_budget(g, test.pred_cost, "global")
        assert internal <= b * (1 + 1e-3)
        assert realised(test, route_budget(test.prob, test.pred_cost, internal, "global", solver="fast").choice) <= b


def test_global_may_raise_local_only_lowers():
    val = biased(300, 3, bias=1.5)  # over-estimated cost: realised spend falls short of the budget
    b = 3.0
    g = calibrate_budget(ValidationSpend(val, "global", solver="fast"), b)
    assert g.internal_budget > b and g.val_spend <= b
    loc = calibrate_budget(ValidationSpend(val, "local"), b)
    assert loc.internal_budget == b and loc.saturated == "high" and "saturated" in loc.note


def test_unreachable_budgets_saturate_and_say_so():
    val = biased(200, 4, bias=1.0)
    spend = ValidationSpend(val, "global")
    top = calibrate_budget(spend, 1e6)
    lo, hi = spend.bracket(1e6)
    assert top.saturated == "high" and top.internal_budget == hi and "saturated" in top.note
    # the cheapest predicted assignment itself overspends a budget just above its predicted cost
    cheap = min_budget_per_task(val.pred_cost)
    b = 0.5 * (cheap + min(cheap, val.cost.min(1).mean()))
    low = calibrate_budget(spend, max(b, 1e-3))
    assert low.saturated == "low" and low.internal_budget == spend.bracket(max(b, 1e-3))[0]
    assert "cannot reach" in low.note


def test_solver_budget_raised_to_feasible():
    val = biased(100, 5, bias=0.7)
    g = calibrate_budget(ValidationSpend(val, "global"), 2.0)
    dear = biased(50, 6, bias=0.7)
    dear.pred_cost = dear.pred_cost * 10
    b, note = solver_budget(g, dear.pred_cost, "global")
    assert b == pytest.approx(min_budget_per_task(dear.pred_cost)) and "raised" in note
    assert solver_budget(g, dear.pred_cost, "local") == (g.internal_budget, "")


# ------------------------------------------------------------------ risk
def test_effective_size_and_bootstrap_weights():
    assert effective_size(2000, 1000) == 667
    assert effective_size(None, 1000) == 500
    w = bootstrap_weights(50, 80, 30, seed=1)
    assert w.shape == (30, 50) and np.allclose(w.sum(1), 1.0) and np.allclose(w * 80, np.round(w * 80))


def test_coverage_counts_resamples_within_budget():
    assert coverage(np.full(10, 2.0), 2.0) == 1.0
    assert coverage(np.full(10, 2.0), 1.99) == 0.0
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 1.0, 2000)
    se = x.std() / np.sqrt(len(x))
    for z in (-1.0, 0.0, 1.28):
        b = x.mean() + z * se
        assert coverage(x, b, n_boot=2000, seed=3) == pytest.approx(norm.cdf(z), abs=0.04)


def test_risk_margin_lowers_the_budget_and_covers():
    val, test = biased(800, 7, bias=0.7), biased(1600, 8, bias=0.7)
    spend = ValidationSpend(val, "global", solver="fast")
    b = 4.0
    plain = calibrate_budget(spend, b)
    safe = calibrate_budget(spend, b, risk=0.1, n_test=test.n_tasks, n_boot=500)
    assert safe.internal_budget < plain.internal_budget
    assert safe.val_quantile <= b and safe.val_spend < plain.val_spend
    w = bootstrap_weights(val.n_tasks, effective_size(test.n_tasks, val.n_tasks), 500, 0)
    resid = spend.costs(safe.internal_budget) - val.pred_cost[np.arange(val.n_tasks), spend.choice(safe.internal_budget)]
    assert safe.val_quantile == pytest.approx(safe.internal_budget + np.quantile(w @ resid, 0.9))
    loc = calibrate_budget(ValidationSpend(val, "local"), 2.0, risk=0.1, n_test=test.n_tasks, n_boot=500)
    assert loc.val_quantile == pytest.approx(np.quantile(w @ ValidationSpend(val, "local").costs(loc.internal_budget), 0.9))
    choice = route_budget(test.prob, test.pred_cost, safe.internal_budget, "global", solver="fast").choice
    c = test.cost[np.arange(test.n_tasks), choice]
    assert c.mean() < b and coverage(c, b) > coverage(
        test.cost[np.arange(test.n_tasks), route_budget(test.prob, test.pred_cost, plain.internal_budget, "global",
                                                        solver="fast").choice], b)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan"), float("inf")])
def test_risk_out_of_range_rejected(bad):
    with pytest.raises(ConcurError, match="--risk"):
        check_risk(bad)
    assert check_risk(None) is None and check_risk(0.05) == 0.05


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), float("-inf")])
def test_guard_rejects_bad_budgets(bad):
    with pytest.raises(ConcurError, match="--budget must be a finite number > 0"):
        calibrate_budget(ValidationSpend(biased(20, 0, 1.0), "local"), bad)


@pytest.mark.parametrize("text, value", [("none", None), ("None", None), (None, None), ("0.05", 0.05),
                                         (str(DEFAULT_RISK), DEFAULT_RISK)])
def test_parse_risk_reads_none_and_numbers(text, value):
    from concur.guard import parse_risk
    assert parse_risk(text) == value


@pytest.mark.parametrize("bad", ["0", "1", "-0.1", "nan", "inf", "ten", ""])
def test_parse_risk_refuses_the_rest_in_one_line(bad):
    from concur.guard import parse_risk
    with pytest.raises(ConcurError, match="--risk"):
        parse_risk(bad)
