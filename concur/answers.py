"""The models' answers (optional data): answers_<split>.csv read, validated and aligned to a split.

One row per (task, strategy) with the answer the strategy gave (an option letter, a number, a short
string or a hash of code; empty when extraction failed, then `parsed` is 0) and the length of its
response in tokens. Routers that read answers (consensus labels, cascades) need these files; every
other part of the pipeline ignores them. The config names them with the optional keys
train_answers_path / val_answers_path / test_answers_path (the importers write them and set the keys).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .data import SplitOutcomes, check_name, read_csv_table, strategy_name
from .errors import ConcurError

ANSWER_COLUMNS = ("question_id", "model", "decoding", "answer", "response_tokens", "parsed")


def read_answers_csv(path: str | os.PathLike, split: str = "") -> pd.DataFrame:
    """An answers file as a table, every row checked (one-line errors naming the file, row and column)."""
    path = Path(path)
    if not path.is_file():
        raise ConcurError(f"{path}: answers file not found")
    df = read_csv_table(path, ANSWER_COLUMNS, text_columns=("answer",))
    where = lambda i: f"{path}: row {int(i) + 2}"  # noqa: E731  (header is line 1)
    for col in ("model", "decoding"):
        df[col] = df[col].astype(str)
        for i, name in df[col].items():
            why = check_name(name)
            if why:
                raise ConcurError(f"{where(i)}: {col} name {name!r} {why}")
    df["question_id"] = df["question_id"].astype(str)
    df["answer"] = df["answer"].astype(str)
    for col in ("response_tokens", "parsed"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num) | (num < 0) | (num != np.floor(num))
        if col == "parsed":
            bad |= ~num.isin([0, 1])
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            what = "0 or 1" if col == "parsed" else "a whole number >= 0"
            raise ConcurError(f"{where(df.index[i])}: column '{col}' must be {what}, got {df[col].iloc[i]!r}")
        df[col] = num.astype(np.int64)
    mismatch = (df["parsed"] == 1) != (df["answer"] != "")
    if mismatch.any():
        i = mismatch.to_numpy().nonzero()[0][0]
        raise ConcurError(f"{where(df.index[i])}: 'parsed' must be 1 exactly when 'answer' is not empty")
    dup = df.duplicated(["question_id", "model", "decoding"])
    if dup.any():
        i = dup.to_numpy().nonzero()[0][0]
        r = df.iloc[i]
        raise ConcurError(f"{where(df.index[i])}: a second row for question_id '{r.question_id}' and strategy "
                          f"'{strategy_name(r.model, r.decoding)}'")
    return df


@dataclass
class SplitAnswers:
    """A split's answers aligned to its outcomes: same rows (tasks) and columns (strategies)."""

    name: str
    path: Path
    question_ids: np.ndarray  # (n,) object
    strategies: list[str]
    answer: np.ndarray  # (n, S) object array of str; "" where not parsed or no row
    parsed: np.ndarray  # (n, S) bool; False where no row
    response_tokens: np.ndarray  # (n, S) float64; NaN where no row
    observed: np.ndarray  # (n, S) bool: the file has a row for (task, strategy)


def load_split_answers(config: Config, split: SplitOutcomes) -> SplitAnswers:
    """The answers of `split` (train, val or test), aligned to it; one-line error when there are none."""
    key = f"{split.name}_answers_path"
    path = config.get(key)
    where = config.get("_config_path") or "config"
    if path is None:
        raise ConcurError(f"{where}: config key '{key}' is not set: this step reads the models' answers "
                          "(re-import with prepare_data.py, which writes answers_*.csv where the source has them)")
    path = Path(path)
    if not path.is_file():
        raise ConcurError(f"{path}: answers file not found (config key '{key}')")
    df = read_answers_csv(path, split.name)
    rows = {q: i for i, q in enumerate(split.question_ids)}
    cols = {s: j for j, s in enumerate(split.strategies)}
    r = df["question_id"].map(rows)
    c = pd.Series([cols.get(strategy_name(m, d)) for m, d in zip(df["model"], df["decoding"])], index=df.index)
    keep = r.notna() & c.notna()  # answers of tasks or strategies outside the split's pool are ignored
    n, k = len(split.question_ids), len(split.strategies)
    answer = np.full((n, k), "", dtype=object)
    parsed = np.zeros((n, k), dtype=bool)
    tokens = np.full((n, k), np.nan)
    observed = np.zeros((n, k), dtype=bool)
    ri, ci = r[keep].to_numpy(dtype=np.int64), c[keep].to_numpy(dtype=np.int64)
    answer[ri, ci] = df.loc[keep, "answer"].to_numpy(dtype=object)
    parsed[ri, ci] = df.loc[keep, "parsed"].to_numpy() == 1
    tokens[ri, ci] = df.loc[keep, "response_tokens"].to_numpy(dtype=np.float64)
    observed[ri, ci] = True
    missing = split.observed & ~observed
    if missing.any():
        i, j = np.argwhere(missing)[0]
        raise ConcurError(f"{path}: no answer for question_id '{split.question_ids[i]}' and strategy "
                          f"'{split.strategies[j]}', which has an outcome in {split.path}")
    return SplitAnswers(split.name, path, np.asarray(split.question_ids, dtype=object), list(split.strategies),
                        answer, parsed, tokens, observed)
