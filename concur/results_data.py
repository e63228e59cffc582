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
ANSWER_FILES = ("answers_train.csv", "answers_val.csv", "answers_test.csv")  # where the source has answers


def dataset_files(data_dir: Path) -> list[Path]:
    """The files an import's record covers: the data set, and its answers files when written."""
    return [data_dir / f for f in DATASET_FILES + ANSWER_FILES if f in DATASET_FILES or (data_dir / f).is_file()]
EMBEDDING_FILES = ("task_embeddings.pt", "task_embeddings.pt.meta.json", "strategy_embeddings.pt",
                   "strategy_embeddings.pt.meta.json")

# Out-of-distribution data sets: an in-distribution import re-split so that the test tasks come from sources
# the routers never trained on (the paper's OOD setting). name -> (base data set, title, test rule, rule text)
OOD: dict[str, dict[str, Any]] = {
    "mmlu_pro_ood": {"base": "mmlu_pro", "field": "src", "test": lambda v: not str(v).startswith("ori_mmlu"),
                     "title": "MMLU-Pro OOD: train/validate on questions from the original MMLU, test on those "
                              "MMLU-Pro added from other sources (its `src` field)"},
    **{f"routerbench_ood_{b.replace('-', '_')}": {
        "base": "routerbench", "field": "subject", "test": (lambda b: lambda v: v == b)(b),
        "title": f"RouterBench OOD: train/validate on the other two benchmarks, test on {b} (leave one out)"}
       for b in ("arc-challenge", "mbpp", "winogrande")},
}


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
    fp = cache.fingerprint({"source": spec["source"], "seed": 0, "kwargs": import_kwargs, "answers": 1,
                            "source_files": _source_listing(data_root, spec["source"])})
    chk = cache.check(record, fp)
    if chk.current:
        return data_dir, 0.0, "reused"
    if chk.status != "missing":
        log(f"[{name}] import {chk.status} ({chk.reason}); importing again")
    t = time.perf_counter()
    prepare(spec["source"], data_dir, force=True, seed=0, input_path=str(data_root), **import_kwargs)
    cache.commit(record, fp, dataset_files(data_dir), source=spec["source"])
    log(f"[{name}] imported into {data_dir}")
    return data_dir, time.perf_counter() - t, "imported"


def dataset_config(data_dir: Path, seed: int, predictor_dir: Path, output_dir: Path, embedding: dict[str, Any],
                   predictor: dict[str, Any] | None = None, routers: dict[str, dict[str, Any]] | None = None,
                   strategies: list[str] | None = None, labels: str | None = None) -> Config:
    """The import's config.yml with the pipeline's embedding settings, seed, folders, router overrides and
    (`labels`) what the routers train on."""
    raw = yaml.safe_load((data_dir / "config.yml").read_text(encoding="utf-8"))
    raw.update(seed=int(seed), predictor_path=str(predictor_dir), output_path=str(output_dir),
               embedding={**raw.get("embedding", {}), **embedding})
    if predictor:
        raw["predictor"] = {**raw.get("predictor", {}), **predictor}
    if routers:
        raw["routers"] = {k: {**(raw.get("routers") or {}).get(k, {}), **v} for k, v in routers.items()}
    if strategies is not None:
        raw["strategies"] = list(strategies)
    if labels is not None:
        raw["labels"] = labels
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


def derive_ood(name: str, work_root: Path, log: Log) -> tuple[Path, str]:
    """The OOD re-split of an imported data set (OOD[name]) in <work>/<name>/data, reused while current.

    Test = the base's tasks (any split) whose `field` satisfies the rule; validation = a seeded share of
    the other tasks (stratified by subject) keeping the base import's train:validation ratio; train = the
    rest. Task texts are unchanged, so the base's embedding files are copied, not recomputed.
    """
    import os
    import shutil
    import tempfile

    import numpy as np
    import pandas as pd

    from .data import load_dataset, load_tasks
    from .importers import split_by_task
    from .io import read_json, write_json_atomic

    spec = OOD[name]
    base = Path(work_root) / spec["base"] / "data"
    data_dir = Path(work_root) / name / "data"
    record = data_dir / "import_record.json"
    base_rec, why = cache.read_record(base / "import_record.json")
    if base_rec is None:
        raise FileNotFoundError(f"{base}: derive {name} after importing {spec['base']} ({why})")
    emb_recs = {f: cache.read_record(base / f)[0] for f in EMBEDDING_FILES if f.endswith(".meta.json")}
    fp = cache.fingerprint({"base": base_rec["fingerprint"], "rule": name, "seed": 0,
                            "embeddings": {k: (v or {}).get("fingerprint") for k, v in emb_recs.items()}})
    if cache.check(record, fp).current:
        return data_dir, "reused"
    task_set = load_tasks(base / "task.json")
    tasks = task_set.records
    info = read_json(base / "import_info.json")
    rows = pd.concat([pd.read_csv(base / f"{s}.csv", dtype={"question_id": str}) for s in ("train", "val", "test")],
                     ignore_index=True)
    qids = list(task_set.ids)
    is_test = np.array([bool(spec["test"](t.get(spec["field"]))) for t in tasks])
    tc = info.get("tasks", {})
    val_share = tc.get("val", 1) / max(1, tc.get("train", 9) + tc.get("val", 1))
    rest = [q for q, t in zip(qids, is_test) if not t]
    groups = [str(t.get("subject", "")) for t, te in zip(tasks, is_test) if not te]
    split = dict(zip(rest, split_by_task(rest, val_share, 0.0, 0, groups)))
    split.update({q: "test" for q, te in zip(qids, is_test) if te})
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=data_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        for f in ("task.json", "strategies.json", "config.yml", *EMBEDDING_FILES):
            shutil.copy2(base / f, tmp / f)
        which = rows["question_id"].map(split)
        for s in ("train", "val", "test"):
            rows[which == s].to_csv(tmp / f"{s}.csv", index=False)
        if all((base / f).is_file() for f in ANSWER_FILES):  # the models' answers follow their tasks
            answers = pd.concat([pd.read_csv(base / f, dtype=str, keep_default_na=False) for f in ANSWER_FILES],
                                ignore_index=True)
            at = answers["question_id"].map(split)
            for s in ("train", "val", "test"):
                answers[at == s].to_csv(tmp / f"answers_{s}.csv", index=False)
        counts = {s: int(sum(v == s for v in split.values())) for s in ("train", "val", "test")}
        write_json_atomic(tmp / "import_info.json", {**info, "tasks": counts, "derived_from": spec["base"],
                                                     "ood_rule": spec["title"]})
        from .config import load_config

        load_dataset(load_config(tmp / "config.yml"))  # validate before it replaces anything
        if data_dir.exists():
            shutil.rmtree(data_dir)
        os.replace(tmp, data_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    cache.commit(record, fp, dataset_files(data_dir), source=f"{spec['base']} (OOD re-split)")
    log(f"[{name}] derived from {spec['base']}: train {counts['train']}, val {counts['val']}, test {counts['test']}")
    return data_dir, "derived"
