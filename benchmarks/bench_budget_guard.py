"""Realised-spend guard on real data (measures and prints; targets are from issue 11).

    python benchmarks/bench_budget_guard.py [--data_root /tmp/guard_data] [--work /tmp/guard_bench]
        [--datasets mmlu_pro routerbench routellm_mmlu] [--risk 0.1] [--pred_dirs 'DIR/{name}/...' ...]

Each data set is a prepare_data.py folder with its embeddings, e.g.

    python prepare_data.py --source mmlu-pro --out /tmp/guard_data/mmlu_pro   # routerbench, routellm-mmlu alike
    (add `embedding: {dtype: bfloat16}` to its config.yml to embed faster)
    python embed_dataset.py --config_path /tmp/guard_data/mmlu_pro/config.yml

Predictions: by default the kNN router's (`predictor.py --router knn`, k chosen on validation)
are written into <work>/<name>/knn; `--pred_dirs` instead reads pred_<s>.csv / pred_val_<s>.csv from
each given folder (`{name}` is replaced by the data set's name; several folders = several runs,
e.g. seeds of another router).

Budgets: 5 spaced geometrically between the cheapest and the dearest single strategy's mean
TRAINING cost (as in the results pipeline's budget table). For each budget B, in global and local
mode: the unguarded solve (`--guard none`, constraint on predicted cost) and the guarded one
(internal budget calibrated on validation, same solver), and with --risk the guarded one with the
risk margin and its test coverage. Printed per run: realised test spend / B, accuracy, the
internal budget B'/B, the guard's calibration time; and accuracy at equal realised spend: the
guarded accuracy minus the unguarded curve's (linear interpolation between unguarded solves at
`--curve_points` budgets and the user's budgets; the guard's own B' is not among them unless it
equals B), with a paired bootstrap 95% interval over the test tasks. In local mode B is a per-task
cap, so the share of test tasks whose realised cost exceeds B is printed too. Targets (issue 11): with the guard, mean realised/B <= 1.00 and no run above 1.03;
accuracy at equal realised spend not lower than the unguarded curve's, within the interval.

`--resplits N` also checks what the guard promises over many test sets instead of one: the validation
and test tasks of each run are pooled and split again N times at random (the same sizes); each time the
guard is calibrated on the new validation part and the new test part is routed (global mode). Printed
per budget: the share of re-splits whose realised test spend exceeds B (with `--risk delta` it should
be about delta; without a margin about one half) and the mean realised/B.

    python benchmarks/bench_budget_guard.py --data_root 'results_work/{name}/data' --datasets mmlu_pro routerbench \
        --pred_dirs 'results_work/{name}/seed0/output/concur' --resplits 100
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from concur.config import load_config  # noqa: E402
from concur.data import load_dataset  # noqa: E402
from concur.guard import ValidationSpend, bootstrap_weights, calibrate_budget, coverage, solver_budget  # noqa: E402
from concur.pred_files import Predictions, load_predictions  # noqa: E402
from concur.routing import min_budget_per_task, route_budget  # noqa: E402

DATASETS = ("mmlu_pro", "routerbench", "routellm_mmlu")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", default="/tmp/guard_data",
                   help="folder holding one prepared data set per name, or a path with '{name}' in it")
    p.add_argument("--work", default="/tmp/guard_bench", help="scratch folder for the kNN prediction files")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--pred_dirs", nargs="+", default=None,
                   help="read predictions from these folders ('{name}' = data set) instead of building kNN's")
    p.add_argument("--n_budgets", type=int, default=5)
    p.add_argument("--risk", type=float, default=0.1, help="also run the guard with this risk (0 to skip)")
    p.add_argument("--solver", default="auto", choices=("auto", "exact", "fast"))
    p.add_argument("--time_limit", type=float, default=20.0)
    p.add_argument("--curve_points", type=int, default=30, help="unguarded solves per mode for the accuracy curve")
    p.add_argument("--n_boot", type=int, default=1000)
    p.add_argument("--resplits", type=int, default=0,
                   help="also measure the guard over this many random re-splits of validation + test (global mode)")
    p.add_argument("--out_csv", default=None, help="also write every row here (default: <work>/bench_budget_guard.csv)")
    return p.parse_args(argv)


def knn_predictions(cfg, out_dir: Path) -> None:
    import torch

    from concur.router_jobs import predict_router, train_router

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = dict(cfg)
    cfg.update(predictor_path=out_dir / "predictors", output_path=out_dir)
    from concur.config import Config

    cfg = Config(cfg)
    train_router(cfg, "knn", ["all"], log=lambda _m: None, progress=False)
    predict_router(cfg, "knn", ["all"], log=lambda _m: None, progress=False)


def curve_delta(test: Predictions, guarded: np.ndarray, curve: list[np.ndarray], weights: np.ndarray) -> tuple[float, float, float]:
    """Guarded accuracy minus the unguarded curve's at the guarded realised spend: point and bootstrap 95% interval."""
    rows = np.arange(test.n_tasks)
    cc = np.stack([test.cost[rows, c] for c in curve])  # (K, n)
    ca = np.stack([test.label[rows, c] for c in curve])
    gc, ga = test.cost[rows, guarded], test.label[rows, guarded]

    def delta(w: np.ndarray) -> np.ndarray:  # w: (B, n) resampling weights
        kc, ka, x, y = w @ cc.T, w @ ca.T, w @ gc, w @ ga
        out = np.empty(len(w))
        for i in range(len(w)):
            o = np.argsort(kc[i], kind="stable")
            slack = 1e-9 * max(1.0, abs(x[i]))  # the same assignment summed by another BLAS path
            if not kc[i, o[0]] - slack <= x[i] <= kc[i, o[-1]] + slack:
                out[i] = np.nan
                continue
            out[i] = y[i] - np.interp(x[i], kc[i, o], ka[i, o])
        return out

    point = float(delta(np.full((1, test.n_tasks), 1.0 / test.n_tasks))[0])
    boot = delta(weights)
    boot = boot[np.isfinite(boot)]
    if len(boot) < 0.9 * len(weights):
        return point, float("nan"), float("nan")
    return point, float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def run(name: str, run_name: str, val: Predictions, test: Predictions, budgets: np.ndarray, args) -> list[dict]:
    rows_idx = np.arange(test.n_tasks)
    solve = lambda b, mode: route_budget(test.prob, test.pred_cost, b, mode, 1, args.solver, args.time_limit)  # noqa: E731
    weights = bootstrap_weights(test.n_tasks, test.n_tasks, args.n_boot, 12345)
    out = []
    for mode in ("global", "local"):
        # the unguarded curve on test, over the whole range of budgets the solver can see
        pc = test.pred_cost
        lo = min_budget_per_task(pc) if mode == "global" else float(pc.min())
        hi = float(pc[rows_idx, test.prob.argmax(1)].mean()) if mode == "global" else float(pc.max())
        grid = np.unique(np.concatenate([np.geomspace(lo, hi, args.curve_points), budgets[budgets >= lo]]))
        curve = [solve(float(b), mode).choice for b in grid]
        spend = ValidationSpend(val, mode, 1, args.solver, args.time_limit)
        for b in budgets:
            base = {"dataset": name, "run": run_name, "mode": mode, "budget": float(b)}
            if mode == "global" and b < min_budget_per_task(pc):
                out.append({**base, "guard": "none", "error": "infeasible on predicted cost"})
                continue
            ch = solve(float(b), mode).choice
            out.append({**base, "guard": "none", "internal_budget": float(b),
                        "ratio": float(test.cost[rows_idx, ch].mean() / b), "accuracy": float(test.label[rows_idx, ch].mean()),
                        "coverage": coverage(test.cost[rows_idx, ch], b, args.n_boot, 0),
                        "share_tasks_over_budget": float((test.cost[rows_idx, ch] > b).mean())})
            for risk in ([None, args.risk] if args.risk else [None]):
                t = time.perf_counter()
                g = calibrate_budget(spend, float(b), risk, test.n_tasks, args.n_boot, 0)
                secs = time.perf_counter() - t
                internal, raised = solver_budget(g, pc, mode)
                ch = solve(internal, mode).choice
                d, d_lo, d_hi = curve_delta(test, ch, curve, weights)
                out.append({**base, "guard": "realised" if risk is None else f"realised, risk {risk:g}",
                            "internal_budget": internal, "internal_over_budget": internal / b,
                            "ratio": float(test.cost[rows_idx, ch].mean() / b),
                            "accuracy": float(test.label[rows_idx, ch].mean()),
                            "coverage": coverage(test.cost[rows_idx, ch], b, args.n_boot, 0),
                            "share_tasks_over_budget": float((test.cost[rows_idx, ch] > b).mean()),
                            "val_ratio": g.val_spend / b, "saturated": g.saturated or "", "raised": bool(raised),
                            "delta_acc": d, "delta_lo": d_lo, "delta_hi": d_hi, "guard_seconds": secs,
                            "val_solves": g.n_solves})
    return out


def _rows(p: Predictions, idx: np.ndarray, split: str) -> Predictions:
    return Predictions(split, p.question_ids[idx], p.strategies, p.prob[idx], p.pred_cost[idx], p.label[idx], p.cost[idx])


def resplit_coverage(val: Predictions, test: Predictions, budgets: np.ndarray, args) -> pd.DataFrame:
    """Realised test spend / B of the guard (global mode, with and without the risk margin) over
    `args.resplits` random re-splits of the pooled validation and test tasks at their own sizes."""
    pooled = Predictions("pooled", np.concatenate([val.question_ids, test.question_ids]), val.strategies,
                         *(np.concatenate([getattr(val, a), getattr(test, a)]) for a in ("prob", "pred_cost", "label", "cost")))
    rng = np.random.default_rng(12345)
    risks = [None, args.risk] if args.risk else [None]
    rows = []
    for k in range(args.resplits):
        order = rng.permutation(pooled.n_tasks)
        v, t = _rows(pooled, order[:val.n_tasks], "val"), _rows(pooled, order[val.n_tasks:], "test")
        spend = ValidationSpend(v, "global", 1, "fast")
        idx = np.arange(t.n_tasks)
        for b in budgets:
            for risk in risks:
                g = calibrate_budget(spend, float(b), risk, t.n_tasks, args.n_boot, k)
                internal, _ = solver_budget(g, t.pred_cost, "global")
                ch = route_budget(t.prob, t.pred_cost, internal, "global", 1, "fast").choice
                rows.append({"budget": float(b), "guard": "realised" if risk is None else f"realised, risk {risk:g}",
                             "ratio": float(t.cost[idx, ch].mean() / b), "accuracy": float(t.label[idx, ch].mean())})
    return pd.DataFrame(rows)


def print_resplits(df: pd.DataFrame) -> None:
    print("  re-splits of validation + test, global mode: share of re-splits over B, mean realised/B")
    for guard, g in df.groupby("guard", sort=False):
        per = ", ".join(f"{b:.4g}: {(m.ratio > 1).mean():.2f} / {m.ratio.mean():.3f}" for b, m in g.groupby("budget"))
        print(f"  {guard:<20} all budgets: {(g.ratio > 1).mean():.3f} over / {g.ratio.mean():.4f} "
              f"(accuracy {g.accuracy.mean():.4f}); per budget: {per}")


def print_rows(rows: list[dict]) -> None:
    print("  (ratio = realised test spend / B; dAcc@spend = guarded accuracy minus the unguarded curve's at the same "
          "realised spend; cover = share of test bootstrap resamples spending <= B; >B = share of test tasks whose "
          "realised cost exceeds B, guarded)")
    print(f"  {'mode':<6} {'budget':>9} | {'none: ratio':>11} {'acc':>6} | {'guard: B_int/B':>14} {'ratio':>6} {'acc':>6} "
          f"{'dAcc@spend [95% CI]':>26} {'sec':>5} | {'risk: ratio':>11} {'acc':>6} {'cover':>6} | {'>B':>5}")
    key = lambda r: (r["mode"], r["budget"])  # noqa: E731
    by = {}
    for r in rows:
        by.setdefault(key(r), {})[r["guard"]] = r
    for (mode, b), g in by.items():
        n = g.get("none", {})
        gr = g.get("realised", {})
        rk = next((v for k, v in g.items() if k.startswith("realised, risk")), {})
        if "error" in n:
            print(f"  {mode:<6} {b:>9.4g} | {n['error']}")
            continue
        sat = f" ({gr['saturated']})" if gr.get("saturated") else ""
        print(f"  {mode:<6} {b:>9.4g} | {n['ratio']:>11.3f} {n['accuracy']:>6.3f} | "
              f"{gr['internal_over_budget']:>14.3f} {gr['ratio']:>6.3f} {gr['accuracy']:>6.3f} "
              f"{gr['delta_acc']:>+8.4f} [{gr['delta_lo']:+.4f}, {gr['delta_hi']:+.4f}] {gr['guard_seconds']:>5.1f} | "
              + (f"{rk['ratio']:>11.3f} {rk['accuracy']:>6.3f} {rk['coverage']:>6.3f}" if rk else f"{'':>25}")
              + f" | {gr['share_tasks_over_budget']:>5.3f}" + sat)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    all_rows: list[dict] = []
    for name in args.datasets:
        data_dir = Path(args.data_root.replace("{name}", name)) if "{name}" in args.data_root else Path(args.data_root) / name
        cfg = load_config(data_dir / "config.yml")
        ds = load_dataset(cfg, splits=("train",))
        pool = ds.strategies
        mean_cost = np.nanmean(np.where(ds.train.observed, ds.train.cost, np.nan), axis=0)
        budgets = np.geomspace(mean_cost.min(), mean_cost.max(), args.n_budgets + 2)[1:-1]
        if args.pred_dirs:
            dirs = [Path(d.replace("{name}", name)) for d in args.pred_dirs]
        else:
            dirs = [Path(args.work) / name / "knn"]
            t = time.perf_counter()
            knn_predictions(cfg, dirs[0])
            print(f"[{name}] kNN predictions written to {dirs[0]} ({time.perf_counter() - t:.1f}s)", flush=True)
        print(f"== {name}: {len(pool)} strategies, budgets ({cfg.cost_unit}): "
              + ", ".join(f"{b:.4g}" for b in budgets), flush=True)
        for d in dirs:
            val, test = load_predictions(d, pool, "val"), load_predictions(d, pool, "test")
            rows_v = np.arange(val.n_tasks)
            bias = val.pred_cost.mean(0) / val.cost.mean(0) - 1
            print(f"-- run {d}: {val.n_tasks} validation / {test.n_tasks} test tasks; validation predicted/realised "
                  f"cost - 1 per strategy: {np.round(bias, 3).tolist()}; "
                  f"most probable assignment predicted/realised {val.pred_cost[rows_v, val.prob.argmax(1)].mean() / val.cost[rows_v, val.prob.argmax(1)].mean():.3f}",
                  flush=True)
            t = time.perf_counter()
            rows = run(name, str(d), val, test, budgets, args)
            print_rows(rows)
            if args.resplits:
                print_resplits(resplit_coverage(val, test, budgets, args))
            print(f"   ({time.perf_counter() - t:.0f}s)", flush=True)
            all_rows += rows
    df = pd.DataFrame(all_rows)
    print("== summary: realised test spend / budget")
    ok = df[df.get("error", pd.Series(index=df.index, dtype=object)).isna()] if "error" in df else df
    for guard, g in ok.groupby("guard", sort=False):
        for mode, m in g.groupby("mode", sort=False):
            print(f"  {guard:<20} {mode:<6}: mean {m.ratio.mean():.4f}, max {m.ratio.max():.4f}, "
                  f"runs above 1.03: {(m.ratio > 1.03).sum()} of {len(m)}, mean accuracy {m.accuracy.mean():.4f}")
        print(f"  {guard:<20} all   : mean {g.ratio.mean():.4f}, max {g.ratio.max():.4f}, "
              f"runs above 1.03: {(g.ratio > 1.03).sum()} of {len(g)}")
    gr = ok[ok.guard == "realised"]
    if len(gr):
        below = gr[gr.delta_hi < -1e-9]
        print(f"  guard accuracy at equal realised spend minus the unguarded curve's: mean {gr.delta_acc.mean():+.4f}, "
              f"min {gr.delta_acc.min():+.4f}; runs whose 95% interval lies below 0: {len(below)} of {len(gr)}")
    out = Path(args.out_csv) if args.out_csv else Path(args.work) / "bench_budget_guard.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
