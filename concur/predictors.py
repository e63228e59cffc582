"""CONCUR's per-strategy predictors: P(correct) classifier and cost regressor.

Each strategy s = (model m, decoding d) has its own pair of networks, trained on s's rows only.
Input = the frozen general-purpose text embeddings [g_task; g_model; g_decoding] and a learned
task-specific part [E_model[m]; E_decoding[d]; W g_task]; then Linear -> ReLU -> Linear.
The learned sizes (`emb_dim`, `hidden_dim`) are independent of the text-embedding size d,
so 384-d MiniLM and 768-d encoders both work.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ConcurError

# Predictor-section keys that do not change what is learned (so they are not fingerprinted).
# knn_blend only mixes the written predictions (it is in the prediction fingerprint instead).
NON_MODEL_KEYS = ("device", "knn_k", "knn_blend")
FORMAT_VERSION = 1


class StrategyNet(nn.Module):
    """One strategy's two-layer MLP over [g_task; g_model; g_decoding; E_model; E_decoding; W g_task].

    The lookup tables have one row each (a per-strategy predictor sees one model and one
    decoding); they are kept as embeddings so the layout matches the paper's model.
    """

    def __init__(self, text_dim: int, emb_dim: int, hidden_dim: int, softplus: bool = False,
                 num_models: int = 1, num_decodings: int = 1) -> None:
        super().__init__()
        self.text_dim, self.emb_dim = text_dim, emb_dim
        self.model_emb = nn.Embedding(num_models, emb_dim)
        self.decoding_emb = nn.Embedding(num_decodings, emb_dim)
        self.task_proj = nn.Linear(text_dim, emb_dim)
        self.mlp = nn.Sequential(nn.Linear(3 * text_dim + 3 * emb_dim, hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, 1))
        # raw cost targets need a non-negative output (the reference's Softplus); logits and
        # transformed targets do not
        self.out = nn.Softplus() if softplus else nn.Identity()

    def forward(self, g_task: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor,
                model_ids: torch.Tensor | None = None, decoding_ids: torch.Tensor | None = None) -> torch.Tensor:
        n = g_task.shape[0]
        if g_task.shape[1] != self.text_dim:
            raise ValueError(f"task embeddings have dim {g_task.shape[1]}, the predictor expects {self.text_dim}")
        if model_ids is None:
            model_ids = torch.zeros(n, dtype=torch.long, device=g_task.device)
        if decoding_ids is None:
            decoding_ids = torch.zeros(n, dtype=torch.long, device=g_task.device)
        x = torch.cat([g_task, g_model.expand(n, -1), g_decoding.expand(n, -1),
                       self.model_emb(model_ids), self.decoding_emb(decoding_ids), self.task_proj(g_task)], dim=1)
        return self.out(self.mlp(x)).squeeze(1)


def accuracy_classifier(text_dim: int, emb_dim: int, hidden_dim: int) -> StrategyNet:
    """Outputs the logit of P(correct)."""
    return StrategyNet(text_dim, emb_dim, hidden_dim, softplus=False)


def cost_regressor(text_dim: int, emb_dim: int, hidden_dim: int, cost_target: str) -> StrategyNet:
    """Outputs the cost in the training target space (see CostScaling)."""
    return StrategyNet(text_dim, emb_dim, hidden_dim, softplus=cost_target == "raw")


def constant_classifier(net: StrategyNet, prob: float) -> StrategyNet:
    """Turn `net` into a constant predictor of `prob`: zero weights, output bias = logit(prob)."""
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.mlp[2].bias.fill_(math.log(prob / (1 - prob)))
    return net


# ------------------------------------------------------------------ cost targets
@dataclass
class CostScaling:
    """Map costs to the regressor's target space and back (always to non-negative costs).

    log: z = (log(c + eps) - mean) / std   (cost spreads are multiplicative; eps keeps 0 finite)
    standardize: z = (c - mean) / std
    raw: z = c (the reference; the network ends in Softplus)
    """

    kind: str
    mean: float = 0.0
    std: float = 1.0
    eps: float = 0.0

    @classmethod
    def fit(cls, kind: str, costs: np.ndarray) -> "CostScaling":
        costs = np.asarray(costs, dtype=np.float64)
        if kind == "raw":
            return cls("raw")
        eps = 0.0
        if kind == "log":
            pos = costs[costs > 0]
            eps = float(1e-3 * np.median(pos)) if pos.size else 1.0
            costs = np.log(costs + eps)
        elif kind != "standardize":
            raise ConcurError(f"config key 'predictor.cost_target': unknown value {kind!r}")
        std = float(costs.std())
        return cls(kind, float(costs.mean()), std if std > 1e-12 else 1.0, eps)

    def forward(self, costs: np.ndarray) -> np.ndarray:
        costs = np.asarray(costs, dtype=np.float64)
        if self.kind == "log":
            return (np.log(costs + self.eps) - self.mean) / self.std
        return (costs - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "log":
            c = np.exp(z * self.std + self.mean) - self.eps
        else:
            c = z * self.std + self.mean
        return np.maximum(c, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std, "eps": self.eps}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CostScaling":
        return cls(str(obj["kind"]), float(obj["mean"]), float(obj["std"]), float(obj["eps"]))


# ------------------------------------------------------------------ seeds and fingerprints
def strategy_seed(global_seed: int, strategy: str) -> int:
    """A seed from (global seed, strategy name) that is stable across runs and processes."""
    digest = hashlib.sha256(f"{global_seed}:{strategy}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def rows_hash(question_ids: np.ndarray, labels: np.ndarray, costs: np.ndarray) -> str:
    """Hash of one strategy's (question_id, label, cost) rows, independent of row order."""
    qids = np.asarray(question_ids).astype(str)
    order = np.argsort(qids, kind="stable")
    h = hashlib.sha256()
    h.update("\n".join(qids[order]).encode())
    h.update(np.asarray(labels, dtype="<f8")[order].tobytes())
    h.update(np.asarray(costs, dtype="<f8")[order].tobytes())
    return h.hexdigest()


def tensor_hash(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def model_config(predictor_cfg: dict[str, Any]) -> dict[str, Any]:
    """The predictor settings that change what is learned (fingerprinted, saved with the model)."""
    # an empty task_features list (the default) is left out, so predictors saved before the key
    # existed stay current
    return {k: v for k, v in sorted(predictor_cfg.items())
            if k not in NON_MODEL_KEYS and not (k == "task_features" and not v)}


def fingerprint(parts: dict[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
