"""RTR, Route-To-Reason (Pan et al., 2025): one predictor of accuracy and one of cost for every
(model, reasoning strategy) pair, on the general-purpose representation.

Input h = [g_model; g_decoding; g_task; E_model[m]; E_decoding[d]]: the frozen text embeddings of the
model and strategy descriptions and of the task, plus learned embeddings of the model and of the
decoding (the strategy) shared across the pool (no task-specific projection: that is what CONCUR
adds). A classifier Linear(h, 768) -> ReLU -> Linear(768, 2) predicts correctness (cross-entropy); a
separate regressor Linear(h, 768) -> ReLU -> Linear(768, 1) -> Softplus predicts the cost itself (MSE;
RTR predicts the answer's token count, here the data set's cost). Adam, lr 1e-3; validation every 3
epochs, each network keeping its best checkpoint (accuracy for the classifier, MSE for the
regressor) and stopping after 5 evaluations without improvement (goodmanpzh/Route-To-Reason,
src/main.py). Choices: learned embeddings of size 768 as in that code; batch 256 (the code's earlier
default; its later 32 is 8x slower on CPU for the same epochs); RTR has no validation split of its
own, here the validation split selects. The raw cost target is a mean regressor, so no smearing; no
temperature scaling (RTR has none) unless `temperature_scaling: true`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data import split_strategy
from ..early_stopping import TrainLog, fit_minibatch
from ..inputs import Inputs
from .pool import PoolData, PoolNetRouter


class RTRHead(nn.Module):
    """One of RTR's two networks: its own learned model/decoding embeddings and a two-layer MLP.

    The first layer over [g_model; g_decoding; task; E_model; E_decoding] is held as two blocks: the task's
    columns, applied per row, and the strategy's (6/7 of the input, constant within a strategy), applied once
    per distinct strategy of a batch and added. The same function and the same initial weights (drawn as one
    Linear layer, then split), at a fraction of the work."""

    def __init__(self, text_dim: int, n_models: int, n_decodings: int, emb_dim: int, hidden: int, out: int,
                 softplus: bool) -> None:
        super().__init__()
        self.model_emb = nn.Embedding(n_models, emb_dim)
        self.decoding_emb = nn.Embedding(n_decodings, emb_dim)
        first = nn.Linear(3 * text_dim + 2 * emb_dim, hidden)
        d = text_dim
        self.task_weight = nn.Parameter(first.weight.detach()[:, 2 * d:3 * d].clone())
        self.task_bias = nn.Parameter(first.bias.detach().clone())
        self.strategy_weight = nn.Parameter(torch.cat([first.weight.detach()[:, :2 * d],
                                                       first.weight.detach()[:, 3 * d:]], dim=1))
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(hidden, out), *([nn.Softplus()] if softplus else []))

    def forward(self, q: torch.Tensor, model_id: torch.Tensor, decoding_id: torch.Tensor,
                vectors: torch.Tensor) -> torch.Tensor:
        key = model_id * self.decoding_emb.num_embeddings + decoding_id
        uniq, inv = torch.unique(key, return_inverse=True)
        rep = torch.empty_like(uniq).scatter_(0, inv, torch.arange(len(key)))  # a row of each distinct strategy
        strategy = torch.cat([vectors[rep], self.model_emb(model_id[rep]), self.decoding_emb(decoding_id[rep])], dim=1)
        h = nn.functional.linear(q, self.task_weight, self.task_bias) + (strategy @ self.strategy_weight.T)[inv]
        return self.rest(h)


class RTRNet(nn.Module):
    def __init__(self, text_dim: int, model_ids: list[int], decoding_ids: list[int], emb_dim: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("model_of", torch.as_tensor(model_ids))
        self.register_buffer("decoding_of", torch.as_tensor(decoding_ids))
        sizes = (text_dim, max(model_ids) + 1, max(decoding_ids) + 1, emb_dim, hidden)
        self.classifier = RTRHead(*sizes, out=2, softplus=False)
        self.regressor = RTRHead(*sizes, out=1, softplus=True)

    def forward(self, q: torch.Tensor, strategy: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        m, d = self.model_of[strategy], self.decoding_of[strategy]
        logits = self.classifier(q, m, d, vectors)
        return torch.stack([logits[:, 1] - logits[:, 0], self.regressor(q, m, d, vectors)[:, 0]], dim=1)


def rtr_loss(net: RTRNet, q: torch.Tensor, strategy: torch.Tensor, vectors: torch.Tensor, label: torch.Tensor,
             z: torch.Tensor, heads: set[str]) -> torch.Tensor:
    """The training loss of the heads still training: cross-entropy of the classifier plus MSE of the regressor.
    Once the classifier has stopped, only the regressor runs (the classifier's forward pass would be thrown
    away); with the classifier, both losses are taken from the network's stacked output as always."""
    ce, mse = nn.functional.binary_cross_entropy_with_logits, nn.functional.mse_loss
    if "classifier" not in heads:
        return mse(net.regressor(q, net.model_of[strategy], net.decoding_of[strategy], vectors)[:, 0], z)
    out = net(q, strategy, vectors)
    return ce(out[:, 0], label) + (mse(out[:, 1], z) if "regressor" in heads else 0.0)


class RouteToReasonRouter(PoolNetRouter):
    name = "rtr"
    summary = "Route-To-Reason: shared accuracy classifier and cost regressor over [descriptions; task; learned ids]"
    cost_target = "raw"
    defaults = {"emb_dim": 768, "hidden_dim": 768, "lr": 1e-3, "batch_size": 256, "epochs": 100, "eval_every": 3,
                "patience": 5, "selection": "accuracy", "temperature_scaling": False}
    choices = {"selection": ("accuracy", "logloss")}

    def fingerprint_parts(self, inp: Inputs, part: str, strategies: list[str]) -> dict[str, Any]:
        parts = super().fingerprint_parts(inp, part, strategies)
        parts["weights_layout"] = 2  # the first layer saved as task/strategy blocks: older saved parts are retrained
        return parts

    def build_net(self, text_dim: int, n_strategies: int) -> nn.Module:
        pairs = [split_strategy(s) for s in self.strategies]
        models = {m: i for i, m in enumerate(dict.fromkeys(m for m, _ in pairs))}
        decodings = {d: i for i, d in enumerate(dict.fromkeys(d for _, d in pairs))}
        return RTRNet(text_dim, [models[m] for m, _ in pairs], [decodings[d] for _, d in pairs],
                      int(self.settings["emb_dim"]), int(self.settings["hidden_dim"]))

    def train_net(self, net: nn.Module, data: PoolData, gen: torch.Generator) -> TrainLog:
        cfg = self.settings
        opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]))
        emb, smat, tr, va = data.task_emb, data.strategy_vectors, data.train, data.val
        va_x, va_s = emb[va.task], smat[va.strategy]
        ce, mse = nn.functional.binary_cross_entropy_with_logits, nn.functional.mse_loss

        def train_loss(idx: torch.Tensor, heads: set[str]) -> torch.Tensor:
            return rtr_loss(net, emb[tr.task[idx]], tr.strategy[idx], smat[tr.strategy[idx]], tr.label[idx],
                            data.train_z[idx], heads)

        def val_scores() -> dict[str, float]:
            out = net(va_x, va.strategy, va_s)
            if cfg["selection"] == "accuracy":
                cls = -float(((out[:, 0] > 0).float() == (va.label >= 0.5).float()).float().mean())
            else:
                cls = float(ce(out[:, 0], va.label))
            return {"classifier": cls, "regressor": float(mse(out[:, 1], data.val_z))}

        heads = {"classifier": list(net.classifier.parameters()), "regressor": list(net.regressor.parameters())}
        return fit_minibatch(net, opt, len(tr), int(cfg["batch_size"]), int(cfg["epochs"]), gen, train_loss, val_scores,
                             eval_every=int(cfg["eval_every"]), patience=int(cfg["patience"]), heads=heads)
