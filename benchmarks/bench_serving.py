"""Latency of routing new questions from Python (concur.load_router(...).route), on the demo data.

    python benchmarks/bench_serving.py [--routers concur knn shared] [--threads 1]

A copy of the bundled demo data is embedded and each router trained (and predicted, for the guard's
validation predictions) in a temporary folder; then, per router: the time to load it (cold: config,
data, saved router, embedding model on first use), one warm query (median and 90th percentile of
`--repeats` calls of route([question], weight=...)), and 1,000 short queries in one call, by weight and
under a budget (the first budget call includes the guard's calibration on validation; the second
reuses it). It measures and prints; nothing is asserted.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def prepare(root: Path, routers: list[str]) -> Path:
    from concur.config import folder_config_text, load_config
    from concur.data import load_strategies, load_tasks
    from concur.embeddings import embed_all
    from concur.router_jobs import predict_router, train_router

    for f in ("task.json", "train.csv", "val.csv", "test.csv"):
        shutil.copy(REPO / "data" / "demo" / f, root / f)
    shutil.copy(REPO / "strategies.json", root / "strategies.json")
    (root / "config.yml").write_text(folder_config_text({"seed": 0}))
    cfg = load_config(root / "config.yml")
    quiet = lambda _m: None  # noqa: E731
    embed_all(cfg, load_tasks(cfg.task_path), load_strategies(cfg.strategy_path), progress=False, log=quiet)
    for name in routers:
        t = time.perf_counter()
        train_router(cfg, name, ["all"], log=quiet, progress=False)
        predict_router(cfg, name, ["all"], log=quiet, progress=False)
        print(f"[setup] {name}: trained and predicted in {time.perf_counter() - t:.1f}s", flush=True)
    return root / "config.yml"


def questions(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    subjects = ["physics", "history", "algebra", "biology", "law", "economics", "chemistry", "geography"]
    return [f"In {rng.choice(subjects)}, what is the result of step {int(rng.integers(1, 9))} for item "
            f"{int(rng.integers(0, 10_000))}?" for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routers", nargs="+", default=["concur", "knn", "shared"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    import concur

    print(f"machine: {os.cpu_count()} CPU cores, load {Path('/proc/loadavg').read_text().split()[:3]}, "
          f"torch threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = prepare(Path(tmp), args.routers)
        batch = questions(args.batch)
        for name in args.routers:
            t = time.perf_counter()
            router = concur.load_router(cfg, name)
            router.route(["warm-up question?"], weight=0.999)  # loads the embedding model
            cold = time.perf_counter() - t
            one = []
            for q in questions(args.repeats, seed=1):
                t = time.perf_counter()
                router.route([q], weight=0.999)
                one.append(time.perf_counter() - t)
            t = time.perf_counter()
            router.route(batch, weight=0.999)
            many = time.perf_counter() - t
            t = time.perf_counter()
            router.route(batch, budget=40.0)
            first_budget = time.perf_counter() - t
            t = time.perf_counter()
            router.route(batch, budget=40.0)
            budget = time.perf_counter() - t
            print(f"{name}: load + first query {cold:.2f}s | one warm query median {1e3 * np.median(one):.1f} ms "
                  f"(p90 {1e3 * np.quantile(one, 0.9):.1f} ms) | {args.batch} queries by weight {many:.2f}s "
                  f"({args.batch / many:.0f}/s) | under a budget {budget:.2f}s (first call, with the guard's "
                  f"calibration: {first_budget:.2f}s)", flush=True)


if __name__ == "__main__":
    main()
