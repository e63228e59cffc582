"""The prediction files: one module for their format, writing and reading.

Labelled splits (the reference columns): <output_path>/pred_<strategy>.csv (test) and
pred_<split>_<strategy>.csv (validation: pred_val_<strategy>.csv) with question_id, model, decoding,
gt_label, pred_label, pred_cls_prob, gt_flops, pred_flops. New tasks (no outcomes exist):
<output_path>/tasks/<file name>/pred_<strategy>.csv with question_id, model, decoding, pred_label,
pred_cls_prob, pred_flops. Each file has a cache record beside it (`<file>.meta.json`, concur/cache.py)
naming the router that wrote it. Reading joins a pool's files on question_id into tasks x strategies
matrices; realised label and cost are NaN for new tasks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache
from .data import read_csv_table, split_strategy
from .errors import ConcurError

PRED_COLUMNS = ("question_id", "model", "decoding", "gt_label", "pred_label", "pred_cls_prob", "gt_flops", "pred_flops")
NEW_TASK_COLUMNS = ("question_id", "model", "decoding", "pred_label", "pred_cls_prob", "pred_flops")
PREDICTED = ("pred_cls_prob", "pred_flops")
REALISED = ("gt_label", "gt_flops")
PREDICT_HINT = "run `python predictor.py --strategy all --predict` first"


@dataclass
class Predictions:
    """One split's predictions as (tasks, strategies) matrices, rows in question_id order of the first file."""

    split: str
    question_ids: np.ndarray  # (n,) str
    strategies: list[str]
    prob: np.ndarray  # predicted P(correct)
    pred_cost: np.ndarray  # predicted cost
    label: np.ndarray  # realised correctness (gt_label)
    cost: np.ndarray  # realised cost (gt_flops)

    @property
    def n_tasks(self) -> int:
        return len(self.question_ids)


def _read_pred(path: Path, strategy: str, split: str, columns: tuple[str, ...] = PRED_COLUMNS) -> pd.DataFrame:
    if not path.is_file():
        raise ConcurError(f"{path}: prediction file for strategy '{strategy}' ({split} split) not found; {PREDICT_HINT}")
    df = read_csv_table(path, columns)
    df["question_id"] = df["question_id"].astype(str).str.strip()
    for col in [c for c in columns if c in PREDICTED + REALISED]:
        num = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConcurError(f"{path}: row {i + 2}: column '{col}' is not a finite number: {df[col].iloc[i]!r}")
        df[col] = num
    names = (df["model"].astype(str).str.strip() + "_" + df["decoding"].astype(str).str.strip()).to_numpy()
    wrong = names != strategy
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise ConcurError(f"{path}: row {i + 2}: strategy '{names[i]}' does not match the file name (expected '{strategy}')")
    dup = df["question_id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ConcurError(f"{path}: row {i + 2}: duplicate question_id '{df['question_id'].iloc[i]}'")
    return df


def load_predictions(output_path: str | os.PathLike, strategies: list[str], split: str = "test") -> Predictions:
    """Read pred files for `strategies` and join them on question_id (same task set required)."""
    return _join([prediction_path(output_path, s, split) for s in strategies], strategies, split, PRED_COLUMNS)


def load_task_predictions(folder: str | os.PathLike, strategies: list[str]) -> Predictions:
    """New tasks' predictions (folder written by `predictor.py --predict --tasks`); label and cost are NaN."""
    return _join([Path(folder) / f"pred_{s}.csv" for s in strategies], strategies, "new tasks", NEW_TASK_COLUMNS)


def _join(paths: list[Path], strategies: list[str], split: str, columns: tuple[str, ...]) -> Predictions:
    if not strategies:
        raise ConcurError("routing: the strategy pool is empty (config key 'strategies' or training rows)")
    frames = [_read_pred(p, s, split, columns) for p, s in zip(paths, strategies)]
    qids = pd.Index(frames[0]["question_id"])
    n, S = len(qids), len(strategies)
    mats = {c: np.full((n, S), np.nan) for c in PREDICTED + REALISED}
    for j, (path, df) in enumerate(zip(paths, frames)):
        pos = qids.get_indexer(df["question_id"])
        if (pos < 0).any():
            i = int(np.flatnonzero(pos < 0)[0])
            raise ConcurError(f"{path}: row {i + 2}: extra task question_id '{df['question_id'].iloc[i]}' is not in {paths[0]}")
        if len(df) != n:
            absent = qids.difference(pd.Index(df["question_id"]), sort=False)
            raise ConcurError(f"{path}: task question_id '{absent[0]}' is missing (it is in {paths[0]})")
        for c in PREDICTED + REALISED:
            if c in df.columns:
                mats[c][pos, j] = df[c].to_numpy()
    return Predictions(split, qids.to_numpy(dtype=object), list(strategies), mats["pred_cls_prob"],
                       mats["pred_flops"], mats["gt_label"], mats["gt_flops"])


def prediction_path(output_path: str | os.PathLike, strategy: str, split: str = "test") -> Path:
    """`pred_<strategy>.csv` for test (reference name), `pred_<split>_<strategy>.csv` otherwise."""
    prefix = "pred_" if split == "test" else f"pred_{split}_"
    return Path(output_path) / f"{prefix}{strategy}.csv"


def pred_table(strategy: str, qids, y, c, p, cost_hat) -> pd.DataFrame:
    """One strategy's prediction table in the reference columns (P clipped to [0, 1], cost to >= 0)."""
    model, decoding = split_strategy(strategy)
    y = np.asarray(y, dtype=np.float64)
    integral = bool(np.all(y == np.round(y)))
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return pd.DataFrame({"question_id": np.asarray(qids), "model": model, "decoding": decoding,
                         "gt_label": y.astype(np.int64) if integral else y, "pred_label": (p >= 0.5).astype(np.int64),
                         "pred_cls_prob": p, "gt_flops": np.asarray(c, dtype=np.float64),
                         "pred_flops": np.maximum(np.asarray(cost_hat, dtype=np.float64), 0.0)},
                        columns=list(PRED_COLUMNS))

def new_task_table(strategy: str, qids, p, cost_hat) -> pd.DataFrame:
    """One strategy's predictions for new tasks (no ground-truth columns)."""
    model, decoding = split_strategy(strategy)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return pd.DataFrame({"question_id": np.asarray(qids), "model": model, "decoding": decoding,
                         "pred_label": (p >= 0.5).astype(np.int64), "pred_cls_prob": p,
                         "pred_flops": np.maximum(np.asarray(cost_hat, dtype=np.float64), 0.0)},
                        columns=list(NEW_TASK_COLUMNS))


def router_of(path: str | os.PathLike) -> str | None:
    """The router named in a prediction file's record (None when the record is missing or unreadable)."""
    rec, _ = cache.read_record(Path(f"{path}.meta.json"))
    return None if rec is None else rec.get("router")
