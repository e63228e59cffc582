"""Subject-best: per task subject, each strategy's training accuracy and mean cost.

P(correct) of a task = the strategy's accuracy on the training tasks of the same subject (task.json's
`subject` field), expected cost = their mean cost, so weighted routing picks, per subject and
weight, the strategy with the best train accuracy for its cost: what a router that learned only the
topic would do. A subject the strategy has no training rows for (or a task without a subject) gets
the strategy's overall training figures. `smoothing` (pseudo-tasks at the overall rate) shrinks
small subjects towards it; 0 is the plain per-subject mean. No validation, no seed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import task_subject
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch, split_rows
from .base import Log, Router


@dataclass
class SubjectTable:
    acc: dict[str, float]
    cost: dict[str, float]
    overall_acc: float
    overall_cost: float


def _subjects(records: list[dict[str, Any]]) -> pd.Series:
    return pd.Series([task_subject(r) for r in records], dtype=object)


class SubjectBestRouter(Router):
    name = "subject-best"
    summary = "per task subject, each strategy's train accuracy and mean cost (topic-only baseline)"
    modular = True
    stochastic = False
    defaults = {"smoothing": 0.0}

    def validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(settings)
        if not 0 <= out["smoothing"] < float("inf"):
            raise ConcurError(f"{self.source}: setting 'smoothing' must be a finite number >= 0")
        return out

    def data_fingerprint(self, inp: Inputs, strategies: list[str]) -> dict[str, Any]:
        out = super().data_fingerprint(inp, strategies)
        for s in strategies:
            _, rows, _, _ = split_rows(inp.ds.train, s)
            subj = _subjects([inp.ds.tasks.records[i] for i in rows])
            out[s]["subjects"] = hashlib.sha256("\n".join(subj).encode()).hexdigest()
        return out

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> SubjectTable:
        _, rows, y, c = split_rows(inp.ds.train, part)
        df = pd.DataFrame({"subject": _subjects([inp.ds.tasks.records[i] for i in rows]), "y": y, "c": c})
        g = df.groupby("subject")
        a = float(self.settings["smoothing"])
        overall_acc, overall_cost = float(df["y"].mean()), float(df["c"].mean())
        n = g.size()
        acc = (g["y"].sum() + a * overall_acc) / (n + a)
        cost = (g["c"].sum() + a * overall_cost) / (n + a) if a > 0 else g["c"].mean()
        return SubjectTable({str(k): float(v) for k, v in acc.items()}, {str(k): float(v) for k, v in cost.items()},
                            overall_acc, overall_cost)

    def part_summary(self, state: SubjectTable) -> str:
        return f"{len(state.acc)} subjects, overall train accuracy {state.overall_acc:.3f}"

    def save_part(self, state: SubjectTable) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {"acc": state.acc, "cost": state.cost, "overall_acc": state.overall_acc,
                    "overall_cost": state.overall_cost}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> SubjectTable:
        return SubjectTable(meta["acc"], meta["cost"], float(meta["overall_acc"]), float(meta["overall_cost"]))

    def predict_part(self, state: SubjectTable, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        subj = _subjects(batch.records)
        p = subj.map(state.acc).astype(np.float64).fillna(state.overall_acc).to_numpy()
        c = subj.map(state.cost).astype(np.float64).fillna(state.overall_cost).to_numpy()
        return p[:, None], c[:, None]
