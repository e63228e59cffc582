"""Data layer: load and validate task.json, strategies.json and the outcome CSVs.

Everything is joined on `question_id` (never on row order) and turned into dense
tasks x strategies matrices per split (NaN where a strategy has no row for a task).
Every validation error is a ConcurError naming the file, row (the CSV line number,
header = line 1) and column.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config
from .errors import ConcurError
from .io import read_json

REQUIRED_COLUMNS = ("question_id", "model", "decoding", "label", "flops")
SPLITS = ("train", "val", "test")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# ---------------------------------------------------------------- strategies
# Model and decoding names become parts of file names (accuracy_cls_<model>_<decoding>.pt, pred_<s>.csv),
# so they are limited to characters that are safe in a file name on every system: ASCII letters and
# digits, '.', '+' and '-', starting with a letter or digit (no '/', '\\', '..' prefix, space, '_' or hidden
# file), at most NAME_MAX_LEN characters.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
NAME_MAX_LEN = 100
NAME_RULE = ("may contain only ASCII letters, digits, '.', '+' and '-', must start with a letter or digit and "
             f"be at most {NAME_MAX_LEN} characters (names become file names)")


def check_name(name: Any) -> str | None:
    """Why `name` cannot be a model or decoding name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if "_" in name:
        return "contains '_' (names must contain no '_': strategies are '<model>_<decoding>')"
    if len(name) > NAME_MAX_LEN or not NAME_PATTERN.fullmatch(name):
        return NAME_RULE
    return None


def strategy_name(model: str, decoding: str) -> str:
    return f"{model}_{decoding}"


def task_subject(record: dict) -> str:
    """A task.json record's subject, "" where it has none (or not a string)."""
    subject = record.get("subject")
    return subject if isinstance(subject, str) else ""


def split_strategy(name: str) -> tuple[str, str]:
    """'qwen7b_cot' -> ('qwen7b', 'cot'); names must contain exactly one '_'."""
    parts = name.split("_")
    if len(parts) != 2 or not all(parts):
        raise ConcurError(f"strategy '{name}': expected '<model>_<decoding>' with exactly one '_'")
    return parts[0], parts[1]


@dataclass
class StrategyCatalog:
    """The texts that describe models and decodings (strategies.json)."""

    path: Path
    models: dict[str, str]  # name -> description
    decodings: dict[str, str]
    model_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra fields (params, …)
    decoding_info: dict[str, dict[str, Any]] = field(default_factory=dict)

    def all_strategies(self) -> list[str]:
        return [strategy_name(m, d) for m in self.models for d in self.decodings]


def _parse_descriptions(path: Path, raw: Any, kind: str) -> tuple[dict[str, str], dict[str, dict]]:
    if not isinstance(raw, dict) or not raw:
        raise ConcurError(f"{path}: key '{kind}' must be a non-empty object of name -> description")
    texts: dict[str, str] = {}
    info: dict[str, dict] = {}
    for name, entry in raw.items():
        problem = check_name(name)
        if problem:
            raise ConcurError(f"{path}: {kind} name {name!r} {problem}")
        if isinstance(entry, str):
            texts[name], info[name] = entry, {}
        elif isinstance(entry, dict) and isinstance(entry.get("description"), str):
            texts[name] = entry["description"]
            info[name] = {k: v for k, v in entry.items() if k != "description"}
        else:
            raise ConcurError(f"{path}: {kind} '{name}' must be a description string or an object with a 'description' string")
        if not texts[name].strip():
            raise ConcurError(f"{path}: {kind} '{name}' has an empty description")
    return texts, info


def load_strategies(path: str | os.PathLike) -> StrategyCatalog:
    path = Path(path)
    raw = read_json(path, "strategies file")
    if not isinstance(raw, dict):
        raise ConcurError(f"{path}: expected an object with keys 'model' and 'decoding'")
    for key in ("model", "decoding"):
        if key not in raw:
            raise ConcurError(f"{path}: missing key '{key}'")
    models, model_info = _parse_descriptions(path, raw["model"], "model")
    decodings, decoding_info = _parse_descriptions(path, raw["decoding"], "decoding")
    return StrategyCatalog(path, models, decodings, model_info, decoding_info)


# --------------------------------------------------------------------- tasks
@dataclass
class TaskSet:
    path: Path
    ids: list[str]  # question_id per task.json entry (as strings)
    records: list[dict[str, Any]]
    index: dict[str, int]  # question_id -> position in task.json (= row of the task embeddings)

    def __len__(self) -> int:
        return len(self.ids)

    def texts(self) -> list[str]:
        return [task_text(r) for r in self.records]


def task_text(record: dict[str, Any]) -> str:
    """The embedded text: 'Question: …\\n\\nChoices:\\n(A) …' with options, else the question alone."""
    options = record.get("options")
    if options:
        choices = "\n".join(f"({LETTERS[i]}) {opt}" for i, opt in enumerate(options))
        return f"Question: {record['question']}\n\nChoices:\n{choices}"
    return str(record["question"])


def read_task_records(path: Path) -> Any:
    """A task file's records: a JSON list, or JSON Lines (one object per line; errors name the line)."""
    if not path.is_file():
        raise ConcurError(f"{path}: task file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConcurError(f"{path}: not UTF-8 text ({err.reason})") from None
    if text.lstrip().startswith("[") or not text.strip():
        return read_json(path, "task file")
    records = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ConcurError(f"{path}: line {i}: invalid JSON ({err.msg} at column {err.colno}); "
                              "expected a JSON list or one task object per line") from None
    return records


def load_tasks(path: str | os.PathLike) -> TaskSet:
    """task.json (or any task file: a JSON list or JSON Lines of task objects), validated."""
    path = Path(path)
    raw = read_task_records(path)
    if not isinstance(raw, list) or not raw:
        raise ConcurError(f"{path}: expected a non-empty JSON list of tasks")
    has_ids = ["question_id" in r for r in raw if isinstance(r, dict)]
    explicit = any(has_ids)
    ids: list[str] = []
    for i, rec in enumerate(raw):
        where = f"{path}: task {i}"
        if not isinstance(rec, dict):
            raise ConcurError(f"{where}: expected an object, got {type(rec).__name__}")
        q = rec.get("question")
        if not isinstance(q, str) or not q.strip():
            raise ConcurError(f"{where}: field 'question' is missing or not a non-empty string")
        opts = rec.get("options")
        if opts is not None and (not isinstance(opts, list) or len(opts) > len(LETTERS)):
            raise ConcurError(f"{where}: field 'options' must be a list of at most {len(LETTERS)} choices")
        if explicit:
            if "question_id" not in rec or rec["question_id"] is None:
                raise ConcurError(f"{where}: field 'question_id' is missing (other tasks carry one, so all must)")
            ids.append(str(rec["question_id"]))
        else:
            ids.append(str(i))
    index: dict[str, int] = {}
    for i, qid in enumerate(ids):
        if qid in index:
            raise ConcurError(f"{path}: task {i}: duplicate question_id '{qid}' (first at task {index[qid]})")
        index[qid] = i
    return TaskSet(path, ids, raw, index)


# ------------------------------------------------------------------ outcomes
@dataclass
class SplitOutcomes:
    """One split as dense matrices: rows = tasks (in task.json order), columns = strategies."""

    name: str
    path: Path
    question_ids: np.ndarray  # (n,) str
    task_rows: np.ndarray  # (n,) int, row in task.json / task embeddings
    strategies: list[str]
    label: np.ndarray  # (n, S) float64, NaN where the strategy has no row for the task
    cost: np.ndarray  # (n, S) float64
    extra: pd.DataFrame | None = None  # the long table as read (extra columns kept)

    @property
    def observed(self) -> np.ndarray:
        return ~np.isnan(self.label)

    def column(self, strategy: str) -> int:
        return self.strategies.index(strategy)

    def rows_of(self, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(question_ids, task_rows, labels, costs) of the tasks that have a row for `strategy`."""
        j = self.column(strategy)
        mask = self.observed[:, j]
        return self.question_ids[mask], self.task_rows[mask], self.label[mask, j], self.cost[mask, j]


def _line(idx) -> int:
    """CSV line number of DataFrame row `idx` (header is line 1)."""
    return int(idx) + 2


def read_csv_table(path: Path, required: tuple[str, ...], text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Parse a CSV (ids, names and `text_columns` as strings) and check that it has rows and the required
    columns. With `text_columns` no value is read as missing: an empty cell is '' (numbers are checked by
    the caller)."""
    kwargs = {"keep_default_na": False} if text_columns else {}
    try:
        df = pd.read_csv(path, dtype={"question_id": str, "model": str, "decoding": str,
                                      **{c: str for c in text_columns}}, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ConcurError(f"{path}: cannot parse CSV: {str(err).splitlines()[0]}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConcurError(f"{path}: missing column '{missing[0]}' (required: {', '.join(required)})")
    if df.empty:
        raise ConcurError(f"{path}: no data rows")
    return df


def read_outcome_csv(path: str | os.PathLike, split: str = "") -> pd.DataFrame:
    """Read and validate one long-format outcome CSV (per-row checks only)."""
    path = Path(path)
    if not path.is_file():
        raise ConcurError(f"{path}: {split + ' ' if split else ''}outcome CSV not found")
    df = read_csv_table(path, REQUIRED_COLUMNS)
    for col in REQUIRED_COLUMNS:
        na = df[col].isna().to_numpy()
        if na.any():
            raise ConcurError(f"{path}: row {_line(np.flatnonzero(na)[0])}: column '{col}' is empty or NaN")
    for col in ("question_id", "model", "decoding"):
        df[col] = df[col].str.strip()
    for col in ("label", "flops"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise ConcurError(f"{path}: row {_line(i)}: column '{col}' is not a number: {df[col].iloc[i]!r}")
        df[col] = num.astype(np.float64)
    vals = df["flops"].to_numpy()
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ConcurError(f"{path}: row {_line(i)}: column 'flops' must be a finite cost >= 0, got {vals[i]}")
    vals = df["label"].to_numpy()
    bad = (vals < 0) | (vals > 1)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ConcurError(f"{path}: row {_line(i)}: column 'label' must be in [0, 1], got {vals[i]}")
    for col in ("model", "decoding"):
        bad = ~(df[col].str.fullmatch(NAME_PATTERN.pattern) & (df[col].str.len() <= NAME_MAX_LEN)).to_numpy(dtype=bool)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise ConcurError(f"{path}: row {_line(i)}: {col} name {df[col].iloc[i]!r} {check_name(df[col].iloc[i])}")
    dup = df.duplicated(["question_id", "model", "decoding"]).to_numpy()
    if dup.any():
        i = np.flatnonzero(dup)[0]
        r = df.iloc[i]
        raise ConcurError(f"{path}: row {_line(i)}: duplicate row for (question_id={r.question_id}, model={r.model}, decoding={r.decoding})")
    df["strategy"] = df["model"] + "_" + df["decoding"]
    return df


def read_question_ids(path: str | os.PathLike, split: str = "") -> pd.Series:
    """Only the (stripped) question_id column of an outcome CSV, indexed by row as in read_csv_table: the
    cross-split check of a split whose outcomes are not read (training never reads the test outcomes)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, usecols=["question_id"], dtype={"question_id": str})
    except (ValueError, pd.errors.EmptyDataError) as err:  # parser, encoding and missing-column errors
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConcurError(f"{path}: cannot read the question_id column of the {split + ' ' if split else ''}"
                          f"outcome CSV (needed to check that no task is in two splits): {first}") from None
    return df["question_id"].dropna().str.strip()


def build_split(name: str, path: Path, df: pd.DataFrame, tasks: TaskSet, strategies: list[str]) -> SplitOutcomes:
    """Pivot a validated long table into tasks x strategies matrices (vectorised)."""
    df = df[df["strategy"].isin(strategies)]
    rows = df["question_id"].map(tasks.index).to_numpy(dtype=np.int64)
    uniq_rows = np.unique(rows)  # sorted = task.json order
    r = np.searchsorted(uniq_rows, rows)
    c = pd.Index(strategies).get_indexer(df["strategy"])
    label = np.full((len(uniq_rows), len(strategies)), np.nan)
    cost = np.full_like(label, np.nan)
    label[r, c] = df["label"].to_numpy()
    cost[r, c] = df["flops"].to_numpy()
    qids = np.array([tasks.ids[i] for i in uniq_rows], dtype=object)
    return SplitOutcomes(name, path, qids, uniq_rows, list(strategies), label, cost, df)


@dataclass
class Dataset:
    config: Config
    tasks: TaskSet
    catalog: StrategyCatalog
    strategies: list[str]  # the pool, in a fixed order
    splits: dict[str, SplitOutcomes]

    @property
    def train(self) -> SplitOutcomes:
        return self.splits["train"]

    @property
    def val(self) -> SplitOutcomes:
        return self.splits["val"]

    @property
    def test(self) -> SplitOutcomes:
        return self.splits["test"]


def check_disjoint_splits(config: Config, frames: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    """No task in two splits, over every split file that exists: the splits being read (`frames`) and,
    through their question_id column only, the others, so that a leak is caught before training writes."""
    seen_split: dict[str, str] = {}
    for split in SPLITS:
        if split in frames:
            path, ids = frames[split][0], frames[split][1]["question_id"]
        else:
            path = Path(config[f"{split}_data_path"])
            if not path.is_file():
                continue  # not there yet: checked when it is read
            ids = read_question_ids(path, split)
        first = ids.drop_duplicates()
        other = first.map(seen_split)
        clash = other.notna().to_numpy()
        if clash.any():
            i = np.flatnonzero(clash)[0]
            raise ConcurError(f"{path}: row {_line(first.index[i])}: question_id '{first.iloc[i]}' "
                              f"is also in the {other.iloc[i]} split (a task belongs to exactly one split)")
        seen_split.update(dict.fromkeys(first, split))


def load_dataset(config: Config, splits: tuple[str, ...] = SPLITS) -> Dataset:
    """Load, cross-check and pivot everything the config points at.

    `splits` limits which outcome CSVs are read (e.g. training never reads the test outcomes),
    but the 'task in two splits' check covers every split file that exists (the question_id
    column of the others).
    """
    tasks = load_tasks(config.task_path)
    catalog = load_strategies(config.strategy_path)
    frames: dict[str, tuple[Path, pd.DataFrame]] = {}
    for split in splits:
        path = Path(config[f"{split}_data_path"])
        frames[split] = (path, read_outcome_csv(path, split))

    for split, (path, df) in frames.items():
        unknown = ~df["question_id"].isin(tasks.index).to_numpy()
        if unknown.any():
            i = np.flatnonzero(unknown)[0]
            raise ConcurError(f"{path}: row {_line(i)}: question_id '{df['question_id'].iloc[i]}' is not in {tasks.path}")
        for col, known in (("model", catalog.models), ("decoding", catalog.decodings)):
            bad = ~df[col].isin(known).to_numpy()
            if bad.any():
                i = np.flatnonzero(bad)[0]
                raise ConcurError(f"{path}: row {_line(i)}: {col} '{df[col].iloc[i]}' is not described in {catalog.path}")
    check_disjoint_splits(config, frames)

    present = {split: set(df["strategy"].unique()) for split, (_, df) in frames.items()}
    train_strats = present.get("train", set())
    if config.strategies is not None:
        pool = list(dict.fromkeys(config.strategies))
        for s in pool:
            model, decoding = split_strategy(s)
            if model not in catalog.models or decoding not in catalog.decodings:
                raise ConcurError(f"config key 'strategies': '{s}' is not described in {catalog.path}")
            if "train" in frames and s not in train_strats:
                raise ConcurError(f"{frames['train'][0]}: strategy '{s}' (config key 'strategies') has no training rows")
    else:
        ordered = catalog.all_strategies()
        if "train" in frames:
            for split, names in present.items():
                orphan = sorted(names - train_strats)
                if orphan:
                    raise ConcurError(f"{frames[split][0]}: strategy '{orphan[0]}' has no training rows in {frames['train'][0]}")
            pool = [s for s in ordered if s in train_strats]
        else:
            seen = set().union(*present.values()) if present else set()
            pool = [s for s in ordered if s in seen]
    if "train" in frames and "val" in frames:  # every router selects checkpoints or settings on validation
        no_val = [s for s in pool if s not in present["val"]]
        if no_val:
            raise ConcurError(f"{frames['val'][0]}: strategy '{no_val[0]}' has no validation rows (routers select "
                              "checkpoints and settings on validation)")
    splits_out = {split: build_split(split, path, df, tasks, pool) for split, (path, df) in frames.items()}
    return Dataset(config, tasks, catalog, pool, splits_out)
