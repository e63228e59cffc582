"""Baseline routers' predictors, written as the same pred files CONCUR writes.

- `SharedModel`: ONE network for every strategy (the non-modular design CONCUR argues against):
  an MLP over [g_task; g_model; g_decoding] with two outputs, the logit of P(correct) and the
  standardised log cost, trained on all strategies' training rows together. Adding a strategy
  means retraining it from scratch. Checkpoint chosen on validation (log-loss + cost MSE), then a
  temperature fitted on validation, as CONCUR's predictors do, so calibration is not what differs.
- kNN (concur/knn.py) and any probability/cost matrices (e.g. an ensemble) become pred files via
  `write_pred_files`, so the SAME routing code evaluates every router.
- `best_single_on_val`: the single strategy with the best validation accuracy (cheaper on ties).
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import SplitOutcomes, pred_table, prediction_path, split_strategy
from .io import save_torch_atomic, write_csv_atomic, write_json_atomic
from .knn import fit_knn
from .training import fit_temperature, sigmoid

SHARED_DEFAULTS = {"hidden_dim": 256, "lr": 1e-3, "weight_decay": 1e-2, "batch_size": 256, "epochs": 40,
                   "patience": 4}


# ------------------------------------------------------------------ pred files
def write_pred_files(output_path: str | Path, split_name: str, split: SplitOutcomes, prob: np.ndarray,
                     cost_hat: np.ndarray) -> None:
    """pred[_val]_<s>.csv for every strategy of `split` from (n, S) predicted matrices (NaN rows skipped)."""
    for j, s in enumerate(split.strategies):
        m = split.observed[:, j]
        df = pred_table(s, split.question_ids[m], split.label[m, j], split.cost[m, j], prob[m, j], cost_hat[m, j])
        write_csv_atomic(prediction_path(output_path, s, split_name), df)


def knn_matrices(task_emb: torch.Tensor, train: SplitOutcomes, val: SplitOutcomes, targets: dict[str, SplitOutcomes],
                 ks: list[int]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[int, int]]]:
    """Per-strategy kNN (k chosen on validation) -> {split: (prob, cost)} matrices and the chosen k's."""
    out = {name: (np.full(sp.label.shape, np.nan), np.full(sp.label.shape, np.nan)) for name, sp in targets.items()}
    chosen = {}
    for j, s in enumerate(train.strategies):
        _, tr_rows, tr_y, tr_c = train.rows_of(s)
        _, va_rows, va_y, va_c = val.rows_of(s)
        knn = fit_knn(task_emb[tr_rows], tr_y, tr_c, task_emb[va_rows], va_y, va_c, ks)
        chosen[s] = (knn.k_cls, knn.k_cost)
        for name, sp in targets.items():
            m = sp.observed[:, j]
            p, c = knn.predict(task_emb[sp.task_rows[m]])
            out[name][0][m, j], out[name][1][m, j] = p, c
    return out, chosen


def write_knn_preds(output_path: str | Path, task_emb: torch.Tensor, train: SplitOutcomes, val: SplitOutcomes,
                    targets: dict[str, SplitOutcomes], ks: list[int]) -> dict[str, tuple[int, int]]:
    """The kNN router's pred files for every split in `targets`; returns the chosen k's."""
    mats, chosen = knn_matrices(task_emb, train, val, targets, ks)
    for split_name, (prob, cost) in mats.items():
        write_pred_files(output_path, split_name, targets[split_name], prob, cost)
    return chosen


# ------------------------------------------------------------------ shared model
class SharedNet(nn.Module):
    """MLP over [g_task; g_model; g_decoding] -> (logit of P(correct), standardised log cost)."""

    def __init__(self, text_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * text_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.ReLU(), nn.Linear(hidden_dim, 2))

    def forward(self, g_task: torch.Tensor, g_strategy: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([g_task, g_strategy], dim=1))


def strategy_matrix(strat_emb: dict[str, dict[str, torch.Tensor]], strategies: list[str]) -> torch.Tensor:
    """(S, 2d): [g_model; g_decoding] per strategy."""
    rows = []
    for s in strategies:
        m, d = split_strategy(s)
        rows.append(torch.cat([strat_emb["model"][m].float(), strat_emb["decoding"][d].float()]))
    return torch.stack(rows)


def _long(split: SplitOutcomes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(task rows, strategy columns, labels, costs) of every observed (task, strategy) pair."""
    r, j = np.nonzero(split.observed)
    return (torch.as_tensor(split.task_rows[r]), torch.as_tensor(j), torch.as_tensor(split.label[r, j]).float(),
            torch.as_tensor(split.cost[r, j]).float())


@dataclass
class SharedModel:
    net: SharedNet
    strategies: list[str]
    log_mean: float
    log_std: float
    temperature: float
    train_seconds: float
    best_epoch: int

    @torch.no_grad()
    def predict(self, task_emb: torch.Tensor, split: SplitOutcomes, strat_mat: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(n, S) P(correct) and cost for every task of `split` x every strategy of the pool."""
        self.net.eval()
        x = task_emb[split.task_rows]
        n, S = len(x), len(self.strategies)
        out = self.net(x.repeat_interleave(S, 0), strat_mat.repeat(n, 1)).double().numpy().reshape(n, S, 2)
        prob = sigmoid(out[..., 0] / self.temperature)
        cost = np.expm1(np.clip(out[..., 1] * self.log_std + self.log_mean, None, 50.0))
        return prob, np.maximum(cost, 0.0)


def train_shared(task_emb: torch.Tensor, strat_emb, train: SplitOutcomes, val: SplitOutcomes, seed: int,
                 settings: dict | None = None) -> SharedModel:
    """Train the shared model on all strategies' train rows; early stopping on validation."""
    cfg = {**SHARED_DEFAULTS, **(settings or {})}
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    strategies = list(train.strategies)
    smat = strategy_matrix(strat_emb, strategies)
    tr_r, tr_j, tr_y, tr_c = _long(train)
    va_r, va_j, va_y, va_c = _long(val)
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
        logits = net(va_x, va_s)[:, 0].double().numpy()
    temp = fit_temperature(logits, va_y.numpy())
    return SharedModel(net, strategies, mean, std, temp, time.perf_counter() - start, best_epoch)


def write_shared_preds(output_path: str | Path, model: SharedModel, task_emb: torch.Tensor, strat_emb,
                       splits: dict[str, SplitOutcomes]) -> None:
    """The shared model's pred files for every split in `splits`."""
    strat_mat = strategy_matrix(strat_emb, model.strategies)
    for split_name, split in splits.items():
        prob, cost = model.predict(task_emb, split, strat_mat)
        write_pred_files(output_path, split_name, split, prob, cost)


def save_shared(path: Path, model: SharedModel, fp: str) -> None:
    save_torch_atomic(path, model.net.state_dict())
    write_json_atomic(Path(f"{path}.json"), {"fingerprint": fp, "strategies": model.strategies,
                                              "log_mean": model.log_mean, "log_std": model.log_std,
                                              "temperature": model.temperature, "train_seconds": model.train_seconds,
                                              "best_epoch": model.best_epoch})


def load_shared(path: Path, fp: str, text_dim: int, hidden_dim: int) -> SharedModel | None:
    """The saved shared model when its fingerprint matches, else None (then it is retrained)."""
    side = Path(f"{path}.json")
    if not (path.is_file() and side.is_file()):
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        if meta.get("fingerprint") != fp:
            return None
        net = SharedNet(text_dim, hidden_dim)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (json.JSONDecodeError, RuntimeError, KeyError, OSError):
        return None
    return SharedModel(net, meta["strategies"], meta["log_mean"], meta["log_std"], meta["temperature"],
                       meta["train_seconds"], meta["best_epoch"])


# ------------------------------------------------------------------ reference choice
def best_single_on_val(val_label: np.ndarray, val_cost: np.ndarray) -> int:
    """Column of the single strategy with the highest validation accuracy; ties -> lower mean cost."""
    acc = np.nanmean(val_label, axis=0)
    cost = np.nanmean(val_cost, axis=0)
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return int(best[np.argmin(cost[best])])
