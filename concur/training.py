"""Training loop for one strategy's classifier + regressor, checkpoint selection on validation.

All data stays in tensors; minibatches are slices of a permutation drawn from a seeded
torch.Generator (no DataLoader), validation is one forward pass. Both networks train in the
same loop as one stacked module (StackedNets) with one fused AdamW (equal to two optimisers:
the parameter slices are disjoint and AdamW is per-element), each with its own early stopping.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import metrics
from .errors import ConcurError
from .cost_scaling import CostScaling
from .predictors import StrategyNet, accuracy_classifier, constant_classifier, cost_regressor

PREDICT_CHUNK = 65536


@dataclass
class StrategyData:
    """One strategy's training and validation rows as tensors (costs in the cost unit)."""

    g_model: torch.Tensor  # (d,)
    g_decoding: torch.Tensor  # (d,)
    train_x: torch.Tensor  # (n, d) task embeddings
    train_y: np.ndarray
    train_c: np.ndarray
    val_x: torch.Tensor
    val_y: np.ndarray
    val_c: np.ndarray


@dataclass
class FitResult:
    cls_net: StrategyNet
    reg_net: StrategyNet
    scaling: CostScaling
    temperature: float
    constant_prob: float | None
    best_epoch: dict[str, int]
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConcurError(f"config key 'predictor.device' is '{name}' but no CUDA device is available")
    return torch.device(name)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 minimising validation log-loss of sigmoid(logit / T) (one scalar, so no overfitting risk)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if labels.size == 0 or labels.min() == labels.max():
        return 1.0
    from scipy.optimize import minimize_scalar  # lazy: only training needs scipy

    def nll(log_t: float) -> float:
        z = logits / math.exp(log_t)
        # log(1 + e^z) - y z, computed stably
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))

    res = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded", options={"xatol": 1e-6})
    return float(math.exp(res.x)) if res.success and nll(res.x) < nll(0.0) else 1.0


@torch.no_grad()
def forward_all(net: StrategyNet, x: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor,
                device: torch.device) -> np.ndarray:
    """Outputs for every row of x in large batches, as float64 numpy."""
    net.eval()
    g_model, g_decoding = g_model.to(device), g_decoding.to(device)
    outs = [net(x[i:i + PREDICT_CHUNK].to(device), g_model, g_decoding).cpu()
            for i in range(0, x.shape[0], PREDICT_CHUNK)]
    return torch.cat(outs).double().numpy() if outs else np.zeros(0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))  # overflow-free logistic


class StackedNets(nn.Module):
    """Several StrategyNets of one strategy (classifier, regressor) as one module with stacked weights.

    Slice i is network i; slices share no parameters (each only sees its own loss). It computes
    exactly StrategyNet's function, but faster for small-batch CPU training:
    - the first layer's weight is kept in column blocks; the blocks that multiply row-constant
      inputs (g_model, g_decoding, E_model, E_decoding: one strategy = one model and decoding)
      are applied once per batch as a matrix-vector product instead of once per row, which
      cuts the first layer's work about threefold;
    - one matmul per layer serves all slices.
    Built from, and exported back to, StrategyNets (the saved format).
    """

    def __init__(self, nets: list[StrategyNet]) -> None:
        super().__init__()
        d, e = nets[0].text_dim, nets[0].emb_dim
        stack = lambda get: nn.Parameter(torch.stack([get(n).detach().clone() for n in nets]))  # noqa: E731
        self.model_emb = stack(lambda n: n.model_emb.weight[0])  # (k, e)
        self.decoding_emb = stack(lambda n: n.decoding_emb.weight[0])
        self.proj_w = stack(lambda n: n.task_proj.weight)  # (k, e, d)
        self.proj_b = stack(lambda n: n.task_proj.bias)  # (k, e)
        # first-layer columns, in StrategyNet's input order [g_task, g_model, g_decoding, E_model, E_decoding, W g_task]
        self.w1_task = stack(lambda n: n.mlp[0].weight[:, :d])  # (k, h, d)
        self.w1_const = stack(lambda n: n.mlp[0].weight[:, d:3 * d])  # (k, h, 2d)
        self.w1_emb = stack(lambda n: n.mlp[0].weight[:, 3 * d:3 * d + 2 * e])  # (k, h, 2e)
        self.w1_proj = stack(lambda n: n.mlp[0].weight[:, 3 * d + 2 * e:])  # (k, h, e)
        self.b1 = stack(lambda n: n.mlp[0].bias)  # (k, h)
        self.w2 = stack(lambda n: n.mlp[2].weight[0])  # (k, h)
        self.b2 = stack(lambda n: n.mlp[2].bias)  # (k, 1)
        self.softplus = [isinstance(n.out, nn.Softplus) for n in nets]
        self.representation = nets[0].representation  # the same for every slice

    def forward(self, x: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor) -> torch.Tensor:
        """(k, n) outputs, one row per network."""
        n, d = x.shape
        k, h = self.b1.shape
        e = self.proj_b.shape[1]
        if self.representation != "both":  # an ablation: only one part's blocks (StrategyNet zeroes the other's inputs)
            general = self.representation == "general"
            if general:
                per_row = (x @ self.w1_task.reshape(k * h, d).T).view(n, k, h).transpose(0, 1)
                const = self.b1 + self.w1_const @ torch.cat([g_model, g_decoding])
            else:
                proj = (x @ self.proj_w.reshape(k * e, d).T + self.proj_b.reshape(k * e)).view(n, k, e).transpose(0, 1)
                per_row = torch.bmm(proj, self.w1_proj.transpose(1, 2))
                const = self.b1 + torch.bmm(self.w1_emb, torch.cat([self.model_emb, self.decoding_emb],
                                                                    dim=1).unsqueeze(2)).squeeze(2)
            return self._head(torch.relu(per_row + const.unsqueeze(1)))
        # per-row parts: one matmul for all slices (x is shared)
        xt = (x @ self.w1_task.reshape(k * h, d).T).view(n, k, h).transpose(0, 1)  # (k, n, h)
        proj = (x @ self.proj_w.reshape(k * e, d).T + self.proj_b.reshape(k * e)).view(n, k, e).transpose(0, 1)
        # row-constant parts: once per batch
        const = self.b1 + self.w1_const @ torch.cat([g_model, g_decoding]) \
            + torch.bmm(self.w1_emb, torch.cat([self.model_emb, self.decoding_emb], dim=1).unsqueeze(2)).squeeze(2)
        hidden = torch.relu(xt + torch.bmm(proj, self.w1_proj.transpose(1, 2)) + const.unsqueeze(1))
        return self._head(hidden)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        out = torch.bmm(hidden, self.w2.unsqueeze(2)).squeeze(2) + self.b2  # (k, n)
        if any(self.softplus):
            out = torch.stack([nn.functional.softplus(o) if sp else o for o, sp in zip(out, self.softplus)])
        return out

    def slice_state(self, i: int) -> dict[str, torch.Tensor]:
        """A CPU copy of slice i's weights (a checkpoint)."""
        return {name: p[i].detach().to("cpu", copy=True) for name, p in self.named_parameters()}

    @staticmethod
    def export(state: dict[str, torch.Tensor], net: StrategyNet) -> StrategyNet:
        """Load a slice checkpoint into `net` (a StrategyNet of the matching shape)."""
        with torch.no_grad():
            net.model_emb.weight[0].copy_(state["model_emb"])
            net.decoding_emb.weight[0].copy_(state["decoding_emb"])
            net.task_proj.weight.copy_(state["proj_w"])
            net.task_proj.bias.copy_(state["proj_b"])
            net.mlp[0].weight.copy_(torch.cat([state["w1_task"], state["w1_const"], state["w1_emb"], state["w1_proj"]], dim=1))
            net.mlp[0].bias.copy_(state["b1"])
            net.mlp[2].weight[0].copy_(state["w2"])
            net.mlp[2].bias.copy_(state["b2"])
        return net

    def keep(self, rows: list[int], opt: torch.optim.Optimizer,
             make_opt: Callable[..., torch.optim.Optimizer]) -> tuple["StackedNets", torch.optim.Optimizer]:
        """Drop the other slices (an early-stopped network), carrying AdamW's state over unchanged."""
        new = copy.deepcopy(self)
        new.softplus = [self.softplus[i] for i in rows]
        for name, p in self.named_parameters():
            setattr(new, name, nn.Parameter(p.detach()[rows].clone()))
        new_opt = make_opt(new.parameters())
        for old_p, new_p in zip(self.parameters(), new.parameters()):
            st = opt.state.get(old_p)
            if st:
                new_opt.state[new_p] = {k: (v.clone() if k == "step" else v[rows].clone()) for k, v in st.items()}
        return new, new_opt


@torch.no_grad()
def _stacked_outputs(net: StackedNets, x: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor) -> np.ndarray:
    net.eval()
    outs = [net(x[i:i + PREDICT_CHUNK], g_model, g_decoding).cpu() for i in range(0, x.shape[0], PREDICT_CHUNK)]
    return torch.cat(outs, dim=1).double().numpy()


def fit_strategy(data: StrategyData, pcfg: dict[str, Any], seed: int, device: torch.device,
                 warn: Callable[[str], None] = print, name: str = "", threads: int | None = 1) -> FitResult:
    """Train one strategy's predictors; keep the best validation checkpoint of each.

    On CPU, torch uses `threads` threads meanwhile (None: leave as is). One is the default:
    batch-32 steps of these small networks gain nothing from more, and on a busy machine
    two threads were measured 15x slower than one.
    """
    previous = torch.get_num_threads()
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    try:
        return _fit(data, pcfg, seed, device, warn, name)
    finally:
        torch.set_num_threads(previous)


def _fit(data: StrategyData, pcfg: dict[str, Any], seed: int, device: torch.device,
         warn: Callable[[str], None], name: str) -> FitResult:
    """fit_strategy's body.

    Each network stops on its own after `patience` evaluations without a better validation
    score (log-loss or accuracy for the classifier, target-space MSE for the regressor); a
    stopped network is dropped from the stacked module, the other trains on unchanged.
    """
    if len(data.val_y) == 0:
        raise ConcurError(f"strategy '{name}': no validation rows; validation is needed to select checkpoints")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    d = data.train_x.shape[1]
    rep = pcfg.get("representation", "both")
    cls_net = accuracy_classifier(d, pcfg["emb_dim"], pcfg["hidden_dim"], rep)
    reg_net = cost_regressor(d, pcfg["emb_dim"], pcfg["hidden_dim"], pcfg["cost_target"], rep)
    scaling = CostScaling.fit(pcfg["cost_target"], data.train_c)

    constant_prob = None
    if data.train_y.min() == data.train_y.max():
        # one class only: a network cannot learn a ranking; predict the smoothed base rate
        n = len(data.train_y)
        constant_prob = float((data.train_y.sum() + 0.5) / (n + 1))
        warn(f"warning: strategy '{name}': all {n} training labels are {data.train_y[0]:g}; "
             f"using a constant P(correct) = {constant_prob:.4f}")

    roles = ["reg"] if constant_prob is not None else ["cls", "reg"]
    stacked = StackedNets([cls_net, reg_net] if constant_prob is None else [reg_net]).to(device)
    g_model, g_decoding = data.g_model.to(device), data.g_decoding.to(device)
    x_tr = data.train_x.to(device)
    targets = {"cls": torch.as_tensor(data.train_y, dtype=torch.float32, device=device),
               "reg": torch.as_tensor(scaling.forward(data.train_c), dtype=torch.float32, device=device)}
    x_val = data.val_x.to(device)
    y_val = np.asarray(data.val_y, dtype=np.float64)
    z_val = scaling.forward(data.val_c)

    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    make_opt = lambda params: torch.optim.AdamW(params, lr=pcfg["lr"], weight_decay=pcfg["weight_decay"], **fused)  # noqa: E731
    opt = make_opt(stacked.parameters())
    best: dict[str, tuple[float, dict, int]] = {r: (math.inf, {}, 0) for r in roles}
    bad_evals = {r: 0 for r in roles}
    history: list[dict[str, float]] = []
    n, bs, epochs, every = x_tr.shape[0], pcfg["batch_size"], pcfg["epochs"], pcfg["eval_every"]
    epoch = 0
    for epoch in range(1, epochs + 1):
        stacked.train()
        perm = torch.randperm(n, generator=gen).to(device)
        t_rows = torch.stack([targets[r] for r in roles])
        cls_row = roles.index("cls") if "cls" in roles else -1
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            out, t = stacked(x_tr[idx], g_model, g_decoding), t_rows[:, idx]
            loss = sum(nn.functional.binary_cross_entropy_with_logits(out[i], t[i]) if i == cls_row
                       else nn.functional.mse_loss(out[i], t[i]) for i in range(len(roles)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch % every and epoch != epochs:
            continue
        # validation, one forward pass; lower score is better for both networks
        outs = _stacked_outputs(stacked, x_val, g_model, g_decoding)
        row: dict[str, float] = {"epoch": epoch}
        stopped = []
        for i, role in enumerate(roles):
            if role == "cls":
                p = sigmoid(outs[i])
                row["val_logloss"], row["val_accuracy"] = metrics.log_loss(y_val, p), metrics.accuracy(y_val, p)
                score = row["val_logloss"] if pcfg["selection"] == "logloss" else -row["val_accuracy"]
            else:
                row["val_mse"] = score = float(np.mean((outs[i] - z_val) ** 2))
            if score < best[role][0] or best[role][2] == 0:
                best[role] = (score, stacked.slice_state(i), epoch)
                bad_evals[role] = 0
            else:
                bad_evals[role] += 1
                if bad_evals[role] >= pcfg["patience"]:
                    stopped.append(role)
        history.append(row)
        if len(stopped) == len(roles):
            break
        if stopped:
            keep = [i for i, r in enumerate(roles) if r not in stopped]
            stacked, opt = stacked.keep(keep, opt, make_opt)
            roles = [roles[i] for i in keep]

    if constant_prob is None:
        StackedNets.export(best["cls"][1], cls_net)
    else:
        constant_classifier(cls_net, constant_prob)
    StackedNets.export(best["reg"][1], reg_net)
    if pcfg.get("cost_smearing", False):
        scaling = scaling.with_smearing(forward_all(reg_net, data.val_x, data.g_model, data.g_decoding,
                                                    torch.device("cpu")), data.val_c)
    temperature = 1.0
    if pcfg["temperature_scaling"] and constant_prob is None:
        temperature = fit_temperature(forward_all(cls_net, data.val_x, data.g_model, data.g_decoding,
                                                  torch.device("cpu")), y_val)
    return FitResult(cls_net, reg_net, scaling, temperature, constant_prob,
                     {"cls": best["cls"][2] if "cls" in best else 0, "reg": best["reg"][2]}, epoch, history)


def predict_outputs(fit_cls: StrategyNet, fit_reg: StrategyNet, scaling: CostScaling, temperature: float,
                    x: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor,
                    device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(P(correct), cost in the cost unit) for every row of x."""
    fit_cls.to(device)
    fit_reg.to(device)
    p = sigmoid(forward_all(fit_cls, x, g_model, g_decoding, device) / temperature)
    cost = scaling.inverse(forward_all(fit_reg, x, g_model, g_decoding, device))
    return p, cost
