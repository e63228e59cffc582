"""The results pipeline's router runs: every registered router trained and predicted, per seed.

Layout under `<work>/<name>/`: `seed<k>/predictors/` holds every router's saved parts for training
seed k (the predictor folder of an ordinary config: CONCUR at its root, the others in
sub-folders), `seed<k>/output/<router>/` its prediction files. A router whose seed does not change
what it learns (kNN, subject-best), or one listed as single-seed (the paper's slower baselines, to
bound the pipeline's time), runs for the first seed only. Routers built from others (the
ensemble) run after them, reusing their saved parts. Jobs run in worker processes, one thread each;
every step reuses what is current, so a rerun only redoes what changed.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .results_data import dataset_config
from .routers import REGISTRY, router_class


@dataclass
class RouterRun:
    name: str
    seeds: list[int]
    outputs: list[Path]  # prediction folder per seed
    jobs: list[dict[str, Any]] = field(default_factory=list)  # per seed: training seconds, what was trained


def seed_dir(work: Path, seed: int) -> Path:
    return Path(work) / f"seed{seed}"


def output_dir(work: Path, seed: int, router: str) -> Path:
    return seed_dir(work, seed) / "output" / router


def job_config(data_dir: Path, work: Path, seed: int, router: str, overrides: dict[str, Any]):
    return dataset_config(Path(data_dir), seed, seed_dir(work, seed) / "predictors", output_dir(work, seed, router),
                          overrides["embedding"], overrides.get("predictor"), overrides.get("routers"),
                          overrides.get("strategies"))


def run_job(args: tuple) -> dict[str, Any]:
    """Train and predict one router at one seed (in a worker process)."""
    data_dir, work, seed, router, overrides = args
    from .router_jobs import predict_router, train_router

    torch.set_num_threads(1)
    cfg = job_config(data_dir, work, seed, router, overrides)
    quiet = lambda _m: None  # noqa: E731
    t0 = time.perf_counter()
    status, _, fitted = train_router(cfg, router, ["all"], log=quiet, progress=False)
    t1 = time.perf_counter()
    predict_router(cfg, router, ["all"], log=quiet, progress=False)
    return {"router": router, "seed": seed, "train_seconds": t1 - t0, "predict_seconds": time.perf_counter() - t1,
            "trained": sorted(k for k, v in status.items() if v == "trained"), "modular": fitted.modular}


def _run(jobs: list[tuple], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(jobs) <= 1:
        return [run_job(j) for j in jobs]
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(run_job, jobs))


def router_seeds(name: str, seeds: tuple[int, ...], single_seed: tuple[str, ...] = ()) -> list[int]:
    return list(seeds) if router_class(name).stochastic and name not in single_seed else [seeds[0]]


def run_routers(names: list[str], data_dir: Path, work: Path, seeds: tuple[int, ...], overrides: dict[str, Any],
                workers: int, single_seed: tuple[str, ...] = ()) -> dict[str, RouterRun]:
    """Train and predict every router in `names` (registry order) for its seeds; composite routers last."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown routers {unknown}")
    runs = {n: RouterRun(n, router_seeds(n, seeds, single_seed),
                         [output_dir(work, k, n) for k in router_seeds(n, seeds, single_seed)]) for n in names}
    phases = [[n for n in names if not getattr(router_class(n), "composite", False)],
              [n for n in names if getattr(router_class(n), "composite", False)]]
    for phase in phases:
        jobs = [(str(data_dir), str(work), k, n, overrides) for n in phase for k in runs[n].seeds]
        for res in _run(jobs, workers):
            runs[res["router"]].jobs.append(res)
    return runs
