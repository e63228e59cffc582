"""Per-strategy k-nearest-neighbour baseline: the simple peer every CONCUR figure is shown beside.

P(correct) and cost of a task are the mean label and mean cost of its k most cosine-similar
training tasks (that strategy's rows only). k is chosen on validation, separately for the
probability (Brier score) and the cost (MAE); test data is only ever predicted, never used to choose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import metrics

CHUNK = 4096  # query rows per similarity block: bounds memory at CHUNK x n_train floats


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=1)


def neighbours(query: torch.Tensor, keys: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (n_query, k) of the k most cosine-similar keys, most similar first."""
    k = min(k, keys.shape[0])
    q, kn = _normalize(query), _normalize(keys)
    out = [torch.topk(q[i:i + CHUNK] @ kn.T, k, dim=1).indices for i in range(0, q.shape[0], CHUNK)]
    return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long)


def _prefix_means(values: np.ndarray, idx: np.ndarray, ks: list[int]) -> dict[int, np.ndarray]:
    """Mean of the first k neighbours' values for every k at once (cumulative sums)."""
    csum = np.cumsum(values[idx], axis=1)
    return {k: csum[:, k - 1] / k for k in ks}


@dataclass
class KnnPredictor:
    keys: torch.Tensor  # (n_train, d) task embeddings of the strategy's training rows
    labels: np.ndarray
    costs: np.ndarray
    k_cls: int
    k_cost: int

    def predict(self, query: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(P(correct), cost) per query row."""
        kmax = max(self.k_cls, self.k_cost)
        idx = neighbours(query, self.keys, kmax).numpy()
        p = _prefix_means(self.labels, idx, [self.k_cls])[self.k_cls]
        c = _prefix_means(self.costs, idx, [self.k_cost])[self.k_cost]
        return p, c


def fit_knn(train_emb: torch.Tensor, train_labels, train_costs, val_emb: torch.Tensor, val_labels, val_costs,
            ks: list[int]) -> KnnPredictor:
    """Choose k (from `ks`, capped at the training size) on validation; returns the fitted predictor."""
    labels = np.asarray(train_labels, dtype=np.float64)
    costs = np.asarray(train_costs, dtype=np.float64)
    n = len(labels)
    cand = sorted({min(int(k), n) for k in ks if int(k) > 0}) or [min(5, n)]
    if len(val_labels) == 0:
        return KnnPredictor(train_emb, labels, costs, cand[0], cand[0])
    idx = neighbours(val_emb, train_emb, max(cand)).numpy()
    p_by_k = _prefix_means(labels, idx, cand)
    c_by_k = _prefix_means(costs, idx, cand)
    # ties keep the smallest k (first in sorted order)
    k_cls = min(cand, key=lambda k: metrics.brier(val_labels, p_by_k[k]))
    k_cost = min(cand, key=lambda k: metrics.mae(val_costs, c_by_k[k]))
    return KnnPredictor(train_emb, labels, costs, k_cls, k_cost)
