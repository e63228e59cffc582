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


# Settings variants of a registered router, run beside it (first seed): label -> (router, overrides).
# CONCUR's representation ablation (the paper's Table 7).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "concur (general only)": ("concur", {"predictor": {"representation": "general"}}),
    "concur (task-specific only)": ("concur", {"predictor": {"representation": "task-specific"}}),
    # label-free: trained on agreement with the models' consensus answer (data sets with answers files only)
    "concur (consensus labels)": ("concur", {"labels": "consensus"}),
    "knn (consensus labels)": ("knn", {"labels": "consensus"}),
}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in label).strip("-")


def output_dir(work: Path, seed: int, label: str) -> Path:
    return seed_dir(work, seed) / "output" / _slug(label)


def job_config(data_dir: Path, work: Path, seed: int, router: str, overrides: dict[str, Any], label: str | None = None):
    """The config of one router run; a settings variant (label) keeps its predictors in its own folder."""
    extra = VARIANTS[label][1] if label in VARIANTS else {}
    predictor = {**(overrides.get("predictor") or {}), **extra.get("predictor", {})}
    pdir = seed_dir(work, seed) / ("predictors" if label in (None, router) else f"predictors_{_slug(label)}")
    return dataset_config(Path(data_dir), seed, pdir, output_dir(work, seed, label or router),
                          overrides["embedding"], predictor, overrides.get("routers"), overrides.get("strategies"),
                          labels=extra.get("labels"))


def run_job(args: tuple) -> dict[str, Any]:
    """Train and predict one router at one seed (in a worker process)."""
    data_dir, work, seed, router, overrides, label = args
    from .router_jobs import predict_router, train_router

    torch.set_num_threads(1)
    cfg = job_config(data_dir, work, seed, router, overrides, label)
    quiet = lambda _m: None  # noqa: E731
    t0 = time.perf_counter()
    status, _, fitted = train_router(cfg, router, ["all"], log=quiet, progress=False)
    t1 = time.perf_counter()
    predict_router(cfg, router, ["all"], log=quiet, progress=False)
    return {"router": label, "seed": seed, "train_seconds": t1 - t0, "predict_seconds": time.perf_counter() - t1,
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
                workers: int, single_seed: tuple[str, ...] = (), variants: list[str] = ()) -> dict[str, RouterRun]:
    """Train and predict every router in `names` (registry order) for its seeds, then the settings `variants`
    (labels of VARIANTS, first seed); composite routers last."""
    unknown = [n for n in names if n not in REGISTRY] + [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown routers or variants {unknown}")
    base = {**{n: n for n in names}, **{v: VARIANTS[v][0] for v in variants}}
    seeds_of = {**{n: router_seeds(n, seeds, single_seed) for n in names}, **{v: [seeds[0]] for v in variants}}
    runs = {label: RouterRun(label, seeds_of[label], [output_dir(work, k, label) for k in seeds_of[label]])
            for label in base}
    composite = lambda label: getattr(router_class(base[label]), "composite", False)  # noqa: E731
    for phase in ([x for x in base if not composite(x)], [x for x in base if composite(x)]):
        jobs = [(str(data_dir), str(work), k, base[x], overrides, x) for x in phase for k in runs[x].seeds]
        for res in _run(jobs, workers):
            runs[res["router"]].jobs.append(res)
    return runs
