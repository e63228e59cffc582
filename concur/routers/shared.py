"""Shared model: ONE network for every strategy (the non-modular design CONCUR argues against).

An MLP over [g_task; g_model; g_decoding] (the frozen text embeddings of the task and of the
strategy's descriptions; no learned per-strategy parameters) with two outputs, the logit of
P(correct) and the standardised log(1 + cost), trained on all strategies' training rows together
with one loss (BCE + MSE); adding a strategy means retraining it from scratch. The checkpoint is
the epoch with the best validation loss; then a temperature and the cost's smearing factor are
fitted on validation, as CONCUR's are.
"""
from __future__ import annotations

import torch
from torch import nn

from ..early_stopping import TrainLog, fit_minibatch
from .pool import PoolData, PoolNetRouter, bce_mse


class SharedNet(nn.Module):
    """MLP over [g_task; g_model; g_decoding] -> (logit of P(correct), standardised log cost)."""

    def __init__(self, text_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * text_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.ReLU(), nn.Linear(hidden_dim, 2))

    def forward(self, g_task: torch.Tensor, strategy: torch.Tensor, g_strategy: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([g_task, g_strategy], dim=1))


class SharedRouter(PoolNetRouter):
    name = "shared"
    summary = "one MLP over [task; model; decoding] text embeddings for all strategies (not modular)"
    defaults = {"hidden_dim": 256, "lr": 1e-3, "weight_decay": 1e-2, "batch_size": 256, "epochs": 40,
                "patience": 4, "cost_smearing": True}

    def build_net(self, text_dim: int, n_strategies: int) -> nn.Module:
        return SharedNet(text_dim, int(self.settings["hidden_dim"]))

    def train_net(self, net: nn.Module, data: PoolData, gen: torch.Generator) -> TrainLog:
        cfg = self.settings
        opt = torch.optim.AdamW(net.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
        emb, smat, tr, va = data.task_emb, data.strategy_vectors, data.train, data.val
        va_x, va_s = emb[va.task], smat[va.strategy]

        def train_loss(idx: torch.Tensor, _heads: set[str]) -> torch.Tensor:
            cls, reg = bce_mse(net(emb[tr.task[idx]], tr.strategy[idx], smat[tr.strategy[idx]]), tr.label[idx],
                               data.train_z[idx])
            return cls + reg

        def val_scores() -> dict[str, float]:
            cls, reg = bce_mse(net(va_x, va.strategy, va_s), va.label, data.val_z)
            return {"loss": float(cls + reg)}

        return fit_minibatch(net, opt, len(tr), int(cfg["batch_size"]), int(cfg["epochs"]), gen, train_loss, val_scores,
                             eval_every=1, patience=int(cfg["patience"]), min_delta=1e-6)
