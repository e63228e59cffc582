"""Evaluate routing choices on realised outcomes and build the reference rows.

Realised accuracy/cost use the ground truth in the prediction files (gt_label,
gt_flops); predicted ones use pred_cls_prob / pred_flops.
"""
from __future__ import annotations

import numpy as np

from .pred_files import Predictions
from .solvers import cheapest_best


def take(matrix: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """matrix[i, choice[..., i]] for choices of shape (n,) or (W, n)."""
    rows = np.arange(matrix.shape[0])
    return matrix[rows, choice] if choice.ndim == 1 else matrix[rows[None, :], choice]


def summarise(preds: Predictions, choice: np.ndarray) -> dict[str, np.ndarray | float]:
    """Mean realised accuracy/cost and mean predicted accuracy/cost of `choice` ((n,) or (W, n))."""
    return {
        "accuracy": take(preds.label, choice).mean(axis=-1),
        "cost": take(preds.cost, choice).mean(axis=-1),
        "pred_accuracy": take(preds.prob, choice).mean(axis=-1),
        "pred_cost": take(preds.pred_cost, choice).mean(axis=-1),
    }


def shares(choice: np.ndarray, n_strategies: int) -> np.ndarray:
    """Share of tasks routed to each strategy: (S,) for (n,) choices, (W, S) for (W, n)."""
    c = np.atleast_2d(choice)
    offs = (np.arange(c.shape[0]) * n_strategies)[:, None]
    counts = np.bincount((c + offs).ravel(), minlength=c.shape[0] * n_strategies).reshape(c.shape[0], n_strategies)
    out = counts / c.shape[1]
    return out[0] if choice.ndim == 1 else out


def oracle_choice(label: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per task the best realised label, cheapest among ties (cheapest correct, else cheapest)."""
    return cheapest_best(label, cost)


def reference_rows(preds: Predictions) -> list[dict]:
    """Rows for each single strategy, the oracle, and uniform random routing (its expectation)."""
    n, S = preds.prob.shape
    rows = []
    for j, s in enumerate(preds.strategies):
        choice = np.full(n, j, dtype=np.int64)
        rows.append({"kind": "single", "name": s, **_scalars(summarise(preds, choice)), **_share_cols(preds, choice)})
    oracle = oracle_choice(preds.label, preds.cost)
    rows.append({"kind": "oracle", "name": "oracle", **_scalars(summarise(preds, oracle)), **_share_cols(preds, oracle)})
    # Random: the exact expectation of picking a strategy uniformly per task (no sampling noise).
    rows.append({"kind": "random", "name": "random", "accuracy": float(preds.label.mean()), "cost": float(preds.cost.mean()),
                 "pred_accuracy": float(preds.prob.mean()), "pred_cost": float(preds.pred_cost.mean()),
                 **{f"share_{s}": 1.0 / S for s in preds.strategies}})
    for r in rows:
        r["n_tasks"] = n
    return rows


def _scalars(d: dict) -> dict:
    return {k: float(v) for k, v in d.items()}


def _share_cols(preds: Predictions, choice: np.ndarray) -> dict:
    return {f"share_{s}": float(v) for s, v in zip(preds.strategies, shares(choice, len(preds.strategies)))}


def format_line(tag: str, n_tasks: int, accuracy: float, cost: float) -> str:
    """The reference's printed line: `<tag> | number of tasks: N | accuracy: 0.745 | cost: 36.50`."""
    return f"{tag} | number of tasks: {n_tasks} | accuracy: {accuracy:.3f} | cost: {cost:.2f}"


def format_shares(strategies: list[str], share: np.ndarray) -> str:
    """Compact routing distribution, e.g. `qwen7b_cot 61.0%, llama3b_vanilla 39.0%` (non-zero only, largest first)."""
    order = np.argsort(-share, kind="stable")
    return ", ".join(f"{strategies[j]} {100 * share[j]:.1f}%" for j in order if share[j] > 0)


def print_reference_rows(rows: list[dict]) -> list[str]:
    """Reference rows in the same line format (tags `strategy: NAME`, `oracle`, `random`)."""
    lines = []
    for r in rows:
        tag = f"strategy: {r['name']}" if r["kind"] == "single" else (
            "oracle (cheapest correct)" if r["kind"] == "oracle" else "random (uniform, expected)")
        lines.append(format_line(tag, r["n_tasks"], r["accuracy"], r["cost"]))
    return lines
