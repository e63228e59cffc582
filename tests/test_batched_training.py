"""Batched training of CONCUR's per-strategy predictors (concur/training.py fit_strategies, the
Router.fit_parts hook): training strategies together gives each strategy the same bytes as training
it alone, whatever the group, its order, or the strategies' row counts and stopping epochs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import concur.training
from concur.config import load_config
from concur.inputs import load_inputs
from concur.routers import make_router
from concur.training import StackedNets, fit_strategies, padded_widths
from conftest import write_tiny_dataset
from predictor_fixtures import write_random_embeddings
from test_predictors import pcfg, synthetic

CPU = torch.device("cpu")
QUIET = lambda _m: None  # noqa: E731


def fingerprint(fit) -> tuple:
    """Everything a strategy's training produces: its networks' saved bytes, scaling, temperature, epochs."""
    saved = []
    for net in (fit.cls_net, fit.reg_net):
        buf = io.BytesIO()
        torch.save(net.state_dict(), buf)
        saved.append(buf.getvalue())
    return (*saved, fit.scaling.to_json(), fit.temperature, fit.constant_prob, fit.best_epoch, fit.epochs_run,
            fit.history)


def strategies(d: int) -> list:
    """Different row counts (so epochs of different lengths and partial last minibatches), validation sizes,
    and one strategy whose labels are all 1 (a constant classifier: only its regressor trains)."""
    return [synthetic(n=300, n_val=150, d=d, seed=0), synthetic(n=217, n_val=91, d=d, seed=1),
            synthetic(n=129, n_val=40, d=d, seed=2), synthetic(n=64, n_val=33, d=d, seed=3),
            synthetic(n=100, n_val=50, d=d, seed=4, labels=np.ones(150))]


SEEDS = [11, 22, 33, 44, 55]
CASES = {
    # small widths and a batch that is not a multiple of the row padding; networks stop at different epochs
    "small": (12, dict(epochs=40, batch_size=50, emb_dim=6, hidden_dim=5, patience=2, lr=3e-3, cost_lr=3e-3)),
    # odd text dimension (e.g. task feature columns), raw cost target (Softplus regressor), validation every 2
    "odd": (19, dict(epochs=16, batch_size=32, emb_dim=7, hidden_dim=9, patience=2, lr=3e-3, cost_lr=3e-3, cost_target="raw",
                     eval_every=2)),
    "general": (16, dict(epochs=8, batch_size=128, patience=2, representation="general")),
    "task-specific": (16, dict(epochs=8, batch_size=128, patience=2, representation="task-specific")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batched_training_equals_one_at_a_time(case):
    d, over = CASES[case]
    cfg = pcfg(**over)
    datas = strategies(d)
    alone = [fingerprint(fit_strategies([x], cfg, [s], CPU, warn=QUIET)[0]) for x, s in zip(datas, SEEDS)]
    together = [fingerprint(f) for f in fit_strategies(datas, cfg, SEEDS, CPU, warn=QUIET)]
    reversed_ = [fingerprint(f) for f in fit_strategies(datas[::-1], cfg, SEEDS[::-1], CPU, warn=QUIET)][::-1]
    pair = [fingerprint(f) for f in fit_strategies(datas[1:3], cfg, SEEDS[1:3], CPU, warn=QUIET)]
    for i in range(len(datas)):
        assert together[i] == alone[i], f"strategy {i} differs when trained with the others"
        assert reversed_[i] == alone[i], f"strategy {i} differs in another position"
    assert pair == alone[1:3]
    if case == "small":  # the case exercises early stopping: networks drop out of the group at different epochs
        assert len({(a[5]["cls"], a[5]["reg"], a[6]) for a in alone}) == len(alone)
        assert any(a[6] < over["epochs"] for a in alone)


def test_training_alone_is_deterministic_and_seeds_differ():
    cfg = pcfg(epochs=5, batch_size=40, emb_dim=6, hidden_dim=5)
    data = synthetic(d=10)
    a, b = (fingerprint(fit_strategies([data], cfg, [7], CPU, warn=QUIET)[0]) for _ in range(2))
    c = fingerprint(fit_strategies([data], cfg, [8], CPU, warn=QUIET)[0])
    assert a == b and a[:2] != c[:2]


def test_each_role_trains_at_its_own_learning_rate():
    """predictor.lr drives the classifiers and predictor.cost_lr the regressors, and nothing else: changing
    one leaves the other role's network, checkpoint and history exactly as they were."""
    datas = strategies(12)[:3]
    seeds = SEEDS[:3]
    base = dict(epochs=12, batch_size=50, emb_dim=6, hidden_dim=5, patience=2)

    def fits(lr, cost_lr):
        return [fingerprint(f) for f in fit_strategies(datas, pcfg(**base, lr=lr, cost_lr=cost_lr), seeds, CPU,
                                                       warn=QUIET)]

    ref, faster_cost, faster_cls = fits(3e-4, 3e-4), fits(3e-4, 3e-3), fits(3e-3, 3e-4)
    for r, c, k in zip(ref, faster_cost, faster_cls):
        assert c[0] == r[0] and c[5]["cls"] == r[5]["cls"]  # the classifier did not see cost_lr
        assert c[1] != r[1]  # the regressor did
        assert k[1] == r[1] and k[5]["reg"] == r[5]["reg"]  # and the other way round
        assert k[0] != r[0]
        logloss = lambda fp: [h["val_logloss"] for h in fp[7] if "val_logloss" in h]  # noqa: E731
        assert logloss(c) == logloss(r)


@pytest.mark.parametrize("d,e,h", [(384, 64, 100), (12, 6, 5), (19, 7, 9), (391, 33, 17)])
def test_padded_widths_align_every_slice(d, e, h):
    hp, ep = padded_widths(d, e, h)
    assert hp >= h and ep >= e and hp - h < 4
    if (d, e, h) == (384, 64, 100):
        assert (hp, ep) == (100, 64)  # the default sizes need no pad units
    # per-network matrices of the stacked products: W_x and its gradient, the projection, its weight and gradient
    for numel in (d * (hp + ep), hp * ep):
        assert numel % concur.training.ALIGN == 0


def test_pad_units_stay_zero_and_export_drops_them():
    d, e, h = 10, 5, 7
    data = synthetic(d=d)
    fit = fit_strategies([data], pcfg(epochs=3, emb_dim=e, hidden_dim=h), [1], CPU, warn=QUIET)[0]
    assert fit.cls_net.mlp[0].weight.shape == (h, 3 * d + 3 * e)
    nets = [fit.cls_net, fit.reg_net]
    stacked = StackedNets(nets, [torch.cat([data.g_model, data.g_decoding])] * 2)
    hp, ep = stacked.hp, stacked.ep
    assert (hp, ep) != (h, e)  # this case has pad units
    v = stacked.views()
    assert not v["wx"][:, h:hp].any() and not v["w1c"][:, h:].any() and not v["w2"][:, h:].any()
    assert not v["wx"][:, hp + e:].any() and not v["bp"][:, e:].any()
    x = data.val_x.expand(2, -1, -1)
    for i, net in enumerate(nets):
        torch.testing.assert_close(stacked(x)[i], net(data.val_x, data.g_model, data.g_decoding), rtol=1e-5, atol=1e-5)


def _train_router(cfg_path: Path, store: Path, names: list[str]) -> dict[str, bytes]:
    config = load_config(cfg_path)
    inp = load_inputs(config, ("train", "val"))
    router = make_router("concur", config)
    status = router.fit(inp, names, store=store, log=QUIET)
    assert set(status.values()) == {"trained"}
    return {p.name: p.read_bytes() for p in sorted(store.iterdir()) if p.is_file()}


def test_router_saves_the_same_bytes_alone_and_together(tmp_path, monkeypatch):
    """The CONCUR router trains every strategy that needs training in one fit_strategies call, and each
    strategy's saved files (weights and record) are byte-identical to training it alone."""
    cfg_path = write_tiny_dataset(tmp_path / "ds", n_tasks=60)
    cfg_path.write_text(cfg_path.read_text() + "predictor:\n  epochs: 12\n  patience: 2\n  lr: 0.003\n  cost_lr: 0.003\n"
                        "  batch_size: 8\n  hidden_dim: 6\n  emb_dim: 5\n")
    # strategies with different row counts: drop some of one strategy's training rows
    train = pd.read_csv(cfg_path.parent / "train.csv")
    drop = train[(train.model == "small") & (train.decoding == "cot")].index[:5]
    train.drop(index=drop).to_csv(cfg_path.parent / "train.csv", index=False)
    write_random_embeddings(cfg_path)
    pool = load_inputs(load_config(cfg_path), ("train", "val")).ds.strategies
    assert len(pool) == 4

    calls = []
    real = concur.training.fit_strategies
    monkeypatch.setattr("concur.routers.concur.fit_strategies",
                        lambda datas, *a, **k: calls.append(len(datas)) or real(datas, *a, **k))
    together = _train_router(cfg_path, tmp_path / "together", pool)
    assert calls == [4]  # one vectorised loop for all four
    alone: dict[str, bytes] = {}
    for name in pool:
        alone.update(_train_router(cfg_path, tmp_path / f"alone_{name}", [name]))
    assert sorted(together) == sorted(alone) and len(together) == 4 * 3
    for fname in together:
        assert together[fname] == alone[fname], fname

    # a part that is current is reused; only the stale ones train, together
    calls.clear()
    (tmp_path / "together" / "accuracy_cls_small_cot.pt").unlink()
    (tmp_path / "together" / "cost_reg_large_vanilla.pt").unlink()
    again = _train_router_status(cfg_path, tmp_path / "together", pool)
    assert again == {"small_vanilla": "up to date", "small_cot": "trained", "large_vanilla": "trained",
                     "large_cot": "up to date"}
    assert calls == [2]
    assert {p.name: p.read_bytes() for p in (tmp_path / "together").iterdir() if p.is_file()} == together


def _train_router_status(cfg_path: Path, store: Path, names: list[str]) -> dict[str, str]:
    config = load_config(cfg_path)
    inp = load_inputs(config, ("train", "val"))
    return make_router("concur", config).fit(inp, names, store=store, log=QUIET)


def test_non_cpu_devices_train_one_strategy_at_a_time():
    assert concur.training.group_size(torch.device("cpu")) > 1
    assert concur.training.group_size(torch.device("cuda")) == 1  # byte identity is not established there
