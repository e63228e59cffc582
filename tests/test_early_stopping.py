"""Minibatch training with checkpoint selection (concur/early_stopping.py) and the MF router's comparisons."""
import numpy as np
import torch
from torch import nn

from concur.early_stopping import fit_minibatch
from concur.routers.pool import PoolRows
from concur.routers.routellm_mf import preference_pairs


def _scripted(scores_by_epoch: list[dict[str, float]], heads=None, patience=2, eval_every=1):
    """A module whose parameters record the epoch; validation scores follow a script."""
    net = nn.Module()
    net.a = nn.Parameter(torch.zeros(1))
    net.b = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    state = {"epoch": 0}

    def loss(idx, active):
        # each step moves every active head's parameter by exactly +1 per epoch (one batch)
        return -sum(p.sum() for name, p in (("a", net.a), ("b", net.b)) if heads is None or name in active)

    def val():
        state["epoch"] += 1
        return scores_by_epoch[state["epoch"] - 1]

    hd = None if heads is None else {"a": [net.a], "b": [net.b]}
    log = fit_minibatch(net, opt, 4, 4, len(scores_by_epoch) * eval_every, torch.Generator().manual_seed(0), loss, val,
                        eval_every=eval_every, patience=patience, heads=hd)
    return net, log


def test_joint_selection_keeps_the_best_epoch_and_stops_on_patience():
    script = [{"x": 3.0}, {"x": 1.0}, {"x": 2.0}, {"x": 2.5}, {"x": 0.1}]
    net, log = _scripted(script)
    assert log.best_epoch == {"all": 2} and log.epochs_run == 4  # stopped after 2 evaluations without gain
    assert net.a.item() == 2.0  # the parameters as they were after epoch 2


def test_per_head_selection_keeps_each_heads_own_checkpoint():
    script = [{"a": 3.0, "b": 5.0}, {"a": 1.0, "b": 4.0}, {"a": 2.0, "b": 3.0}, {"a": 2.0, "b": 2.0},
              {"a": 0.0, "b": 1.0}, {"a": 0.0, "b": 1.5}]
    net, log = _scripted(script, heads=True)
    assert log.best_epoch == {"a": 2, "b": 5}
    assert net.a.item() == 2.0 and net.b.item() == 5.0
    # head a stopped after epoch 4 and was not trained afterwards
    assert log.epochs_run == 6


def test_preference_pairs_join_each_tasks_winners_and_losers():
    rows = PoolRows(task=torch.tensor([0, 0, 0, 1, 1, 2]), strategy=torch.tensor([0, 1, 2, 0, 2, 1]),
                    label=torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]), cost=torch.ones(6))
    task, win, lose = preference_pairs(rows)
    got = sorted(zip(task.tolist(), win.tolist(), lose.tolist()))
    assert got == [(0, 0, 1), (0, 2, 1)]  # task 1 has no winner, task 2 no loser


def test_preference_pairs_count_matches_brute_force():
    rng = np.random.default_rng(0)
    n, s = 50, 5
    t, j = np.meshgrid(np.arange(n), np.arange(s), indexing="ij")
    keep = rng.random((n, s)) < 0.8
    y = (rng.random((n, s)) < 0.5)[keep]
    rows = PoolRows(torch.as_tensor(t[keep]), torch.as_tensor(j[keep]), torch.as_tensor(y, dtype=torch.float32),
                    torch.ones(int(keep.sum())))
    task, win, lose = preference_pairs(rows)
    want = {(a, b, c) for a, b, ya in zip(t[keep], j[keep], y) for a2, c, yc in zip(t[keep], j[keep], y)
            if a == a2 and ya and not yc}
    assert set(zip(task.tolist(), win.tolist(), lose.tolist())) == want and len(task) == len(want)
