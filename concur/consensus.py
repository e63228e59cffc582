"""Consensus over the models' answers: pseudo-labels without gold labels (label-free routing).

The consensus answer of a task is the answer with the largest total vote over the strategies that
parsed one; a strategy's pseudo-label on a task is 1 when its answer equals the consensus, else 0.

- `majority`: every strategy's vote weighs 1.
- `weighted` (the default): the one-coin Dawid-Skene model. Each strategy s is right with
  probability a_s, and a wrong answer falls on one of the other K - 1 answers; the posterior-optimal
  vote then weighs log(a_s (K - 1) / (1 - a_s)), K the number of distinct answers given (at most
26). Starting from the majority, a_s is re-estimated as
  s's agreement rate with the current consensus and the vote repeated until nothing changes. Strong
  models that disagree with a crowd of weak ones then win the tie-breaks the majority loses.

Ties go to the answer given by the strategy with the larger weight (then the earlier column), so
the result is deterministic. Nothing here reads a gold label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("weighted", "majority")


@dataclass
class Consensus:
    answer: np.ndarray  # (n,) object: the consensus answer ("" when no strategy parsed one)
    score: np.ndarray  # (n, S) float: 1.0 where the strategy's answer is the consensus, else 0.0
    weights: np.ndarray  # (S,) the vote weight of each strategy
    agreement: np.ndarray  # (S,) each strategy's agreement rate with the consensus


def _vote(answer: np.ndarray, parsed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n,) the answer with the largest total weight per task."""
    n, k = answer.shape
    codes = np.zeros((n, k), dtype=np.int64)
    # per-task codes of the distinct answers (vectorised through one global factorisation)
    flat = np.where(parsed, answer, "").astype(str).ravel()
    _, inverse = np.unique(flat, return_inverse=True)
    codes[:] = inverse.reshape(n, k)
    total = np.zeros((n, k))  # total[i, j]: the summed weight of the strategies whose answer equals j's
    for j in range(k):
        same = (codes == codes[:, [j]]) & parsed & parsed[:, [j]]
        total[:, j] = same @ weights
    # ties: the answer of the strategy with the larger weight, then the earlier column
    tie_break = 1e-9 * weights / max(1.0, float(weights.max())) - 1e-12 * np.arange(k)
    best = np.argmax(np.where(parsed, total + tie_break[None, :], -np.inf), axis=1)
    out = answer[np.arange(n), best].astype(object)
    out[~parsed.any(axis=1)] = ""
    return out


def consensus(answer: np.ndarray, parsed: np.ndarray, method: str = "weighted", max_iter: int = 20) -> Consensus:
    """The consensus of a (tasks x strategies) answer matrix (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"consensus method must be one of {METHODS}, got {method!r}")
    answer = np.asarray(answer, dtype=object)
    parsed = np.asarray(parsed, dtype=bool) & (answer != "")
    k = answer.shape[1]
    weights = np.ones(k)
    cons = _vote(answer, parsed, weights)
    if method == "weighted":
        # K: the number of distinct answers given anywhere, at most 26 (free-form answers such as code hashes)
        n_options = int(np.clip(len(np.unique(answer[parsed].astype(str))), 2, 26))
        for _ in range(max_iter):
            agree = _agreement(answer, parsed, cons)
            a = np.clip(agree, 0.01, 0.99)
            weights = np.log(a * (n_options - 1) / (1 - a))
            weights = np.maximum(weights, 1e-3)  # a strategy worse than chance gets (almost) no say
            new = _vote(answer, parsed, weights)
            if np.array_equal(new, cons):
                break
            cons = new
    score = (parsed & (answer == cons[:, None])).astype(float)
    return Consensus(cons, score, weights, _agreement(answer, parsed, cons))


def _agreement(answer: np.ndarray, parsed: np.ndarray, cons: np.ndarray) -> np.ndarray:
    has = cons != ""
    same = parsed & (answer == cons[:, None]) & has[:, None]
    return same.sum(0) / max(1, int(has.sum()))
