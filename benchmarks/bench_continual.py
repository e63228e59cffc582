"""Benchmark CONCUR's batched training: the continual update against retraining the shared router.

On an imported, embedded data set (a results work folder's `<name>/data`, copied to a temporary
folder first, so nothing there is touched), in one process on one CPU thread (--threads N: N, as
predictor.py --threads N; 0: torch's default, one per core), with the config's
settings as the results pipeline uses them (seed 0, every router at its defaults):

  setting 1   CONCUR trains the dearer half of the pool (concur/continual.py's split; not timed as an update)
  update      CONCUR adds the cheaper half: it trains only the new strategies, together (timed)
  one by one  the same update with one strategy per group (the loop before batching; timed)
  shared      the non-modular shared router retrained from scratch on the whole pool (timed)
  all         CONCUR trains every strategy from scratch, together (timed)

The update warm-starts the new strategies' cost regressors from Setting 1's (predictor.warm_start,
default "cost"; --warm_start none|cost|both; benchmarks/bench_warm_start.py measures what each does
to routing quality). Each is timed like the continual protocol times an update (concur.router_jobs.train_router: loading
the inputs, fitting, saving). The update's and the one-by-one files are compared byte for byte.
Targets (issue 16): update >= 3x faster than the shared retrain; all strategies <= 30 s.

  python benchmarks/bench_continual.py --data /path/to/results_work/mmlu_pro/data [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import concur.training  # noqa: E402
from concur.continual import split_pool  # noqa: E402
from concur.data import load_dataset  # noqa: E402
from concur.results_data import DATASET_FILES, EMBEDDING_FILES, dataset_config  # noqa: E402
from concur.router_jobs import train_router  # noqa: E402


def timed_train(cfg, router: str, force: bool = False) -> tuple[float, dict[str, str], object]:
    start = time.perf_counter()
    status, _, fitted = train_router(cfg, router, ["all"], force=force, log=lambda _m: None, progress=False)
    return time.perf_counter() - start, status, fitted


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="an imported, embedded data set folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="time each step this many times (min and all shown)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default: %(default)s, as predictor.py and make results' workers; "
                         "0: torch's default)")
    ap.add_argument("--warm_start", choices=("none", "cost", "both"), default="cost",
                    help="which new networks the update starts from Setting 1's (predictor.warm_start; "
                         "default: %(default)s, the config default)")
    args = ap.parse_args()
    if args.threads < 0:
        ap.error("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench_continual_"))
    try:
        data = tmp / "data"
        data.mkdir()
        for name in DATASET_FILES + EMBEDDING_FILES:
            if (args.data / name).is_file():
                shutil.copy2(args.data / name, data / name)

        def config(tag: str, strategies: list[str] | None = None, predictor: dict | None = None):
            return dataset_config(data, args.seed, tmp / tag / "predictors", tmp / tag / "output", {}, predictor,
                                  strategies=strategies)

        ds = load_dataset(config("probe"))
        pool = list(ds.strategies)
        large, small = split_pool(pool, np.nanmean(ds.train.cost, axis=0))
        print(f"data: {args.data} ({len(pool)} strategies; {ds.train.cost.shape[0]} train tasks); "
              f"torch threads {torch.get_num_threads()}, group size {concur.training.GROUP_SIZE}")
        print(f"setting 1 (dearer half): {', '.join(large)}\nadded: {', '.join(small)}"
              + f" (warm start: {args.warm_start})")

        def update(tag: str) -> tuple[float, dict[str, str]]:
            shutil.rmtree(tmp / tag, ignore_errors=True)
            t1, _, _ = timed_train(config(tag, large), "concur")
            t2, status, _ = timed_train(config(tag, pool, {"warm_start": args.warm_start}), "concur")
            assert sorted(k for k, v in status.items() if v == "trained") == sorted(small), status
            return t1, t2

        rows: dict[str, list[float]] = {"update": [], "one by one": [], "shared": [], "all": []}
        setting1 = []
        for _ in range(args.repeats):
            t1, t2 = update("batched")
            setting1.append(t1)
            rows["update"].append(t2)
            size = concur.training.GROUP_SIZE
            concur.training.GROUP_SIZE = 1
            try:
                rows["one by one"].append(update("single")[1])
            finally:
                concur.training.GROUP_SIZE = size
            shutil.rmtree(tmp / "shared", ignore_errors=True)
            rows["shared"].append(timed_train(config("shared", pool), "shared")[0])
            shutil.rmtree(tmp / "all", ignore_errors=True)
            t_all, _, fitted = timed_train(config("all", pool), "concur")
            rows["all"].append(t_all)
        same = files(tmp / "batched" / "predictors") == files(tmp / "single" / "predictors")
        epochs = [fitted.states_[s].info["epochs_run"] for s in pool]

        show = lambda ts: f"{min(ts):6.1f} s" + (f"  (runs: {', '.join(f'{t:.1f}' for t in ts)})" if len(ts) > 1 else "")  # noqa: E731
        print(f"setting 1, CONCUR {len(large)} strategies:        {show(setting1)}")
        print(f"update, CONCUR {len(small)} new strategies together: {show(rows['update'])}")
        print(f"update, one strategy at a time:            {show(rows['one by one'])}   "
              f"batching {min(rows['one by one']) / min(rows['update']):.2f}x; files byte-identical: {same}")
        print(f"shared router retrained on all {len(pool)}:         {show(rows['shared'])}")
        print(f"CONCUR all {len(pool)} strategies together:        {show(rows['all'])}   "
              f"(epochs run {min(epochs)}-{max(epochs)})   target <= 30 s")
        print(f"shared retrain / CONCUR update: {min(rows['shared']) / min(rows['update']):.2f}x   target >= 3x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
