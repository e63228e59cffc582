"""Warm start of a new strategy's networks from the best-fitting current strategy's networks.

When strategies join a pool whose other predictors are already trained (a continual update),
each new network may start from a trained one instead of a random initialisation: for each role
(classifier, cost regressor), the current network that, after one shift of its output bias, fits
the new strategy's training rows best (log-loss of P(correct), squared error of the standardised
cost target). The copy computes exactly that shifted function for the new strategy:
the first-layer bias absorbs the change of the description vectors [g_model; g_decoding], the
output bias the shift. Training then goes on as from any initialisation (same schedule, early
stopping and checkpoint selection on validation).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics
from .cost_scaling import CostScaling
from .predictors import StrategyNet
from .training import Init, StrategyData, forward_all

NEWTON_STEPS = 50


ROLES = {"none": (), "cost": ("reg",), "both": ("cls", "reg")}  # predictor.warm_start -> the roles warm-started


@dataclass
class Donor:
    """A current part's networks and description vectors (cls_net None: a constant classifier,
    which has no features to start from)."""

    name: str
    cls_net: StrategyNet | None
    reg_net: StrategyNet
    g_model: torch.Tensor
    g_decoding: torch.Tensor

    def net(self, role: str) -> StrategyNet | None:
        return self.cls_net if role == "cls" else self.reg_net

    @property
    def g(self) -> torch.Tensor:
        return torch.cat([self.g_model, self.g_decoding])


def donor_outputs(donors: list[Donor], x: torch.Tensor, roles: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    """{role: {donor: its network's outputs on the rows of x}}, each donor with its own description vectors."""
    cpu = torch.device("cpu")
    return {role: {d.name: forward_all(net, x, d.g_model, d.g_decoding, cpu) for d in donors
                   if (net := d.net(role)) is not None} for role in roles}


def starting_networks(data: StrategyData, donors: list[Donor], outputs: dict[str, dict[str, np.ndarray]],
                      cost_target: str) -> tuple[Init, dict[str, str] | None]:
    """The networks a new strategy starts from ((classifier, regressor), None: random) and their origin
    {role: donor}, for the roles in `outputs` (each donor's outputs on the strategy's training rows)."""
    targets = {"cls": np.asarray(data.train_y, dtype=np.float64),
               "reg": CostScaling.fit(cost_target, data.train_c).forward(data.train_c)}
    g_to = torch.cat([data.g_model, data.g_decoding])
    nets: dict[str, StrategyNet | None] = {"cls": None, "reg": None}
    origin = {}
    for role, by_donor in outputs.items():
        if role == "cls" and targets["cls"].min() == targets["cls"].max():
            continue  # a constant classifier is not trained
        shiftable = not (role == "reg" and cost_target == "raw")  # a Softplus output
        best = choose_donor(role, by_donor, targets[role], shiftable)
        if best is None:
            continue
        name, shift, _ = best
        donor = next(d for d in donors if d.name == name)
        nets[role] = warm_copy(donor.net(role), donor.g, g_to, shift)
        origin[role] = name
    return (nets["cls"], nets["reg"]), origin or None


def logit_shift(logits: np.ndarray, labels: np.ndarray) -> float:
    """The shift s with mean(sigmoid(logits + s)) = mean(labels): the log-loss-optimal output bias change
    (labels of both classes; Newton's method on a monotone, convex problem)."""
    logits = np.asarray(logits, dtype=np.float64)
    base = float(np.mean(labels))
    shift = 0.0
    for _ in range(NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (logits + shift)))
        grad, hess = float(p.mean()) - base, float((p * (1.0 - p)).mean())
        if abs(grad) < 1e-12 or hess < 1e-12:
            break
        shift -= float(np.clip(grad / hess, -10.0, 10.0))
    return shift


def fit_of(role: str, outputs: np.ndarray, target: np.ndarray, shiftable: bool = True) -> tuple[float, float]:
    """(output shift, loss after it) of a donor's outputs on the new strategy's training rows
    (not shiftable: a Softplus output, whose bias is not an output shift; the shift is 0)."""
    outputs, target = np.asarray(outputs, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if not shiftable:
        return 0.0, float(np.mean((outputs - target) ** 2))
    if role == "cls":
        shift = logit_shift(outputs, target)
        return shift, metrics.log_loss(target, 0.5 * (1.0 + np.tanh(0.5 * (outputs + shift))))
    shift = float(np.mean(target - outputs))
    return shift, float(np.mean((outputs + shift - target) ** 2))


def choose_donor(role: str, outputs: dict[str, np.ndarray], target: np.ndarray,
                 shiftable: bool = True) -> tuple[str, float, float] | None:
    """(donor, shift, loss) of the best-fitting donor (ties: the first name in sorted order), None without one."""
    best = None
    for name in sorted(outputs):
        shift, loss = fit_of(role, outputs[name], target, shiftable)
        if np.isfinite(loss) and (best is None or loss < best[2]):
            best = (name, shift, loss)
    return best


def warm_copy(net: StrategyNet, g_from: torch.Tensor, g_to: torch.Tensor, shift: float) -> StrategyNet:
    """A copy of `net` that computes, with the description vectors g_to ([g_model; g_decoding]), what
    `net` computes with g_from, plus `shift` on the output."""
    out = copy.deepcopy(net)
    d = net.text_dim
    with torch.no_grad():
        if net.representation != "task-specific":  # the general block (g_model, g_decoding) is an input
            w = out.mlp[0].weight[:, d:3 * d]
            out.mlp[0].bias.add_(w @ (g_from.to(w.dtype) - g_to.to(w.dtype)))
        out.mlp[2].bias.add_(shift)
    return out
