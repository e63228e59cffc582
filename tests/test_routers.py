"""The router interface: registry, settings, fit/predict, saving and loading, staleness, modularity."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from concur import cache
from concur.config import load_config
from concur.errors import ConcurError
from concur.inputs import load_inputs
from concur.routers import REGISTRY, make_router, router_class
from concur.routers.base import Router
from concur.routers.ensemble import best_weights, simplex_grid
from conftest import write_tiny_answers, write_tiny_dataset
from predictor_fixtures import write_random_embeddings

# small, fast settings per router (the defaults are sized for real data)
FAST = {
    "concur": "predictor:\n  epochs: 4\n",
    "shared": "  shared: {epochs: 3, hidden_dim: 16}\n",
    "routellm-mf": "  routellm-mf: {epochs: 3}\n",
    "embedllm": "  embedllm: {epochs: 3}\n",
    "rtr": "  rtr: {epochs: 3}\n",
}


def tiny(tmp_path: Path, n_tasks: int = 40, strategies=None) -> Path:
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=n_tasks, strategies=strategies)
    routers = "".join(v for k, v in FAST.items() if k != "concur")
    write_tiny_answers(cfg)  # routers that read the models' answers (cascal) need them; the others ignore them
    cfg.write_text(cfg.read_text() + FAST["concur"] + "routers:\n" + routers)
    write_random_embeddings(cfg)
    return cfg


def fitted(cfg: Path, name: str, store: bool = True) -> tuple[Router, object, dict]:
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val", "test"))
    router = make_router(name, config)
    status = router.fit(inp, inp.ds.strategies, store=Path(config.predictor_path) if store else None,
                        log=lambda _m: None)
    return router, inp, status


def test_registry_names_map_to_router_classes():
    for name in REGISTRY:
        cls = router_class(name)
        assert issubclass(cls, Router) and cls.name == name and cls.summary
    with pytest.raises(ConcurError, match="unknown router 'nope'.*concur"):
        router_class("nope")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_router_fits_predicts_saves_and_loads(tmp_path, name):
    cfg = tiny(tmp_path)
    router, inp, status = fitted(cfg, name)
    assert set(status.values()) == {"trained"}
    assert len(status) == (len(inp.ds.strategies) if router.modular else 1)
    batch = inp.batch(inp.ds.test)
    est = router.predict(batch)
    assert est.strategies == inp.ds.strategies and est.prob.shape == (len(batch), 4) == est.cost.shape
    assert np.isfinite(est.prob).all() and (est.prob >= 0).all() and (est.prob <= 1).all()
    assert np.isfinite(est.cost).all() and (est.cost >= 0).all()
    # a subset of strategies gives the same columns
    sub = router.predict(batch, ["large_cot"])
    np.testing.assert_array_equal(sub.prob[:, 0], est.prob[:, est.strategies.index("large_cot")])
    # loading the saved router gives the same predictions; fitting again reuses every part
    config = load_config(cfg)
    again = make_router(name, config).load(inp, inp.ds.strategies, Path(config.predictor_path))
    loaded = again.predict(batch)
    np.testing.assert_array_equal(loaded.prob, est.prob)
    np.testing.assert_array_equal(loaded.cost, est.cost)
    _, _, status2 = fitted(cfg, name)
    assert set(status2.values()) == {"up to date"}


@pytest.mark.parametrize("name", ["concur", "knn", "shared"])
def test_changed_training_data_makes_the_saved_router_stale(tmp_path, name):
    cfg = tiny(tmp_path)
    fitted(cfg, name)
    df = pd.read_csv(cfg.parent / "train.csv")
    df.loc[0, "label"] = 1 - df.loc[0, "label"]
    df.to_csv(cfg.parent / "train.csv", index=False)
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val"))
    with pytest.raises(ConcurError, match="stale"):
        make_router(name, config).load(inp, inp.ds.strategies, Path(config.predictor_path))


def test_damaged_files_are_rebuilt_when_fitting_and_refused_when_loading(tmp_path):
    cfg = tiny(tmp_path)
    fitted(cfg, "concur")
    weights = cfg.parent / "predictors" / "accuracy_cls_small_cot.pt"
    weights.write_bytes(b"not a torch file")
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val"))
    with pytest.raises(ConcurError, match="accuracy_cls_small_cot.pt: contents differ"):
        make_router("concur", config).load(inp, inp.ds.strategies, Path(config.predictor_path))
    logs = []
    status = make_router("concur", config).fit(inp, inp.ds.strategies, store=Path(config.predictor_path), log=logs.append)
    assert status["small_cot"] == "trained" and sum(v == "up to date" for v in status.values()) == 3
    assert any("saved state damaged" in m and "accuracy_cls_small_cot.pt" in m for m in logs)
    (cfg.parent / "predictors" / "small_cot.json").write_text("{broken")
    with pytest.raises(ConcurError, match="small_cot.json: unreadable record"):
        make_router("concur", config).load(inp, inp.ds.strategies, Path(config.predictor_path))


def test_a_refused_pickle_is_one_line_naming_the_file(tmp_path):
    import pickle

    cfg = tiny(tmp_path)
    fitted(cfg, "shared")
    path = cfg.parent / "predictors" / "shared" / "router.net.pt"
    path.write_bytes(pickle.dumps(object()))
    rec_path = cfg.parent / "predictors" / "shared" / "router.json"
    rec = json.loads(rec_path.read_text())
    rec["files"]["router.net.pt"] = cache.sha256_of_file(path)  # a consistent record around a refused payload
    rec[cache.SEAL_KEY] = cache.seal(rec)
    rec_path.write_text(json.dumps(rec))
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val"))
    with pytest.raises(ConcurError, match=r"router\.net\.pt: cannot load"):
        make_router("shared", config).load(inp, inp.ds.strategies, Path(config.predictor_path))


def _without_large_cot(cfg: Path) -> None:
    for split in ("train", "val", "test"):
        df = pd.read_csv(cfg.parent / f"{split}.csv")
        df[~((df.model == "large") & (df.decoding == "cot"))].to_csv(cfg.parent / f"{split}.csv", index=False)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_adding_a_strategy_trains_only_it_when_modular_else_everything(tmp_path, name):
    cfg = tiny(tmp_path)
    full = {s: pd.read_csv(cfg.parent / f"{s}.csv") for s in ("train", "val", "test")}
    _without_large_cot(cfg)
    router, inp, status = fitted(cfg, name)
    assert "large_cot" not in inp.ds.strategies
    for s, df in full.items():
        df.to_csv(cfg.parent / f"{s}.csv", index=False)
    router2, inp2, status2 = fitted(cfg, name)
    assert router2.modular == router.modular
    if router.modular:
        assert status2 == {"small_vanilla": "up to date", "small_cot": "up to date", "large_vanilla": "up to date",
                           "large_cot": "trained"}
    else:  # one part over the whole pool: the new strategy changes it, so it is retrained from scratch
        assert status2 == {"router": "trained"}


def test_modularity_is_declared():
    modular = {n for n in REGISTRY if router_class(n).modular}
    assert {"concur", "knn", "subject-best"} <= modular
    assert not modular & {"shared", "routellm-mf", "embedllm", "rtr"}


def test_settings_are_validated_with_the_key_named(tmp_path):
    cfg = tiny(tmp_path)
    base = cfg.read_text().split("routers:\n")[0]
    for extra, pattern in (("  knn: {kk: 3}\n", "routers.knn.*unknown setting 'kk'"),
                           ("  knn: {k: [0]}\n", "routers.knn.*'k'"),
                           ("  shared: {epochs: three}\n", "routers.shared.*'epochs'"),
                           ("  ensemble: {members: [concur]}\n", "routers.ensemble.*members"),
                           ("  ensemble: {scope: everything}\n", "routers.ensemble.*scope")):
        cfg.write_text(base + "routers:\n" + extra)
        config = load_config(cfg)
        name = extra.split(":")[0].strip()
        with pytest.raises(ConcurError, match=pattern):
            make_router(name, config)
    cfg.write_text(base + "routers:\n  nosuch: {}\n")
    with pytest.raises(ConcurError, match="routers.nosuch.*unknown router"):
        load_config(cfg)


def test_ensemble_is_modular_only_when_its_members_are(tmp_path):
    cfg = tiny(tmp_path)
    config = load_config(cfg)
    assert make_router("ensemble", config).modular
    cfg.write_text(cfg.read_text() + "  ensemble: {members: [concur, shared]}\n")
    assert not make_router("ensemble", load_config(cfg)).modular
    cfg.write_text(cfg.read_text().replace("{members: [concur, shared]}", "{scope: pool}"))
    assert not make_router("ensemble", load_config(cfg)).modular


def test_simplex_grid_and_weight_choice():
    g = simplex_grid(3, 0.5)
    assert g.shape == (6, 3) and np.allclose(g.sum(1), 1)
    assert g[0].tolist() == [0.5, 0.5, 0.0] or np.abs(g[0] - 1 / 3).sum() <= np.abs(g[1:] - 1 / 3).sum(1).min()
    target = np.array([[1.0, 0.0], [0.0, 1.0]])
    good, bad = target.copy(), 1 - target
    mask = np.ones_like(target, dtype=bool)
    w = best_weights(np.stack([bad, good]), target, mask, simplex_grid(2, 0.25), "brier")
    assert w.tolist() == [0.0, 1.0]
    # only observed entries count
    mask[:, 1] = False
    w = best_weights(np.stack([good, good * 0 + 0.5]), target, mask, simplex_grid(2, 0.5), "mae")
    assert w.tolist() == [1.0, 0.0]


def test_subject_best_predicts_each_subjects_train_accuracy(tmp_path):
    cfg = tiny(tmp_path)
    router, inp, _ = fitted(cfg, "subject-best")
    tr = inp.ds.train
    j = tr.column("large_cot")
    subjects = np.array([inp.ds.tasks.records[i]["subject"] for i in tr.task_rows])
    batch = inp.batch(inp.ds.test)
    est = router.predict(batch, ["large_cot"])
    for i, rec in enumerate(batch.records):
        same = subjects == rec["subject"]
        assert est.prob[i, 0] == pytest.approx(tr.label[same, j].mean())
        assert est.cost[i, 0] == pytest.approx(tr.cost[same, j].mean())
    unknown = batch.take(np.array([0]))
    unknown.records = [{"question": "?", "subject": "astrology"}]
    est = router.predict(unknown, ["large_cot"])
    assert est.prob[0, 0] == pytest.approx(tr.label[:, j].mean())


def write_signal_dataset(root: Path, n: int = 360, dim: int = 8) -> Path:
    """Two strategies with opposite skills: 'a_x' is right when embedding feature 0 > 0, 'b_x' when it is < 0;
    b costs 10x more. The embeddings are written with matching sidecars (no model loads)."""
    import torch

    from concur.data import load_strategies, load_tasks
    from concur.embeddings import EmbeddingMeta, save_strategy_embeddings, save_task_embeddings, strategy_texts
    from concur.io import sha256_of_texts

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    (root / "task.json").write_text(json.dumps([{"question": f"q{i}"} for i in range(n)]))
    (root / "strategies.json").write_text(json.dumps({"model": {"a": "model a", "b": "model b"},
                                                      "decoding": {"x": "decoding x"}}))
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    f = emb[:, 0]
    rows = []
    for i in range(n):
        split = "train" if i < 0.6 * n else ("val" if i < 0.8 * n else "test")
        for m, ok, c in (("a", f[i] > 0, 1.0), ("b", f[i] < 0, 10.0)):
            rows.append({"question_id": i, "model": m, "decoding": "x", "label": int(ok),
                         "flops": c * float(np.exp(rng.normal(0, 0.05))), "split": split})
    df = pd.DataFrame(rows)
    for s in ("train", "val", "test"):
        df[df.split == s].drop(columns="split").to_csv(root / f"{s}.csv", index=False)
    from concur.config import folder_config_text

    (root / "config.yml").write_text(folder_config_text({"seed": 3}) + "predictor:\n  epochs: 60\n  patience: 20\n"
                                     "routers:\n  shared: {epochs: 60, hidden_dim: 32, lr: 0.003, batch_size: 32}\n"
                                     "  embedllm: {epochs: 100, lr: 0.01, batch_size: 64, dim: 16}\n"
                                     "  routellm-mf: {epochs: 60, lr: 0.01, batch_size: 64, dim: 16}\n"
                                     "  rtr: {epochs: 60, batch_size: 32, hidden_dim: 32, emb_dim: 8}\n")
    tasks, catalog = load_tasks(root / "task.json"), load_strategies(root / "strategies.json")
    texts = tasks.texts()
    save_task_embeddings(root / "task_embeddings.pt", torch.from_numpy(emb), tasks,
                         EmbeddingMeta("signal", sha256_of_texts(texts), dim, n, False, {}))
    st = strategy_texts(catalog)
    save_strategy_embeddings(root / "strategy_embeddings.pt", torch.from_numpy(rng.normal(size=(len(st), dim)).astype(np.float32)),
                             catalog, EmbeddingMeta("signal", sha256_of_texts(st), dim, len(st), False, {}))
    return root / "config.yml"


@pytest.mark.parametrize("name", ["concur", "knn", "shared", "routellm-mf", "embedllm", "rtr", "ensemble"])
def test_router_learns_which_strategy_is_right_and_what_it_costs(tmp_path, name):
    from concur import metrics

    cfg = write_signal_dataset(tmp_path / "ds")
    router, inp, _ = fitted(cfg, name, store=False)
    test = inp.ds.test
    est = router.predict(inp.batch(test))
    for j in range(2):  # opposite signals: the router must tell the strategies apart
        assert metrics.auroc(test.label[:, j], est.prob[:, j]) > 0.8, (name, j)
    assert np.median(est.cost[:, 1] / est.cost[:, 0]) == pytest.approx(10.0, rel=0.3), name
    # expected cost is a mean estimate: its total is within 10% of the realised total
    assert est.cost.sum() / test.cost.sum() == pytest.approx(1.0, rel=0.1), name


def test_the_readme_example_router_works(tmp_path, monkeypatch):
    """The README's 'Adding a router' example, run as written (imports made absolute for a module outside the package)."""
    import re
    import sys

    from concur import routers

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(# concur/routers/prior\.py.*?)```", text, re.S).group(1)
    code = code.replace("from ..", "from concur.").replace("from .base", "from concur.routers.base")
    (tmp_path / "prior_router.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(routers.REGISTRY, "prior", "prior_router:PriorRouter")
    cfg = tiny(tmp_path)
    router, inp, status = fitted(cfg, "prior")
    assert router.modular and set(status.values()) == {"trained"}
    est = router.predict(inp.batch(inp.ds.test))
    j = inp.ds.strategies.index("large_cot")
    _, _, y, c = __import__("concur.inputs", fromlist=["split_rows"]).split_rows(inp.ds.train, "large_cot")
    assert np.allclose(est.prob[:, j], (y.sum() + 0.5) / (len(y) + 1)) and np.allclose(est.cost[:, j], c.mean())
    assert "prior_router" in sys.modules


def test_cascal_never_reads_a_label(tmp_path):
    """Label-free: with every train/val label replaced at random, CASCAL fits to the same state,
    fingerprints and predictions."""
    import dataclasses

    cfg = tiny(tmp_path)
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val", "test"))
    rng = np.random.default_rng(5)
    poisoned = dict(inp.ds.splits)
    for name in ("train", "val"):
        s = inp.ds.splits[name]
        poisoned[name] = dataclasses.replace(s, label=np.where(s.observed, rng.integers(0, 2, s.label.shape), np.nan),
                                             extra=None)
    inp2 = dataclasses.replace(inp, ds=dataclasses.replace(inp.ds, splits=poisoned))
    a, b = make_router("cascal", config), make_router("cascal", config)
    a.fit(inp, inp.ds.strategies, log=lambda _m: None)
    b.fit(inp2, inp2.ds.strategies, log=lambda _m: None)
    assert a.fingerprints_ == b.fingerprints_
    batch = inp.batch(inp.ds.test)
    np.testing.assert_array_equal(a.predict(batch).prob, b.predict(batch).prob)
    np.testing.assert_array_equal(a.predict(batch).cost, b.predict(batch).cost)
    # while a gold-label router does read them
    k1, k2 = make_router("knn", config), make_router("knn", config)
    k1.fit(inp, inp.ds.strategies, log=lambda _m: None)
    k2.fit(inp2, inp2.ds.strategies, log=lambda _m: None)
    assert k1.fingerprints_ != k2.fingerprints_


def test_cascal_without_answers_is_one_line(tmp_path):
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=40)
    write_random_embeddings(cfg)
    config = load_config(cfg)
    inp = load_inputs(config, ("train", "val"))
    with pytest.raises(ConcurError, match="train_answers_path' is not set"):
        make_router("cascal", config).fit(inp, inp.ds.strategies, log=lambda _m: None)


def test_consensus_labels_replace_train_and_val_labels_only(tmp_path):
    cfg = tiny(tmp_path)
    gold_cfg = cfg.parent / "gold.yml"
    gold_cfg.write_text(cfg.read_text())
    cfg.write_text(cfg.read_text().replace("seed:", "labels: consensus\nseed:", 1))
    config = load_config(cfg)
    assert config.labels == "consensus" and load_config(gold_cfg).labels == "gold"
    gold = load_inputs(load_config(gold_cfg), ("train", "val", "test"))
    pseudo = load_inputs(config, ("train", "val", "test"))
    from concur.answers import load_split_answers
    from concur.consensus import consensus

    ans = load_split_answers(config, pseudo.ds.train)
    np.testing.assert_array_equal(np.nan_to_num(pseudo.ds.train.label, nan=-1),
                                  np.where(pseudo.ds.train.observed, consensus(ans.answer, ans.parsed).score, -1))
    np.testing.assert_array_equal(np.nan_to_num(pseudo.ds.test.label, nan=-1), np.nan_to_num(gold.ds.test.label, nan=-1))
    assert not np.array_equal(np.nan_to_num(pseudo.ds.train.label), np.nan_to_num(gold.ds.train.label))


def test_rtr_first_layer_blocks_equal_the_layer_over_the_concatenated_input():
    """RTR's first layer is held as task and strategy blocks; it computes, and starts from, the one Linear layer
    over [g_model; g_decoding; task; E_model; E_decoding] of the reference code."""
    from torch import nn

    import torch

    from concur.routers.rtr import RTRHead

    d, e, hidden = 6, 4, 5
    torch.manual_seed(3)
    head = RTRHead(d, 3, 2, e, hidden, out=2, softplus=False)
    torch.manual_seed(3)
    ref_emb_m, ref_emb_d, ref_first = nn.Embedding(3, e), nn.Embedding(2, e), nn.Linear(3 * d + 2 * e, hidden)
    assert torch.equal(head.model_emb.weight, ref_emb_m.weight) and torch.equal(head.decoding_emb.weight, ref_emb_d.weight)
    w = torch.cat([head.strategy_weight[:, :2 * d], head.task_weight, head.strategy_weight[:, 2 * d:]], dim=1)
    assert torch.equal(w, ref_first.weight) and torch.equal(head.task_bias, ref_first.bias)
    g = torch.Generator().manual_seed(0)
    n = 40
    model_id, decoding_id = torch.randint(0, 3, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
    table = torch.randn(3, 2, 2 * d, generator=g)  # description vectors per (model, decoding)
    q, vectors = torch.randn(n, d, generator=g), table[model_id, decoding_id]
    x = torch.cat([vectors, q, head.model_emb(model_id), head.decoding_emb(decoding_id)], dim=1)
    expected = head.rest(nn.functional.linear(x, w, head.task_bias))
    assert torch.allclose(head(q, model_id, decoding_id, vectors), expected, atol=1e-6)


def test_rtr_loss_without_the_stopped_classifier_trains_the_regressor_bit_for_bit_as_before():
    """Once RTR's classifier has stopped, its loss runs the regressor alone; the regressor's gradients are the
    same bits as from the whole network's stacked output (the loss before), and the classifier gets none."""
    import torch
    from torch import nn

    from concur.routers.rtr import RTRNet, rtr_loss

    torch.manual_seed(0)
    net = RTRNet(16, [0, 1, 2, 0], [0, 0, 1, 1], 4, 8)
    g = torch.Generator().manual_seed(1)
    n = 64
    q, strategy = torch.randn(n, 16, generator=g), torch.randint(0, 4, (n,), generator=g)
    vectors, label = torch.randn(4, 32, generator=g)[strategy], (torch.rand(n, generator=g) < 0.5).float()
    z = torch.rand(n, generator=g) * 50

    def grads(loss_fn) -> dict[str, torch.Tensor | None]:
        net.zero_grad(set_to_none=True)
        loss_fn().backward()
        return {k: None if p.grad is None else p.grad.clone() for k, p in net.named_parameters()}

    before = grads(lambda: 0.0 + nn.functional.mse_loss(net(q, strategy, vectors)[:, 1], z))
    after = grads(lambda: rtr_loss(net, q, strategy, vectors, label, z, {"regressor"}))
    for name, grad in after.items():
        if name.startswith("classifier."):
            assert grad is None, name
        else:
            assert grad is not None and torch.equal(grad, before[name]), name
    both = grads(lambda: rtr_loss(net, q, strategy, vectors, label, z, {"classifier", "regressor"}))
    assert all(both[k] is not None for k in both)
    out = net(q, strategy, vectors)
    assert torch.equal(rtr_loss(net, q, strategy, vectors, label, z, {"classifier", "regressor"}),
                       nn.functional.binary_cross_entropy_with_logits(out[:, 0], label)
                       + nn.functional.mse_loss(out[:, 1], z))
