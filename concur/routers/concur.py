"""CONCUR: per-strategy P(correct) classifier and cost regressor (the paper's modular design).

Each strategy has its own pair of networks (concur/predictors.py), trained on that strategy's rows
only (concur/training.py) with its own seed from (seed, strategy name); the strategies to train
are trained together in one vectorised loop, each exactly as it would be alone; checkpoints are chosen on
validation, P(correct) is temperature-scaled and the log-space cost regressor's median is turned
into a mean by smearing, both fitted on validation. New strategies trained while others have current
parts (an update) start their cost regressors from the best-fitting current one (predictor.warm_start,
concur/warm_start.py). The files keep the reference layout in the predictor folder:
accuracy_cls_<s>.pt, cost_reg_<s>.pt and <s>.json (the record).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import metrics
from ..config import SCHEMA
from ..cost_scaling import CostScaling
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch, split_rows
from ..predictors import StrategyNet, accuracy_classifier, cost_regressor
from ..training import FitResult, Init, StrategyData, fit_strategies, group_size, predict_outputs, resolve_device
from ..warm_start import ROLES as WARM_ROLES
from ..warm_start import Donor, donor_outputs, starting_networks
from .base import Log, Router


@dataclass
class ConcurPart:
    cls_net: StrategyNet
    reg_net: StrategyNet
    scaling: CostScaling
    temperature: float
    info: dict[str, Any] = field(default_factory=dict)  # best epochs, validation metrics, sizes


class ConcurRouter(Router):
    name = "concur"
    summary = "CONCUR: per-strategy classifier + cost regressor on [general; task-specific] representations"
    modular = True
    defaults = {k: v[1] for k, v in SCHEMA["predictor"].items()}
    choices = {"selection": ("logloss", "accuracy"), "cost_target": ("log", "standardize", "raw"),
               "preset": ("default", "reference"), "representation": ("both", "general", "task-specific"),
               "warm_start": tuple(WARM_ROLES)}
    # warm_start changes only how new strategies start while others have current parts (a continual update);
    # each part's record says which networks it started from
    unlearned = ("device", "preset", "warm_start")

    def learned_settings(self) -> dict[str, Any]:
        out = super().learned_settings()
        if not out.get("task_features"):  # the columns are in the embedding hash anyway
            out.pop("task_features", None)
        if out.get("representation") == "both":  # the default layout, as before the ablation setting existed
            out.pop("representation", None)
        return out

    # reference file layout, in the predictor folder itself
    def store_dir(self, root: Path) -> Path:
        return Path(root)

    def file_path(self, root: Path, part: str, key: str) -> Path:
        return Path(root) / {"cls": f"accuracy_cls_{part}.pt", "reg": f"cost_reg_{part}.pt"}[key]

    def _data(self, inp: Inputs, strategy: str) -> StrategyData:
        g_model, g_decoding = inp.strategy_vectors(strategy)
        _, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, strategy)
        _, va_rows, va_y, va_c = split_rows(inp.ds.val, strategy)
        return StrategyData(g_model, g_decoding, inp.task_emb[tr_rows], tr_y, tr_c, inp.task_emb[va_rows], va_y, va_c)

    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> ConcurPart:
        return next(self.fit_parts(inp, {part: strategies}, log))[1]

    def fit_parts(self, inp: Inputs, todo: dict[str, list[str]], log: Log) -> Iterator[tuple[str, ConcurPart]]:
        """The requested strategies' networks in one vectorised loop (groups of up to `group_size` strategies);
        each strategy's part is the same as when it is trained alone (concur/training.py)."""
        device = resolve_device(self.settings["device"])
        parts = list(todo)
        # warm start of new strategies (a rebuilt part trains from scratch) from the pool's current parts
        # (never from one trained in this call, so a part does not depend on which others train beside it)
        new = [part for part in parts if part in self.new_parts_]
        donors = self._donors(inp, parts) if new and self.settings["warm_start"] != "none" else []
        outputs = self._donor_outputs(inp, new, donors)
        size = group_size(device)
        for start in range(0, len(parts), size):
            group = parts[start:start + size]
            datas = [self._data(inp, part) for part in group]
            starts = [self._warm_start(inp, part, data, donors, outputs) for part, data in zip(group, datas)]
            fits = fit_strategies(datas, self.settings, [self.part_seed(part) for part in group], device, warn=log,
                                  names=group, threads=None, inits=[init for init, _ in starts])
            for part, data, fit, (_, origin) in zip(group, datas, fits, starts):
                state = self._part_state(data, fit, device)
                state.info["initialised_from"] = origin
                yield part, state

    def _donors(self, inp: Inputs, training: list[str]) -> list[Donor]:
        """Every other strategy of the pool with a current part: loaded by this fit, or saved in its folder
        (so `--strategy X` and `--strategy all` start X from the same networks)."""
        out = []
        for name in sorted(set(inp.ds.strategies) - set(training)):
            state = self.states_.get(name) if name in self.strategies else self.saved_part(inp, name, [name])
            if state is None:
                continue
            g_model, g_decoding = inp.strategy_vectors(name)
            constant = state.info.get("constant_probability") is not None
            out.append(Donor(name, None if constant else state.cls_net, state.reg_net, g_model, g_decoding))
        return out

    def _donor_outputs(self, inp: Inputs, parts: list[str],
                       donors: list[Donor]) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """(task rows, sorted; {role: {donor: outputs}}) on the training tasks of the parts to train:
        computed once, shared by the parts."""
        if not donors or not parts:
            return np.zeros(0, dtype=np.int64), {}
        rows = np.unique(np.concatenate([split_rows(inp.ds.train, part)[1] for part in parts]))
        return rows, donor_outputs(donors, inp.task_emb[torch.as_tensor(rows)], WARM_ROLES[self.settings["warm_start"]])

    def _warm_start(self, inp: Inputs, part: str, data: StrategyData, donors: list[Donor],
                    outputs: tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]) -> tuple[Init, dict[str, str] | None]:
        """The networks `part` starts from (None: random) and their origin {role: donor strategy}."""
        if not donors or part not in self.new_parts_:
            return (None, None), None
        rows, by_role = outputs
        at = np.searchsorted(rows, split_rows(inp.ds.train, part)[1])  # this part's training rows among them
        return starting_networks(data, donors, {role: {n: out[at] for n, out in by_donor.items()}
                                                for role, by_donor in by_role.items()}, self.settings["cost_target"])

    def _part_state(self, data: StrategyData, fit: FitResult, device: torch.device) -> ConcurPart:
        p_val, c_val = predict_outputs(fit.cls_net, fit.reg_net, fit.scaling, fit.temperature, data.val_x,
                                       data.g_model, data.g_decoding, device)
        val = {**metrics.classification_metrics(data.val_y, p_val), **metrics.cost_metrics(data.val_c, c_val)}
        info = {"constant_probability": fit.constant_prob, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                "n_train": len(data.train_y), "n_val": len(data.val_y),
                "validation": {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in val.items()}}
        return ConcurPart(fit.cls_net.cpu(), fit.reg_net.cpu(), fit.scaling, fit.temperature, info)

    def part_summary(self, state: ConcurPart) -> str:
        v, be = state.info["validation"], state.info["best_epoch"]
        fmt = lambda x, spec: "nan" if x is None else format(x, spec)  # noqa: E731
        origin = state.info.get("initialised_from")
        warm = "; started from " + ", ".join(f"{r} of {n}" for r, n in origin.items()) if origin else ""
        return (f"best epoch cls {be['cls']}, reg {be['reg']}; val AUROC {fmt(v['auroc'], '.3f')}, "
                f"Brier {fmt(v['brier'], '.4f')}, cost MAE {fmt(v['cost_mae'], '.4g')}, "
                f"cost smearing x{state.scaling.smear:.3f}{warm}")

    def save_part(self, state: ConcurPart) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"emb_dim": state.cls_net.emb_dim, "hidden_dim": state.cls_net.mlp[0].out_features,
                "representation": state.cls_net.representation,
                "text_dim": state.cls_net.text_dim, "temperature": state.temperature,
                "cost_scaling": state.scaling.to_json(), **state.info}
        return {"cls": state.cls_net.state_dict(), "reg": state.reg_net.state_dict()}, meta

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> ConcurPart:
        scaling = CostScaling.from_json(meta["cost_scaling"])
        d, e, h = int(meta["text_dim"]), int(meta["emb_dim"]), int(meta["hidden_dim"])
        rep = meta.get("representation", "both")
        cls_net, reg_net = accuracy_classifier(d, e, h, rep), cost_regressor(d, e, h, scaling.kind, rep)
        try:
            cls_net.load_state_dict(tensors["cls"])
            reg_net.load_state_dict(tensors["reg"])
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:
            raise ConcurError(f"{self.source}: cannot load the weights of '{part}': {str(err).splitlines()[0]}; "
                              f"retrain with `python predictor.py --strategy {part} --force`") from None
        info = {k: meta.get(k) for k in ("constant_probability", "best_epoch", "epochs_run", "n_train", "n_val",
                                         "validation", "initialised_from")}
        return ConcurPart(cls_net, reg_net, scaling, float(meta["temperature"]), info)

    def predict_part(self, state: ConcurPart, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        g_model, g_decoding = self.vectors_[strategies[0]]
        p, c = predict_outputs(state.cls_net, state.reg_net, state.scaling, state.temperature, batch.emb,
                               g_model, g_decoding, torch.device("cpu"))
        return p[:, None], c[:, None]

    def uncorrected_cost(self, batch: TaskBatch, strategy: str) -> np.ndarray | None:
        """The regressor's back-transformed output before smearing (its median), for diagnostics."""
        state = self.states_[strategy]
        corrected = self.predict_part(state, batch, [strategy])[1][:, 0]
        if state.scaling.kind != "log":
            return corrected
        return np.maximum((corrected + state.scaling.eps) / state.scaling.smear - state.scaling.eps, 0.0)
