r"""Learning rates and early-stopping patience of CONCUR's predictors (predictor.lr, predictor.cost_lr,
predictor.patience): routing quality on validation, epochs and time.

CONCUR trains each strategy's classifier and cost regressor side by side, each role at its own
learning rate (predictor.lr, predictor.cost_lr), and stops after `patience` evaluations without a better
validation score. For every (lr, cost_lr, patience) given, on every imported and
embedded data set given (a results work folder's `<name>/data`; nothing there is written), and every
training seed, this trains CONCUR on the whole pool with today's defaults otherwise (for one lr, the
classifiers are identical across cost_lr values: only the regressors change), predicts validation
and test, and prints per (data set, lr, cost_lr, patience), over the seeds:

  val_aiq / test_aiq   AIQ of the weighted-routing sweep (400 weights) on validation / test
                       (choose on validation; test for information)
  val_cost_mae         mean absolute error of the predicted cost on validation (cost unit)
  epochs               epochs run, summed over strategies (each strategy's: until both its networks stopped)
  train_s              wall time of the training (one process, one torch thread per process)

  python benchmarks/bench_cost_lr.py --data results_work/mmlu_pro/data results_work/routerbench/data \
      --cost_lr 3e-4 1e-3 3e-3 --seeds 0 1 2 --workers 2
  python benchmarks/bench_cost_lr.py --data results_work/mmlu_pro/data --lr 1e-3 --cost_lr 1e-3   # both at 1e-3
  python benchmarks/bench_cost_lr.py --data results_work/*/data --cost_lr 1e-3 --patience 2 3 5   # patience
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from concur.config import SCHEMA  # noqa: E402

CONFIG_DEFAULTS = {key: spec[1] for key, spec in SCHEMA["predictor"].items()}


def _run(job: tuple[Path, float, float, int, int, Path]) -> dict:
    data, lr, cost_lr, patience, seed, work = job
    import torch

    from bench_predictor_levers import route_metrics
    from concur.data import load_dataset
    from concur.pred_files import load_predictions
    from concur.results_data import dataset_config
    from concur.router_jobs import predict_router, train_router
    from concur.routing import weight_grid

    torch.set_num_threads(1)
    out = work / f"{data.parent.name}_{lr:g}_{cost_lr:g}_p{patience}_s{seed}"
    cfg = dataset_config(data, seed, out / "predictors", out / "output", {}, {"lr": lr, "cost_lr": cost_lr, "patience": patience})
    quiet = lambda _m: None  # noqa: E731
    start = time.perf_counter()
    _, _, fitted = train_router(cfg, "concur", ["all"], log=quiet, progress=False)
    secs = time.perf_counter() - start
    predict_router(cfg, "concur", ["all"], log=quiet, progress=False)
    strategies = load_dataset(cfg, splits=("train",)).strategies
    val, test = (load_predictions(out / "output", strategies, split) for split in ("val", "test"))
    weights = weight_grid(size=400)
    return {"data": data.parent.name, "lr": lr, "cost_lr": cost_lr, "patience": patience, "seed": seed, "train_s": secs,
            "val_aiq": route_metrics(val, val.prob, val.pred_cost, weights)[0],
            "test_aiq": route_metrics(test, test.prob, test.pred_cost, weights)[0],
            "val_cost_mae": float(np.mean(np.abs(val.pred_cost - val.cost))),
            "epochs": sum(state.info["epochs_run"] for state in fitted.states_.values())}


def add_job_arguments(ap: argparse.ArgumentParser) -> None:
    """--data, --seeds, --workers: the arguments of a study that trains on imported data sets per seed."""
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="imported, embedded data set folders")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)


def check_data_folders(folders: list[Path]) -> None:
    for folder in folders:
        if not (folder / "train.csv").is_file():
            sys.exit(f"error: {folder}: not an imported data set folder (no train.csv)")


def map_jobs(run, jobs: list, workers: int):
    """run(job) for every job in `workers` spawned processes (one torch thread each); results in job order."""
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(run, jobs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_arguments(ap)
    ap.add_argument("--cost_lr", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    ap.add_argument("--lr", type=float, nargs="+", default=[CONFIG_DEFAULTS["lr"]],
                    help="the classifiers' learning rates (default: %(default)s, the config default)")
    ap.add_argument("--patience", type=int, nargs="+", default=[CONFIG_DEFAULTS["patience"]],
                    help="early-stopping patience in evaluations (default: %(default)s, the config default)")
    args = ap.parse_args()
    check_data_folders(args.data)
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="bench_cost_lr_") as tmp:
        jobs = [(d.resolve(), lr, cost_lr, patience, s, Path(tmp)) for d in args.data for lr in args.lr
                for cost_lr in args.cost_lr for patience in args.patience for s in args.seeds]
        rows = []
        for row in map_jobs(_run, jobs, args.workers):
            rows.append(row)
            print(f"{row['data']} lr {row['lr']:g} cost_lr {row['cost_lr']:g} patience {row['patience']} seed {row['seed']}: "
                  f"val AIQ {row['val_aiq']:.4f}, test AIQ {row['test_aiq']:.4f}, {row['train_s']:.1f} s", flush=True)
    table = pd.DataFrame(rows).groupby(["data", "lr", "cost_lr", "patience"]).agg(
        val_aiq=("val_aiq", "mean"), test_aiq=("test_aiq", "mean"), val_cost_mae=("val_cost_mae", "mean"),
        epochs=("epochs", "mean"), train_s=("train_s", "mean"), seeds=("seed", "count"))
    print(f"\nmeans over seeds {args.seeds} (choose on val_aiq)")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
