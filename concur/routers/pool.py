"""Routers with one network for the whole strategy pool (not modular): the shared model and the
paper's baselines. The network sees a task embedding, the strategy's index in the pool and its
description vectors [g_model; g_decoding], and returns two outputs per (task, strategy): the logit of
P(correct) and the cost in its target space. Subclasses build the network and say how it is trained;
this class turns the observed (task, strategy) rows into tensors, fits the cost target, trains with
checkpoint selection on validation (concur/early_stopping.py), fits the temperature and the cost's
smearing factor on validation, and predicts every strategy for a batch of tasks.

Cost targets: `log` = standardised log(1 + cost) (smearing turns the back-transform into a mean);
`raw` = the cost itself, the network ending in Softplus (a mean regressor; the reference's choice).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cost_scaling import CostScaling
from ..data import SplitOutcomes
from ..early_stopping import TrainLog
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch
from ..training import fit_temperature, sigmoid
from .base import Log, Router


@dataclass
class PoolRows:
    """The observed (task, strategy) pairs of one split as tensors."""

    task: torch.Tensor  # row in the task embeddings
    strategy: torch.Tensor  # column in the fitted pool
    label: torch.Tensor  # float32
    cost: torch.Tensor  # float32, in the cost unit

    def __len__(self) -> int:
        return len(self.label)


def observed_rows(split: SplitOutcomes, strategies: list[str]) -> PoolRows:
    cols = [split.strategies.index(s) for s in strategies]
    r, j = np.nonzero(split.observed[:, cols])
    label, cost = split.label[:, cols], split.cost[:, cols]
    return PoolRows(torch.as_tensor(split.task_rows[r]), torch.as_tensor(j), torch.as_tensor(label[r, j]).float(),
                    torch.as_tensor(cost[r, j]).float())


@dataclass
class PoolPart:
    net: nn.Module
    scaling: CostScaling
    temperature: float
    train_seconds: float
    best_epoch: dict[str, int]


@dataclass
class PoolData:
    """What a subclass's `train` gets: inputs as tensors and the targets in training space."""

    task_emb: torch.Tensor
    strategy_vectors: torch.Tensor  # (S, 2d)
    train: PoolRows
    val: PoolRows
    train_z: torch.Tensor  # cost targets
    val_z: torch.Tensor


class PoolNetRouter(Router):
    """Base of the non-modular network routers; see the module docstring."""

    modular = False
    cost_target = "log"  # or "raw"

    # ------------------------------------------------------------ what subclasses implement
    def build_net(self, text_dim: int, n_strategies: int) -> nn.Module:
        """The network: forward(x_task (B, d), strategy index (B,), strategy vectors (B, 2d)) -> (B, 2)."""
        raise NotImplementedError

    def train_net(self, net: nn.Module, data: PoolData, gen: torch.Generator) -> TrainLog:
        """Train `net` in place (leaving it at the selected checkpoint)."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared machinery
    def fingerprint_parts(self, inp: Inputs, part: str, strategies: list[str]) -> dict[str, Any]:
        parts = super().fingerprint_parts(inp, part, strategies)
        parts["pool_order"] = list(strategies)  # the network indexes strategies by position
        return parts

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> PoolPart:
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        smat = inp.strategy_matrix(strategies)
        train, val = observed_rows(inp.ds.train, strategies), observed_rows(inp.ds.val, strategies)
        if len(val) == 0:
            raise ConcurError(f"{inp.ds.config.val_data_path}: router '{self.name}' needs validation rows")
        if self.cost_target == "log":
            tr_l, va_l = torch.log1p(train.cost), torch.log1p(val.cost)
            mean, std = float(tr_l.mean()), float(tr_l.std().clamp_min(1e-6))
            tr_z, va_z = (tr_l - mean) / std, (va_l - mean) / std
            scaling = CostScaling("log", mean, std, eps=1.0)
        else:
            tr_z, va_z, scaling = train.cost, val.cost, CostScaling("raw")
        net = self.build_net(inp.text_dim, len(strategies))
        trained = self.train_net(net, PoolData(inp.task_emb, smat, train, val, tr_z, va_z), gen)
        out = self._forward(net, inp.task_emb[val.task], val.strategy, smat[val.strategy])
        temp = fit_temperature(out[:, 0], val.label.numpy()) if self.settings.get("temperature_scaling", True) else 1.0
        if self.settings.get("cost_smearing", False):
            scaling = scaling.with_smearing(out[:, 1], val.cost.double().numpy())
        return PoolPart(net, scaling, temp, time.perf_counter() - start, trained.best_epoch)

    @staticmethod
    @torch.no_grad()
    def _forward(net: nn.Module, x: torch.Tensor, idx: torch.Tensor, svec: torch.Tensor) -> np.ndarray:
        net.eval()
        return net(x, idx, svec).double().numpy()

    def _pool_outputs(self, state: PoolPart, batch: TaskBatch, strategies: list[str]) -> np.ndarray:
        """(n, S, 2) outputs for every task of the batch and every strategy of the part (fitted order)."""
        cols = torch.as_tensor([self.strategies.index(s) for s in strategies])
        smat = torch.stack([torch.cat(self.vectors_[s]) for s in strategies])
        n, S = len(batch), len(strategies)
        out = self._forward(state.net, batch.emb.repeat_interleave(S, 0), cols.repeat(n), smat.repeat(n, 1))
        return out.reshape(n, S, 2)

    def predict_part(self, state: PoolPart, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        out = self._pool_outputs(state, batch, strategies)
        return sigmoid(out[..., 0] / state.temperature), state.scaling.inverse(out[..., 1])

    def uncorrected_cost(self, batch: TaskBatch, strategy: str) -> np.ndarray:
        state = self.states_[self.part_of(strategy)]
        return state.scaling.median(self._pool_outputs(state, batch, [strategy])[..., 1])[:, 0]

    def part_summary(self, state: PoolPart) -> str:
        epochs = ", ".join(f"{k} {v}" for k, v in state.best_epoch.items())
        return (f"best epoch {epochs}, temperature {state.temperature:.3f}, cost smearing x{state.scaling.smear:.3f}, "
                f"{state.train_seconds:.1f}s")

    def save_part(self, state: PoolPart) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"net": state.net.state_dict()}, {"cost_scaling": state.scaling.to_json(), "temperature": state.temperature,
                                                 "train_seconds": state.train_seconds, "best_epoch": state.best_epoch}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> PoolPart:
        net = self.build_net(inp.text_dim, len(strategies))
        try:
            net.load_state_dict(tensors["net"])
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:
            raise ConcurError(f"{self.source}: cannot load the weights of router '{self.name}': "
                              f"{str(err).splitlines()[0]}; retrain with `python predictor.py --router {self.name} "
                              "--force`") from None
        net.eval()
        return PoolPart(net, CostScaling.from_json(meta["cost_scaling"]), float(meta["temperature"]),
                        float(meta["train_seconds"]), dict(meta["best_epoch"]))


def bce_mse(out: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE of the logit column, MSE of the cost column), means over the rows."""
    return (nn.functional.binary_cross_entropy_with_logits(out[:, 0], y), nn.functional.mse_loss(out[:, 1], z))
