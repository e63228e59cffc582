"""Routing speed benchmark (measures and prints; targets are from the routing issues).

    python benchmarks/bench_routing.py [--quick] [--skip_million] [--skip_ten_million] [--skip_dp] [--repeat R]

Figures: global budgeted routing on 12,000 x 10 (fast LP-hull solver and exact MILP),
1,000,000 x 10 and 10,000,000 x 10 with the fast solver (R timed solves each, min and
median, and the peak RSS, each size in its own fresh subprocess so the peak is that
case's alone; inputs are generated in chunks so the peak is the inputs plus the
solver), the unconstrained sweep of 200 weights over 12,000 x 10, and a side by side
with an integer DP shaped like the reference's (costs rounded to integers) on
100/200/400 tasks, with every objective evaluated on the true real-valued costs.
Synthetic data: 10 strategies whose costs span ~0.2..40 units and whose success
probability grows with cost, with per-task noise. The machine may be shared: each
large case prints /proc/loadavg before and after it.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from concur.routing import route_weighted  # noqa: E402
from concur.solvers import solve_exact, solve_fast  # noqa: E402


def synthetic(n: int, s: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base_cost = np.geomspace(0.2, 40, s)
    base_p = np.linspace(0.35, 0.8, s)
    cost = base_cost * rng.lognormal(0, 0.3, (n, s))
    prob = np.clip(base_p + rng.normal(0, 0.15, (n, s)), 0, 1)
    return prob, cost


def timed(fn, repeat: int = 5):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def line(name: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("  [met]" if ok else "  [MISSED]")
    print(f"{name:<58} {value:>22}   target {target}{verdict}")


# --------------------------------------------------------- reference-shaped DP
def integer_dp(prob: np.ndarray, cost: np.ndarray, budget: float, scale: float = 1.0) -> list[int]:
    """Multiple-choice knapsack DP over integer budgets, shaped like the reference:
    costs and budget rounded to integers (x scale), dp over every budget value per
    task, traceback table. Pure Python on purpose (this is the baseline)."""
    int_cost = [[int(c * scale + 0.5) for c in row] for row in cost.tolist()]
    rewards = prob.tolist()
    cap = int(budget * scale + 0.5)
    neg = float("-inf")
    dp = [neg] * (cap + 1)
    dp[0] = 0.0
    back = []
    lo_cum = hi_cum = 0
    for costs, rew in zip(int_cost, rewards):
        lo_cum += min(costs)
        hi_cum += max(costs)
        new = [neg] * (cap + 1)
        arg = [None] * (cap + 1)
        top = min(cap, hi_cum)
        for j, (cj, rj) in enumerate(zip(costs, rew)):
            for b in range(top, max(cj, lo_cum) - 1, -1):
                prev = dp[b - cj]
                if prev != neg and prev + rj > new[b]:
                    new[b] = prev + rj
                    arg[b] = (b - cj, j)
        dp = new
        back.append(arg)
    best = max(range(cap + 1), key=lambda b: dp[b])
    choice = [0] * len(back)
    b = best
    for i in range(len(back) - 1, -1, -1):
        b, choice[i] = back[i][b]
    return choice


def side_by_side(sizes=(100, 200, 400), per_task: float = 6.0) -> None:
    print(f"\nSide by side, budget {per_task} per task (objective = sum of p; spend on TRUE real-valued costs):")
    print(f"{'tasks':>6} {'solver':<22} {'time s':>9} {'objective':>11} {'spend/budget':>13} {'over budget':>12}")
    for n in sizes:
        prob, cost = synthetic(n, seed=n)
        B = per_task * n
        rows = np.arange(n)
        t = time.perf_counter()
        dp_choice = np.array(integer_dp(prob, cost, B))
        t_dp = time.perf_counter() - t
        t_fast, fast = timed(lambda: solve_fast(prob, cost, B), 3)
        t_ex, ex = timed(lambda: solve_exact(prob, cost, B, 60), 1)
        for name, tt, ch in (("integer DP (reference)", t_dp, dp_choice), ("fast LP-hull", t_fast, fast.choice),
                             (f"exact MILP ({ex.solver})", t_ex, ex.choice)):
            obj, spend = prob[rows, ch].sum(), cost[rows, ch].sum()
            print(f"{n:>6} {name:<22} {tt:>9.4f} {obj:>11.4f} {spend / B:>13.4f} {'YES' if spend > B * (1 + 1e-12) else 'no':>12}")
        print(f"{'':>6} fast certified gap <= {fast.gap:.4f}; exact optimum - DP objective = "
              f"{ex.objective - prob[rows, dp_choice].sum():+.4f}")


def synthetic_chunked(n: int, s: int = 10, seed: int = 1, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """`synthetic`'s distribution, generated chunk by chunk into the final arrays (no full-size temporaries)."""
    prob, cost = np.empty((n, s)), np.empty((n, s))
    base_cost, base_p = np.geomspace(0.2, 40, s), np.linspace(0.35, 0.8, s)
    for i, lo in enumerate(range(0, n, chunk)):
        rng = np.random.default_rng([seed, i])
        m = min(chunk, n - lo)
        cost[lo:lo + m] = base_cost * rng.lognormal(0, 0.3, (m, s))
        prob[lo:lo + m] = np.clip(base_p + rng.normal(0, 0.15, (m, s)), 0, 1)
    return prob, cost


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mib() -> float:
    """Resident set size now (Linux /proc; the peak so far elsewhere)."""
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return float(row.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


def large_child(n: int, repeat: int, per_task: float = 5.0) -> None:
    """Runs in a fresh process: prints JSON with the fast solver's times and the process's peak RSS."""
    prob, cost = synthetic_chunked(n)
    before = rss_mib()
    times, sol = [], None
    for _ in range(repeat):
        sol = None  # free the previous answer before the next solve
        t = time.perf_counter()
        sol = solve_fast(prob, cost, per_task * n)
        times.append(time.perf_counter() - t)
    spend = float(cost[np.arange(n), sol.choice].sum())
    print(json.dumps({"times": times, "peak_mib": peak_rss_mib(), "before_mib": before,
                      "inputs_mib": (prob.nbytes + cost.nbytes) / 2**20, "gap": sol.gap,
                      "within": spend <= per_task * n}))


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def large_case(n: int, repeat: int, time_target: float | None, rss_target: float | None) -> None:
    load_before = loadavg()
    out = subprocess.run([sys.executable, __file__, "--_child", str(n), "--repeat", str(repeat)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        raise SystemExit(f"the {n:,} x 10 run failed")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    t_min, t_med = min(r["times"]), statistics.median(r["times"])
    name = f"global {n:,} x 10 fast"
    line(f"{name}, time (min / median of {repeat})", f"{t_min:.2f} / {t_med:.2f} s",
         "reported" if time_target is None else f"<= {time_target:g} s",
         None if time_target is None else t_min <= time_target)
    line(f"{name}, peak RSS (whole process)", f"{r['peak_mib']:.0f} MiB",
         "bounded" if rss_target is None else f"<= {rss_target / 1e9:g} GB",
         None if rss_target is None else r["peak_mib"] * 2**20 <= rss_target)
    print(f"{'':<4}inputs {r['inputs_mib']:.0f} MiB; RSS before solving (inputs + interpreter) {r['before_mib']:.0f} MiB, "
          f"so the solver adds at most {r['peak_mib'] - r['before_mib']:.0f} MiB; gap {r['gap']:.2e}; "
          f"budget holds in float64: {r['within']}; load average before {load_before}, after {loadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller DP sizes (50/100) for a fast check")
    ap.add_argument("--skip_million", action="store_true", help="skip the 1,000,000 x 10 run")
    ap.add_argument("--skip_ten_million", action="store_true", help="skip the 10,000,000 x 10 run (~2 GB of inputs)")
    ap.add_argument("--skip_dp", action="store_true", help="skip the side by side with the integer DP")
    ap.add_argument("--repeat", type=int, default=5, help="timed solves per large case (default 5)")
    ap.add_argument("--_child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        large_child(args._child, args.repeat)
        return

    print("Routing benchmark (median of repeated runs unless stated; 2-core CPU machine unless stated otherwise)")
    print(f"load average (1, 5, 15 min): {loadavg()}  (other work on the machine inflates the times)")
    prob, cost = synthetic(12_000)
    n = prob.shape[0]
    for per_task in (2.0, 5.0, 10.0):
        B = per_task * n
        t_fast, fast = timed(lambda: solve_fast(prob, cost, B))
        line(f"global 12,000 x 10 fast, budget {per_task}/task", f"{t_fast:.4f} s (gap {fast.gap:.4f})", "<= 0.2 s",
             t_fast <= 0.2)
        t_ex, ex = timed(lambda: solve_exact(prob, cost, B, 60), 1)
        line(f"global 12,000 x 10 exact MILP, budget {per_task}/task", f"{t_ex:.3f} s ({ex.solver})", "<= 10 s",
             t_ex <= 10)
        print(f"{'':<4}objective exact {ex.objective:.4f} vs fast {fast.objective:.4f} (LP bound {fast.lp_bound:.4f})")

    weights = 1.0 - np.geomspace(1.0, 1e-6, 200)
    t_sweep, _ = timed(lambda: route_weighted(prob, cost, weights))
    line("unconstrained sweep, 200 weights over 12,000 x 10", f"{t_sweep:.4f} s", "<= 0.5 s", t_sweep <= 0.5)

    if not args.skip_million:
        large_case(1_000_000, args.repeat, 2.0, 1e9)
    if not args.skip_ten_million:
        large_case(10_000_000, max(1, min(args.repeat, 3)), None, None)

    if not args.skip_dp:
        side_by_side((50, 100) if args.quick else (100, 200, 400))


if __name__ == "__main__":
    main()
