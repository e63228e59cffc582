"""Training loop for strategies' classifiers + regressors, checkpoint selection on validation.

All data stays in tensors; minibatches are slices of a permutation drawn from each strategy's
own seeded torch.Generator (no DataLoader), validation is one forward pass. The networks of any
number of strategies (a classifier and a regressor each) train in one loop as two stacked modules
(StackedNets, one per role: the classifiers and the cost regressors, each role with its own
learning rate), each with one fused AdamW: equal to one optimiser per network, since the parameter
slices are disjoint and AdamW is per-element. Each network keeps its own initialisation (from
its strategy's seed), minibatch order (a strategy's two networks see the same minibatches), early
stopping and checkpoint.

Modularity holds bit for bit: a strategy's saved networks are the same bytes whichever other
strategies were trained beside it (tests/test_batched_training.py). On CPU every per-network
operation is either element-wise, a reduction over one network's own rows, or one matrix
product per network (torch.bmm calls the BLAS once per slice); what could still differ is the
position of a slice in memory, which BLAS kernels and vectorised loops may treat differently
(alignment, vector tails). So every slice of every tensor starts on a 64-byte boundary:
minibatches are padded to a multiple of 32 rows (pad rows weigh 0), the hidden and learned
embedding widths are padded with inert units that stay exactly zero (see `padded_widths`), and
each parameter slice's storage is a multiple of 64 floats. Other devices (CUDA) make no such
promise, so strategies train one at a time there (`group_size`).
"""
from __future__ import annotations

import copy
import functools
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
Init = tuple[StrategyNet | None, StrategyNet | None]  # networks to start from (classifier, regressor)


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


ALIGN = 16  # floats (64 bytes): every per-network slice of a stacked tensor is a multiple of this
STORE = 64  # floats: every per-network slice of a parameter's storage is a multiple of this
ROW_PAD = 32  # minibatches are padded to a multiple of this many rows
GROUP_SIZE = 16  # strategies trained together at most (memory: each keeps a copy of its rows)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def padded_widths(text_dim: int, emb_dim: int, hidden_dim: int) -> tuple[int, int]:
    """(hidden, learned-embedding) widths used inside StackedNets: the true ones padded with inert
    units so that every per-network matrix of the forward and backward matrix products holds a
    multiple of ALIGN floats (rows are padded separately). Pad units have zero weights, output
    exactly zero and receive exactly zero gradients, so they stay zero and change nothing."""
    hp, ep = _round_up(hidden_dim, 4), _round_up(emb_dim, 4)
    if text_dim % 4:
        ep = _round_up(hp + ep, ALIGN) - hp
    return hp, ep


def group_size(device: torch.device) -> int:
    """How many strategies may train together on `device` with byte-identical results (see module docstring)."""
    return GROUP_SIZE if device.type == "cpu" else 1


class StackedNets(nn.Module):
    """Any number of StrategyNets as one module with stacked weights: slice i is network i.

    Slices share no parameters and each sees only its own rows (x is (k, n, d), one minibatch per
    network), so the gradient of a sum of per-network losses trains each network on its own loss.
    It computes StrategyNet's function with one matmul per layer for all slices, and applies the
    first layer's blocks that multiply row-constant inputs (g_model, g_decoding, E_model,
    E_decoding: one strategy = one model and decoding) once per minibatch instead of once per row.
    Built from, and exported back to, StrategyNets (the saved format).
    """

    # parameter -> per-slice shape, in terms of (d, hp, ep)
    SHAPES: dict[str, Callable[[int, int, int], tuple[int, ...]]] = {
        "wx": lambda d, h, e: (h + e, d),  # rows [:h] first-layer columns of g_task; rows [h:] the task projection W
        "bp": lambda d, h, e: (e,),  # the task projection's bias
        "w1c": lambda d, h, e: (h, 2 * d),  # first-layer columns of [g_model; g_decoding]
        "w1e": lambda d, h, e: (h, 2 * e),  # first-layer columns of [E_model; E_decoding]
        "w1p": lambda d, h, e: (h, e),  # first-layer columns of W g_task
        "b1": lambda d, h, e: (h,),
        "w2": lambda d, h, e: (h,),
        "b2": lambda d, h, e: (1,),
        "emb": lambda d, h, e: (2 * e,),  # [E_model; E_decoding]
    }

    def __init__(self, nets: list[StrategyNet], g: torch.Tensor | list[torch.Tensor]) -> None:
        """`g`: per network, its strategy's [g_model; g_decoding] (k, 2d)."""
        super().__init__()
        net0 = nets[0]
        self.d, self.e, self.h = net0.text_dim, net0.emb_dim, net0.mlp[0].out_features
        self.hp, self.ep = padded_widths(self.d, self.e, self.h)
        self.representation = net0.representation
        k = len(nets)
        for name in self.SHAPES:
            numel = math.prod(self._shape(name))
            setattr(self, name, nn.Parameter(torch.zeros(k, _round_up(numel, STORE))))
        d, e, h, hp = self.d, self.e, self.h, self.hp
        v = self.views()
        with torch.no_grad():
            for i, net in enumerate(nets):
                w = net.mlp[0].weight
                v["wx"][i, :h] = w[:, :d]
                v["wx"][i, hp:hp + e] = net.task_proj.weight
                v["bp"][i, :e] = net.task_proj.bias
                v["w1c"][i, :h] = w[:, d:3 * d]
                v["w1e"][i, :h, :e] = w[:, 3 * d:3 * d + e]
                v["w1e"][i, :h, self.ep:self.ep + e] = w[:, 3 * d + e:3 * d + 2 * e]
                v["w1p"][i, :h, :e] = w[:, 3 * d + 2 * e:]
                v["b1"][i, :h] = net.mlp[0].bias
                v["w2"][i, :h] = net.mlp[2].weight[0]
                v["b2"][i] = net.mlp[2].bias
                v["emb"][i, :e] = net.model_emb.weight[0]
                v["emb"][i, self.ep:self.ep + e] = net.decoding_emb.weight[0]
        g = torch.stack(list(g)) if isinstance(g, (list, tuple)) else g
        self.register_buffer("g", g.detach().to(torch.float32).clone(), persistent=False)
        self.register_buffer("softplus", torch.tensor([isinstance(n.out, nn.Softplus) for n in nets]),
                             persistent=False)
        self.any_softplus = bool(self.softplus.any())

    def _shape(self, name: str) -> tuple[int, ...]:
        return self.SHAPES[name](self.d, self.hp, self.ep)

    def views(self, params: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Each parameter's (k, *shape) view of its padded storage."""
        out = {}
        for name in self.SHAPES:
            p = getattr(self, name) if params is None else params[name]
            shape = self._shape(name)
            out[name] = p[:, :math.prod(shape)].view(p.shape[0], *shape)
        return out

    def forward(self, x: torch.Tensor, rows: list[int] | None = None) -> torch.Tensor:
        """(k, n) outputs; x is (k, n, d), row i for network i. `rows`: only those networks (no gradient)."""
        if rows is None:
            v, g, softplus, any_softplus = self.views(), self.g, self.softplus, self.any_softplus
        else:
            idx = torch.tensor(rows, device=self.g.device)
            v = self.views({name: getattr(self, name).detach()[idx] for name in self.SHAPES})
            g, softplus = self.g[idx], self.softplus[idx]
            any_softplus = bool(softplus.any())
        hp = self.hp
        z = torch.bmm(x, v["wx"].transpose(1, 2))  # (k, n, hp + ep): the per-row part, one matmul
        rep = self.representation
        const = v["b1"]
        if rep != "task-specific":
            # row-constant inputs: once per minibatch (an element-wise product and a per-network sum)
            const = const + (v["w1c"] * g.unsqueeze(1)).sum(-1)
        if rep != "general":
            const = const + (v["w1e"] * v["emb"].unsqueeze(1)).sum(-1)
            proj = z[:, :, hp:] + v["bp"].unsqueeze(1)
            specific = torch.bmm(proj, v["w1p"].transpose(1, 2))
            pre = specific if rep == "task-specific" else z[:, :, :hp] + specific
        else:
            pre = z[:, :, :hp]
        hidden = torch.relu(pre + const.unsqueeze(1))
        out = (hidden * v["w2"].unsqueeze(1)).sum(-1) + v["b2"]
        if any_softplus:
            out = torch.where(softplus.unsqueeze(1), nn.functional.softplus(out), out)
        return out

    def slice_state(self, i: int) -> dict[str, torch.Tensor]:
        """A CPU copy of slice i's weights (a checkpoint)."""
        return {name: p[i].detach().to("cpu", copy=True) for name, p in self.named_parameters()}

    def export(self, state: dict[str, torch.Tensor], net: StrategyNet) -> StrategyNet:
        """Load a slice checkpoint into `net` (a StrategyNet of the true sizes)."""
        v = self.views({name: t.unsqueeze(0) for name, t in state.items()})
        v = {name: t[0] for name, t in v.items()}
        d, e, h, hp, ep = self.d, self.e, self.h, self.hp, self.ep
        with torch.no_grad():
            net.model_emb.weight[0].copy_(v["emb"][:e])
            net.decoding_emb.weight[0].copy_(v["emb"][ep:ep + e])
            net.task_proj.weight.copy_(v["wx"][hp:hp + e])
            net.task_proj.bias.copy_(v["bp"][:e])
            net.mlp[0].weight.copy_(torch.cat([v["wx"][:h], v["w1c"][:h], v["w1e"][:h, :e], v["w1e"][:h, ep:ep + e],
                                               v["w1p"][:h, :e]], dim=1))
            net.mlp[0].bias.copy_(v["b1"][:h])
            net.mlp[2].weight[0].copy_(v["w2"][:h])
            net.mlp[2].bias.copy_(v["b2"])
        return net

    def keep(self, rows: list[int], opt: torch.optim.Optimizer,
             make_opt: Callable[..., torch.optim.Optimizer]) -> tuple["StackedNets", torch.optim.Optimizer]:
        """Drop the other slices (early-stopped networks), carrying AdamW's state over unchanged."""
        new = copy.copy(self)
        new._parameters = dict(self._parameters)
        new._buffers = dict(self._buffers)
        idx = torch.tensor(rows, device=self.g.device)
        for name, p in self.named_parameters():
            new._parameters[name] = nn.Parameter(p.detach()[idx].clone())
        new.g, new.softplus = self.g[idx].clone(), self.softplus[idx].clone()
        new.any_softplus = bool(new.softplus.any())
        new_opt = make_opt(new.parameters())
        for old_p, new_p in zip(self.parameters(), new.parameters()):
            st = opt.state.get(old_p)
            if st:
                new_opt.state[new_p] = {k: (v.clone() if k == "step" else v[idx].clone()) for k, v in st.items()}
        return new, new_opt


@dataclass
class _Run:
    """One strategy's training in a group: its networks, schedule position and checkpoints."""

    data: StrategyData
    name: str
    gen: torch.Generator
    cls_net: StrategyNet
    reg_net: StrategyNet
    scaling: CostScaling
    constant_prob: float | None
    roles: list[str]  # networks still training
    offset: int  # first row of this strategy's training rows in the group's row table
    steps: int  # minibatches per epoch
    epoch: int = 1
    step: int = 0
    rows: torch.Tensor | None = None  # (steps, padded batch) this epoch's row indices (pad: the zero row)
    weights: torch.Tensor | None = None  # (steps, padded batch) 1/batch size, 0 for pad rows
    best: dict[str, tuple[float, dict, int]] = field(default_factory=dict)
    bad_evals: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


ROLES = ("cls", "reg")  # a strategy's classifier (P(correct)) and cost regressor
TARGET_ROW = {"cls": 0, "reg": 1}  # each role's row of the training-target table


@dataclass
class _Stack:
    """The networks of one role that still train, stacked, with their optimiser (each role has its own
    learning rate: predictor.lr for classifiers, predictor.cost_lr for regressors)."""

    role: str
    runs: list[int]  # the run of each slice
    nets: StackedNets
    opt: torch.optim.Optimizer
    make_opt: Callable[..., torch.optim.Optimizer]

    def keep(self, positions: list[int]) -> None:
        """Keep only these slices (the others stopped early); AdamW's state carries over unchanged."""
        self.runs = [self.runs[p] for p in positions]
        if positions:
            self.nets, self.opt = self.nets.keep(positions, self.opt, self.make_opt)


def fit_strategy(data: StrategyData, pcfg: dict[str, Any], seed: int, device: torch.device,
                 warn: Callable[[str], None] = print, name: str = "", threads: int | None = 1) -> FitResult:
    """Train one strategy's predictors; keep the best validation checkpoint of each (fit_strategies of one)."""
    return fit_strategies([data], pcfg, [seed], device, warn, [name], threads)[0]


def fit_strategies(datas: list[StrategyData], pcfg: dict[str, Any], seeds: list[int], device: torch.device,
                   warn: Callable[[str], None] = print, names: list[str] | None = None,
                   threads: int | None = 1, inits: list[Init] | None = None) -> list[FitResult]:
    """Train several strategies' predictors in one vectorised loop; one FitResult per strategy, each the
    same as training that strategy alone (on CPU; see the module docstring).

    `inits`: per strategy, networks to start from instead of the seeded random ones ((classifier,
    regressor), either None; concur/warm_start.py); the seed still orders the minibatches.

    On CPU, torch uses `threads` threads meanwhile (None: leave as is). One is the default:
    minibatch steps of these small networks gain nothing from more, and on a busy machine
    two threads were measured 15x slower than one.
    """
    previous = torch.get_num_threads()
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    try:
        return _fit(datas, pcfg, seeds, device, warn, names or [""] * len(datas), inits or [(None, None)] * len(datas))
    finally:
        torch.set_num_threads(previous)


def _fit(datas: list[StrategyData], pcfg: dict[str, Any], seeds: list[int], device: torch.device,
         warn: Callable[[str], None], names: list[str], inits: list[Init]) -> list[FitResult]:
    """fit_strategies' body.

    Every strategy runs its own schedule (epochs of its own length, its own permutations); one
    step of the loop takes one minibatch step of every network still training. Each network
    stops on its own after `patience` evaluations without a better validation score (log-loss
    or accuracy for the classifier, target-space MSE for the regressor); a stopped network is
    dropped from its role's stacked module, the others train on unchanged.
    """
    for data, name in zip(datas, names):
        if len(data.val_y) == 0:
            raise ConcurError(f"strategy '{name}': no validation rows; validation is needed to select checkpoints")
    d = datas[0].train_x.shape[1]
    rep = pcfg.get("representation", "both")
    bs, epochs, every = pcfg["batch_size"], pcfg["epochs"], pcfg["eval_every"]
    bs_pad = _round_up(bs, ROW_PAD)
    runs: list[_Run] = []
    offset = 0
    for data, seed, name, (cls_init, reg_init) in zip(datas, seeds, names, inits):
        torch.manual_seed(seed)
        cls_net = accuracy_classifier(d, pcfg["emb_dim"], pcfg["hidden_dim"], rep)
        reg_net = cost_regressor(d, pcfg["emb_dim"], pcfg["hidden_dim"], pcfg["cost_target"], rep)
        for net, init in ((cls_net, cls_init), (reg_net, reg_init)):
            if init is not None:
                net.load_state_dict(init.state_dict())
        constant_prob = None
        if data.train_y.min() == data.train_y.max():
            # one class only: a network cannot learn a ranking; predict the smoothed base rate
            n = len(data.train_y)
            constant_prob = float((data.train_y.sum() + 0.5) / (n + 1))
            warn(f"warning: strategy '{name}': all {n} training labels are {data.train_y[0]:g}; "
                 f"using a constant P(correct) = {constant_prob:.4f}")
        roles = ["reg"] if constant_prob is not None else ["cls", "reg"]
        n = data.train_x.shape[0]
        runs.append(_Run(data, name, torch.Generator().manual_seed(seed), cls_net, reg_net,
                         CostScaling.fit(pcfg["cost_target"], data.train_c), constant_prob, roles, offset,
                         -(-n // bs), best={r: (math.inf, {}, 0) for r in roles}, bad_evals={r: 0 for r in roles}))
        offset += n
    pad_row = offset  # an all-zero row that pad entries of a minibatch point at
    x_all = torch.cat([r.data.train_x for r in runs] + [torch.zeros(1, d)]).to(device)
    # training targets: row 0 the labels (classifiers), row 1 the transformed costs (regressors)
    targets = torch.stack([
        torch.as_tensor(np.concatenate([r.data.train_y for r in runs] + [[0.0]]), dtype=torch.float32),
        torch.as_tensor(np.concatenate([r.scaling.forward(r.data.train_c) for r in runs] + [[0.0]]),
                        dtype=torch.float32)]).to(device)

    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    lr = {"cls": pcfg["lr"], "reg": pcfg["cost_lr"]}
    stacks: list[_Stack] = []
    for role in ROLES:
        members = [i for i, run in enumerate(runs) if role in run.roles]
        if members:
            nets = [runs[i].cls_net if role == "cls" else runs[i].reg_net for i in members]
            g = [torch.cat([runs[i].data.g_model, runs[i].data.g_decoding]) for i in members]
            stacked = StackedNets(nets, g).to(device)
            make_opt = functools.partial(torch.optim.AdamW, lr=lr[role], weight_decay=pcfg["weight_decay"], **fused)
            stacks.append(_Stack(role, members, stacked, make_opt(stacked.parameters()), make_opt))
    shapes = stacks[0].nets  # every stack has the same sizes; exports a slice checkpoint to a StrategyNet
    val = [(r.data.val_x.to(device), np.asarray(r.data.val_y, dtype=np.float64), r.scaling.forward(r.data.val_c))
           for r in runs]

    def start_epoch(run: _Run) -> None:
        n = run.data.train_x.shape[0]
        perm = torch.randperm(n, generator=run.gen) + run.offset
        rows = torch.full((run.steps * bs,), pad_row, dtype=torch.long)
        rows[:n] = perm
        rows = torch.cat([rows.view(run.steps, bs), torch.full((run.steps, bs_pad - bs), pad_row)], dim=1)
        real = rows != pad_row
        run.rows = rows.to(device)
        run.weights = (real / real.sum(1, keepdim=True)).to(torch.float32).to(device)

    def evaluate(i: int, run: _Run) -> list[str]:
        """Validation of run i's networks still training; returns the roles that stop."""
        x_val, y_val, z_val = val[i]
        row: dict[str, float] = {"epoch": run.epoch}
        stopped = []
        for st in stacks:
            if i not in st.runs:
                continue
            pos = st.runs.index(i)
            with torch.no_grad():
                out = torch.cat([st.nets(x_val[j:j + PREDICT_CHUNK].unsqueeze(0), [pos])
                                 for j in range(0, x_val.shape[0], PREDICT_CHUNK)], dim=1)[0].cpu().double().numpy()
            if st.role == "cls":
                p = sigmoid(out)
                row["val_logloss"], row["val_accuracy"] = metrics.log_loss(y_val, p), metrics.accuracy(y_val, p)
                score = row["val_logloss"] if pcfg["selection"] == "logloss" else -row["val_accuracy"]
            else:
                row["val_mse"] = score = float(np.mean((out - z_val) ** 2))
            if score < run.best[st.role][0] or run.best[st.role][2] == 0:
                run.best[st.role] = (score, st.nets.slice_state(pos), run.epoch)
                run.bad_evals[st.role] = 0
            else:
                run.bad_evals[st.role] += 1
                if run.bad_evals[st.role] >= pcfg["patience"]:
                    stopped.append(st.role)
        run.history.append(row)
        return stopped

    bce = nn.functional.binary_cross_entropy_with_logits
    for run in runs:
        start_epoch(run)
    while stacks:
        loss = torch.zeros((), device=device)
        for st in stacks:
            st.nets.train()
            rows = torch.stack([runs[i].rows[runs[i].step] for i in st.runs])  # (k, padded batch)
            weights = torch.stack([runs[i].weights[runs[i].step] for i in st.runs])
            out = st.nets(x_all.index_select(0, rows.view(-1)).view(*rows.shape, d))  # = x_all[rows], faster on CPU
            t = targets[TARGET_ROW[st.role]][rows]
            losses = bce(out, t, reduction="none") if st.role == "cls" else (out - t) ** 2
            loss = loss + (losses * weights).sum()  # the sum of each network's mean loss over its own rows
        for st in stacks:
            st.opt.zero_grad(set_to_none=True)
        loss.backward()
        for st in stacks:
            st.opt.step()

        stop: dict[str, set[int]] = {role: set() for role in ROLES}  # role -> runs whose network stops
        for i in sorted({i for st in stacks for i in st.runs}):
            run = runs[i]
            run.step += 1
            if run.step < run.steps:
                continue
            run.step = 0
            if run.epoch % every == 0 or run.epoch == epochs:
                stopped = evaluate(i, run)
                run.roles = [r for r in run.roles if r not in stopped]
                for role in stopped:
                    stop[role].add(i)
            if run.epoch == epochs or not run.roles:
                for role in ROLES:
                    stop[role].add(i)
                continue
            run.epoch += 1
            start_epoch(run)
        for st in stacks:
            if stop[st.role] & set(st.runs):
                st.keep([p for p, i in enumerate(st.runs) if i not in stop[st.role]])
        stacks = [st for st in stacks if st.runs]

    results = []
    for run in runs:
        data, cls_net, reg_net, scaling = run.data, run.cls_net, run.reg_net, run.scaling
        if run.constant_prob is None:
            shapes.export(run.best["cls"][1], cls_net)
        else:
            constant_classifier(cls_net, run.constant_prob)
        shapes.export(run.best["reg"][1], reg_net)
        if pcfg.get("cost_smearing", False):
            scaling = scaling.with_smearing(forward_all(reg_net, data.val_x, data.g_model, data.g_decoding,
                                                        torch.device("cpu")), data.val_c)
        temperature = 1.0
        if pcfg["temperature_scaling"] and run.constant_prob is None:
            temperature = fit_temperature(forward_all(cls_net, data.val_x, data.g_model, data.g_decoding,
                                                      torch.device("cpu")), np.asarray(data.val_y, dtype=np.float64))
        results.append(FitResult(cls_net, reg_net, scaling, temperature, run.constant_prob,
                                 {"cls": run.best["cls"][2] if "cls" in run.best else 0, "reg": run.best["reg"][2]},
                                 run.epoch, run.history))
    return results


def predict_outputs(fit_cls: StrategyNet, fit_reg: StrategyNet, scaling: CostScaling, temperature: float,
                    x: torch.Tensor, g_model: torch.Tensor, g_decoding: torch.Tensor,
                    device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(P(correct), cost in the cost unit) for every row of x."""
    fit_cls.to(device)
    fit_reg.to(device)
    p = sigmoid(forward_all(fit_cls, x, g_model, g_decoding, device) / temperature)
    cost = scaling.inverse(forward_all(fit_reg, x, g_model, g_decoding, device))
    return p, cost
