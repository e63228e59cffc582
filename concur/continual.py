"""The continual-routing protocol (the paper's Table 5): Setting 1 -> Setting 2, for every router.

Setting 1 is the dearer half of the pool (by mean training cost), Setting 2 adds the cheaper half.
A modular router starts Setting 2 from its Setting-1 parts and trains only the new strategies (CONCUR's
new cost regressors start from the Setting-1 regressor that fits them best: predictor.warm_start); the
others retrain from scratch on the whole pool (the paper's "-FS" baselines). Every router's update
is timed in the same process, one after another, on one CPU thread.

Setting-1 parts of a modular router are the main run's parts of the Setting-1 strategies (first
seed), copied with their records: a part depends only on its own strategy's rows and seed, so
training them again would give the same files, and the Setting-1 fit confirms that they are current.
The Setting-1 predictor and prediction files are hashed before and after the update: modularity
means they are byte-identical. A non-modular router's Setting-1 model plays no part in its update,
so it is not trained.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import cache
from .pred_files import prediction_path
from .io import read_json, sha256_of_file, write_json_atomic
from .results_routers import job_config, seed_dir
from .router_jobs import predict_router, train_router
from .routers import make_router, router_class

Log = Callable[[str], None]


def split_pool(pool: list[str], train_cost: np.ndarray) -> tuple[list[str], list[str]]:
    """(Setting 1: the dearer half, in pool order; the cheaper rest)."""
    order = np.argsort(-np.asarray(train_cost), kind="stable")
    large = sorted((pool[j] for j in order[:len(pool) // 2]), key=pool.index)
    return large, [s for s in pool if s not in large]


def _part_files(router, store: Path, part: str) -> list[Path]:
    record = router.record_path(store, part)
    rec, _ = cache.read_record(record)
    return [record] + [record.parent / name for name in (rec or {}).get("files", {})]


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): sha256_of_file(p) for p in paths if p.is_file()}


def run_continual(data_dir: Path, work: Path, seed: int, pool: list[str], train_cost: np.ndarray, routers: list[str],
                  overrides: dict[str, Any], log: Log) -> dict[str, Any]:
    """Run (or reuse) the protocol for `routers`; returns per router the update time and what it trained."""
    root = Path(work) / "continual"
    main_store = seed_dir(work, seed) / "predictors"
    large, small = split_pool(pool, train_cost)
    main_files = sorted(p for p in main_store.rglob("*") if p.is_file())
    # every router's settings, those that do not change what a part learns (warm_start) too: they change the update
    settings = {name: make_router(name, job_config(data_dir, root, seed, name, {**overrides, "strategies": pool}),
                                  seed).settings for name in routers}
    key = cache.fingerprint({"pool": pool, "large": large, "routers": routers, "overrides": overrides, "seed": seed,
                             "settings": settings, "main": _hashes(main_files)})
    record = root / "continual.json"
    if record.is_file():
        old = read_json(record)
        if old.get("key") == key:
            log(f"continual protocol: reused {record}")
            return old
        log(f"continual protocol: inputs changed; running it again in {root}")
    if root.exists():
        shutil.rmtree(root)
    store = root / "predictors"
    quiet = lambda _m: None  # noqa: E731
    results: dict[str, Any] = {}
    for name in routers:
        cfg1 = job_config(data_dir, root, seed, name, {**overrides, "strategies": large})
        cfg1.update(predictor_path=store, output_path=root / "output" / name)
        cfg2 = job_config(data_dir, root, seed, name, {**overrides, "strategies": pool})
        cfg2.update(predictor_path=store, output_path=root / "output" / name)
        modular = router_class(name).modular and make_router(name, cfg2).modular
        before: dict[str, str] = {}
        setting1: dict[str, str] = {}
        if modular:
            router = make_router(name, cfg1)
            for s in large:  # the main run's Setting-1 parts (see the module docstring)
                for f in _part_files(router, main_store, s):
                    dest = router.store_dir(store) / f.relative_to(router.store_dir(main_store))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dest)
            setting1, _, _ = train_router(cfg1, name, ["all"], log=quiet, progress=False)
            predict_router(cfg1, name, ["all"], log=quiet, progress=False)
            files = [f for s in large for f in _part_files(router, store, s)]
            files += [prediction_path(cfg1.output_path, s, sp) for s in large for sp in ("test", "val")]
            before = _hashes(files)
        t = time.perf_counter()
        status, _, _ = train_router(cfg2, name, ["all"], log=quiet, progress=False)
        seconds = time.perf_counter() - t
        predict_router(cfg2, name, ["all"], log=quiet, progress=False)
        after = _hashes([Path(p) for p in before])
        main_same = all(sha256_of_file(main_store / Path(p).relative_to(store)) == h for p, h in before.items()
                        if Path(p).is_relative_to(store) and (main_store / Path(p).relative_to(store)).is_file())
        results[name] = {"modular": modular, "update_seconds": seconds,
                         "trained": sorted(k for k, v in status.items() if v == "trained"),
                         "skipped": sorted(k for k, v in status.items() if v == "up to date"),
                         "setting1_status": setting1, "byte_identical": (before == after) if modular else None,
                         "n_files_checked": len(before), "identical_to_main_run": main_same if modular else None,
                         "output": str(root / "output" / name)}
        log(f"continual [{name}]: update {seconds:.1f}s, trained {len(results[name]['trained'])} part(s)")
    base = results.get("concur", {}).get("update_seconds")
    for r in results.values():
        r["time_vs_concur"] = r["update_seconds"] / base if base else None
    out = {"key": key, "large": large, "small": small, "seed": seed, "routers": results,
           "concur_warm_start": settings.get("concur", {}).get("warm_start")}
    write_json_atomic(record, out)
    return out
