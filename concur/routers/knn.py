"""kNN: per strategy, the mean label and mean cost of the k most similar training tasks.

Similarity is the cosine of the task embeddings; only the strategy's own training rows are
neighbours, so the router is modular. k is chosen on validation from `k`, separately for the
probability (Brier score) and the cost (mean absolute error); see concur/knn.py. The mean of the
neighbours' costs is already a mean estimate, so no bias correction is needed.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch, split_rows
from ..knn import KnnPredictor, fit_knn
from .base import Log, Router


class KnnRouter(Router):
    name = "knn"
    summary = "per-strategy k-nearest neighbours on task-embedding cosine, k chosen on validation"
    modular = True
    stochastic = False
    defaults = {"k": [5, 10, 20, 50, 100]}

    def validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(settings)
        if not out["k"] or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in out["k"]):
            raise ConcurError(f"{self.source}: setting 'k' of router 'knn' must be a non-empty list of positive "
                              f"integers, got {out['k']!r}")
        return out

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> KnnPredictor:
        _, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, part)
        _, va_rows, va_y, va_c = split_rows(inp.ds.val, part)
        return fit_knn(inp.task_emb[tr_rows], tr_y, tr_c, inp.task_emb[va_rows], va_y, va_c, self.settings["k"])

    def part_summary(self, state: KnnPredictor) -> str:
        return f"k = {state.k_cls} for P(correct), {state.k_cost} for cost"

    def save_part(self, state: KnnPredictor) -> tuple[dict[str, Any], dict[str, Any]]:
        # the neighbours are the strategy's training rows, which the fingerprint pins down
        return {}, {"k_cls": state.k_cls, "k_cost": state.k_cost}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> KnnPredictor:
        _, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, part)
        return KnnPredictor(inp.task_emb[tr_rows], np.asarray(tr_y, dtype=np.float64),
                            np.asarray(tr_c, dtype=np.float64), int(meta["k_cls"]), int(meta["k_cost"]))

    def predict_part(self, state: KnnPredictor, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(batch) == 0:
            return np.zeros((0, 1)), np.zeros((0, 1))
        p, c = state.predict(batch.emb)
        return p[:, None], c[:, None]
