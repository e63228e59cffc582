"""Shared model: ONE network for every strategy (the non-modular design CONCUR argues against).

An MLP over [g_task; g_model; g_decoding] (the frozen text embeddings of the task and of the
strategy's descriptions) with two outputs, the logit of P(correct) and the standardised
log(1 + cost), trained on all strategies' training rows together; adding a strategy means
retraining it from scratch. The checkpoint is chosen on validation (log-loss + cost MSE), then a
temperature and the cost's smearing factor are fitted on validation, as CONCUR's are.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cost_scaling import CostScaling
from ..data import SplitOutcomes
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch
from ..training import fit_temperature, sigmoid
from .base import Log, Router


class SharedNet(nn.Module):
    """MLP over [g_task; g_model; g_decoding] -> (logit of P(correct), standardised log cost)."""

    def __init__(self, text_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * text_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.ReLU(), nn.Linear(hidden_dim, 2))

    def forward(self, g_task: torch.Tensor, g_strategy: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([g_task, g_strategy], dim=1))


def observed_pairs(split: SplitOutcomes, strategies: list[str]) -> tuple[torch.Tensor, ...]:
    """(task rows, strategy columns, labels, costs) of every observed (task, strategy) pair."""
    cols = [split.strategies.index(s) for s in strategies]
    obs = split.observed[:, cols]
    r, j = np.nonzero(obs)
    label, cost = split.label[:, cols], split.cost[:, cols]
    return (torch.as_tensor(split.task_rows[r]), torch.as_tensor(j), torch.as_tensor(label[r, j]).float(),
            torch.as_tensor(cost[r, j]).float())


@dataclass
class SharedPart:
    net: SharedNet
    scaling: CostScaling
    temperature: float
    train_seconds: float
    best_epoch: int


class SharedRouter(Router):
    name = "shared"
    summary = "one MLP over [task; model; decoding] text embeddings for all strategies (not modular)"
    modular = False
    defaults = {"hidden_dim": 256, "lr": 1e-3, "weight_decay": 1e-2, "batch_size": 256, "epochs": 40,
                "patience": 4, "cost_smearing": True}

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> SharedPart:
        cfg = self.settings
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        smat = inp.strategy_matrix(strategies)
        task_emb = inp.task_emb
        tr_r, tr_j, tr_y, tr_c = observed_pairs(inp.ds.train, strategies)
        va_r, va_j, va_y, va_c = observed_pairs(inp.ds.val, strategies)
        if len(va_y) == 0:
            raise ConcurError(f"{inp.ds.config.val_data_path}: router 'shared' needs validation rows")
        tr_l, va_l = torch.log1p(tr_c), torch.log1p(va_c)
        mean, std = float(tr_l.mean()), float(tr_l.std().clamp_min(1e-6))
        tr_z, va_z = (tr_l - mean) / std, (va_l - mean) / std
        net = SharedNet(task_emb.shape[1], int(cfg["hidden_dim"]))
        opt = torch.optim.AdamW(net.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
        bce = nn.BCEWithLogitsLoss()
        va_x, va_s = task_emb[va_r], smat[va_j]
        best, best_state, best_epoch, bad = float("inf"), None, 0, 0
        n, bs = len(tr_y), int(cfg["batch_size"])
        for epoch in range(1, int(cfg["epochs"]) + 1):
            net.train()
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, bs):
                b = perm[i:i + bs]
                out = net(task_emb[tr_r[b]], smat[tr_j[b]])
                loss = bce(out[:, 0], tr_y[b]) + nn.functional.mse_loss(out[:, 1], tr_z[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                out = net(va_x, va_s)
                score = float(bce(out[:, 0], va_y) + nn.functional.mse_loss(out[:, 1], va_z))
            if score < best - 1e-6:
                best, best_state, best_epoch, bad = score, copy.deepcopy(net.state_dict()), epoch, 0
            else:
                bad += 1
                if bad >= int(cfg["patience"]):
                    break
        net.load_state_dict(best_state)
        net.eval()
        with torch.no_grad():
            out = net(va_x, va_s).double().numpy()
        temp = fit_temperature(out[:, 0], va_y.numpy())
        scaling = CostScaling("log", mean, std, eps=1.0)  # log1p: the target above
        if cfg["cost_smearing"]:
            scaling = scaling.with_smearing(out[:, 1], va_c.double().numpy())
        return SharedPart(net, scaling, temp, time.perf_counter() - start, best_epoch)

    def part_summary(self, state: SharedPart) -> str:
        return (f"best epoch {state.best_epoch}, temperature {state.temperature:.3f}, "
                f"cost smearing x{state.scaling.smear:.3f}, {state.train_seconds:.1f}s")

    @torch.no_grad()
    def _outputs(self, state: SharedPart, batch: TaskBatch, strategies: list[str]) -> np.ndarray:
        state.net.eval()
        smat = torch.stack([torch.cat(self.vectors_[s]) for s in strategies])
        n, S = len(batch), len(strategies)
        return state.net(batch.emb.repeat_interleave(S, 0), smat.repeat(n, 1)).double().numpy().reshape(n, S, 2)

    def predict_part(self, state: SharedPart, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        out = self._outputs(state, batch, strategies)
        return sigmoid(out[..., 0] / state.temperature), state.scaling.inverse(out[..., 1])

    def uncorrected_cost(self, batch: TaskBatch, strategy: str) -> np.ndarray:
        state = self.states_[self.part_of(strategy)]
        return state.scaling.median(self._outputs(state, batch, [strategy])[..., 1])[:, 0]

    def save_part(self, state: SharedPart) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"net": state.net.state_dict()}, {"cost_scaling": state.scaling.to_json(), "temperature": state.temperature,
                                                 "train_seconds": state.train_seconds, "best_epoch": state.best_epoch}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> SharedPart:
        net = SharedNet(inp.text_dim, int(self.settings["hidden_dim"]))
        try:
            net.load_state_dict(tensors["net"])
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:
            raise ConcurError(f"{self.source}: cannot load the shared model's weights: {str(err).splitlines()[0]}; "
                              "retrain with `python predictor.py --router shared --force`") from None
        return SharedPart(net, CostScaling.from_json(meta["cost_scaling"]), float(meta["temperature"]),
                          float(meta["train_seconds"]), int(meta["best_epoch"]))
