"""Resumable outcome collection: run strategies on tasks, grade, cost, write the split CSVs.

Flow (everything that can be wrong with the input is checked before anything is written):
1. plan: strategies, checkpoints, decoding templates, split assignment, gold answers.
2. generate: per strategy, the tasks without a finished generation are run in batches;
   each finished batch is appended to `<generations_dir>/<strategy>.jsonl` (text + token
   counts), so an interrupted run loses at most the batch in flight and a rerun resumes.
3. assemble: grade every generation, cost = 2 x N_params x tokens, merge the rows of the
   collected strategies into each split CSV (rows of other strategies are kept as they
   are) and write all CSVs atomically at the end.

Split assignment: a task already present in train/val/test CSV keeps that split; any
other task is assigned by a seeded hash of its question_id with `collect.split_fractions`
(default 70/10/20), which is stable when tasks are added or collected split by split.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import Config
from ..data import REQUIRED_COLUMNS, SPLITS, StrategyCatalog, TaskSet, load_strategies, load_tasks, read_outcome_csv, split_strategy
from ..errors import ConcurError
from ..io import write_csv_atomic, write_json_atomic, write_text_atomic
from .backends import DEFAULT_BATCH, Backend, choose_backend, count_params, make_backend
from .cost import flops_cost, flops_scale
from .grading import Gold, gold_of, grade
from .prompts import DecodingSpec, decoding_spec, encode_prompt

_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")  # "name" or "org/name" on the Hugging Face hub


# ------------------------------------------------------------------ planning
@dataclass
class Plan:
    config: Config
    tasks: TaskSet
    catalog: StrategyCatalog
    strategies: list[str]
    splits: list[str]
    split_rows: dict[str, list[int]]  # split -> task rows (task.json order) to collect
    golds: dict[int, Gold]
    decodings: dict[str, DecodingSpec]
    checkpoints: dict[str, str]  # model -> checkpoint (HF name or resolved local path)
    params: dict[str, float]  # model -> parameter count given in strategies.json
    scale: float
    generations_dir: Path
    existing: dict[str, pd.DataFrame | None] = field(default_factory=dict)  # split -> raw CSV (strings)

    def side_file(self, strategy: str) -> Path:
        return self.generations_dir / f"{strategy}.jsonl"


def resolve_strategies(names: list[str], catalog: StrategyCatalog) -> list[str]:
    if names == ["all"]:
        return catalog.all_strategies()
    out = []
    for name in dict.fromkeys(names):
        model, decoding = split_strategy(name)
        if model not in catalog.models:
            raise ConcurError(f"strategy '{name}': model '{model}' is not described in {catalog.path}")
        if decoding not in catalog.decodings:
            raise ConcurError(f"strategy '{name}': decoding '{decoding}' is not described in {catalog.path}")
        out.append(name)
    return out


def resolve_checkpoint(catalog: StrategyCatalog, model: str) -> str:
    """A local path (relative to strategies.json) when one exists, else a Hugging Face name."""
    ckpt = catalog.model_info.get(model, {}).get("checkpoint")
    if ckpt is None:
        raise ConcurError(f"{catalog.path}: model '{model}' has no 'checkpoint' (a Hugging Face model name or a local path), needed to collect outcomes")
    if not isinstance(ckpt, str) or not ckpt.strip():
        raise ConcurError(f"{catalog.path}: model '{model}': 'checkpoint' must be a non-empty string")
    path = Path(os.path.expanduser(ckpt))
    if not path.is_absolute():
        path = catalog.path.parent / path
    if path.exists():
        return str(path.resolve())
    if ckpt.startswith(("/", ".", "~")) or not _HUB_ID.match(ckpt):
        raise ConcurError(f"{catalog.path}: model '{model}': checkpoint path '{ckpt}' does not exist")
    return ckpt  # "org/name" on the Hugging Face hub


def _model_params(catalog: StrategyCatalog, model: str) -> float | None:
    p = catalog.model_info.get(model, {}).get("params")
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not np.isfinite(p) or p <= 0:
        raise ConcurError(f"{catalog.path}: model '{model}': 'params' must be a positive number, got {p!r}")
    return float(p)


def _read_raw_csv(path: Path, split: str) -> pd.DataFrame | None:
    """An existing split CSV as strings (so rows we do not touch are written back unchanged)."""
    if not path.is_file():
        return None
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ConcurError(f"{path}: cannot parse CSV: {str(err).splitlines()[0]}") from None
    if len(raw):
        read_outcome_csv(path, split)  # full validation before we merge into it
    else:
        missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
        if missing:
            raise ConcurError(f"{path}: missing column '{missing[0]}' (required: {', '.join(REQUIRED_COLUMNS)})")
    return raw


def hash_split(question_ids: list[str], seed: int, fractions: list[float]) -> list[str]:
    """Seeded, per-task split: stable however many tasks there are or which are collected first."""
    u = np.array([int(hashlib.sha256(f"{seed}:{q}".encode()).hexdigest()[:15], 16) / 16**15 for q in question_ids])
    edges = np.cumsum(fractions) / np.sum(fractions)
    idx = np.minimum(np.searchsorted(edges, u, side="right"), len(SPLITS) - 1)
    return [SPLITS[i] for i in idx]


def assign_splits(tasks: TaskSet, existing: dict[str, pd.DataFrame | None], paths: dict[str, Path],
                  seed: int, fractions: list[float]) -> dict[str, str]:
    """question_id -> split for every task in task.json."""
    assigned: dict[str, str] = {}
    for split in SPLITS:
        df = existing.get(split)
        if df is None:
            continue
        for qid in pd.unique(df["question_id"].str.strip()):
            other = assigned.get(qid)
            if other is not None and other != split:
                raise ConcurError(f"{paths[split]}: question_id '{qid}' is also in the {other} split (a task belongs to exactly one split)")
            assigned[qid] = split
    free = [q for q in tasks.ids if q not in assigned]
    assigned.update(zip(free, hash_split(free, seed, fractions)))
    return assigned


def _check_fractions(fractions: Any) -> list[float]:
    ok = (isinstance(fractions, list) and len(fractions) == len(SPLITS)
          and all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 0 for f in fractions)
          and sum(fractions) > 0)
    if not ok:
        raise ConcurError(f"config key 'collect.split_fractions': expected three non-negative numbers for train, val, test, got {fractions!r}")
    return [float(f) for f in fractions]


def generations_dir(config: Config) -> Path:
    value = config.collect.generations_dir
    if value is None:
        return Path(config.train_data_path).parent / "generations"
    p = Path(os.path.expanduser(value))
    base = config.path.parent if config.path is not None else Path.cwd()
    return p if p.is_absolute() else (base / p).resolve()


def make_plan(config: Config, strategies: list[str], splits: list[str] | None = None, limit: int | None = None) -> Plan:
    """Check every input and decide what to collect; writes nothing."""
    tasks = load_tasks(config.task_path)
    catalog = load_strategies(config.strategy_path)
    strategies = resolve_strategies(strategies, catalog)
    splits = list(dict.fromkeys(splits or SPLITS))
    for s in splits:
        if s not in SPLITS:
            raise ConcurError(f"--splits: unknown split '{s}' (choose from {', '.join(SPLITS)})")
    if limit is not None and limit <= 0:
        raise ConcurError("--limit must be positive")
    scale = flops_scale(config.cost_unit)
    models = list(dict.fromkeys(split_strategy(s)[0] for s in strategies))
    checkpoints = {m: resolve_checkpoint(catalog, m) for m in models}
    params = {m: p for m in models if (p := _model_params(catalog, m)) is not None}
    cfg_tokens = config.collect.max_new_tokens
    if isinstance(cfg_tokens, dict):
        unknown = sorted(k for k in cfg_tokens if k not in catalog.decodings)
        if unknown:
            raise ConcurError(f"config key 'collect.max_new_tokens': decoding '{unknown[0]}' is not described in {catalog.path}")
    decodings = {d: decoding_spec(catalog, d, config) for d in dict.fromkeys(split_strategy(s)[1] for s in strategies)}
    if config.collect.batch_size is not None and config.collect.batch_size <= 0:
        raise ConcurError("config key 'collect.batch_size' must be positive")
    if config.collect.tensor_parallel_size <= 0:
        raise ConcurError("config key 'collect.tensor_parallel_size' must be positive")
    fractions = _check_fractions(config.collect.split_fractions)

    paths = {s: Path(config[f"{s}_data_path"]) for s in SPLITS}
    existing = {s: _read_raw_csv(paths[s], s) for s in SPLITS}
    assigned = assign_splits(tasks, existing, paths, config.seed, fractions)
    split_rows: dict[str, list[int]] = {}
    for s in splits:
        rows = [i for i, q in enumerate(tasks.ids) if assigned[q] == s]
        split_rows[s] = rows[:limit] if limit else rows
    golds = {i: gold_of(tasks.records[i], f"{tasks.path}: task {i} (question_id {tasks.ids[i]})")
             for rows in split_rows.values() for i in rows}
    if not golds:
        raise ConcurError(f"{tasks.path}: no tasks fall in the split(s) {', '.join(splits)}")
    return Plan(config, tasks, catalog, strategies, splits, split_rows, golds, decodings, checkpoints, params,
                scale, generations_dir(config), existing)


# ---------------------------------------------------------------- side files
RECORD_FIELDS = frozenset({"question_id", "key", "text", "prompt_tokens", "generated_tokens"})


def record_key(checkpoint: str, message: str, max_new_tokens: int, temperature: float) -> str:
    """Identifies what a generation was made from; a changed prompt or setting is regenerated."""
    return hashlib.sha256(json.dumps([checkpoint, message, max_new_tokens, float(temperature)]).encode()).hexdigest()[:16]


def read_side_file(path: Path) -> list[dict[str, Any]]:
    """Records of a side file; a torn last line (crash mid-write) is dropped from the file."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):  # torn tail: the batch in flight when a run was killed
        text = text[: text.rfind("\n") + 1]
        write_text_atomic(path, text)
    records = []
    # split on "\n" only: generated text may hold other line separators (json keeps them raw)
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not RECORD_FIELDS <= rec.keys():
                raise ValueError("missing fields")
        except ValueError:
            raise ConcurError(f"{path}: line {n}: not a generation record (delete the file to regenerate)") from None
        records.append(rec)
    return records


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------- generation
BatchHook = Callable[[str, int], None]  # (strategy, finished batch index) -> None


def _messages(plan: Plan, decoding: str, rows: list[int]) -> list[str]:
    spec = plan.decodings[decoding]
    return [spec.render(plan.tasks.records[i], plan.golds[i].kind) for i in rows]


def _keys(plan: Plan, model: str, decoding: str, messages: list[str]) -> list[str]:
    spec = plan.decodings[decoding]
    ckpt = plan.catalog.model_info[model]["checkpoint"]
    return [record_key(ckpt, m, spec.max_new_tokens, plan.config.collect.temperature) for m in messages]


def finished(plan: Plan, strategy: str) -> dict[str, dict[str, Any]]:
    """question_id -> the latest side-file record that matches the current prompt and settings."""
    model, decoding = split_strategy(strategy)
    rows = [i for s in plan.splits for i in plan.split_rows[s]]
    qids = [plan.tasks.ids[i] for i in rows]
    want = dict(zip(qids, _keys(plan, model, decoding, _messages(plan, decoding, rows))))
    return {r["question_id"]: r for r in read_side_file(plan.side_file(strategy)) if want.get(r["question_id"]) == r["key"]}


def generate(plan: Plan, backend_kind: str | None = None, batch_size: int | None = None,
             after_batch: BatchHook | None = None, progress: bool = True) -> dict[str, int]:
    """Run every strategy on its unfinished tasks; returns strategy -> number generated now."""
    cfg = plan.config.collect
    kind = choose_backend(backend_kind or cfg.backend)
    bs = batch_size or cfg.batch_size or DEFAULT_BATCH[kind]
    rows = [i for s in plan.splits for i in plan.split_rows[s]]
    done_now: dict[str, int] = {}
    by_model: dict[str, list[str]] = {}
    for s in plan.strategies:
        by_model.setdefault(split_strategy(s)[0], []).append(s)
    for model, strategies in by_model.items():
        pending = {}
        for s in strategies:
            done = finished(plan, s)
            pending[s] = [i for i in rows if plan.tasks.ids[i] not in done]
            done_now[s] = 0
        if not any(pending.values()):
            continue
        backend: Backend = make_backend(kind, plan.checkpoints[model], cfg, plan.config.seed)
        try:
            if model not in plan.params:
                plan.params[model] = float(backend.num_params())
            for s in strategies:
                done_now[s] = _generate_strategy(plan, backend, s, pending[s], bs, after_batch, progress)
        finally:
            backend.close()
    return done_now


def _generate_strategy(plan: Plan, backend: Backend, strategy: str, rows: list[int], bs: int,
                       after_batch: BatchHook | None, progress: bool) -> int:
    if not rows:
        return 0
    model, decoding = split_strategy(strategy)
    spec = plan.decodings[decoding]
    messages = _messages(plan, decoding, rows)
    keys = _keys(plan, model, decoding, messages)
    prompts = [encode_prompt(backend.tokenizer, m) for m in messages]
    # longest first: similar lengths share a batch (less padding), and memory errors show up early
    order = sorted(range(len(rows)), key=lambda k: -len(prompts[k]))
    path = plan.side_file(strategy)
    bar = tqdm(total=len(rows), desc=strategy, unit="task", disable=not progress)
    for b, start in enumerate(range(0, len(order), bs)):
        idx = order[start:start + bs]
        gens = backend.generate([prompts[k] for k in idx], spec.max_new_tokens)
        append_records(path, [
            {"question_id": plan.tasks.ids[rows[k]], "key": keys[k], "text": g.text,
             "prompt_tokens": g.prompt_tokens, "generated_tokens": g.generated_tokens, "backend": backend.name}
            for k, g in zip(idx, gens)])
        bar.update(len(idx))
        if after_batch is not None:
            after_batch(strategy, b)
    bar.close()
    return len(rows)


# ------------------------------------------------------------------ assembly
def _fmt(x: float) -> str:
    return format(float(x), ".12g")


def outcome_rows(plan: Plan, strategy: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Graded, costed rows of one strategy for every planned task, plus its report entry."""
    model, decoding = split_strategy(strategy)
    done = finished(plan, strategy)
    rows = [i for s in plan.splits for i in plan.split_rows[s]]
    missing = [plan.tasks.ids[i] for i in rows if plan.tasks.ids[i] not in done]
    if missing:
        raise ConcurError(f"{plan.side_file(strategy)}: no generation for question_id '{missing[0]}' ({len(missing)} missing); rerun to finish")
    recs = [done[plan.tasks.ids[i]] for i in rows]
    graded = [grade(r["text"], plan.golds[i]) for r, i in zip(recs, rows)]
    labels = np.array([ok for ok, _ in graded], dtype=int)
    p_tok = np.array([r["prompt_tokens"] for r in recs])
    g_tok = np.array([r["generated_tokens"] for r in recs])
    if model not in plan.params:  # every generation was already on disk: no model was loaded
        plan.params[model] = float(count_params(plan.checkpoints[model], plan.config.collect.trust_remote_code))
    flops = flops_cost(plan.params[model], p_tok, g_tok, plan.scale)
    df = pd.DataFrame({
        "question_id": [plan.tasks.ids[i] for i in rows], "model": model, "decoding": decoding,
        "label": labels.astype(str), "flops": [_fmt(f) for f in flops],
        "prompt_tokens": p_tok.astype(str), "generated_tokens": g_tok.astype(str),
        "parsed": ["" if p is None else p for _, p in graded]})
    unparseable = sum(p is None for _, p in graded)
    report = {"tasks": len(rows), "accuracy": float(labels.mean()), "unparseable": int(unparseable),
              "mean_prompt_tokens": float(p_tok.mean()), "mean_generated_tokens": float(g_tok.mean()),
              "mean_flops": float(flops.mean()), "params": plan.params[model], "checkpoint": plan.checkpoints[model]}
    return df, report


def merge_split(existing: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Existing rows (strings, untouched) minus the rows being replaced, then the new rows."""
    if existing is None:
        return new
    key_new = new["question_id"] + "\x00" + new["model"] + "\x00" + new["decoding"]
    key_old = existing["question_id"].str.strip() + "\x00" + existing["model"].str.strip() + "\x00" + existing["decoding"].str.strip()
    kept = existing[~key_old.isin(set(key_new))]
    # keep the file's own columns, so untouched rows are written back byte for byte
    cols = list(existing.columns)
    return pd.concat([kept, new.reindex(columns=cols, fill_value="")], ignore_index=True)[cols]


def assemble(plan: Plan) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    per_strategy = {s: outcome_rows(plan, s) for s in plan.strategies}
    tables = {}
    for split in plan.splits:
        qids = set(plan.tasks.ids[i] for i in plan.split_rows[split])
        new = pd.concat([df[df["question_id"].isin(qids)] for df, _ in per_strategy.values()], ignore_index=True)
        if new.empty and plan.existing.get(split) is None:
            continue  # no task fell in this split: an empty CSV would not load
        tables[split] = merge_split(plan.existing.get(split), new)
    return tables, {s: rep for s, (_, rep) in per_strategy.items()}


def write_outputs(plan: Plan, tables: dict[str, pd.DataFrame], report: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """All CSVs are built before the first is written; each is written atomically."""
    out = {}
    for split, df in tables.items():
        path = Path(plan.config[f"{split}_data_path"])
        write_csv_atomic(path, df)
        out[split] = path
    report_path = plan.generations_dir / "report.json"
    old = {}
    if report_path.is_file():
        try:
            old = json.loads(report_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    write_json_atomic(report_path, {**old, **report})
    out["report"] = report_path
    return out


def collect(config: Config, strategies: list[str], splits: list[str] | None = None, limit: int | None = None,
            backend: str | None = None, batch_size: int | None = None, after_batch: BatchHook | None = None,
            progress: bool = True) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """Plan, generate (resuming), grade and write. Returns (written paths, per-strategy report)."""
    plan = make_plan(config, strategies, splits, limit)
    if batch_size is not None and batch_size <= 0:
        raise ConcurError("--batch_size must be positive")
    generate(plan, backend, batch_size, after_batch, progress)
    tables, report = assemble(plan)
    return write_outputs(plan, tables, report), report
