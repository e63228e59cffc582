"""Budgeted routing solvers: pick exactly one strategy per task.

Global mode is a multiple-choice knapsack (MCKP) on real-valued predicted costs:
maximise sum_i p[i, x_i] subject to sum_i c[i, x_i] <= budget. Two solvers:

- `solve_fast`: the LP relaxation solved exactly via per-task upper convex hulls and
  one global greedy on incremental efficiency (Dyer-Zemel / Sinha-Zoltners). The LP
  optimum is integral except for at most one task; that task is rounded down
  feasibly and the leftover budget is spent greedily. The LP value is a certified
  upper bound, so `gap = lp_bound - objective` bounds the distance to the optimum.
  The critical efficiency is selected (sample bracket, one pass, sort of the few
  items inside the bracket), not found by sorting every hull step; tasks are
  processed in cache-sized blocks, vectorised within a block, so memory beyond the
  inputs is a few values per task whatever the size.
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
    if not (_all_finite(prob) and _all_finite(cost)):
        raise ConcurError("routing: predicted probabilities and costs must be finite numbers")
    return prob, cost


def _all_finite(x: np.ndarray) -> bool:
    # a finite sum proves every entry finite (NaN and inf propagate); only an overflowing sum needs the full check
    with np.errstate(over="ignore"):
        return bool(np.isfinite(x.sum())) or bool(np.isfinite(x).all())


def _tol(budget: float) -> float:
    return _REL_TOL * max(1.0, abs(budget))


def min_feasible_budget(cost: np.ndarray) -> float:
    """The smallest total budget with a feasible assignment (every task at its cheapest)."""
    return float(np.asarray(cost, dtype=np.float64).min(axis=1).sum())


def check_feasible(cost: np.ndarray, budget: float, what: str = "budget") -> None:
    _raise_if_infeasible(min_feasible_budget(cost), cost.shape[0], budget, what)


def _raise_if_infeasible(need: float, n: int, budget: float, what: str) -> None:
    if need > budget + _tol(budget):
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
# Hot paths work column-major on blocks of tasks: arrays are (S, b) so every step is a
# contiguous vector op over the block's tasks; S (strategies) is small, and a block is
# small enough to stay in cache, so the full (tasks x strategies) problem is never copied.
_BLOCK_TASKS = 1 << 14  # tasks per block in solve_fast (rounded to a multiple of _SUM_BLOCK)
_SUM_BLOCK = 1 << 12  # the LP's sums over tasks add fixed runs of this many tasks, whatever the block size
_SAMPLE_TASKS = 1 << 15  # tasks whose hulls locate the critical efficiency before the full pass
# The bracket around the sample's estimate of the critical item spans this many standard
# deviations of its position (about sqrt(position)) plus a margin, in sample items.
_BRACKET_SIGMAS, _BRACKET_MIN = 4.0, 32


def _sort_block(cs: np.ndarray, ps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each column of (S, b) `cs` in place by (cost asc, p desc, index asc); returns (permutation, sorted ps).

    Odd-even transposition sort across all tasks at once: S rounds of disjoint
    compare-exchanges, far faster than argsort on many rows of ~10 entries. Costs move
    by min/max (equal costs are equal values, so only the permutation needs the swap
    mask; `cs` must hold no -0.0, callers add +0.0); p is looked up only for equal costs
    and gathered once at the end.
    """
    S, b = cs.shape
    dtype = np.int8 if S < 128 else np.int32
    order = np.empty((S, b), dtype=dtype)
    order[:] = np.arange(S, dtype=dtype)[:, None]
    scratch = np.empty((S // 2, b))
    for r in range(S):
        lo = r % 2
        m = (S - lo) // 2
        if m == 0:
            continue
        a, z = slice(lo, lo + 2 * m, 2), slice(lo + 1, lo + 2 * m, 2)
        ca, cz, oa, oz = cs[a], cs[z], order[a], order[z]
        swap = ca > cz
        tie = ca == cz
        if tie.any():  # equal costs: the more probable first; equal keys keep index order (strict <)
            k, i = np.nonzero(tie)
            swap[k, i] |= ps[oa[k, i], i] < ps[oz[k, i], i]
        low = scratch[:m]
        np.minimum(ca, cz, out=low)
        np.maximum(ca, cz, out=cz)
        ca[...] = low
        x = oa.copy()
        np.copyto(oa, oz, where=swap)
        np.copyto(oz, x, where=swap)
    flat = order.astype(np.intp)
    flat *= b
    flat += np.arange(b)
    return order, ps.ravel().take(flat)


def _columns(rows: np.ndarray, plus_zero: bool = False) -> np.ndarray:
    """(b, S) rows -> (S, b) C-ordered float64 copy (+0.0 turns -0.0 into 0.0 when asked)."""
    if plus_zero:
        return np.add(rows.T, 0.0, order="C", dtype=np.float64)
    return np.array(rows.T, dtype=np.float64, order="C", copy=True)


def sort_options(prob: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per task, options sorted by (cost asc, p desc, column asc); returns (order, ps, cs), each (S, n)."""
    n, S = prob.shape
    # explicit copies: for n == 1 the transpose is already contiguous and would alias the input
    cs = _columns(cost, plus_zero=True)
    ps = _columns(prob)
    order = np.empty((S, n), dtype=np.intp)
    for lo in range(0, n, _BLOCK_TASKS):
        blk = slice(lo, lo + _BLOCK_TASKS)
        c = cs[:, blk].copy()
        order[:, blk], ps[:, blk] = _sort_block(c, ps[:, blk].copy())
        cs[:, blk] = c
    return order, ps, cs


def nondominated(ps: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """(S, n) mask over sorted options: strictly more probable than every cheaper option."""
    keep = np.empty(ps.shape, dtype=bool)
    keep[0] = True
    best = ps[0].copy()
    for k in range(1, ps.shape[0]):
        np.greater(ps[k], best, out=keep[k])
        np.maximum(best, ps[k], out=best)
    return keep


def _hull(ps: np.ndarray, cs: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strict vertices of each task's upper concave hull (sorted options) and their step efficiencies.

    Kept options have strictly increasing cost and p. Option k is a vertex iff it lies
    strictly above every chord (j, l) with j < k < l, i.e. iff the least slope into k
    from a cheaper kept option exceeds the greatest slope out of k to a dearer one.
    One pass over the S(S-1)/2 pairs; dropped options get p = -inf, which makes their
    slopes +inf into and -inf out of every kept option, so they never bind.
    Returns (vert, eff), each (S, b): eff is the least slope into each vertex (the slope
    of the hull step from the previous vertex), +inf at the cheapest option (always the
    first vertex) and -inf off the hull. With these float slopes eff strictly decreases
    along each task's hull: a step's slope is at least the least slope into its end and
    at most the greatest slope out of its start, which is below the start's own eff.
    """
    S, b = ps.shape
    p = np.where(keep, ps, -np.inf)
    slope_in = np.full((S, b), np.inf)
    slope_out = np.full((S, b), -np.inf)
    with np.errstate(all="ignore"):
        for j in range(S - 1):
            s = p[j + 1:] - p[j]
            s /= cs[j + 1:] - cs[j]
            np.max(s, axis=0, out=slope_out[j])
            np.minimum(slope_in[j + 1:], s, out=slope_in[j + 1:])
    vert = keep & (slope_in > slope_out)
    vert[0] = True
    eff = np.where(vert, slope_in, -np.inf)
    eff[0] = np.inf
    return vert, eff


def _steps(ps: np.ndarray, cs: np.ndarray, vert: np.ndarray, k: np.ndarray, i: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Cost and p increments (dc, dp) of the hull steps ending at vertices (k, i), from the previous vertex."""
    S = vert.shape[0]
    ks = np.arange(S)[:, None]
    prev = ((vert[:, i] & (ks < k)) * ks).max(axis=0) if len(k) else k
    return cs[k, i] - cs[prev, i], ps[k, i] - ps[prev, i]


def _fill(vals: np.ndarray, alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value of the previous alive option per position, and whether one exists."""
    S = alive.shape[0]
    out = np.empty_like(vals)
    has = np.zeros(alive.shape, dtype=bool)
    last_v = vals[0].copy()
    last_h = alive[0].copy()
    out[0] = vals[0]
    for k in range(1, S):
        out[k] = last_v
        has[k] = last_h
        np.copyto(last_v, vals[k], where=alive[k])
        last_h |= alive[k]
    return out, has


def upper_hull(ps: np.ndarray, cs: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper concave hull of each task's sorted options (column-major, `keep` = non-dominated).

    Returns (alive, prev_c, prev_p, has_prev): the strict hull vertices and, per option,
    the cost and p of the previous vertex.
    """
    alive = _hull(ps, cs, keep)[0]
    pc, has_prev = _fill(cs, alive)
    pp, _ = _fill(ps, alive)
    return alive, pc, pp, has_prev


# ---------------------------------------------------------------- fast global solver
def _run_sums(x: np.ndarray) -> np.ndarray:
    """Sums of consecutive runs of _SUM_BLOCK values (the last run may be shorter).

    Totals over tasks are np.sum over run sums, so they are the same whatever block size
    the tasks were processed in (blocks start at multiples of _SUM_BLOCK).
    """
    m = len(x) - len(x) % _SUM_BLOCK
    full = x[:m].reshape(-1, _SUM_BLOCK).sum(axis=1)
    if m == len(x):
        return full
    return np.concatenate([full, x[m:].reshape(1, -1).sum(axis=1)])


class _Chosen:
    """Cost at each task's chosen column; the total is np.sum over this vector, the same
    float64 sum as cost[np.arange(n), choice].sum() on the returned assignment."""

    def __init__(self, prob: np.ndarray, cost: np.ndarray, choice: np.ndarray) -> None:
        self.prob, self.cost, self.choice = prob, cost, choice
        self.c = np.zeros(len(choice))

    def update(self, tasks: np.ndarray) -> None:
        self.c[tasks] = self.cost[tasks, self.choice[tasks]]

    def p(self, lo: int, hi: int) -> np.ndarray:
        return self.prob[lo:hi][np.arange(hi - lo), self.choice[lo:hi]]

    def total_cost(self) -> float:
        return float(self.c.sum())

    def final_totals(self, spans) -> tuple[float, float]:
        """(objective, cost) as np.sum over full vectors; reuses the cost vector for p (no more updates)."""
        total_cost = self.total_cost()
        for lo, hi in spans:
            self.c[lo:hi] = self.p(lo, hi)
        return float(self.c.sum()), total_cost


def _block_hull(prob_rows: np.ndarray, cost_rows: np.ndarray):
    """Hull of every task in a (b, S) block: (order, ps, cs, vert, eff), each (S, b)."""
    cs = _columns(cost_rows, plus_zero=True)  # -0.0 would flip the sign of infinite slopes
    order, ps = _sort_block(cs, _columns(prob_rows))
    vert, eff = _hull(ps, cs, nondominated(ps, cs))
    return order, ps, cs, vert, eff


@dataclass
class _Pass:
    """One pass over all tasks at efficiency thresholds t_lo <= t_hi."""
    spent_hi: float  # cost of every hull step with efficiency > t_hi
    gain_hi: float  # p gained by those steps
    base_p: float  # p at every task's cheapest option
    band: dict  # hull steps with t_lo <= efficiency <= t_hi: task, k, col, eff, dc, dp


def _lp_pass(prob, cost, spans, t_lo: float, t_hi: float, chosen: _Chosen) -> _Pass:
    """Every task moves along its hull while the step efficiency exceeds t_hi (written to
    `chosen`); the steps in [t_lo, t_hi] are collected for exact ordering."""
    runs_spent, runs_gain, runs_p0, band = [], [], [], []
    for lo, hi in spans:
        order, ps, cs, vert, eff = _block_hull(prob[lo:hi], cost[lo:hi])
        S, b = ps.shape
        ks = np.arange(S, dtype=order.dtype)[:, None]
        pos = ((eff > t_hi) * ks).max(axis=0)  # steps are taken in order: efficiency falls along the hull
        flat = pos.astype(np.intp) * b + np.arange(b)
        c_at, p_at = cs.ravel()[flat], ps.ravel()[flat]
        chosen.choice[lo:hi] = order.ravel()[flat]
        chosen.c[lo:hi] = c_at
        runs_spent.append(_run_sums(c_at - cs[0]))
        runs_gain.append(_run_sums(p_at - ps[0]))
        runs_p0.append(_run_sums(ps[0]))
        e = eff[1:]
        inside = (e >= t_lo) & (e <= t_hi)
        if t_lo == -np.inf:
            inside &= vert[1:]
        k, i = np.nonzero(inside)
        k += 1
        if len(k):
            dc, dp = _steps(ps, cs, vert, k, i)
            band.append((i + lo, k, order[k, i], eff[k, i], dc, dp))
    keys = ("task", "k", "col", "eff", "dc", "dp")
    if band:
        cols = [np.concatenate(x) for x in zip(*band)]
    else:
        cols = [np.zeros(0, np.int64)] * 3 + [np.zeros(0)] * 3
    return _Pass(float(np.concatenate(runs_spent).sum()), float(np.concatenate(runs_gain).sum()),
                 float(np.concatenate(runs_p0).sum()), dict(zip(keys, cols)))


def _sample_eff(prob, cost, n: int, room: float, block: int) -> tuple[np.ndarray, int]:
    """Hull step efficiencies of a strided sample of tasks, sorted descending, and the
    position where their cost, scaled to all tasks, first exceeds `room`."""
    idx = np.arange(0, n, max(1, n // _SAMPLE_TASKS))
    found = []
    for lo in range(0, len(idx), block):
        rows = idx[lo:lo + block]
        _, ps, cs, vert, eff = _block_hull(prob[rows], cost[rows])
        k, i = np.nonzero(vert[1:])
        k += 1
        found.append((eff[k, i], k, i + lo, _steps(ps, cs, vert, k, i)[0]))
    eff, k, task, dc = (np.concatenate(x) for x in zip(*found))
    o = np.lexsort((task, k, -eff))  # the solver's item order, whatever the block size
    cum = np.cumsum(dc[o]) * (n / len(idx))
    return eff[o], int(np.searchsorted(cum, room, side="right"))


def _candidate_upgrades(prob_rows, cost_rows, ch, fit: float):
    """Per task in a (b, S) block: the most efficient upgrade from column `ch` with p gain > 0
    and 0 < extra cost <= fit (ties: the option first in (cost, -p, column) order).
    Returns (rows that have one, best column, efficiency, extra cost)."""
    P, C = _columns(prob_rows), _columns(cost_rows)
    r = np.arange(len(ch))
    pc, cc = P[ch, r], C[ch, r]
    extra = C - cc
    ok = extra > 0
    ok &= extra <= fit
    ok &= P > pc  # the sign of p - pc, exactly
    rows = np.nonzero(np.logical_or.reduce(ok, axis=0))[0]
    if not len(rows):
        return rows, rows, np.zeros(0), np.zeros(0)
    ok, extra, P, C = ok[:, rows], extra[:, rows], P[:, rows], C[:, rows]
    with np.errstate(all="ignore"):
        eff = np.where(ok, (P - pc[rows]) / np.where(ok, extra, 1.0), -np.inf)
    top = eff.max(axis=0)
    tie = eff == top
    best = tie.argmax(axis=0)
    multi = np.nonzero(tie.sum(axis=0) > 1)[0]
    if len(multi):  # equal efficiency: the cheapest, then the most probable, then the lowest column
        t, c, p = tie[:, multi], C[:, multi], P[:, multi]
        t &= c == np.where(t, c, np.inf).min(axis=0)
        t &= p == np.where(t, p, -np.inf).max(axis=0)
        best[multi] = t.argmax(axis=0)
    return rows, best, top, extra[best, np.arange(len(rows))]


def _downgrade_to_fit(prob, cost, chosen: _Chosen, budget: float, spans) -> None:
    """While the chosen total cost exceeds the budget (by at most the round-off slack the
    decisions allow), move the one task whose cheaper option covers the excess at the least
    loss of p. Stops with every task at its cheapest, where only a budget below the cheapest
    assignment by less than the slack (accepted by the feasibility check) can leave it over."""
    while True:
        excess = chosen.total_cost() - budget
        if excess <= 0:
            return
        best = (np.inf, -1)  # least loss, then lowest task, then lowest column
        for lo, hi in spans:
            P, C = _columns(prob[lo:hi]), _columns(cost[lo:hi])
            loss = np.where(C <= chosen.c[lo:hi] - excess, chosen.p(lo, hi) - P, np.inf).min(axis=0)
            at = int(loss.argmin())
            if loss[at] < best[0]:
                best = (float(loss[at]), lo + at)
        i = best[1]
        if i < 0:
            return
        cheaper = np.nonzero((cost[i] <= chosen.c[i] - excess) & (chosen.p(i, i + 1)[0] - prob[i] == best[0]))[0]
        chosen.choice[i] = cheaper[0]
        chosen.update(np.array([i]))


def solve_fast(prob: np.ndarray, cost: np.ndarray, budget: float, block_tasks: int | None = None) -> Solution:
    """LP relaxation by hull greedy; integral except one task, which is rounded feasibly.

    Incremental items move a task from one hull vertex to the next. Their efficiency
    strictly decreases along each task, so the LP takes every item above a critical
    efficiency, in the order (efficiency desc, vertex, task). The critical one is found
    without sorting all items: a strided sample of tasks brackets it, one pass over the
    tasks takes every item above the bracket and collects the few inside it, and only
    those are sorted (the pass is repeated with a wider bracket if the sample misled).
    Decisions compare running sums with the budget plus a round-off slack (_REL_TOL);
    the returned assignment's own float64 total, cost[arange(n), choice].sum(), is then
    checked against the budget itself and, if the slack let it over, the cheapest fix is
    made (one task moved down at the least loss of p). Only a budget below the cheapest
    assignment by less than the feasibility check's slack can leave the total over.
    Tasks are processed in blocks of `block_tasks` (working memory O(block x S) plus a
    few values per task); the answer does not depend on the block size.
    """
    prob, cost = _check(prob, cost)
    n, S = prob.shape
    block = _BLOCK_TASKS if block_tasks is None else int(block_tasks)
    block = max(_SUM_BLOCK, block - block % _SUM_BLOCK)
    spans = [(lo, min(n, lo + block)) for lo in range(0, n, block)]
    cheapest = np.empty(n)
    for lo, hi in spans:
        m = cheapest[lo:hi]
        m[:] = cost[lo:hi, 0]
        for k in range(1, S):
            np.minimum(m, cost[lo:hi, k], out=m)
    base_cost = float(cheapest.sum())  # exactly min_feasible_budget(cost)
    del cheapest, m
    _raise_if_infeasible(base_cost, n, budget, "budget")
    tol = _tol(budget)
    residual = budget - base_cost  # the cheapest option is always the first hull vertex
    room = residual + tol

    eff_sample, q = _sample_eff(prob, cost, n, room, block)
    choice = np.zeros(n, dtype=np.int64)
    chosen = _Chosen(prob, cost, choice)
    reach_hi = reach_lo = int(_BRACKET_SIGMAS * np.sqrt(q + 1)) + _BRACKET_MIN
    while True:
        at_hi, at_lo = min(q - reach_hi, len(eff_sample) - 1), q + reach_lo
        t_hi = float(eff_sample[at_hi]) if at_hi >= 0 else np.inf
        t_lo = float(eff_sample[at_lo]) if at_lo < len(eff_sample) else -np.inf
        lp = _lp_pass(prob, cost, spans, t_lo, t_hi, chosen)
        if lp.spent_hi > room and t_hi < np.inf:  # the critical item lies above t_hi
            reach_hi = 8 * reach_hi + 1
            continue
        band = lp.band
        o = np.lexsort((band["task"], band["k"], -band["eff"]))
        band = {key: v[o] for key, v in band.items()}
        cum = np.cumsum(np.concatenate([[lp.spent_hi], band["dc"]]))[1:]
        ntake = int(np.searchsorted(cum, room, side="right"))
        if ntake == len(cum) and t_lo > -np.inf:  # the critical item lies below t_lo
            reach_lo = 8 * reach_lo + 1
            continue
        taken = np.zeros(len(cum), dtype=bool)
        taken[:ntake] = True
        spent = float(cum[ntake - 1]) if ntake else lp.spent_hi
        lp_bound = lp.base_p + lp.gain_hi + float(band["dp"][:ntake].sum())
        crit_task, lam = -1, 0.0
        if ntake < len(cum):
            crit = ntake
            crit_task = int(band["task"][crit])
            dc_crit, dp_crit = float(band["dc"][crit]), float(band["dp"][crit])
            lam = float(band["eff"][crit])
            lp_bound += max(0.0, min(1.0, (residual - spent) / dc_crit)) * dp_crit
            # Second rounding candidate: take the critical item whole and give back the
            # least efficient taken items (a suffix, so each task keeps a prefix) until
            # the budget holds; keep it if it beats dropping the critical item.
            # The critical task's own taken items are never given back: the critical item
            # moves that task on from its last taken vertex, so it needs them.
            over = spent + dc_crit - residual
            tail = np.arange(ntake)[::-1]
            tail = tail[band["task"][tail] != crit_task]
            back = np.cumsum(band["dc"][tail])
            if (not len(back) or back[-1] < over - tol) and t_hi < np.inf:
                reach_hi = 8 * reach_hi + 1  # the give-back could reach above t_hi: widen and redo
                continue
            t = int(np.searchsorted(back, over - tol, side="left")) + 1
            if t <= len(tail) and back[t - 1] >= over - tol:
                drop = tail[:t]
                if dp_crit - float(band["dp"][drop].sum()) > 0:
                    taken[drop] = False
                    taken[crit] = True
                    crit_task = -1  # integral now: nothing to round
        break
    # Tasks with taken items inside the band end at their furthest taken vertex.
    t_task, t_k, t_col = band["task"][taken], band["k"][taken], band["col"][taken]
    if len(t_task):
        o = np.lexsort((t_k, t_task))
        last = np.r_[t_task[o][1:] != t_task[o][:-1], True]
        choice[t_task[o][last]] = t_col[o][last]
        chosen.update(t_task)
    cur_cost = chosen.total_cost()  # from the positions themselves, not the running sum
    if crit_task >= 0:
        # Round the fractional task: its best option (any, not only hull) that fits what is left.
        r = crit_task
        left = budget - cur_cost
        cur = int(choice[r])
        fits = cost[r] <= cost[r, cur] + left + tol
        fits[cur] = True
        j = int(cheapest_best(prob[r][None], cost[r][None], fits[None])[0])
        cur_cost += cost[r, j] - cost[r, cur]
        choice[r] = j
        chosen.update(np.array([r]))
    # Spend the leftover on upgrades, best efficiency first: vectorised passes, each
    # taking the prefix that fits (the first always fits: every candidate does alone);
    # an upgrade too big to fit drops out of the next pass. (The LP bound already
    # certifies whatever this reaches.) Tasks with no fitting upgrade now never get one
    # (the leftover only shrinks), so later passes look at the previous candidates only.
    sub = None
    for _ in range(8 if lam > 0 else 0):
        fit = budget - cur_cost + tol
        found = []
        if sub is None:
            for lo, hi in spans:
                rows, best, eff, add = _candidate_upgrades(prob[lo:hi], cost[lo:hi], choice[lo:hi], fit)
                found.append((rows + lo, best, eff, add))
        else:
            for lo in range(0, len(sub), block):
                ids = sub[lo:lo + block]
                rows, best, eff, add = _candidate_upgrades(prob[ids], cost[ids], choice[ids], fit)
                found.append((ids[rows], best, eff, add))
        sub, best, eff, add = (np.concatenate(x) for x in zip(*found))
        if not len(sub):
            break
        o = np.argsort(-eff, kind="stable")
        add = add[o]
        fits = np.cumsum(add) <= fit
        ntake = int(fits.argmin()) if not fits.all() else len(fits)
        choice[sub[o[:ntake]]] = best[o[:ntake]]
        chosen.update(sub[o[:ntake]])
        cur_cost += float(add[:ntake].sum())
    _downgrade_to_fit(prob, cost, chosen, budget, spans)
    objective, total_cost = chosen.final_totals(spans)
    sol = Solution(choice, objective, total_cost, lp_bound, "fast", False, lam)
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
