"""Budgeted routing solvers: pick exactly one strategy per task.

Global mode is a multiple-choice knapsack (MCKP) on real-valued predicted costs:
maximise sum_i p[i, x_i] subject to sum_i c[i, x_i] <= budget. Two solvers:

- `solve_fast`: the LP relaxation solved exactly via per-task upper convex hulls and
  one global greedy on incremental efficiency (Dyer-Zemel / Sinha-Zoltners). The LP
  optimum is integral except for at most one task; that task is rounded down
  feasibly and the leftover budget is spent greedily. The LP value is a certified
  upper bound, so `gap = lp_bound - objective` bounds the distance to the optimum.
  Fully vectorised over tasks (no Python loop over tasks).
- `solve_exact`: a binary MILP with scipy.optimize.milp (HiGHS) and a time limit, on
  the non-dominated options only (dominated options never help and removing them
  sends ties to the cheaper strategy).

Local mode (`solve_local`) gives each task the same budget.
Ties always go to the cheaper strategy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConcurError

# Relative slack for float round-off when comparing sums of costs with a budget.
_REL_TOL = 1e-9


@dataclass
class Solution:
    choice: np.ndarray  # (n,) int, column chosen per task
    objective: float  # sum of p over chosen options
    cost: float  # sum of c over chosen options
    lp_bound: float | None  # certified upper bound on the optimum (None if unknown)
    solver: str  # "fast", "exact", "exact (time limit)", "local"
    optimal: bool  # proven optimal
    lam: float | None = None  # LP dual price of budget (critical efficiency), fast solver only

    @property
    def gap(self) -> float | None:
        return None if self.lp_bound is None else max(0.0, self.lp_bound - self.objective)


def _check(prob: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if prob.ndim != 2 or prob.shape != cost.shape or prob.shape[1] == 0:
        raise ValueError(f"prob and cost must be equal-shape (tasks, strategies) matrices, got {prob.shape} and {cost.shape}")
    if not (np.isfinite(prob).all() and np.isfinite(cost).all()):
        raise ConcurError("routing: predicted probabilities and costs must be finite numbers")
    return prob, cost


def _tol(budget: float) -> float:
    return _REL_TOL * max(1.0, abs(budget))


def min_feasible_budget(cost: np.ndarray) -> float:
    """The smallest total budget with a feasible assignment (every task at its cheapest)."""
    return float(np.asarray(cost, dtype=np.float64).min(axis=1).sum())


def check_feasible(cost: np.ndarray, budget: float, what: str = "budget") -> None:
    need = min_feasible_budget(cost)
    if need > budget + _tol(budget):
        n = cost.shape[0]
        raise ConcurError(
            f"{what} infeasible: total {budget:.6g} is below the cheapest assignment {need:.6g} "
            f"(minimum feasible budget per task: {need / max(n, 1):.6g})"
        )


def cheapest_best(prob: np.ndarray, cost: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Per row: argmax p among `allowed` (all if None), ties -> lowest cost, then lowest column."""
    p = prob if allowed is None else np.where(allowed, prob, -np.inf)
    best = p.max(axis=1, keepdims=True)
    cand = p >= best
    return np.where(cand, cost, np.inf).argmin(axis=1)


def solve_local(prob: np.ndarray, cost: np.ndarray, budget_per_task: float) -> Solution:
    """Each task: the most probable strategy with cost <= budget, else the cheapest one."""
    prob, cost = _check(prob, cost)
    fits = cost <= budget_per_task + _tol(budget_per_task)
    choice = cheapest_best(prob, cost, fits)
    none_fit = ~fits.any(axis=1)
    if none_fit.any():
        # cheapest strategy; among equally cheap, the most probable
        cheapest = cost.min(axis=1, keepdims=True)
        choice[none_fit] = cheapest_best(prob, cost, cost <= cheapest)[none_fit]
    return _solution(prob, cost, choice, None, "local", False)


def _solution(prob, cost, choice, lp_bound, solver, optimal) -> Solution:
    rows = np.arange(len(choice))
    return Solution(choice.astype(np.int64), float(prob[rows, choice].sum()), float(cost[rows, choice].sum()),
                    lp_bound, solver, optimal)


# ---------------------------------------------------------------- hull pieces
def _sorted_by_cost(prob: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per-row column order: cost ascending, then p descending (so ties favour cheap+probable)."""
    return np.lexsort((-prob, cost), axis=1)


def nondominated(prob: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row by cost and flag options not dominated by a cheaper-or-equal one.

    Returns (order, p_sorted, c_sorted, keep): keep[i, k] is True when the k-th cheapest
    option of task i is strictly more probable than every cheaper option.
    """
    order = _sorted_by_cost(prob, cost)
    ps = np.take_along_axis(prob, order, axis=1)
    cs = np.take_along_axis(cost, order, axis=1)
    keep = np.ones(ps.shape, dtype=bool)
    keep[:, 1:] = ps[:, 1:] > np.maximum.accumulate(ps, axis=1)[:, :-1]
    return order, ps, cs, keep


def _neighbours(alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous / next alive column per position (-1 / S when none)."""
    n, s = alive.shape
    idx = np.broadcast_to(np.arange(s), (n, s))
    last = np.maximum.accumulate(np.where(alive, idx, -1), axis=1)
    prev = np.full((n, s), -1, dtype=np.int64)
    prev[:, 1:] = last[:, :-1]
    first = np.minimum.accumulate(np.where(alive, idx, s)[:, ::-1], axis=1)[:, ::-1]
    nxt = np.full((n, s), s, dtype=np.int64)
    nxt[:, :-1] = first[:, 1:]
    return prev, nxt


def upper_hull(ps: np.ndarray, cs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Vertices of each row's upper concave hull (rows sorted by cost, `keep` = non-dominated).

    Iterative pruning across all rows at once: a point on or below the chord between its
    alive neighbours is never a hull vertex, so all such points go in one pass; repeat
    until stable (at most S passes).
    """
    alive = keep.copy()
    n, s = alive.shape
    rows = np.arange(n)[:, None]
    while True:
        prev, nxt = _neighbours(alive)
        inner = alive & (prev >= 0) & (nxt < s)
        if not inner.any():
            return alive
        pi, ni = np.clip(prev, 0, s - 1), np.clip(nxt, 0, s - 1)
        c0, p0 = cs[rows, pi], ps[rows, pi]
        c2, p2 = cs[rows, ni], ps[rows, ni]
        # slope(prev, j) <= slope(j, next)  <=>  point j not strictly above the chord
        cross = (cs - c0) * (p2 - ps) - (ps - p0) * (c2 - cs)
        drop = inner & (cross >= 0)
        if not drop.any():
            return alive
        alive &= ~drop


def solve_fast(prob: np.ndarray, cost: np.ndarray, budget: float) -> Solution:
    """LP relaxation by hull greedy; integral except one task, which is rounded feasibly."""
    prob, cost = _check(prob, cost)
    check_feasible(cost, budget)
    n, s = prob.shape
    order, ps, cs, keep = nondominated(prob, cost)
    hull = upper_hull(ps, cs, keep)
    del keep
    # Hull vertices per row, compacted to the left (they stay in cost order).
    nv = hull.sum(axis=1)
    pos = np.argsort(~hull, axis=1, kind="stable")  # alive columns first, in order
    hp = np.take_along_axis(ps, pos, axis=1)
    hc = np.take_along_axis(cs, pos, axis=1)
    # Incremental items between consecutive hull vertices: item k of row i moves it
    # from vertex k to vertex k+1. Concavity makes their efficiency decrease per row,
    # so one global sort by efficiency respects each row's order.
    valid = np.arange(1, s)[None, :] < nv[:, None]
    dp = (hp[:, 1:] - hp[:, :-1])[valid]
    dc = (hc[:, 1:] - hc[:, :-1])[valid]
    item_row = np.nonzero(valid)[0]
    del valid
    base_cost = float(hc[:, 0].sum())
    base_p = float(hp[:, 0].sum())
    residual = budget - base_cost
    eff_order = np.argsort(-(dp / dc), kind="stable")
    dc_sorted = dc[eff_order]
    cum = np.cumsum(dc_sorted)
    ntake = int(np.searchsorted(cum, residual + _tol(budget), side="right"))
    taken = eff_order[:ntake]
    level = np.bincount(item_row[taken], minlength=n)  # vertex index reached per row
    spent = float(cum[ntake - 1]) if ntake else 0.0
    lp_bound = base_p + float(dp[taken].sum())
    rows = np.arange(n)
    choice_sorted = np.zeros(n, dtype=np.int64)  # position in the cost-sorted row
    choice_sorted[:] = pos[rows, level]
    crit_row = -1
    lam = 0.0
    if ntake < len(eff_order):
        crit = eff_order[ntake]
        crit_row = int(item_row[crit])
        lam = float(dp[crit] / dc[crit])
        frac = max(0.0, min(1.0, (residual - spent) / dc[crit]))
        lp_bound += frac * float(dp[crit])
    del cum, dc_sorted, eff_order, item_row, dp, dc
    # Round the fractional task: best original option that fits in what is left.
    cur_cost = base_cost + spent
    if crit_row >= 0:
        left = budget - cur_cost
        r = crit_row
        cur = choice_sorted[r]
        fits = cs[r] <= cs[r, cur] + left + _tol(budget)
        fits[cur] = True
        j = int(cheapest_best(ps[r][None], cs[r][None], fits[None])[0])
        cur_cost += cs[r, j] - cs[r, cur]
        choice_sorted[r] = j
        # Spend any leftover on each other task's next option, best efficiency first
        # (one vectorised pass; the bound above already certifies the result).
        left = budget - cur_cost
        if left > 0:
            ps_cur = ps[rows, choice_sorted][:, None]
            cs_cur = cs[rows, choice_sorted][:, None]
            gain = ps - ps_cur
            extra = cs - cs_cur
            ok = (gain > 0) & (extra <= left + _tol(budget))
            ok[r] = False
            if ok.any():
                eff = np.where(ok, gain / np.maximum(extra, 1e-300), -np.inf)
                eff = np.where(ok & (extra <= 0), np.inf, eff)
                best = eff.argmax(axis=1)
                cand = np.flatnonzero(ok[rows, best])
                e = eff[cand, best[cand]]
                o = np.argsort(-e, kind="stable")
                cand = cand[o]
                add = extra[cand, best[cand]]
                take = np.cumsum(add) <= left + _tol(budget)
                take &= np.cumsum(~take) == 0  # prefix only
                choice_sorted[cand[take]] = best[cand[take]]
    choice = order[rows, choice_sorted]
    sol = _solution(prob, cost, choice, lp_bound, "fast", False)
    sol.lam = lam
    sol.optimal = sol.gap is not None and sol.gap <= 1e-9 * max(1.0, abs(lp_bound))
    return sol


# ---------------------------------------------------------------- exact MILP
def solve_exact(prob: np.ndarray, cost: np.ndarray, budget: float, time_limit: float = 60.0) -> Solution:
    """Binary MILP (HiGHS) on non-dominated options; falls back to the fast answer if better."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, vstack

    prob, cost = _check(prob, cost)
    check_feasible(cost, budget)
    fast = solve_fast(prob, cost, budget)
    if fast.optimal:  # the LP optimum is integral: nothing left to prove
        fast.solver = "exact"
        return fast
    n, s = prob.shape
    order, ps, cs, keep = nondominated(prob, cost)
    # Reduced-cost fixing: forcing option j on task i costs at least its Lagrangian
    # reduced cost r_ij at the LP dual price, so options with lp_bound - r_ij below the
    # fast (feasible) objective cannot be in any optimal solution.
    red = ps - fast.lam * cs
    red = red.max(axis=1, keepdims=True) - red
    keep &= fast.lp_bound - red >= fast.objective - 1e-9 * max(1.0, abs(fast.objective))
    keep[np.arange(n), np.argsort(order, axis=1)[np.arange(n), fast.choice]] = True
    var_row, var_pos = np.nonzero(keep)
    m = len(var_row)
    vp, vc = ps[var_row, var_pos], cs[var_row, var_pos]
    assign = csr_matrix((np.ones(m), (var_row, np.arange(m))), shape=(n, m))
    budget_row = csr_matrix(vc[None, :])
    A = vstack([assign, budget_row]).tocsr()
    lo = np.concatenate([np.ones(n), [-np.inf]])
    hi = np.concatenate([np.ones(n), [budget]])
    res = milp(-vp, integrality=np.ones(m), bounds=Bounds(0, 1), constraints=LinearConstraint(A, lo, hi),
               options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": 1e-9})
    if res.x is None:
        fast.solver = "fast (MILP found no solution within the time limit)"
        return fast
    x = res.x > 0.5
    pos_chosen = np.zeros(n, dtype=np.int64)
    pos_chosen[var_row[x]] = var_pos[x]
    got = np.bincount(var_row[x], minlength=n)
    rows = np.arange(n)
    choice = order[rows, pos_chosen]
    if (got != 1).any() or cost[rows, choice].sum() > budget + _tol(budget):
        fast.solver = "fast (MILP answer failed the feasibility check)"
        return fast
    optimal = res.status == 0
    bound = fast.lp_bound
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and np.isfinite(dual):
        bound = min(bound, -float(dual))
    sol = _solution(prob, cost, choice, bound, "exact" if optimal else "exact (time limit)", optimal)
    if sol.objective < fast.objective:
        fast.solver = "fast (better than the time-limited MILP)"
        return fast
    return sol


def solve_global(prob: np.ndarray, cost: np.ndarray, budget: float, solver: str = "auto",
                 time_limit: float = 60.0, exact_max_tasks: int = 20000) -> Solution:
    """Dispatch: 'exact', 'fast', or 'auto' (exact up to `exact_max_tasks` tasks, else fast)."""
    if solver not in ("auto", "exact", "fast"):
        raise ConcurError(f"routing solver must be auto, exact or fast, got {solver!r}")
    if solver == "auto":
        solver = "exact" if prob.shape[0] <= exact_max_tasks else "fast"
    if solver == "exact":
        return solve_exact(prob, cost, budget, time_limit)
    return solve_fast(prob, cost, budget)
