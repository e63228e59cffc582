"""Optional hand-made task features appended to the text embedding (config `predictor.task_features`).

  length    log(1 + characters of the embedded task text), standardised over task.json
  subject   one-hot of the task's "subject" field (the vocabulary is every subject in task.json)

The columns are appended to the task-embedding matrix, so every predictor, fingerprint and kNN
that reads it sees them. The statistics use task.json only (no labels, no split), so a strategy
added later gets the same columns. The strategy-description vectors are zero-padded to the same
width because the predictor's layout feeds task and strategy vectors side by side; zero inputs
contribute nothing to its output.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import TASK_FEATURES
from .data import TaskSet, task_text
from .errors import ConcurError


def task_feature_matrix(tasks: TaskSet, names: list[str],
                        records: list[dict] | None = None) -> tuple[np.ndarray, list[str]]:
    """(n, f) float32 feature columns and a name per column.

    Statistics (length mean and spread, subject vocabulary) come from `tasks` (task.json); the
    rows are `records` (default: task.json's own tasks, in order). A new task whose subject is
    missing or outside the vocabulary gets an all-zero subject block.
    """
    unknown = [n for n in names if n not in TASK_FEATURES]
    if unknown:
        raise ConcurError(f"config key 'predictor.task_features': unknown feature {unknown[0]!r} "
                          f"(choose from {', '.join(TASK_FEATURES)})")
    rows = tasks.records if records is None else records
    cols: list[np.ndarray] = []
    labels: list[str] = []
    for name in dict.fromkeys(names):
        if name == "length":
            log_len = lambda recs: np.log1p(np.fromiter((len(task_text(r)) for r in recs), dtype=np.float64,  # noqa: E731
                                                        count=len(recs)))
            ref = log_len(tasks.records)
            std = ref.std()
            cols.append(((log_len(rows) - ref.mean()) / (std if std > 1e-12 else 1.0))[:, None])
            labels.append("length")
        else:
            subjects = [r.get("subject") for r in tasks.records]
            missing = [tasks.ids[i] for i, s in enumerate(subjects) if not isinstance(s, str) or not s]
            if missing:
                raise ConcurError(f"{tasks.path}: task '{missing[0]}' has no 'subject' string, which "
                                  f"predictor.task_features 'subject' needs ({len(missing)} such tasks)")
            vocab = {v: i for i, v in enumerate(sorted(set(subjects)))}
            onehot = np.zeros((len(rows), len(vocab)))
            for i, r in enumerate(rows):
                j = vocab.get(r.get("subject"))
                if j is not None:
                    onehot[i, j] = 1.0
            cols.append(onehot)
            labels += [f"subject={v}" for v in vocab]
    if not cols:
        return np.zeros((len(rows), 0), dtype=np.float32), []
    return np.concatenate(cols, axis=1).astype(np.float32), labels


def with_task_features(task_emb: torch.Tensor, strat_emb: dict[str, dict[str, torch.Tensor]], tasks: TaskSet,
                       names: list[str]) -> tuple[torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
    """Task embeddings with the feature columns appended; strategy vectors zero-padded to match."""
    feats, _ = task_feature_matrix(tasks, names)
    if feats.shape[1] == 0:
        return task_emb, strat_emb
    pad = torch.zeros(feats.shape[1], dtype=torch.float32)
    padded = {kind: {n: torch.cat([v.float(), pad]) for n, v in vecs.items()} for kind, vecs in strat_emb.items()}
    return torch.cat([task_emb.float(), torch.from_numpy(feats)], dim=1), padded
