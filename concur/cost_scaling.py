"""Cost targets for regressors: the transform a network is trained in, and the way back to a mean cost.

log:         z = (log(c + eps) - mean) / std   (cost spreads are multiplicative; eps keeps 0 finite)
standardize: z = (c - mean) / std
raw:         z = c (the reference; its network ends in Softplus)

A regressor fitted in log space estimates E[log(c + eps) | task], so exp of its output is the
conditional *median* of the cost, not the mean, and every prediction is biased low (budgets on
predicted cost are then overspent). Duan's smearing estimator fixes that without assuming a
distribution: with validation residuals r_i = log(c_i + eps) - prediction_i in log space,
E[c | task] ~= exp(prediction) * mean_i(exp(r_i)) - eps. `smear` is that factor (1 = off).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import ConcurError


@dataclass(frozen=True)
class CostScaling:
    kind: str
    mean: float = 0.0
    std: float = 1.0
    eps: float = 0.0
    smear: float = 1.0  # Duan's smearing factor (log kind only)

    @classmethod
    def fit(cls, kind: str, costs: np.ndarray, eps: float | None = None) -> "CostScaling":
        """Target statistics from training costs (eps for log: 1e-3 x the median positive cost unless given)."""
        costs = np.asarray(costs, dtype=np.float64)
        if kind == "raw":
            return cls("raw")
        if kind == "log":
            if eps is None:
                pos = costs[costs > 0]
                eps = float(1e-3 * np.median(pos)) if pos.size else 1.0
            costs = np.log(costs + eps)
        elif kind != "standardize":
            raise ConcurError(f"config key 'predictor.cost_target': unknown value {kind!r}")
        std = float(costs.std())
        return cls(kind, float(costs.mean()), std if std > 1e-12 else 1.0, float(eps or 0.0))

    def forward(self, costs: np.ndarray) -> np.ndarray:
        costs = np.asarray(costs, dtype=np.float64)
        if self.kind == "log":
            return (np.log(costs + self.eps) - self.mean) / self.std
        return (costs - self.mean) / self.std

    def log_space(self, z: np.ndarray) -> np.ndarray:
        """Network outputs -> predicted log(c + eps) (log kind)."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Network outputs -> expected cost (the mean once `smear` is fitted), never negative."""
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "log":
            c = np.exp(np.minimum(self.log_space(z), 700.0)) * self.smear - self.eps
        else:
            c = z * self.std + self.mean
        return np.maximum(c, 0.0)

    def median(self, z: np.ndarray) -> np.ndarray:
        """Network outputs -> the uncorrected back-transform (what the regressor gives before smearing)."""
        return replace(self, smear=1.0).inverse(z)

    def with_smearing(self, z_val: np.ndarray, c_val: np.ndarray) -> "CostScaling":
        """Duan's smearing factor from validation outputs and realised costs (log kind; others unchanged)."""
        if self.kind != "log" or len(c_val) == 0:
            return self
        resid = np.log(np.asarray(c_val, dtype=np.float64) + self.eps) - self.log_space(z_val)
        return replace(self, smear=float(np.mean(np.exp(resid))))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std, "eps": self.eps, "smear": self.smear}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CostScaling":
        return cls(str(obj["kind"]), float(obj["mean"]), float(obj["std"]), float(obj["eps"]),
                   float(obj.get("smear", 1.0)))
