"""Warm start of new strategies' networks (concur/warm_start.py, predictor.warm_start in the CONCUR router)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from concur.config import load_config
from concur.inputs import load_inputs
from concur.predictors import accuracy_classifier, cost_regressor
from concur.routers import make_router
from concur.warm_start import choose_donor, fit_of, logit_shift, warm_copy
from conftest import write_tiny_dataset
from predictor_fixtures import write_random_embeddings

QUIET = lambda _m: None  # noqa: E731


def test_logit_shift_matches_the_base_rate():
    rng = np.random.default_rng(0)
    logits = rng.normal(1.5, 2.0, 500)
    labels = (rng.random(500) < 0.2).astype(float)
    s = logit_shift(logits, labels)
    assert s < 0  # the logits said ~75% correct, the labels 20%
    assert np.mean(1 / (1 + np.exp(-(logits + s)))) == pytest.approx(labels.mean(), abs=1e-9)


def test_fit_of_shifts_the_regressor_output_to_the_target_mean():
    out = np.array([0.0, 1.0, 2.0])
    shift, loss = fit_of("reg", out, out + 3.0)
    assert shift == pytest.approx(3.0) and loss == pytest.approx(0.0)
    assert fit_of("reg", out, out + 3.0, shiftable=False) == (0.0, pytest.approx(9.0))


def test_choose_donor_picks_the_best_fit_after_the_shift():
    rng = np.random.default_rng(1)
    target = rng.normal(size=200)
    outputs = {"offset": target + 5.0,  # a perfect fit once shifted, though far off before
               "noisy": target + rng.normal(scale=0.5, size=200),
               "unrelated": rng.normal(size=200)}
    name, shift, loss = choose_donor("reg", outputs, target)
    assert (name, shift, loss) == ("offset", pytest.approx(-5.0), pytest.approx(0.0, abs=1e-12))
    assert choose_donor("reg", {}, target) is None
    # the classifier is scored by log-loss after its logit shift
    labels = (target > 0).astype(float)
    name, _, _ = choose_donor("cls", {"sharp": 8 * target - 2.0, "flat": 0.01 * target}, labels)
    assert name == "sharp"


@pytest.mark.parametrize("representation", ["both", "general", "task-specific"])
@pytest.mark.parametrize("make", [accuracy_classifier, lambda d, e, h, r: cost_regressor(d, e, h, "log", r)])
def test_warm_copy_computes_the_donors_function_for_the_new_strategy(make, representation):
    torch.manual_seed(0)
    d = 12
    net = make(d, 5, 7, representation)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    x = torch.randn(30, d)
    gm_from, gd_from, gm_to, gd_to = (torch.randn(d) for _ in range(4))
    copy = warm_copy(net, torch.cat([gm_from, gd_from]), torch.cat([gm_to, gd_to]), shift=0.75)
    want = net(x, gm_from, gd_from) + 0.75
    torch.testing.assert_close(copy(x, gm_to, gd_to), want, rtol=1e-5, atol=1e-5)
    if representation != "task-specific":  # the description vectors matter, so the copy is not the original
        assert not torch.allclose(net(x, gm_to, gd_to) + 0.75, want, atol=1e-3)
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(net.parameters(), copy.parameters()))


def _dataset(tmp_path: Path) -> Path:
    cfg_path = write_tiny_dataset(tmp_path / "ds", n_tasks=90)
    cfg_path.write_text(cfg_path.read_text() + "predictor:\n  epochs: 15\n  patience: 3\n  lr: 0.003\n  cost_lr: 0.003\n"
                        "  batch_size: 8\n  hidden_dim: 6\n  emb_dim: 5\n")
    write_random_embeddings(cfg_path)
    return cfg_path


def _fit(cfg_path: Path, store: Path, names: list[str], warm: str) -> dict[str, str]:
    config = load_config(cfg_path)
    config.predictor["warm_start"] = warm
    inp = load_inputs(config, ("train", "val"))
    return make_router("concur", config).fit(inp, names, store=store, log=QUIET)


def _files(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.iterdir()) if p.is_file()}


def _origin(store: Path, part: str):
    return json.loads((store / f"{part}.json").read_text())["meta"]["initialised_from"]


def test_warm_start_is_a_checked_choice_off_in_the_reference_preset(tmp_path):
    from concur.config import PATH_KEYS, parse_config
    from concur.errors import ConcurError

    base = {k: f"./x/{k}" for k in PATH_KEYS}
    assert parse_config(base, tmp_path).predictor["warm_start"] == "cost"
    assert parse_config({**base, "predictor": {"preset": "reference"}}, tmp_path).predictor["warm_start"] == "none"
    for bad in (True, "all"):
        with pytest.raises(ConcurError, match="predictor.warm_start"):
            parse_config({**base, "predictor": {"warm_start": bad}}, tmp_path)


@pytest.mark.parametrize("warm", ["both", "cost"])
def test_router_warm_starts_only_from_loaded_parts(tmp_path, warm):
    cfg_path = _dataset(tmp_path)
    pool = ["large_cot", "large_vanilla", "small_cot", "small_vanilla"]
    old, new = pool[:2], pool[2:]
    roles = {"both": {"cls", "reg"}, "cost": {"reg"}}[warm]

    # nothing loaded: warm_start changes nothing (same bytes, no origin)
    cold_all, warm_all = tmp_path / "cold_all", tmp_path / "warm_all"
    _fit(cfg_path, cold_all, pool, warm="none")
    _fit(cfg_path, warm_all, pool, warm=warm)
    assert _files(cold_all) == _files(warm_all)
    assert all(_origin(warm_all, s) is None for s in pool)

    def update(tag: str, warm: bool, groups: list[list[str]]) -> Path:
        store = tmp_path / tag
        _fit(cfg_path, store, old, warm="none")
        for group in groups:  # every update loads the old parts; the new ones of earlier groups too
            status = _fit(cfg_path, store, old + group, warm=warm)
            assert sorted(k for k, v in status.items() if v == "trained") == sorted(group)
        return store

    cold, warmed = update("cold", "none", [new]), update("warm", warm, [new])
    for s in new:
        origin = _origin(warmed, s)
        assert origin is not None and set(origin) == roles and set(origin.values()) <= set(old), origin
        assert _origin(cold, s) is None
        for role, fname in (("cls", f"accuracy_cls_{s}.pt"), ("reg", f"cost_reg_{s}.pt")):
            same = (cold / fname).read_bytes() == (warmed / fname).read_bytes()
            assert same == (role not in roles), fname  # only the warm-started roles change
    for s in old:  # the loaded parts are untouched
        for f in (f"accuracy_cls_{s}.pt", f"cost_reg_{s}.pt", f"{s}.json"):
            assert (warmed / f).read_bytes() == (cold / f).read_bytes()
    # only new strategies start warm: a damaged part is rebuilt from scratch (as the cold update trained it)
    (warmed / "cost_reg_small_cot.pt").unlink()
    status = _fit(cfg_path, warmed, pool, warm=warm)
    assert [k for k, v in status.items() if v == "trained"] == ["small_cot"]
    assert _origin(warmed, "small_cot") is None
    for f in ("accuracy_cls_small_cot.pt", "cost_reg_small_cot.pt"):
        assert (warmed / f).read_bytes() == (cold / f).read_bytes()
    (warmed / "small_cot.json").unlink()  # no record: a new strategy again, so it starts warm
    assert _fit(cfg_path, warmed, old + ["small_cot"], warm=warm)["small_cot"] == "trained"
    assert _origin(warmed, "small_cot") is not None
    # a new part does not depend on the new parts trained beside it, nor on whether the old ones were
    # requested (predictor.py --strategy X): alone, with the old parts only saved in the folder = together
    for s in new:
        alone = tmp_path / f"alone_{s}"
        _fit(cfg_path, alone, old, warm="none")
        assert _fit(cfg_path, alone, [s], warm=warm) == {s: "trained"}
        for f in (f"accuracy_cls_{s}.pt", f"cost_reg_{s}.pt", f"{s}.json"):
            assert (alone / f).read_bytes() == (warmed / f).read_bytes(), f
