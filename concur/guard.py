"""The realised-spend guard: the budget the solver sees, calibrated so that REALISED spend meets the user's.

Budgeted routing constrains predicted cost. When the cost predictions are biased, realised spend
misses the user's budget B. The guard routes the validation tasks on their predictions with the
same solver, mode and batches as the test tasks, and picks the internal budget B' (what the
solver sees) at which the realised spend, as estimated on validation (the statistic f below), meets
B; B' is then used on the test (or new) tasks.

The statistic. In local mode f(B') is the mean realised cost (gt_flops) of the validation assignment
that `route_budget` returns for B'. In global mode it is B' plus the mean residual (realised minus
predicted cost) of that assignment: the knapsack fills B' on any task set up to one task's upgrade
step, a step of size (cost difference) / n, so a few hundred validation tasks fall short of B' by
more than the larger test set will; calibrated on the validation tasks' own predicted spend, B'
overspent on test (README: budgeted routing). f is a step function of B' and only
approximately non-decreasing (the knapsack may swap tasks when the budget grows), so the guard
defines B' as the first crossing at grid resolution:

1. Bracket [lo, hi]. Global mode: lo = the validation tasks' minimum feasible budget (every task
   at its cheapest predicted strategy), hi = the predicted mean cost of the most probable
   assignment (above it the solver's answer no longer changes); B' may lie above B when the
   predictions over-estimate cost. Local mode: lo = min(B, the smallest predicted cost) (at or
   below it every task gets its cheapest strategy), hi = B: in local mode B is a cap on each
   task, so the guard may only lower it.
2. Scan `grid_size` budgets spaced geometrically on [lo, hi] upwards to the first one with
   f > B (target); the last one before it has f <= B.
3. Bisect between the two, keeping f(left) <= B < f(right), until right - left <= rtol * B.

B' is the final left end: f(B') <= B, f <= B at every grid budget below it, and f > B at a budget
rtol * B higher. Where f is non-decreasing this is the largest budget whose f is <= B, to within
rtol * B. It cannot always be reached: if even f(lo) > B, B' = lo ("low": the cheapest assignment
already overspends on validation); if f(hi) <= B, B' = hi ("high": B is above what the most
accurate assignment spends). Both are reported in `GuardResult.note`.

Solver. The search routes the validation tasks with the fast LP-hull solver by default (whatever
solver routes the test tasks): it takes ~20 solves, the exact MILP needs seconds each on a few
hundred tasks while the fast one is within its certified gap (a fraction of one task's P(correct))
of the optimum, so the two assignments' spends differ by about one task's cost step.

Risk. With `risk=delta` the statistic is not the mean but a (1 - delta) quantile over `n_boot`
bootstrap resamples of the validation tasks (the validation assignment at B' held fixed; the same
resamples for every B', so the statistic is a deterministic function of B'). In global mode the
knapsack pins the predicted spend at about B' on any task set, so only the residuals (realised
minus predicted cost of the chosen strategies) are uncertain: the statistic is B' plus the
(1 - delta) quantile of the resampled mean residual. In local mode the
predicted spend varies with the tasks too, so the resampled quantity is the realised cost itself.
The search is the same; B' then leaves a margin so that the test tasks' realised spend is <= B
with probability about 1 - delta. Two sources of error separate
the test spend from the calibration: the test tasks are a sample (variance sigma^2 / n_test) and
so are the validation tasks the calibration was fitted on (sigma^2 / n_val). The resamples are
therefore drawn at the effective size n_test * n_val / (n_test + n_val), whose sample-mean
variance is the sum of the two; resampling at the test-set size alone would ignore the second
and under-cover (on synthetic data with n_val = n_test / 2, 0.68-0.85 instead of 0.9).
`coverage` reports, on test, the share of bootstrap resamples of the routed test tasks (at
their own size) whose mean realised cost is <= B.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import ConcurError
from .pred_files import Predictions
from .routing import batch_slices, check_budget, check_mode, min_budget_per_task, route_budget
from .solvers import cheapest_best

GUARDS = ("realised", "none")
# the scripts' and the API's default margin: without one, heavy-tailed costs overspend B on test
# about as often as not (README, budgeted routing)
DEFAULT_RISK = 0.1
DEFAULT_GRID_SIZE = 16
DEFAULT_RTOL = 1e-3
DEFAULT_N_BOOT = 1000
_FLOOR = 1e-9  # lowest internal budget, as a share of B (route_budget needs a budget > 0)


def parse_risk(text: str | float | None) -> float | None:
    """A --risk value: 'none' (no margin, the mean spend meets B) or a number strictly between 0 and 1."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "none"):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConcurError(f"--risk must be 'none' or a number strictly between 0 and 1, got {text!r}") from None
    return check_risk(value)


def check_risk(risk: float | None) -> float | None:
    """--risk delta must be a number strictly between 0 and 1 (or absent)."""
    if risk is None:
        return None
    r = float(risk)
    if not np.isfinite(r) or not 0.0 < r < 1.0:
        raise ConcurError(f"--risk must be a number strictly between 0 and 1, got {risk}")
    return r


def bootstrap_weights(n_from: int, size: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_from) resampling weights: multinomial counts of `size` draws with replacement, / size."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(size, np.full(n_from, 1.0 / n_from), size=n_boot) / float(size)


def effective_size(n_test: int | None, n_val: int) -> int:
    """Resample size whose sample-mean variance is that of (test mean - validation mean): 1/(1/n_test + 1/n_val)."""
    if not n_test:
        return max(1, n_val // 2)  # tasks to route not known: as many as validation
    return max(1, round(n_test * n_val / (n_test + n_val)))


def coverage(realised_costs: np.ndarray, budget: float, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> float:
    """Share of bootstrap resamples of the tasks (same size) whose mean realised cost is <= budget."""
    c = np.asarray(realised_costs, dtype=np.float64)
    n = len(c)
    if n == 0:
        raise ConcurError("coverage: no tasks")
    rng = np.random.default_rng(seed)
    step = max(1, (1 << 22) // n)  # bound the (resamples x tasks) block held at once
    hits = 0
    for k0 in range(0, n_boot, step):
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=min(step, n_boot - k0))
        hits += int(((w @ c) / n <= budget + 1e-12 * max(1.0, abs(budget))).sum())
    return hits / n_boot


class ValidationSpend:
    """Realised validation spend as a function of the solver's budget (solves are memoised)."""

    def __init__(self, val: Predictions, mode: str, num_batches: int = 1, solver: str = "fast",
                 time_limit: float = 60.0, exact_max_tasks: int = 20000) -> None:
        self.val = val
        self.mode = check_mode(mode)
        if num_batches < 1:
            raise ConcurError(f"--num_batches must be >= 1, got {num_batches}")
        # validation may hold fewer tasks than the batches asked for on test
        self.num_batches = min(int(num_batches), val.n_tasks) if mode == "global" else 1
        self.solver, self.time_limit, self.exact_max_tasks = solver, float(time_limit), int(exact_max_tasks)
        self._choices: dict[float, np.ndarray] = {}
        self._rows = np.arange(val.n_tasks)

    @property
    def n_solves(self) -> int:
        return len(self._choices)

    def choice(self, internal_budget: float) -> np.ndarray:
        b = float(internal_budget)
        if b not in self._choices:
            self._choices[b] = route_budget(self.val.prob, self.val.pred_cost, b, self.mode, self.num_batches,
                                            self.solver, self.time_limit, self.exact_max_tasks).choice
        return self._choices[b]

    def costs(self, internal_budget: float) -> np.ndarray:
        """(n_val,) realised cost of each validation task's assigned strategy."""
        return self.val.cost[self._rows, self.choice(internal_budget)]

    def spend(self, internal_budget: float) -> float:
        return float(self.costs(internal_budget).mean())

    def pred_costs(self, internal_budget: float) -> np.ndarray:
        return self.val.pred_cost[self._rows, self.choice(internal_budget)]

    def residuals(self, internal_budget: float) -> np.ndarray:
        """(n_val,) realised minus predicted cost of each validation task's assigned strategy."""
        return self.costs(internal_budget) - self.pred_costs(internal_budget)

    def pred_spend(self, internal_budget: float) -> float:
        return float(self.pred_costs(internal_budget).mean())

    def bracket(self, budget: float) -> tuple[float, float]:
        """[lo, hi] for the internal budget (module docstring, step 1)."""
        pc = self.val.pred_cost
        floor = _FLOOR * budget
        if self.mode == "local":
            return max(min(budget, float(pc.min())), floor), budget
        lo = max(min_budget_per_task(pc, self.num_batches), floor)
        top = cheapest_best(self.val.prob, pc)
        top_cost = pc[self._rows, top]
        hi = max(float(top_cost[sl].mean()) for sl in batch_slices(self.val.n_tasks, self.num_batches))
        return lo, max(lo, hi)


@dataclass
class GuardResult:
    budget: float  # the user's budget per task
    internal_budget: float  # the budget the solver sees
    val_spend: float  # realised mean validation cost at internal_budget
    val_pred_spend: float  # predicted mean validation cost at internal_budget
    n_val: int
    saturated: str  # "" (target reached), "low" or "high" (see the module docstring)
    note: str
    n_solves: int  # validation solves so far (memoised across budgets)
    risk: float | None = None
    val_quantile: float | None = None  # with risk: the (1 - risk) quantile of resampled validation spend


def first_crossing(stat: Callable[[float], float], target: float, lo: float, hi: float,
                   grid_size: int = DEFAULT_GRID_SIZE, tol: float = 0.0) -> tuple[float, str]:
    """The first crossing of stat(x) <= target on [lo, hi] at grid resolution (module docstring, steps 2-3).

    Returns (x, saturated) with saturated "" when the target was bracketed, "low" when
    stat(lo) > target (x = lo), "high" when stat(hi) <= target (x = hi).
    """
    if stat(lo) > target:
        return lo, "low"
    if hi <= lo:
        return lo, "high"
    grid = np.geomspace(lo, hi, max(2, int(grid_size)))
    grid[0], grid[-1] = lo, hi
    left = lo
    right = None
    for g in grid[1:]:
        if stat(float(g)) > target:
            right = float(g)
            break
        left = float(g)
    if right is None:
        return hi, "high"
    while right - left > tol:
        mid = 0.5 * (left + right)
        if mid <= left or mid >= right:  # float resolution reached
            break
        if stat(mid) <= target:
            left = mid
        else:
            right = mid
    return left, ""


def calibrate_budget(spend: ValidationSpend, budget: float, risk: float | None = None, n_test: int | None = None,
                     n_boot: int = DEFAULT_N_BOOT, seed: int = 0, grid_size: int = DEFAULT_GRID_SIZE,
                     rtol: float = DEFAULT_RTOL) -> GuardResult:
    """The internal budget at which the module docstring's statistic f (with risk: its quantile) meets `budget`."""
    budget = check_budget(budget)
    risk = check_risk(risk)
    lo, hi = spend.bracket(budget)
    weights = None if risk is None else bootstrap_weights(spend.val.n_tasks, effective_size(n_test, spend.val.n_tasks),
                                                          n_boot, seed)

    def summary(x: np.ndarray) -> float:
        """The mean, or with risk the (1 - risk) quantile of the resampled mean."""
        return float(x.mean()) if weights is None else float(np.quantile(weights @ x, 1.0 - risk))

    def stat(b: float) -> float:
        # global: the knapsack fills b on the tasks to route (module docstring), so only residuals are uncertain
        return b + summary(spend.residuals(b)) if spend.mode == "global" else summary(spend.costs(b))

    quantile_of = None if risk is None else stat
    internal, saturated = first_crossing(stat, budget, lo, hi, grid_size, rtol * budget)
    got = spend.spend(internal)
    if risk is None:
        what = "realised validation spend" if spend.mode == "local" else "internal budget + mean validation residual"
    else:
        what = f"{1 - risk:g} quantile of resampled validation spend"
    if saturated == "low":
        note = (f"cannot reach: even the cheapest assignment (internal budget {internal:.6g}) has {what} "
                f"{stat(internal):.6g} > budget {budget:g}")
    elif saturated == "high":
        note = (f"saturated: the {'most accurate assignment' if spend.mode == 'global' else 'full per-task cap'} "
                f"has {what} {stat(internal):.6g} <= budget {budget:g}; internal budget {internal:.6g}")
    else:
        note = f"{what} {stat(internal):.6g} <= budget {budget:g} at internal budget {internal:.6g}"
    return GuardResult(budget, float(internal), got, spend.pred_spend(internal), spend.val.n_tasks, saturated, note,
                       spend.n_solves, risk, None if quantile_of is None else quantile_of(internal))


def solver_budget(guard: GuardResult, pred_cost: np.ndarray, mode: str, num_batches: int = 1) -> tuple[float, str]:
    """The internal budget to route the tasks with, raised in global mode to their minimum feasible budget
    when the validation calibration went below it; returns (budget, note or "")."""
    b = guard.internal_budget
    if mode == "global":
        need = min_budget_per_task(pred_cost, num_batches)
        if need > b:
            return need, (f"internal budget {b:.6g} is below these tasks' minimum feasible budget; "
                          f"raised to {need:.6g}")
    return b, ""
