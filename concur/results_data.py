"""The results pipeline's data sets: import from the shared outcome data and embed, both cached.

Each data set is imported with prepare_data's importers into `<work>/<name>/data/` (seeded split 0)
and embedded there. The import is an artifact (concur/cache.py): its record holds a fingerprint of
the source, the import settings and the source files' names, sizes and modification times, so a
changed source or setting re-imports (announced) and an unchanged one is reused.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from . import cache
from .config import Config, parse_config

Log = Callable[[str], None]

DATASETS: dict[str, dict[str, Any]] = {
    "mmlu_pro": {"source": "mmlu-pro", "title": "MMLU-Pro, 10-model pool (Phi-3-mini ... Llama-3.1-70B), cost in FLOPs",
                 "continual": True},
    "routerbench": {"source": "routerbench", "title": "RouterBench (arc_challenge + mbpp + winograde in one data set), "
                                                      "11 models, real USD cost", "continual": True},
    "routellm_mmlu": {"source": "routellm-mmlu", "title": "RouteLLM MMLU, weak/strong pair (Mixtral-8x7B / GPT-4)",
                      "continual": False},
}
DATASET_FILES = ("task.json", "strategies.json", "train.csv", "val.csv", "test.csv", "config.yml", "import_info.json")


def _source_listing(data_root: Path, source: str) -> list[list[Any]]:
    from .importers import SUBDIRS

    folder = Path(data_root) / SUBDIRS.get(source, source)
    if not folder.is_dir():
        return []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file()]


def prepare_dataset(name: str, work_root: Path, data_root: Path, import_kwargs: dict[str, Any], log: Log,
                    spec: dict[str, Any] | None = None) -> tuple[Path, float, str]:
    """Import `name` into <work>/<name>/data unless the recorded import is current; returns (dir, seconds, what)."""
    from .importers import prepare

    spec = spec or DATASETS[name]
    data_dir = Path(work_root) / name / "data"
    record = data_dir / "import_record.json"
    fp = cache.fingerprint({"source": spec["source"], "seed": 0, "kwargs": import_kwargs,
                            "source_files": _source_listing(data_root, spec["source"])})
    chk = cache.check(record, fp)
    if chk.current:
        return data_dir, 0.0, "reused"
    if chk.status != "missing":
        log(f"[{name}] import {chk.status} ({chk.reason}); importing again")
    t = time.perf_counter()
    prepare(spec["source"], data_dir, force=True, seed=0, input_path=str(data_root), **import_kwargs)
    cache.commit(record, fp, [data_dir / f for f in DATASET_FILES], source=spec["source"])
    log(f"[{name}] imported into {data_dir}")
    return data_dir, time.perf_counter() - t, "imported"


def dataset_config(data_dir: Path, seed: int, predictor_dir: Path, output_dir: Path, embedding: dict[str, Any],
                   predictor: dict[str, Any] | None = None, routers: dict[str, dict[str, Any]] | None = None,
                   strategies: list[str] | None = None) -> Config:
    """The import's config.yml with the pipeline's embedding settings, seed, folders and router overrides."""
    raw = yaml.safe_load((data_dir / "config.yml").read_text(encoding="utf-8"))
    raw.update(seed=int(seed), predictor_path=str(predictor_dir), output_path=str(output_dir),
               embedding={**raw.get("embedding", {}), **embedding})
    if predictor:
        raw["predictor"] = {**raw.get("predictor", {}), **predictor}
    if routers:
        raw["routers"] = {k: {**(raw.get("routers") or {}).get(k, {}), **v} for k, v in routers.items()}
    if strategies is not None:
        raw["strategies"] = list(strategies)
    cfg = parse_config(raw, data_dir.resolve(), source=str(data_dir / "config.yml"))
    cfg["_config_path"] = data_dir / "config.yml"
    return cfg


def embed_dataset(cfg: Config, log: Log) -> tuple[float, dict[str, str]]:
    """Embed the data set's tasks and strategies unless their files are current; returns (seconds, status)."""
    from .data import load_strategies, load_tasks
    from .embeddings import embed_all

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t = time.perf_counter()
    status = embed_all(cfg, load_tasks(cfg.task_path), load_strategies(cfg.strategy_path), progress=False, log=log)
    return time.perf_counter() - t, status
