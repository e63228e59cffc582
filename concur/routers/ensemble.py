"""Ensemble: a weighted mean of other registered routers' P(correct) and expected cost.

The members are fitted (or loaded, when current) under their own names in the predictor folder,
so an ensemble of concur and knn reuses exactly the predictors `predictor.py --router concur` and
`--router knn` saved. The weights are chosen on validation: the point of a simplex grid (step
`grid_step`) with the lowest validation Brier score for P(correct) and, separately, the lowest
mean absolute error for cost; ties go to the most even mix. With `scope: strategy` each strategy
gets its own weights from its own validation rows, so an ensemble of modular routers stays
modular; `scope: pool` chooses one weight vector on every strategy's rows (not modular).
`weights: [w1, w2, ...]` fixes the weights instead (e.g. [0.5, 0.5], the plain mean).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch
from .base import Log, Router


def simplex_grid(m: int, step: float) -> np.ndarray:
    """(G, m) weight vectors on the simplex with components in multiples of `step`, most even first."""
    k = int(round(1 / step))
    pts = np.array([c for c in itertools.product(range(k + 1), repeat=m) if sum(c) == k], dtype=np.float64) / k
    order = np.argsort(np.abs(pts - 1.0 / m).sum(1), kind="stable")
    return pts[order]


def best_weights(preds: np.ndarray, target: np.ndarray, mask: np.ndarray, grid: np.ndarray, loss: str) -> np.ndarray:
    """The grid row minimising the loss of sum_m w_m preds[m] against `target` on `mask` entries."""
    p = preds[:, mask]  # (M, k)
    mix = grid @ p  # (G, k)
    err = (mix - target[mask]) ** 2 if loss == "brier" else np.abs(mix - target[mask])
    return grid[int(np.argmin(err.mean(axis=1)))]


class EnsembleRouter(Router):
    name = "ensemble"
    summary = "weighted mean of registered routers (weights chosen on validation)"
    composite = True
    defaults = {"members": ["concur", "knn"], "weights": None, "grid_step": 0.05, "scope": "strategy"}
    choices = {"scope": ("strategy", "pool")}

    def __init__(self, settings=None, seed: int = 0, source: str | None = None, config=None) -> None:
        super().__init__(settings, seed, source)
        from . import make_router

        names = self.settings["members"]
        if (not isinstance(names, list) or len(names) < 2 or len(set(names)) != len(names)
                or not all(isinstance(n, str) for n in names)):
            raise ConcurError(f"{self.source}: setting 'members' must list at least two different routers, got {names!r}")
        if self.name in names:
            raise ConcurError(f"{self.source}: an ensemble cannot contain itself")
        if config is None:
            raise ConcurError("the ensemble router is built from a config (its members' settings)")
        self.members = [make_router(n, config, seed) for n in names]
        w = self.settings["weights"]
        if w is not None:
            ok = (isinstance(w, list) and len(w) == len(names)
                  and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in w) and sum(w) > 0)
            if not ok:
                raise ConcurError(f"{self.source}: setting 'weights' must be null (chosen on validation) or "
                                  f"{len(names)} non-negative numbers, one per member, got {w!r}")
        step = self.settings["grid_step"]
        if not (0 < step <= 0.5) or abs(round(1 / step) * step - 1) > 1e-9:
            raise ConcurError(f"{self.source}: setting 'grid_step' must divide 1 (e.g. 0.05, 0.1), got {step!r}")
        self.modular = self.settings["scope"] == "strategy" and all(m.modular for m in self.members)

    def fingerprint_parts(self, inp: Inputs, part: str, strategies: list[str]) -> dict[str, Any]:
        parts = super().fingerprint_parts(inp, part, strategies)
        parts["members"] = {m.name: [m.prediction_fingerprint(s) for s in strategies] for m in self.members}
        return parts

    def fit(self, inp: Inputs, strategies: list[str], store: Path | None = None, force: bool = False,
            log: Log = print, progress: bool = False) -> dict[str, str]:
        for m in self.members:
            log(f"ensemble member '{m.name}':")
            m.fit(inp, strategies, store=store, force=force, log=log, progress=progress)
        return super().fit(inp, strategies, store=store, force=force, log=log, progress=progress)

    def load(self, inp: Inputs, strategies: list[str], store: Path) -> "EnsembleRouter":
        for m in self.members:
            m.load(inp, strategies, store)
        return super().load(inp, strategies, store)

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> dict[str, list[float]]:
        fixed = self.settings["weights"]
        if fixed is not None:
            w = (np.asarray(fixed, dtype=np.float64) / sum(fixed)).tolist()
            return {"prob": w, "cost": w}
        val = inp.ds.val
        cols = [val.column(s) for s in strategies]
        mask = val.observed[:, cols]
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            raise ConcurError(f"{inp.ds.config.val_data_path}: the ensemble chooses its weights on validation, "
                              f"but {', '.join(strategies)} has no validation rows")
        batch = inp.batch(val, rows)
        ests = [m.predict(batch, strategies) for m in self.members]
        grid = simplex_grid(len(self.members), float(self.settings["grid_step"]))
        m = mask[rows]
        label, cost = val.label[rows][:, cols], val.cost[rows][:, cols]
        wp = best_weights(np.stack([e.prob for e in ests]), label, m, grid, "brier")
        wc = best_weights(np.stack([e.cost for e in ests]), cost, m, grid, "mae")
        return {"prob": wp.tolist(), "cost": wc.tolist()}

    def part_summary(self, state: dict[str, list[float]]) -> str:
        names = [m.name for m in self.members]
        fmt = lambda w: ", ".join(f"{n} {x:.2f}" for n, x in zip(names, w))  # noqa: E731
        return f"weights P(correct): {fmt(state['prob'])}; cost: {fmt(state['cost'])}"

    def save_part(self, state: dict[str, list[float]]) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {"weights": state, "members": [m.name for m in self.members]}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> dict[str, list[float]]:
        return meta["weights"]

    def predict_part(self, state: dict[str, list[float]], batch: TaskBatch,
                     strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ests = [m.predict(batch, strategies) for m in self.members]
        prob = sum(w * e.prob for w, e in zip(state["prob"], ests))
        cost = sum(w * e.cost for w, e in zip(state["cost"], ests))
        return prob, cost
