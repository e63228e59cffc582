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

import contextlib
import os
import sys
from collections.abc import Iterator
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
# Hot paths work column-major: arrays are (S, n) so every step is a contiguous
# vector op over all tasks; S (strategies) is small, n (tasks) is large.
def sort_options(prob: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per task, options sorted by (cost asc, p desc, column asc); returns (order, ps, cs), each (S, n).

    Odd-even transposition sort across all tasks at once: S rounds of disjoint
    compare-exchanges, far faster than argsort on many rows of ~10 entries.
    """
    n, S = prob.shape
    # explicit copies: for n == 1 the transpose is already contiguous and would alias the input
    cs = np.array(cost.T, dtype=np.float64, order="C", copy=True)
    ps = np.array(prob.T, dtype=np.float64, order="C", copy=True)
    order = np.repeat(np.arange(S, dtype=np.intp)[:, None], n, axis=1)
    for r in range(S):
        lo = r % 2
        m = (S - lo) // 2
        if m == 0:
            continue
        a, b = slice(lo, lo + 2 * m, 2), slice(lo + 1, lo + 2 * m, 2)
        ca, cb, pa, pb = cs[a], cs[b], ps[a], ps[b]
        swap = (ca > cb) | ((ca == cb) & (pa < pb))  # strict: equal keys keep column order
        if not swap.any():
            continue
        for arr in (cs, ps, order):
            x = arr[a].copy()
            np.copyto(arr[a], arr[b], where=swap)
            np.copyto(arr[b], x, where=swap)
    return order, ps, cs


def nondominated(ps: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """(S, n) mask over sorted options: strictly more probable than every cheaper option."""
    keep = np.ones(ps.shape, dtype=bool)
    keep[1:] = ps[1:] > np.maximum.accumulate(ps, axis=0)[:-1]
    return keep


def _fill(vals: np.ndarray, alive: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Value of the previous (or next, if reverse) alive option per position, and whether one exists."""
    S = alive.shape[0]
    out = np.empty_like(vals)
    has = np.zeros(alive.shape, dtype=bool)
    ks = range(S - 1, -1, -1) if reverse else range(S)
    first = ks[0]
    last_v = vals[first].copy()
    last_h = alive[first].copy()
    out[first] = vals[first]
    for k in list(ks)[1:]:
        out[k] = last_v
        has[k] = last_h
        np.copyto(last_v, vals[k], where=alive[k])
        last_h |= alive[k]
    return out, has


def upper_hull(ps: np.ndarray, cs: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper concave hull of each task's sorted options (column-major, `keep` = non-dominated).

    Iterative pruning across all tasks at once: a point on or below the chord between
    its alive neighbours is never a hull vertex, so all such points go in one pass;
    repeat until stable. Returns (alive, prev_c, prev_p, has_prev) for the final hull.
    """
    alive = keep.copy()
    while True:
        pc, has_prev = _fill(cs, alive, False)
        pp, _ = _fill(ps, alive, False)
        nc, has_next = _fill(cs, alive, True)
        np_, _ = _fill(ps, alive, True)
        # slope(prev, k) <= slope(k, next)  <=>  point k not strictly above the chord
        cross = (cs - pc) * (np_ - ps) - (ps - pp) * (nc - cs)
        drop = alive & has_prev & has_next & (cross >= 0)
        del nc, np_, cross, has_next
        if not drop.any():
            return alive, pc, pp, has_prev
        alive &= ~drop


def solve_fast(prob: np.ndarray, cost: np.ndarray, budget: float) -> Solution:
    """LP relaxation by hull greedy; integral except one task, which is rounded feasibly."""
    prob, cost = _check(prob, cost)
    check_feasible(cost, budget)
    n, s = prob.shape
    order, ps, cs = sort_options(prob, cost)
    alive, pc, pp, has_prev = upper_hull(ps, cs, nondominated(ps, cs))
    # Incremental items: moving a task from one hull vertex to the next. Concavity makes
    # their efficiency strictly decrease along each task, so one global sort by
    # efficiency takes every task's items in order.
    item = alive & has_prev
    del alive, has_prev
    item_k, item_i = np.nonzero(item)
    dp = ps[item_k, item_i] - pp[item_k, item_i]
    dc = cs[item_k, item_i] - pc[item_k, item_i]
    del pc, pp
    base_cost = float(cs[0].sum())  # the cheapest option is always the first hull vertex
    base_p = float(ps[0].sum())
    residual = budget - base_cost
    eff_order = np.argsort(-(dp / dc), kind="stable")
    cum = np.cumsum(dc[eff_order])
    ntake = int(np.searchsorted(cum, residual + _tol(budget), side="right"))
    taken = eff_order[:ntake]
    spent = float(cum[ntake - 1]) if ntake else 0.0
    lp_bound = base_p + float(dp[taken].sum())
    crit_row, lam = -1, 0.0
    if ntake < len(eff_order):
        crit = eff_order[ntake]
        crit_row = int(item_i[crit])
        lam = float(dp[crit] / dc[crit])
        frac = max(0.0, min(1.0, (residual - spent) / dc[crit]))
        lp_bound += frac * float(dp[crit])
        # Second rounding candidate: take the critical item whole and give back the
        # least efficient taken items (a suffix, so each task keeps a prefix) until
        # the budget holds; keep it if it beats dropping the critical item.
        # The critical task's own taken items are never given back: the critical item
        # moves that task on from its last taken vertex, so it needs them.
        over = spent + float(dc[crit]) - residual
        tail = taken[::-1]
        tail = tail[item_i[tail] != crit_row]
        back = np.cumsum(dc[tail])
        t = int(np.searchsorted(back, over - _tol(budget), side="left")) + 1
        if t <= len(tail) and back[t - 1] >= over - _tol(budget):
            drop = tail[:t]
            if float(dp[crit]) - float(dp[drop].sum()) > 0:
                taken = np.concatenate([taken[~np.isin(taken, drop)], [crit]])
                spent += float(dc[crit]) - float(back[t - 1])
                crit_row = -1  # integral now: nothing to round
    # Position reached per task: the last taken vertex (items are a prefix per task).
    grid = np.zeros((s, n), dtype=bool)
    grid[item_k[taken], item_i[taken]] = True
    pos = np.where(grid.any(axis=0), s - 1 - grid[::-1].argmax(axis=0), 0)
    del grid
    del cum, eff_order, item_k, item_i, dp, dc, taken
    rows = np.arange(n)
    cur_cost = float(cs[pos, rows].sum())  # from the positions themselves, not the running sum
    if crit_row >= 0:
        # Round the fractional task: its best option (any, not only hull) that fits what is left.
        r = crit_row
        left = budget - cur_cost
        fits = cs[:, r] <= cs[pos[r], r] + left + _tol(budget)
        fits[pos[r]] = True
        j = int(cheapest_best(ps[:, r][None], cs[:, r][None], fits[None])[0])
        cur_cost += cs[j, r] - cs[pos[r], r]
        pos[r] = j
    # Spend the leftover on upgrades, best efficiency first: vectorised passes, each
    # taking the prefix that fits; an upgrade too big to fit drops out of the next
    # pass. (The LP bound already certifies whatever this reaches.)
    # Tasks with no fitting upgrade now never get one (the leftover only shrinks), so
    # later passes look at the first pass's candidates only.
    sub = rows
    for _ in range(8 if lam > 0 else 0):
        left = budget - cur_cost
        psub, csub, psel = ps[:, sub], cs[:, sub], pos[sub]
        gain = psub - psub[psel, np.arange(len(sub))]
        extra = csub - csub[psel, np.arange(len(sub))]
        ok = (gain > 0) & (extra > 0) & (extra <= left + _tol(budget))
        has = ok.any(axis=0)
        if not has.any():
            break
        sub, ok, gain, extra = sub[has], ok[:, has], gain[:, has], extra[:, has]
        eff = np.where(ok, gain / np.where(ok, extra, 1.0), -np.inf)
        best = eff.argmax(axis=0)
        cols = np.arange(len(sub))
        o = np.argsort(-eff[best, cols], kind="stable")
        add = extra[best[o], o]
        take = np.cumsum(add) <= left + _tol(budget)
        take &= np.cumsum(~take) == 0  # prefix only
        if not take.any():
            take[np.argmin(add)] = True  # the smallest upgrade fits (ok filtered on extra <= left)
        pos[sub[o[take]]] = best[o[take]]
        cur_cost += float(add[take].sum())
    choice = order[pos, rows]
    sol = _solution(prob, cost, choice, lp_bound, "fast", False)
    sol.lam = lam
    sol.optimal = sol.gap is not None and sol.gap <= 1e-9 * max(1.0, abs(lp_bound))
    return sol


# ---------------------------------------------------------------- exact MILP
@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (C-level prints) for the duration of the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


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
    order, ps, cs = sort_options(prob, cost)
    keep = nondominated(ps, cs)
    # Reduced-cost fixing: forcing option k on task i loses at least its Lagrangian
    # reduced cost at the LP dual price, so options with lp_bound - reduced cost below
    # the fast (feasible) objective cannot be in any optimal solution.
    red = ps - fast.lam * cs
    red = red.max(axis=0, keepdims=True) - red
    keep &= fast.lp_bound - red >= fast.objective - 1e-9 * max(1.0, abs(fast.objective))
    keep |= order == fast.choice[None, :]
    var_k, var_i = np.nonzero(keep)
    m = len(var_i)
    vp, vc = ps[var_k, var_i], cs[var_k, var_i]
    assign = csr_matrix((np.ones(m), (var_i, np.arange(m))), shape=(n, m))
    A = vstack([assign, csr_matrix(vc[None, :])]).tocsr()
    lo = np.concatenate([np.ones(n), [-np.inf]])
    hi = np.concatenate([np.ones(n), [budget]])
    with _quiet_stdout():  # HiGHS can print debug lines from C even with disp=False
        res = milp(-vp, integrality=np.ones(m), bounds=Bounds(0, 1), constraints=LinearConstraint(A, lo, hi),
                   options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": 1e-9})
    if res.x is None:
        fast.solver = "fast (MILP found no solution within the time limit)"
        return fast
    x = res.x > 0.5
    rows = np.arange(n)
    pos = np.zeros(n, dtype=np.intp)
    pos[var_i[x]] = var_k[x]
    choice = order[pos, rows]
    if (np.bincount(var_i[x], minlength=n) != 1).any() or cost[rows, choice].sum() > budget + _tol(budget):
        fast.solver = "fast (MILP answer failed the feasibility check)"
        return fast
    optimal = res.status == 0
    bound = fast.lp_bound
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and np.isfinite(dual):
        bound = min(bound, -float(dual))
    sol = _solution(prob, cost, choice, bound, "exact" if optimal else "exact (time limit)", optimal)
    if sol.objective < fast.objective and fast.cost <= budget + _tol(budget):
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
