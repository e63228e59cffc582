"""What routers are fitted on and predict for: the dataset, its embeddings, and batches of tasks.

`Inputs` bundles one dataset (task.json, strategies.json, the outcome splits) with its task and
strategy embeddings, checked against each other. A `TaskBatch` is a set of tasks to predict for:
the rows of a split, or new tasks that have no outcomes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import Config
from .data import Dataset, SplitOutcomes, load_dataset, split_strategy
from .embeddings import load_strategy_embeddings, load_task_embeddings
from .errors import ConcurError
from .features import task_feature_matrix, with_task_features


@dataclass
class TaskBatch:
    """Tasks to predict for: ids, embeddings in the routers' input space, and the task objects."""

    question_ids: np.ndarray  # (n,) str
    emb: torch.Tensor  # (n, d)
    records: list[dict[str, Any]]  # task.json-style objects (question, options, subject, ...)

    def __len__(self) -> int:
        return len(self.question_ids)

    def take(self, idx: np.ndarray) -> "TaskBatch":
        idx = np.asarray(idx, dtype=np.int64)
        return TaskBatch(self.question_ids[idx], self.emb[torch.as_tensor(idx)], [self.records[i] for i in idx])


@dataclass
class Inputs:
    ds: Dataset
    task_emb: torch.Tensor  # (n_tasks in task.json, d), task features appended when configured
    strat_emb: dict[str, dict[str, torch.Tensor]]  # {"model": {name: (d,)}, "decoding": {name: (d,)}}
    emb_model: str  # the embedding model's label (recorded with every fitted router)

    @property
    def text_dim(self) -> int:
        return int(self.task_emb.shape[1])

    def batch(self, split: SplitOutcomes, rows: np.ndarray | None = None) -> TaskBatch:
        """The tasks of a split (optionally a subset of its rows, by position) as a batch."""
        task_rows = split.task_rows if rows is None else split.task_rows[rows]
        qids = split.question_ids if rows is None else split.question_ids[rows]
        return TaskBatch(np.asarray(qids, dtype=object), self.task_emb[torch.as_tensor(task_rows)],
                         [self.ds.tasks.records[i] for i in task_rows])

    def strategy_vectors(self, strategy: str) -> tuple[torch.Tensor, torch.Tensor]:
        model, decoding = split_strategy(strategy)
        try:
            return self.strat_emb["model"][model].float(), self.strat_emb["decoding"][decoding].float()
        except KeyError as err:
            raise ConcurError(f"{self.ds.config.strategy_emb_path}: no embedding for {err}; "
                              "run `python embed_dataset.py`") from None

    def strategy_matrix(self, strategies: list[str]) -> torch.Tensor:
        """(S, 2d): [g_model; g_decoding] per strategy."""
        return torch.stack([torch.cat(self.strategy_vectors(s)) for s in strategies])

    def new_task_features(self, records: list[dict[str, Any]]) -> np.ndarray:
        """The configured task-feature columns for new tasks, with task.json's statistics."""
        names = list(self.ds.config.predictor.task_features)
        return task_feature_matrix(self.ds.tasks, names, records)[0]


def load_inputs(config: Config, splits: tuple[str, ...]) -> Inputs:
    """The dataset (the given outcome splits) and its embeddings, checked against each other."""
    ds = load_dataset(config, splits=splits)
    if config.labels == "consensus":
        ds = with_consensus_labels(ds, [s for s in splits if s != "test"])
    task_emb, meta = load_task_embeddings(config, ds.tasks)
    strat_emb, smeta = load_strategy_embeddings(config, ds.catalog)
    if meta.get("model") != smeta.get("model") or task_emb.shape[1] != next(iter(strat_emb["model"].values())).shape[0]:
        raise ConcurError(f"{config.task_emb_path} and {config.strategy_emb_path}: made by different embedding models "
                          f"({meta.get('model')} vs {smeta.get('model')}); run `python embed_dataset.py --force`")
    if config.predictor.task_features:
        task_emb, strat_emb = with_task_features(task_emb, strat_emb, ds.tasks, config.predictor.task_features)
    return Inputs(ds, task_emb, strat_emb, str(meta.get("model")))


def with_consensus_labels(ds: Dataset, splits: list[str]) -> Dataset:
    """The data set with the labels of `splits` replaced by agreement with the models' consensus answer
    (concur/consensus.py; gold labels are not read). Every split keeps its rows and costs."""
    from .answers import load_split_answers
    from .consensus import consensus

    new = dict(ds.splits)
    for name in splits:
        split = ds.splits[name]
        ans = load_split_answers(ds.config, split)
        score = consensus(ans.answer, ans.parsed & ans.observed).score
        new[name] = dataclasses.replace(split, label=np.where(split.observed, score, np.nan), extra=None)
    return dataclasses.replace(ds, splits=new)


def resolve_strategies(requested: list[str], pool: list[str]) -> list[str]:
    """'all' -> the pool; otherwise every name must be in the pool (pool order kept for 'all')."""
    if requested == ["all"]:
        return list(pool)
    unknown = [s for s in requested if s not in pool]
    if unknown:
        raise ConcurError(f"unknown strategy '{unknown[0]}' (the pool: {', '.join(pool) or 'empty'})")
    return list(dict.fromkeys(requested))


def split_rows(split: SplitOutcomes, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(question_ids, task_rows, labels, costs) of the split's rows for `strategy` (empty if none)."""
    if strategy not in split.strategies:
        return np.array([], dtype=object), np.array([], dtype=np.int64), np.zeros(0), np.zeros(0)
    return split.rows_of(strategy)
