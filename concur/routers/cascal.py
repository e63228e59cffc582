"""CASCAL (Niu et al., "Routing with Generated Data"): label-free routing by consensus and skill niches.

Trained without reading any `label`: the models' answers on the training tasks give a consensus
answer per task (concur/consensus.py, one-coin Dawid-Skene weighted vote by default) and a consensus
score per (task, strategy) (1 when the strategy's answer is the consensus). Then, as in the paper:

1. skill niches: per strategy and task subject, the embeddings of the training tasks where the
   strategy agrees with the consensus are clustered hierarchically (scipy, average linkage on cosine
   distance, cut at `cluster_distance`); clusters of at least `min_cluster` tasks give centroids;
2. merging: centroids of all strategies closer than `merge_distance` (cosine) are merged (average
   linkage again), so one niche is shared by the strategies good at it;
3. ranking: every training task goes to its nearest merged centroid; per centroid, each strategy's
   mean consensus score (shrunk towards its overall mean by `smoothing` pseudo-tasks) ranks the
   strategies; the mean observed cost per centroid (costs are observed, not labels) is the cost;
4. routing: a new task takes its nearest centroid's scores as P(correct) and its costs as expected
   cost, so the usual routing rules (weights, budgets) give an accuracy-cost curve.

Two settings go past the paper (its behaviour is `shrinkage: fixed`, `neighbours: 1`):
- `shrinkage: empirical-bayes` (default) sets each strategy's pseudo-task count from the data (a beta
  prior fitted by moments to the spread of its niche means, net of binomial noise): strong shrinkage
  where niches hardly differ (MMLU-Pro's subjects), little where they do (RouterBench's benchmarks).
  `fixed` uses `smoothing` pseudo-tasks for every strategy.
- `neighbours` > 1 averages the `neighbours` nearest niches, weighted by softmax(cosine / `temperature`),
  instead of taking the nearest one only (a niche boundary then moves the estimate smoothly).

Choices where the paper leaves room: cosine geometry on the (normalised) text embeddings, average
linkage, one cut distance for every (strategy, subject) and a tasks' subject from task.json
(one subject "" where none). The router is not modular: the consensus uses every strategy's answers.
Its fingerprint hashes the answers files and costs, never the labels.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage

from ..answers import load_split_answers
from ..consensus import METHODS, consensus
from ..data import task_subject
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch
from ..io import sha256_of_file
from .base import Log, Router, rows_hash, tensor_hash


SHRINKAGE = ("empirical-bayes", "fixed")
MAX_STRENGTH = 1e4  # pseudo-tasks when the niches differ by no more than noise


@dataclass
class Niches:
    centroids: np.ndarray  # (C, d) unit vectors
    score: np.ndarray  # (C, S) smoothed mean consensus score per niche and strategy
    cost: np.ndarray  # (C, S) mean observed cost
    strategies: list[str]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def empirical_bayes_strength(hits: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(S,) pseudo-task counts of a beta prior per strategy, by moments, from (C, S) hits out of n per niche.

    The niche rates' spread around the overall rate p, net of the binomial noise p(1-p)/n, estimates the
    prior's variance tau^2 = p(1-p)/(a+1); no spread beyond noise gives the cap (every niche gets p)."""
    total = n.sum(axis=0)
    p = hits.sum(axis=0) / np.maximum(total, 1e-12)
    rate = hits / np.maximum(n, 1e-12)
    spread = (n * (rate - p) ** 2).sum(axis=0) / np.maximum(total, 1e-12)
    noise = p * (1 - p) * (n > 0).sum(axis=0) / np.maximum(total, 1e-12)
    tau2 = spread - noise
    a = np.where(tau2 > 0, p * (1 - p) / np.maximum(tau2, 1e-12) - 1, MAX_STRENGTH)
    return np.clip(a, 0.0, MAX_STRENGTH)


def _clusters(x: np.ndarray, distance: float) -> np.ndarray:
    """Cluster labels of the rows of unit vectors `x` (average linkage, cosine, cut at `distance`)."""
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    return fcluster(linkage(x, method="average", metric="cosine"), t=distance, criterion="distance")


class CascalRouter(Router):
    name = "cascal"
    summary = "CASCAL: label-free; consensus of the models' answers, skill niches by clustering, niche ranking"
    modular = False
    stochastic = False
    needs_answers = True
    defaults = {"consensus": "weighted", "cluster_distance": 0.35, "merge_distance": 0.2, "min_cluster": 5,
                "shrinkage": "empirical-bayes", "smoothing": 5.0, "neighbours": 1, "temperature": 0.02}
    choices = {"consensus": METHODS, "shrinkage": SHRINKAGE}

    def validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(settings)
        for key in ("cluster_distance", "merge_distance"):
            if not 0 < out[key] <= 2:
                raise ConcurError(f"{self.source}: setting '{key}' must be a cosine distance in (0, 2]")
        if out["min_cluster"] < 1 or not 0 <= out["smoothing"] < float("inf"):
            raise ConcurError(f"{self.source}: 'min_cluster' must be >= 1 and 'smoothing' a finite number >= 0")
        if out["neighbours"] < 1 or not 0 < out["temperature"] < float("inf"):
            raise ConcurError(f"{self.source}: 'neighbours' must be >= 1 and 'temperature' a finite number > 0")
        return out

    def data_fingerprint(self, inp: Inputs, strategies: list[str]) -> dict[str, Any]:
        """What CASCAL learns from: answers, costs and embeddings of the training tasks (no labels)."""
        tr = inp.ds.train
        cols = [tr.column(s) for s in strategies]
        observed = ~np.isnan(tr.cost[:, cols])
        path = inp.ds.config.get("train_answers_path")
        return {"answers": sha256_of_file(path) if path is not None and path.is_file() else None,
                "rows": rows_hash(tr.question_ids, observed.astype(float), np.nan_to_num(tr.cost[:, cols])),
                "task_embeddings": tensor_hash(inp.task_emb[torch.as_tensor(tr.task_rows)]),
                "subjects": hashlib.sha256("\n".join(self._subjects(inp, tr.task_rows)).encode()).hexdigest()}

    @staticmethod
    def _subjects(inp: Inputs, rows: np.ndarray) -> list[str]:
        recs = inp.ds.tasks.records
        return [task_subject(recs[i]) for i in rows]

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> Niches:
        tr = inp.ds.train
        cols = [tr.column(s) for s in strategies]
        ans = load_split_answers(inp.ds.config, tr)
        cons = consensus(ans.answer[:, cols], (ans.parsed & ans.observed)[:, cols], self.settings["consensus"])
        x = _unit(inp.task_emb[torch.as_tensor(tr.task_rows)].double().numpy())
        subjects = np.array(self._subjects(inp, tr.task_rows), dtype=object)
        cfg = self.settings
        centroids = []
        for j in range(len(strategies)):
            for subj in np.unique(subjects):
                rows = np.flatnonzero((subjects == subj) & (cons.score[:, j] == 1))
                if len(rows) < cfg["min_cluster"]:
                    continue
                lab = _clusters(x[rows], float(cfg["cluster_distance"]))
                for c in np.unique(lab):
                    members = rows[lab == c]
                    if len(members) >= cfg["min_cluster"]:
                        centroids.append(x[members].mean(0))
        if not centroids:  # nothing agrees often enough: one niche, the whole training set
            centroids = [x.mean(0)]
        cent = _unit(np.array(centroids))
        merged = _clusters(cent, float(cfg["merge_distance"]))
        cent = _unit(np.array([cent[merged == m].mean(0) for m in np.unique(merged)]))
        nearest = np.argmax(x @ cent.T, axis=1)
        cost = tr.cost[:, cols]
        observed = ~np.isnan(cost)
        overall_score = np.nansum(np.where(observed, cons.score, 0), 0) / np.maximum(observed.sum(0), 1)
        overall_cost = np.nanmean(cost, axis=0)
        onehot = np.eye(len(cent))[nearest].T  # (C, n)
        n_obs = onehot @ observed
        hits = onehot @ np.where(observed, cons.score, 0)
        if cfg["shrinkage"] == "fixed":
            a = np.full(len(strategies), float(cfg["smoothing"]))
        else:
            a = empirical_bayes_strength(hits, n_obs)
        score = (hits + a * overall_score) / np.maximum(n_obs + a, 1e-12)
        mean_cost = np.where(n_obs > 0, (onehot @ np.nan_to_num(cost)) / np.maximum(n_obs, 1), overall_cost)
        log(f"cascal: {len(centroids)} skill centroids merged into {len(cent)} niches; consensus agreement "
            + ", ".join(f"{s} {r:.2f}" for s, r in zip(strategies, cons.agreement))
            + "; shrinkage pseudo-tasks " + ", ".join(f"{s} {v:.0f}" for s, v in zip(strategies, a)))
        return Niches(cent, score, mean_cost, list(strategies))

    def part_summary(self, state: Niches) -> str:
        return f"{len(state.centroids)} niches"

    def save_part(self, state: Niches) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"centroids": torch.from_numpy(state.centroids), "score": torch.from_numpy(state.score),
                 "cost": torch.from_numpy(state.cost)}, {"strategies": state.strategies})

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> Niches:
        return Niches(tensors["centroids"].double().numpy(), tensors["score"].double().numpy(),
                      tensors["cost"].double().numpy(), list(meta["strategies"]))

    def predict_part(self, state: Niches, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        sim = _unit(batch.emb.double().numpy()) @ state.centroids.T
        k = min(int(self.settings["neighbours"]), sim.shape[1])
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (n, k) the k nearest niches
        s = np.take_along_axis(sim, near, axis=1)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / float(self.settings["temperature"]))
        w /= w.sum(axis=1, keepdims=True)
        cols = [state.strategies.index(s) for s in strategies]
        return (np.einsum("nk,nks->ns", w, state.score[near][:, :, cols]),
                np.einsum("nk,nks->ns", w, state.cost[near][:, :, cols]))
