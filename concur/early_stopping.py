"""Minibatch training with checkpoint selection and early stopping on validation.

One loop for the networks that model the whole strategy pool (the shared model and the paper's
baselines). Each epoch draws a permutation of the training examples from a seeded generator and
takes one optimiser step per minibatch; every `eval_every` epochs (and after the last) the
validation scores are computed. Scores are lower-is-better and come per *head*:

- joint selection (one head, or heads that share parameters): the checkpoint with the best total
  score is kept; training stops after `patience` evaluations without an improvement of at least
  `min_delta`;
- per-head selection (`heads` maps each head to its own, disjoint parameters, as RTR's separate
  classifier and regressor): each head keeps its own best checkpoint and stops on its own; a
  stopped head no longer trains (its loss is left out), and training ends when every head stopped.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class TrainLog:
    best_epoch: dict[str, int]
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


def fit_minibatch(module: nn.Module, optimizer: torch.optim.Optimizer, n_train: int, batch_size: int, epochs: int,
                  gen: torch.Generator, train_loss: Callable[[torch.Tensor, set[str]], torch.Tensor],
                  val_scores: Callable[[], dict[str, float]], eval_every: int = 1, patience: int = 5,
                  heads: dict[str, list[nn.Parameter]] | None = None, min_delta: float = 0.0) -> TrainLog:
    """Train `module` in place and leave it at the selected checkpoint(s).

    train_loss(idx, active_heads) -> the loss of the minibatch of example indices `idx`;
    val_scores() -> {head: score} (lower is better), computed in eval mode.
    """
    per_head = heads is not None and len(heads) > 1
    names = list(heads) if per_head else ["all"]
    best = {h: math.inf for h in names}
    best_state: dict[str, dict] = {}
    best_epoch = {h: 0 for h in names}
    bad = {h: 0 for h in names}
    active = set(names)
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, epochs + 1):
        module.train()
        perm = torch.randperm(n_train, generator=gen)
        for start in range(0, n_train, batch_size):
            loss = train_loss(perm[start:start + batch_size], active if per_head else set(heads or ["all"]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % eval_every and epoch != epochs:
            continue
        module.eval()
        with torch.no_grad():
            scores = val_scores()
        history.append({"epoch": epoch, **scores})
        totals = {h: scores[h] for h in names} if per_head else {"all": float(sum(scores.values()))}
        for h in list(active):
            if totals[h] < best[h] - min_delta or best_epoch[h] == 0:
                best[h], best_epoch[h], bad[h] = totals[h], epoch, 0
                best_state[h] = copy.deepcopy(module.state_dict())
            else:
                bad[h] += 1
                if bad[h] >= patience:
                    active.discard(h)
        if not active:
            break
    if per_head:  # each head's parameters from its own best checkpoint
        state = module.state_dict()
        for h, params in heads.items():
            keys = {name for name, p in module.named_parameters() if any(p is q for q in params)}
            state.update({k: v for k, v in best_state[h].items() if k in keys})
        module.load_state_dict(state)
    else:
        module.load_state_dict(best_state["all"])
    module.eval()
    return TrainLog(best_epoch, epoch, history)
