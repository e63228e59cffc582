"""RouteLLM's matrix-factorisation router (Ong et al., 2024), for a pool of strategies.

Score s_m(q) = w . (P_m / |P_m| * W q): a learned strategy embedding P_m (dim 128, L2-normalised) times
a projection W q of the frozen task embedding (no bias), read out by a linear w (no bias). RouteLLM
trains it on pairwise preferences: for a (winner a, loser b, prompt q) the logit is s_a(q) - s_b(q),
with Gaussian noise (sigma 0.1) on q while training, binary cross-entropy, Adam lr 3e-4, weight decay
1e-5 (lm-sys/RouteLLM, routers/matrix_factorization). Here the preferences come from the outcome
data: for each training task, every (correct strategy, wrong strategy) pair is one comparison.
Choices where RouteLLM is silent (it routes two models by win rate and predicts no cost):
- P(correct) of a strategy = sigmoid(a_m s_m(q) + b_m), a per-strategy logistic calibration of the
  score fitted on validation (the pairwise score has no absolute scale);
- cost: a separate bilinear regressor, c_m(q) = v . (C_m * (U q + u)), with an unnormalised strategy
  embedding C_m (so its norm carries the strategy's cost level), trained with MSE on the standardised
  log(1 + cost), smearing-corrected on validation;
- batch 1024 (RouteLLM: 64; the comparisons are many) and the epoch with the best validation
  pairwise loss is kept, stopping after `patience` epochs without improvement (RouteLLM has no
  validation split and trains a fixed number of epochs).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..early_stopping import TrainLog, fit_minibatch
from .pool import PoolData, PoolNetRouter, PoolRows


class MatrixFactorizationNet(nn.Module):
    def __init__(self, text_dim: int, n_strategies: int, dim: int, noise: float) -> None:
        super().__init__()
        self.P = nn.Embedding(n_strategies, dim)
        self.text_proj = nn.Linear(text_dim, dim, bias=False)
        self.readout = nn.Linear(dim, 1, bias=False)
        self.C = nn.Embedding(n_strategies, dim)
        self.cost_proj = nn.Linear(text_dim, dim)
        self.cost_readout = nn.Linear(dim, 1)
        # noise on q while training the score (added by the pairwise loss)
        # per-strategy calibration of the score (fitted on validation after training)
        self.register_buffer("calib_a", torch.ones(n_strategies))
        self.register_buffer("calib_b", torch.zeros(n_strategies))
        self.noise = noise

    def score(self, q: torch.Tensor, strategy: torch.Tensor) -> torch.Tensor:
        p = nn.functional.normalize(self.P(strategy), p=2, dim=1)
        return self.readout(p * self.text_proj(q))[:, 0]

    def cost(self, q: torch.Tensor, strategy: torch.Tensor) -> torch.Tensor:
        return self.cost_readout(self.C(strategy) * self.cost_proj(q))[:, 0]

    def forward(self, q: torch.Tensor, strategy: torch.Tensor, _vectors: torch.Tensor) -> torch.Tensor:
        logit = self.calib_a[strategy] * self.score(q, strategy) + self.calib_b[strategy]
        return torch.stack([logit, self.cost(q, strategy)], dim=1)


def preference_pairs(rows: PoolRows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(task, winner, loser) for every task and every (correct, wrong) strategy pair of its rows."""
    task, strat, y = rows.task.numpy(), rows.strategy.numpy(), rows.label.numpy() >= 0.5
    order = np.lexsort((strat, task))
    task, strat, y = task[order], strat[order], y[order]
    win = np.flatnonzero(y)
    lose = np.flatnonzero(~y)
    # join winners and losers of the same task: per task, a block of winners x losers
    wt, lt = task[win], task[lose]
    starts = np.searchsorted(lt, wt, side="left")
    ends = np.searchsorted(lt, wt, side="right")
    counts = ends - starts
    w_idx = np.repeat(win, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    l_idx = lose[np.repeat(starts, counts) + offsets]
    return torch.as_tensor(task[w_idx]), torch.as_tensor(strat[w_idx]), torch.as_tensor(strat[l_idx])


def fit_calibration(scores: np.ndarray, labels: np.ndarray, strategy: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per strategy, (a, b) of the logistic regression of the label on the score (validation rows)."""
    from sklearn.linear_model import LogisticRegression

    a, b = np.ones(n), np.zeros(n)
    for j in range(n):  # one tiny 1-feature fit per strategy
        m = strategy == j
        y = labels[m] >= 0.5
        if m.sum() < 2 or y.all() or not y.any():
            rate = (y.sum() + 0.5) / (m.sum() + 1)
            a[j], b[j] = 0.0, np.log(rate / (1 - rate))
            continue
        lr = LogisticRegression(C=1e4).fit(scores[m, None], y)
        a[j], b[j] = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return a, b


class MatrixFactorizationRouter(PoolNetRouter):
    name = "routellm-mf"
    summary = "RouteLLM matrix factorisation: pairwise-trained bilinear score, calibrated on validation; cost head"
    defaults = {"dim": 128, "noise": 0.1, "lr": 3e-4, "weight_decay": 1e-5, "batch_size": 1024, "epochs": 100,
                "patience": 5, "cost_smearing": True, "temperature_scaling": False}

    def build_net(self, text_dim: int, n_strategies: int) -> nn.Module:
        return MatrixFactorizationNet(text_dim, n_strategies, int(self.settings["dim"]), float(self.settings["noise"]))

    def train_net(self, net: nn.Module, data: PoolData, gen: torch.Generator) -> TrainLog:
        cfg = self.settings
        emb, tr, va = data.task_emb, data.train, data.val
        bce = nn.functional.binary_cross_entropy_with_logits
        pairs, vpairs = preference_pairs(tr), preference_pairs(va)
        v_x = emb[vpairs[0]]
        ones = torch.ones(len(vpairs[0]))
        score_params = [net.P.weight, net.text_proj.weight, net.readout.weight]
        opt = torch.optim.Adam(score_params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))

        def pair_loss(idx: torch.Tensor, _heads: set[str]) -> torch.Tensor:
            q = emb[pairs[0][idx]]
            if net.noise > 0:  # one noise draw per comparison, shared by both sides (RouteLLM)
                q = q + net.noise * torch.randn_like(q)
            logit = net.score(q, pairs[1][idx]) - net.score(q, pairs[2][idx])
            return bce(logit, torch.ones_like(logit))

        def pair_val() -> dict[str, float]:
            return {"pair_loss": float(bce(net.score(v_x, vpairs[1]) - net.score(v_x, vpairs[2]), ones))}

        log_score = fit_minibatch(net, opt, len(pairs[0]), int(cfg["batch_size"]), int(cfg["epochs"]), gen,
                                  pair_loss, pair_val, patience=int(cfg["patience"]))
        # the cost regressor: pointwise rows, its own parameters
        cost_params = [net.C.weight, *net.cost_proj.parameters(), *net.cost_readout.parameters()]
        opt = torch.optim.Adam(cost_params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
        va_x = emb[va.task]
        mse = nn.functional.mse_loss

        def cost_loss(idx: torch.Tensor, _heads: set[str]) -> torch.Tensor:
            return mse(net.cost(emb[tr.task[idx]], tr.strategy[idx]), data.train_z[idx])

        def cost_val() -> dict[str, float]:
            return {"cost_mse": float(mse(net.cost(va_x, va.strategy), data.val_z))}

        log_cost = fit_minibatch(net, opt, len(tr), int(cfg["batch_size"]), int(cfg["epochs"]), gen, cost_loss, cost_val,
                                 patience=int(cfg["patience"]))
        with torch.no_grad():
            scores = net.score(va_x, va.strategy).double().numpy()
        a, b = fit_calibration(scores, va.label.numpy(), va.strategy.numpy(), net.calib_a.shape[0])
        net.calib_a.copy_(torch.as_tensor(a, dtype=torch.float32))
        net.calib_b.copy_(torch.as_tensor(b, dtype=torch.float32))
        return TrainLog({"score": log_score.best_epoch["all"], "cost": log_cost.best_epoch["all"]},
                        log_score.epochs_run + log_cost.epochs_run, log_score.history + log_cost.history)
