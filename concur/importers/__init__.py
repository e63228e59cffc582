"""Importers: public LLM outcome data -> a ready concur dataset folder.

Each source module turns its files into an `Imported` record (tasks, long outcome
table, strategies.json content, cost unit); `prepare` splits it by task with a seed,
writes the folder atomically and validates it with the data layer.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..io import clean_stale_temps
from .common import (Imported, check_options, check_out_dir, default_data_root, load_token_counter, read_json_table,
                     resolve_input, split_by_task, summary_lines, write_dataset)

SOURCES = ("mmlu-pro", "routerbench", "routellm-mmlu", "concur", "demo")
SUBDIRS = {"mmlu-pro": "mmlu_pro", "routerbench": "routerbench_zs", "routellm-mmlu": "routellm_mmlu"}

__all__ = ["SOURCES", "Imported", "prepare", "import_source", "split_by_task", "summary_lines",
           "default_data_root", "load_token_counter"]


def import_source(source: str, input_path: str | os.PathLike | None = None, *, seed: int = 0,
                  val_frac: float = 0.1, test_frac: float = 0.2, models: list[str] | None = None,
                  params_json: str | None = None, tokenizer: str | None = None, limit: int | None = None,
                  tasks: list[str] | None = None, prices_json: str | None = None, answer_tokens: int = 1,
                  drop_contaminated: bool = False, strategies: str | None = None, n_tasks: int = 1500,
                  count_tokens=None, progress: bool = False) -> tuple[Imported, dict[str, str]]:
    """Read one source and split it by task: returns (data, question_id -> split).

    `count_tokens` replaces the tokenizer (tests inject a known counter).
    """
    from ..errors import ConcurError

    if source not in SOURCES:
        raise ConcurError(f"--source: unknown source '{source}' (choose from {', '.join(SOURCES)})")
    if source in ("concur", "demo"):
        from .released import import_demo, import_released

        if source == "demo":
            return import_demo(seed, n_tasks)
        if not input_path:
            raise ConcurError("--source concur needs --input FOLDER (with task.json, train/val/test.csv)")
        return import_released(Path(input_path), strategies)

    folder = resolve_input(input_path, SUBDIRS[source])
    if source in ("mmlu-pro", "routellm-mmlu") and count_tokens is None:
        count_tokens = load_token_counter(tokenizer)
    if source == "mmlu-pro":
        from .mmlu_pro import import_mmlu_pro

        if limit is not None and limit <= 0:
            raise ConcurError(f"--limit must be positive, got {limit}")
        data = import_mmlu_pro(folder, models, count_tokens, read_json_table(params_json, "--params_json"),
                               limit, progress)
    elif source == "routerbench":
        from .routerbench import import_routerbench

        data = import_routerbench(folder, tasks, models)
    else:
        from .routellm import import_routellm_mmlu

        data = import_routellm_mmlu(folder, count_tokens, read_json_table(prices_json, "--prices_json"),
                                    answer_tokens, drop_contaminated)
    qids = [str(t["question_id"]) for t in data.tasks]
    groups = [str(t.get("subject", "")) for t in data.tasks]
    split = split_by_task(qids, val_frac, test_frac, seed, groups, data.fixed_split)
    data.info.update(val_frac=val_frac, test_frac=test_frac,
                     split_rule="stratified by subject" + ("; source test kept, val carved from source train"
                                                           if data.fixed_split else ""))
    return data, dict(zip(qids, split))


def prepare(source: str, out_dir: str | os.PathLike, *, force: bool = False, seed: int = 0,
            **kwargs: Any):
    """Import `source` into `out_dir` (atomic, validated); returns (Imported, Dataset)."""
    check_options(seed=seed, **kwargs)
    out = Path(out_dir)
    check_out_dir(out, force)  # fail before the slow part
    clean_stale_temps(out.absolute().parent, [out.name])  # temp folders of a killed run of this --out
    data, split_of = import_source(source, seed=seed, **kwargs)
    dataset = write_dataset(data, out_dir, split_of, seed, force)
    return data, dataset
