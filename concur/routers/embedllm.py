"""EmbedLLM (Zhuang et al., 2024): learned model embeddings times a projected task embedding.

Its matrix-factorisation predictor: P(correct | task q, strategy m) = softmax(C(E_m * (W q + b)))[1], with
E an unnormalised learned embedding per strategy (dim 232), W q + b a linear projection of the frozen
text embedding, * the elementwise product and C a linear 2-class layer; Gaussian noise (sigma 0.05) is
added to q while training; cross-entropy loss; Adam, lr 1e-4, weight decay 1e-5, batch 2048, 50 epochs
(richardzhuang0412/EmbedLLM, algorithm/mf.py).
Choices where the paper leaves things open (and the CONCUR authors' cost head, whose form is not
published): the cost head is a linear layer on the same E_m * (W q + b) representation, trained jointly
with MSE on the standardised log(1 + cost); EmbedLLM trains a fixed 50 epochs and keeps the last
weights, here the epoch with the best validation loss is kept (stopping after `patience` epochs
without improvement); a temperature and the cost's smearing factor are fitted on validation, as for
every router here. A strategy is one "model" of EmbedLLM (the pool indexes model x decoding pairs).
"""
from __future__ import annotations

import torch
from torch import nn

from ..early_stopping import TrainLog, fit_minibatch
from .pool import PoolData, PoolNetRouter, bce_mse


class EmbedLLMNet(nn.Module):
    def __init__(self, text_dim: int, n_strategies: int, dim: int, noise: float) -> None:
        super().__init__()
        self.strategy_emb = nn.Embedding(n_strategies, dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.classifier = nn.Linear(dim, 2)
        self.cost_head = nn.Linear(dim, 1)
        self.noise = noise

    def forward(self, q: torch.Tensor, strategy: torch.Tensor, _vectors: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise > 0:
            q = q + self.noise * torch.randn_like(q)
        h = self.strategy_emb(strategy) * self.text_proj(q)
        logits = self.classifier(h)
        # logit of P(correct): the 2-class softmax's log-odds
        return torch.stack([logits[:, 1] - logits[:, 0], self.cost_head(h)[:, 0]], dim=1)


class EmbedLLMRouter(PoolNetRouter):
    name = "embedllm"
    summary = "EmbedLLM: learned strategy embeddings x projected task embedding (matrix factorisation), cost head"
    defaults = {"dim": 232, "noise": 0.05, "lr": 1e-4, "weight_decay": 1e-5, "batch_size": 2048, "epochs": 50,
                "patience": 10, "cost_smearing": True, "temperature_scaling": True}

    def build_net(self, text_dim: int, n_strategies: int) -> nn.Module:
        return EmbedLLMNet(text_dim, n_strategies, int(self.settings["dim"]), float(self.settings["noise"]))

    def train_net(self, net: nn.Module, data: PoolData, gen: torch.Generator) -> TrainLog:
        cfg = self.settings
        opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
        emb, tr, va = data.task_emb, data.train, data.val
        va_x = emb[va.task]

        def train_loss(idx: torch.Tensor, _heads: set[str]) -> torch.Tensor:
            cls, reg = bce_mse(net(emb[tr.task[idx]], tr.strategy[idx], None), tr.label[idx], data.train_z[idx])
            return cls + reg

        def val_scores() -> dict[str, float]:
            cls, reg = bce_mse(net(va_x, va.strategy, None), va.label, data.val_z)
            return {"logloss": float(cls), "cost_mse": float(reg)}

        return fit_minibatch(net, opt, len(tr), int(cfg["batch_size"]), int(cfg["epochs"]), gen, train_loss, val_scores,
                             eval_every=1, patience=int(cfg["patience"]))
