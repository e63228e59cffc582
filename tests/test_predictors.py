"""Unit tests of the CONCUR predictor model, its training loop and the training job."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import concur.data
from concur.config import SCHEMA, load_config
from concur.predictors import StrategyNet, accuracy_classifier, cost_regressor
from concur.router_jobs import train_router
from concur.routers.base import strategy_seed
from concur.training import StackedNets, StrategyData, fit_strategy, fit_temperature, forward_all
from conftest import write_tiny_dataset
from predictor_fixtures import write_random_embeddings

CPU = torch.device("cpu")


def pcfg(**over):
    cfg = {k: v[1] for k, v in SCHEMA["predictor"].items()}
    cfg.update({"epochs": 30, **over})
    return cfg


def synthetic(n=300, n_val=150, d=12, seed=0, labels=None):
    """Labels and costs that depend on the task embedding, so a predictor can learn them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, d, generator=g)
    w = torch.randn(d, generator=g)
    logit = (x @ w).numpy() * 1.5
    rng = np.random.default_rng(seed)
    y = (rng.random(n + n_val) < 1 / (1 + np.exp(-logit))).astype(float) if labels is None else labels
    c = np.exp(1 + 0.5 * x[:, 0].numpy() + 0.1 * rng.standard_normal(n + n_val))
    return StrategyData(torch.randn(d, generator=g), torch.randn(d, generator=g),
                        x[:n], y[:n], c[:n], x[n:], y[n:], c[n:])


@pytest.mark.parametrize("text_dim", [384, 768])
@pytest.mark.parametrize("emb_dim,hidden", [(64, 100), (16, 8)])
def test_shapes_for_two_embedding_sizes(text_dim, emb_dim, hidden):
    net = accuracy_classifier(text_dim, emb_dim, hidden)
    assert net.mlp[0].in_features == 3 * text_dim + 3 * emb_dim
    assert net.task_proj.weight.shape == (emb_dim, text_dim)
    x = torch.randn(5, text_dim)
    out = net(x, torch.randn(text_dim), torch.randn(text_dim))
    assert out.shape == (5,)
    reg = cost_regressor(text_dim, emb_dim, hidden, "raw")
    assert (reg(x, torch.randn(text_dim), torch.randn(text_dim)) >= 0).all()
    with pytest.raises(ValueError):
        net(torch.randn(5, text_dim + 1), torch.randn(text_dim), torch.randn(text_dim))


def test_stacked_nets_compute_the_same_function_and_export_back():
    d = 20
    nets = [accuracy_classifier(d, 8, 6), cost_regressor(d, 8, 6, "raw"), accuracy_classifier(d, 8, 6)]
    gs = [(torch.randn(d), torch.randn(d)) for _ in nets]
    stacked = StackedNets(nets, [torch.cat(g) for g in gs])
    xs = torch.randn(len(nets), 9, d)  # each network its own rows
    out = stacked(xs)
    assert out.shape == (3, 9)
    torch.testing.assert_close(stacked(xs[[0, 2]], [0, 2]), out[[0, 2]])  # a subset of the networks
    for i, net in enumerate(nets):
        torch.testing.assert_close(out[i], net(xs[i], *gs[i]), rtol=1e-5, atol=1e-5)
        fresh = StrategyNet(d, 8, 6, softplus=i == 1)
        stacked.export(stacked.slice_state(i), fresh)
        for (k, a), b in zip(net.state_dict().items(), fresh.state_dict().values()):
            assert torch.equal(a, b), k


def test_fit_learns_signal_and_selects_on_validation():
    data = synthetic()
    fit = fit_strategy(data, pcfg(eval_every=3), seed=1, device=CPU)
    p = 1 / (1 + np.exp(-forward_all(fit.cls_net, data.val_x, data.g_model, data.g_decoding, CPU) / fit.temperature))
    from concur.metrics import auroc
    assert auroc(data.val_y, p) > 0.75
    # the kept checkpoint is the one with the best validation log-loss among the evaluations
    scored = [h for h in fit.history if "val_logloss" in h]
    assert fit.best_epoch["cls"] == min(scored, key=lambda h: h["val_logloss"])["epoch"]
    scored = [h for h in fit.history if "val_mse" in h]
    assert fit.best_epoch["reg"] == min(scored, key=lambda h: h["val_mse"])["epoch"]
    assert all(h["epoch"] % 3 == 0 or h["epoch"] == fit.epochs_run for h in fit.history)


def test_accuracy_selection_keeps_first_best_accuracy():
    fit = fit_strategy(synthetic(seed=3), pcfg(selection="accuracy"), seed=2, device=CPU)
    scored = [h for h in fit.history if "val_accuracy" in h]
    best = max(h["val_accuracy"] for h in scored)
    assert fit.best_epoch["cls"] == next(h["epoch"] for h in scored if h["val_accuracy"] == best)


def test_training_is_deterministic_and_seeded_per_strategy():
    data = synthetic()
    a = fit_strategy(data, pcfg(epochs=6), seed=5, device=CPU)
    b = fit_strategy(data, pcfg(epochs=6), seed=5, device=CPU)
    c = fit_strategy(data, pcfg(epochs=6), seed=6, device=CPU)
    for x, y in ((a.cls_net, b.cls_net), (a.reg_net, b.reg_net)):
        for t1, t2 in zip(x.state_dict().values(), y.state_dict().values()):
            assert torch.equal(t1, t2)
    assert not torch.equal(a.cls_net.mlp[0].weight, c.cls_net.mlp[0].weight)


def test_strategy_seed_is_stable_across_processes():
    code = "from concur.routers.base import strategy_seed; print(strategy_seed(123, 'qwen7b_cot'))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert outs == {f"{strategy_seed(123, 'qwen7b_cot')}\n"}
    assert strategy_seed(123, "qwen7b_cot") != strategy_seed(123, "qwen7b_vanilla")
    assert strategy_seed(123, "qwen7b_cot") != strategy_seed(124, "qwen7b_cot")


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_single_class_strategy_gets_constant_probability(value):
    base = synthetic()
    data = synthetic(labels=np.full(len(base.train_y) + len(base.val_y), value))
    warnings = []
    fit = fit_strategy(data, pcfg(epochs=6), seed=1, device=CPU, warn=warnings.append, name="m_d")
    assert fit.constant_prob is not None and 0 < fit.constant_prob < 1
    assert (fit.constant_prob > 0.5) == (value == 1.0)
    assert len(warnings) == 1 and "m_d" in warnings[0]
    logits = forward_all(fit.cls_net, data.val_x, data.g_model, data.g_decoding, CPU)
    assert np.allclose(1 / (1 + np.exp(-logits)), fit.constant_prob)
    assert fit.temperature == 1.0


def test_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(0)
    true_logit = rng.standard_normal(2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    assert fit_temperature(true_logit * 4, y) == pytest.approx(4, rel=0.25)
    assert fit_temperature(true_logit, np.ones(2000)) == 1.0


def test_training_job_never_reads_test_data(tmp_path, monkeypatch):
    cfg_path = write_tiny_dataset(tmp_path / "ds", n_tasks=40)
    write_random_embeddings(cfg_path)
    cfg = load_config(cfg_path)
    cfg.predictor["epochs"] = 6
    real = concur.data.read_outcome_csv
    read = []

    def spy(path, split=""):
        read.append(split)
        if split == "test":
            raise AssertionError("training read the test split")
        return real(path, split)

    monkeypatch.setattr(concur.data, "read_outcome_csv", spy)
    status, _, _ = train_router(cfg, "concur", ["all"], log=lambda m: None, progress=False)
    assert set(status.values()) == {"trained"} and len(status) == 4
    assert sorted(set(read)) == ["train", "val"]
    # checkpoints and saved files do not depend on the test labels: flip them all, retrain, compare bytes
    saved = lambda: {p: p.read_bytes() for p in (tmp_path / "ds" / "predictors").glob("*")}  # noqa: E731
    before = saved()
    assert len(before) == 4 * 3
    test_csv = tmp_path / "ds" / "test.csv"
    test_csv.write_text(test_csv.read_text().replace(",1,", ",9,"))  # test now unreadable as outcomes
    monkeypatch.setattr(concur.data, "read_outcome_csv", real)
    train_router(cfg, "concur", ["all"], force=True, log=lambda m: None, progress=False)
    assert before == saved()


@pytest.mark.parametrize("rep", ["general", "task-specific"])
def test_representation_ablation_uses_only_its_part(rep):
    d = 12
    net = StrategyNet(d, 6, 5, representation=rep)
    x, gm, gd = torch.randn(7, d), torch.randn(d), torch.randn(d)
    before = net(x, gm, gd)
    with torch.no_grad():
        if rep == "general":  # the task-specific part must not matter
            net.task_proj.weight.normal_()
            net.model_emb.weight.normal_()
            after = net(x, gm, gd)
        else:  # the general vectors must not matter, only W g_task
            after = net(x, gm * 5, -gd)
    torch.testing.assert_close(before, after)
    stacked = StackedNets([net, StrategyNet(d, 6, 5, softplus=True, representation=rep)], [torch.cat([gm, gd])] * 2)
    torch.testing.assert_close(stacked(x.expand(2, -1, -1))[0], net(x, gm, gd), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        StrategyNet(d, 6, 5, representation="neither")


def test_ablation_trains_and_differs_from_the_full_model():
    data = synthetic()
    full = fit_strategy(data, pcfg(epochs=6), seed=5, device=CPU)
    gen = fit_strategy(data, pcfg(epochs=6, representation="general"), seed=5, device=CPU)
    assert gen.cls_net.representation == "general"
    p_full = forward_all(full.cls_net, data.val_x, data.g_model, data.g_decoding, CPU)
    p_gen = forward_all(gen.cls_net, data.val_x, data.g_model, data.g_decoding, CPU)
    assert not np.allclose(p_full, p_gen)
