"""CONCUR's per-strategy predictors: P(correct) classifier and cost regressor.

Each strategy s = (model m, decoding d) has its own pair of networks, trained on s's rows only.
Input = the frozen general-purpose text embeddings [g_task; g_model; g_decoding] and a learned
task-specific part [E_model[m]; E_decoding[d]; W g_task]; then Linear -> ReLU -> Linear.
The learned sizes (`emb_dim`, `hidden_dim`) are independent of the text-embedding size d,
so 384-d MiniLM and 768-d encoders both work.

`representation` ablates one part (the paper's Table 7): "general" keeps only [g_task; g_model;
g_decoding], "task-specific" only [E_model; E_decoding; W g_task]; the other block's inputs are
zero, so its first-layer weights never contribute (the layer keeps one layout for every variant).
"""
from __future__ import annotations

import math

import torch
from torch import nn


REPRESENTATIONS = ("both", "general", "task-specific")


class StrategyNet(nn.Module):
    """One strategy's two-layer MLP over [g_task; g_model; g_decoding; E_model; E_decoding; W g_task].

    The lookup tables have one row each (a per-strategy predictor sees one model and one
    decoding); they are kept as embeddings so the layout matches the paper's model.
    """

    def __init__(self, text_dim: int, emb_dim: int, hidden_dim: int, softplus: bool = False,
                 num_models: int = 1, num_decodings: int = 1, representation: str = "both") -> None:
        super().__init__()
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        self.text_dim, self.emb_dim, self.representation = text_dim, emb_dim, representation
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
        general = [g_task, g_model.expand(n, -1), g_decoding.expand(n, -1)]
        specific = [self.model_emb(model_ids), self.decoding_emb(decoding_ids), self.task_proj(g_task)]
        if self.representation == "general":
            specific = [torch.zeros_like(t) for t in specific]
        elif self.representation == "task-specific":
            general = [torch.zeros_like(t) for t in general]
        return self.out(self.mlp(torch.cat(general + specific, dim=1))).squeeze(1)


def accuracy_classifier(text_dim: int, emb_dim: int, hidden_dim: int, representation: str = "both") -> StrategyNet:
    """Outputs the logit of P(correct)."""
    return StrategyNet(text_dim, emb_dim, hidden_dim, softplus=False, representation=representation)


def cost_regressor(text_dim: int, emb_dim: int, hidden_dim: int, cost_target: str,
                   representation: str = "both") -> StrategyNet:
    """Outputs the cost in the training target space (concur/cost_scaling.py)."""
    return StrategyNet(text_dim, emb_dim, hidden_dim, softplus=cost_target == "raw", representation=representation)


def constant_classifier(net: StrategyNet, prob: float) -> StrategyNet:
    """Turn `net` into a constant predictor of `prob`: zero weights, output bias = logit(prob)."""
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.mlp[2].bias.fill_(math.log(prob / (1 - prob)))
    return net
