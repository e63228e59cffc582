"""Routing: read the per-strategy prediction files and choose one strategy per task.

The `pred_<strategy>.csv` files are joined on `question_id` into tasks x strategies
matrices once; weighted routing then evaluates every weight at once, and budgeted
routing calls the solvers in concur/solvers.py (on predicted cost; concur/guard.py
calibrates the budget they see so that realised spend meets the user's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config
from .errors import ConcurError
from .pred_files import Predictions
from .solvers import Solution, min_feasible_budget, solve_global, solve_local, sort_options

# The reference repository's default sweep.
DEFAULT_WEIGHTS = [0.95, 0.96, 0.97, 0.98, 0.99, 0.999, 0.9999, 0.99999, 1.0]
_CHUNK_ELEMENTS = 1 << 22  # cap on weights x tasks x strategies held at once
_BUDGET_RTOL = 1e-9  # float round-off slack when comparing a cost with a budget (as in solvers.py)


def strategy_pool(config: Config) -> list[str]:
    """The config's `strategies` list, else every strategy with training rows."""
    if config.strategies is not None:
        return list(dict.fromkeys(config.strategies))
    from .data import load_dataset

    return load_dataset(config, splits=("train",)).strategies


# ------------------------------------------------------------ weighted routing
def _numbers(values, flag: str) -> np.ndarray:
    try:
        return np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ConcurError(f"{flag}: expected numbers, got {values!r}") from None


def check_weights(weights: list[float], flag: str = "--weight") -> np.ndarray:
    w = _numbers(weights, flag)
    bad = ~np.isfinite(w) | (w < 0) | (w > 1)
    if bad.any():
        raise ConcurError(f"{flag}: weights must be finite numbers in [0, 1], got {w[bad][0]}")
    return w


def check_lambdas(lambdas: list[float]) -> np.ndarray:
    lam = _numbers(lambdas, "--lambda")
    bad = ~np.isfinite(lam) | (lam < 0)
    if bad.any():
        raise ConcurError(f"--lambda: values must be finite and >= 0, got {lam[bad][0]}")
    return lam


def check_target_costs(targets: list[float]) -> np.ndarray:
    t = _numbers(targets, "--target_cost")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        raise ConcurError(f"--target_cost: values must be finite numbers > 0, got {t[bad][0]}")
    return t


def route_scores(prob: np.ndarray, cost: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Choices (len(a), n): per task argmax a*p - b*c; ties go to the cheaper strategy.

    Options are pre-sorted per task by (cost, -p); a running max over the sorted
    options with a strict '>' keeps the cheapest among equal scores. Weights are
    processed in chunks of (weights x tasks) vectors to bound memory.
    """
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    n, S = prob.shape
    order, ps, cs = sort_options(prob, cost)
    out = np.empty((len(a), n), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(1, n))
    for k0 in range(0, len(a), step):
        ak, bk = a[k0:k0 + step, None], b[k0:k0 + step, None]
        best = ak * ps[0] - bk * cs[0]
        pos = np.zeros(best.shape, dtype=np.intp)
        for j in range(1, S):
            score = ak * ps[j] - bk * cs[j]
            better = score > best
            np.copyto(best, score, where=better)
            pos[better] = j
        out[k0:k0 + step] = order[pos, np.arange(n)[None, :]]
    return out


def route_weighted(prob: np.ndarray, cost: np.ndarray, weights) -> np.ndarray:
    """Reference score W*p - (1-W)*c for every weight at once -> (W, n) choices."""
    w = check_weights(weights)
    return route_scores(prob, cost, w, 1.0 - w)


def route_lambda(prob: np.ndarray, cost: np.ndarray, lambdas) -> np.ndarray:
    """Score p - lambda*c (lambda = accuracy points given up per unit of cost)."""
    lam = check_lambdas(lambdas)
    return route_scores(prob, cost, np.ones_like(lam), lam)


def weight_grid(extra: list[float] | None = None, size: int = 400) -> np.ndarray:
    """Dense weight grid for --target_cost: 1 - W spans 1 .. 1e-9 geometrically, plus 0 and 1."""
    grid = np.concatenate([[0.0, 1.0], 1.0 - np.geomspace(1.0, 1e-9, size)])
    if extra:
        grid = np.concatenate([grid, np.asarray(extra, dtype=np.float64)])
    return np.unique(grid)


def pick_weight_for_target(val: Predictions, target_cost: float, candidates: np.ndarray) -> tuple[float, float]:
    """The candidate weight whose validation spend is closest to `target_cost`.

    Routes the validation tasks on their predictions and measures the realised mean
    cost (gt_flops of pred_val_*.csv), so the operating point is tuned on validation,
    never on test. Returns (weight, validation spend).
    """
    choices = route_weighted(val.prob, val.pred_cost, candidates)
    rows = np.arange(val.n_tasks)
    spend = val.cost[rows[None, :], choices].mean(axis=1)
    k = int(np.argmin(np.abs(spend - target_cost)))
    return float(candidates[k]), float(spend[k])


# ------------------------------------------------------------ budgeted routing
def batch_slices(n: int, num_batches: int) -> list[slice]:
    """K contiguous batches whose sizes differ by at most one."""
    if num_batches < 1:
        raise ConcurError(f"--num_batches must be >= 1, got {num_batches}")
    if num_batches > n:
        raise ConcurError(f"--num_batches {num_batches} is larger than the number of tasks ({n})")
    edges = np.linspace(0, n, num_batches + 1).round().astype(int)
    return [slice(int(edges[k]), int(edges[k + 1])) for k in range(num_batches)]


@dataclass
class BudgetResult:
    choice: np.ndarray
    solutions: list[Solution]
    n_no_fit: int | None = None  # local mode: tasks where no strategy's predicted cost fits (cheapest used)

    @property
    def solver(self) -> str:
        return ", ".join(dict.fromkeys(s.solver for s in self.solutions))

    @property
    def lp_bound(self) -> float | None:
        b = [s.lp_bound for s in self.solutions]
        return None if any(x is None for x in b) else float(sum(b))

    @property
    def gap(self) -> float | None:
        g = [s.gap for s in self.solutions]
        return None if any(x is None for x in g) else float(sum(g))


def check_budget(budget_per_task: float, flag: str = "--budget") -> float:
    """A budget per task must be a finite number > 0 (in every mode)."""
    b = float(budget_per_task)
    if not np.isfinite(b) or b <= 0:
        raise ConcurError(f"{flag} must be a finite number > 0, got {budget_per_task}")
    return b


def check_mode(mode: str) -> str:
    if mode not in ("global", "local"):
        raise ConcurError(f"--mode must be global or local, got {mode!r}")
    return mode


def no_fit_mask(cost: np.ndarray, budget_per_task: float) -> np.ndarray:
    """(n,) tasks where no strategy's cost is within the per-task budget (solve_local's tolerance)."""
    return np.asarray(cost, dtype=np.float64).min(axis=1) > budget_per_task + _BUDGET_RTOL * max(1.0, abs(budget_per_task))


def min_budget_per_task(cost: np.ndarray, num_batches: int = 1) -> float:
    """Global mode: the smallest budget per task with a feasible assignment in every batch."""
    return max(min_feasible_budget(cost[sl]) / (sl.stop - sl.start) for sl in batch_slices(cost.shape[0], num_batches))


def check_feasible_budget(cost: np.ndarray, budget_per_task: float, num_batches: int = 1) -> None:
    """Global mode: ConcurError naming the minimum when even the cheapest strategy per task exceeds the budget."""
    need = min_budget_per_task(cost, num_batches)
    if need > budget_per_task + _BUDGET_RTOL * max(1.0, abs(budget_per_task)):
        where = "" if num_batches == 1 else f" with {num_batches} batches"
        raise ConcurError(f"--budget {budget_per_task:g} is infeasible{where}: even the cheapest predicted strategy per task "
                          f"needs more; minimum feasible budget per task is {need:.6g}")


def route_budget(prob: np.ndarray, cost: np.ndarray, budget_per_task: float, mode: str = "global",
                 num_batches: int = 1, solver: str = "auto", time_limit: float = 60.0,
                 exact_max_tasks: int = 20000) -> BudgetResult:
    """Budgeted routing on predicted costs; global batches each get budget_per_task x size.

    Local mode counts the tasks where no strategy fits the budget (they get the cheapest).
    """
    check_mode(mode)
    budget_per_task = check_budget(budget_per_task)
    n = prob.shape[0]
    if mode == "local":
        sol = solve_local(prob, cost, budget_per_task)
        return BudgetResult(sol.choice, [sol], int(no_fit_mask(cost, budget_per_task).sum()))
    parts = batch_slices(n, num_batches)
    check_feasible_budget(cost, budget_per_task, num_batches)
    choice = np.empty(n, dtype=np.int64)
    sols = []
    for sl in parts:
        sol = solve_global(prob[sl], cost[sl], budget_per_task * (sl.stop - sl.start), solver, time_limit, exact_max_tasks)
        choice[sl] = sol.choice
        sols.append(sol)
    return BudgetResult(choice, sols)
