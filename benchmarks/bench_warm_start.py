r"""Warm start of CONCUR's continual update (predictor.warm_start): routing quality, epochs and time.

The continual protocol's split (concur/continual.py): Setting 1 is the dearer half of the pool,
trained from scratch; the update adds the cheaper half. For every imported and embedded data set
given (a results work folder's `<name>/data`; nothing there is written) and every training seed, the
update runs from the same Setting-1 predictors once per predictor.warm_start value: none (every new
network starts from its seeded random initialisation), cost (each new cost regressor starts from the
Setting-1 regressor that fits its training rows best; the default) and both (the classifiers too).
Each updated pool predicts validation and test, and the script prints per (data set, arm), over the seeds:

  val_aiq / test_aiq   AIQ of the weighted-routing sweep (400 weights) over the whole pool on validation / test
                       (choose on validation; test for information)
  new_val_logloss      the new strategies' mean validation log-loss of P(correct)
  new_val_cost_mae     the new strategies' mean absolute validation cost error / their mean cost
  new_epochs           epochs run, summed over the new strategies
  update_s             wall time of the update (loading, the warm start's choice, training, saving;
                       one torch thread per process, --workers processes side by side)

  python benchmarks/bench_warm_start.py --data results_work/mmlu_pro/data results_work/routerbench/data \
      --seeds 0 1 2 --workers 2
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

ARMS = ("none", "cost", "both")


def _run(job: tuple[Path, int, Path]) -> list[dict]:
    data, seed, work = job
    import torch

    from bench_predictor_levers import route_metrics
    from concur import metrics
    from concur.continual import split_pool
    from concur.data import load_dataset
    from concur.pred_files import load_predictions
    from concur.results_data import dataset_config
    from concur.router_jobs import predict_router, train_router
    from concur.routing import weight_grid

    torch.set_num_threads(1)
    quiet = lambda _m: None  # noqa: E731
    root = work / f"{data.parent.name}_s{seed}"
    probe = dataset_config(data, seed, root / "probe", root / "probe_out", {})
    ds = load_dataset(probe, splits=("train",))
    pool = list(ds.strategies)
    large, small = split_pool(pool, np.nanmean(ds.train.cost, axis=0))
    setting1 = root / "setting1"
    train_router(dataset_config(data, seed, setting1, root / "out1", {}, strategies=large), "concur", ["all"],
                 log=quiet, progress=False)
    weights = weight_grid(size=400)
    rows = []
    for arm in ARMS:
        store = root / arm / "predictors"
        shutil.copytree(setting1, store)
        cfg = dataset_config(data, seed, store, root / arm / "output", {}, {"warm_start": arm}, strategies=pool)
        start = time.perf_counter()
        status, _, fitted = train_router(cfg, "concur", ["all"], log=quiet, progress=False)
        secs = time.perf_counter() - start
        assert sorted(k for k, v in status.items() if v == "trained") == sorted(small), status
        predict_router(cfg, "concur", ["all"], log=quiet, progress=False)
        val, test = (load_predictions(root / arm / "output", pool, split) for split in ("val", "test"))
        new = [pool.index(s) for s in small]
        logloss = np.mean([metrics.log_loss(val.label[:, j], val.prob[:, j]) for j in new])
        mae = np.mean([np.mean(np.abs(val.pred_cost[:, j] - val.cost[:, j])) / np.mean(val.cost[:, j]) for j in new])
        rows.append({"data": data.parent.name, "arm": arm, "seed": seed, "update_s": secs,
                     "val_aiq": route_metrics(val, val.prob, val.pred_cost, weights)[0],
                     "test_aiq": route_metrics(test, test.prob, test.pred_cost, weights)[0],
                     "new_val_logloss": float(logloss), "new_val_cost_mae": float(mae),
                     "new_epochs": sum(fitted.states_[s].info["epochs_run"] for s in small),
                     "started_from": {s: fitted.states_[s].info.get("initialised_from") for s in small}})
    shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> None:
    from bench_cost_lr import add_job_arguments, check_data_folders, map_jobs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_arguments(ap)
    args = ap.parse_args()
    check_data_folders(args.data)
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="bench_warm_start_") as tmp:
        jobs = [(d.resolve(), s, Path(tmp)) for d in args.data for s in args.seeds]
        rows = []
        for result in map_jobs(_run, jobs, args.workers):
            rows.extend(result)
            for row in result:
                print(f"{row['data']} seed {row['seed']} {row['arm']}: val AIQ {row['val_aiq']:.4f}, "
                      f"test AIQ {row['test_aiq']:.4f}, new strategies' val log-loss {row['new_val_logloss']:.4f}, "
                      f"{row['new_epochs']} epochs, update {row['update_s']:.1f} s", flush=True)
    table = pd.DataFrame(rows).drop(columns="started_from").groupby(["data", "arm"]).agg(
        val_aiq=("val_aiq", "mean"), test_aiq=("test_aiq", "mean"), new_val_logloss=("new_val_logloss", "mean"),
        new_val_cost_mae=("new_val_cost_mae", "mean"), new_epochs=("new_epochs", "mean"),
        update_s=("update_s", "mean"), seeds=("seed", "count"))
    print(f"\nmeans over seeds {args.seeds} (choose on val_aiq)")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
