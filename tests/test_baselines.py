"""Shared-model baseline, kNN/ensemble pred files, best single on validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from concur import metrics
from concur.baselines import (best_single_on_val, knn_matrices, pred_table, train_shared, write_pred_files)
from concur.data import PRED_COLUMNS, SplitOutcomes
from concur.routing import load_predictions


def _split(name, rows, label, cost, strategies):
    qids = np.array([f"q{r}" for r in rows], dtype=object)
    return SplitOutcomes(name, None, qids, np.asarray(rows), strategies, label, cost)


def synthetic(n=600, d=8, seed=0):
    """Two strategies: 'a_x' is right when feature 0 > 0, 'b_x' when it is < 0; b costs 10x more."""
    rng = np.random.default_rng(seed)
    emb = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    f = emb[:, 0].numpy()
    label = np.stack([(f > 0), (f < 0)], axis=1).astype(float)
    cost = np.stack([np.full(n, 1.0), np.full(n, 10.0)], axis=1) * np.exp(rng.normal(0, 0.05, size=(n, 2)))
    strategies = ["a_x", "b_x"]
    strat = {"model": {"a": torch.tensor(rng.normal(size=d), dtype=torch.float32),
                       "b": torch.tensor(rng.normal(size=d), dtype=torch.float32)},
             "decoding": {"x": torch.tensor(rng.normal(size=d), dtype=torch.float32)}}
    idx = np.arange(n)
    parts = {"train": idx[:400], "val": idx[400:500], "test": idx[500:]}
    splits = {k: _split(k, r, label[r], cost[r], strategies) for k, r in parts.items()}
    return emb, strat, splits


FAST = {"epochs": 80, "hidden_dim": 64, "lr": 3e-3, "patience": 15, "batch_size": 64}


def test_shared_model_learns_per_strategy_signal_and_is_deterministic():
    emb, strat, sp = synthetic()
    from concur.baselines import strategy_matrix

    m1 = train_shared(emb, strat, sp["train"], sp["val"], seed=3, settings=FAST)
    m2 = train_shared(emb, strat, sp["train"], sp["val"], seed=3, settings=FAST)
    smat = strategy_matrix(strat, ["a_x", "b_x"])
    p1, c1 = m1.predict(emb, sp["test"], smat)
    p2, c2 = m2.predict(emb, sp["test"], smat)
    assert np.array_equal(p1, p2) and np.array_equal(c1, c2)
    assert p1.shape == (100, 2)
    for j in range(2):  # it must tell the strategies apart: opposite signals
        assert metrics.auroc(sp["test"].label[:, j], p1[:, j]) > 0.8
    assert np.median(c1[:, 1] / c1[:, 0]) == pytest.approx(10.0, rel=0.3)


def test_pred_files_round_trip_through_routing(tmp_path):
    emb, strat, sp = synthetic()
    prob = np.full(sp["test"].label.shape, 0.25)
    cost = sp["test"].cost * 1.5
    write_pred_files(tmp_path, "test", sp["test"], prob, cost)
    preds = load_predictions(tmp_path, ["a_x", "b_x"], "test")
    assert list(preds.question_ids) == list(sp["test"].question_ids)
    assert np.allclose(preds.prob, 0.25) and np.allclose(preds.pred_cost, cost)
    assert np.array_equal(preds.label, sp["test"].label)


def test_pred_table_clips_and_keeps_columns():
    df = pred_table("m_d", ["1", "2"], [1, 0], [3.0, 4.0], [1.2, -0.1], [-1.0, 2.0])
    assert list(df.columns) == list(PRED_COLUMNS)
    assert df["pred_cls_prob"].tolist() == [1.0, 0.0]
    assert df["pred_flops"].tolist() == [0.0, 2.0]
    assert df["pred_label"].tolist() == [1, 0]


def test_knn_matrices_choose_k_on_validation():
    emb, strat, sp = synthetic()
    mats, ks = knn_matrices(emb, sp["train"], sp["val"], {"test": sp["test"]}, [1, 5, 400])
    p, c = mats["test"]
    assert p.shape == (100, 2) and np.isfinite(p).all()
    assert all(k[0] in (1, 5, 400) for k in ks.values())
    assert ks["a_x"][0] != 400  # averaging every training task erases the signal; validation must see that
    assert metrics.auroc(sp["test"].label[:, 0], p[:, 0]) > 0.9


def test_best_single_on_val_prefers_accuracy_then_cheaper():
    label = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1.0]])
    cost = np.array([[5, 1, 9], [5, 1, 9], [5, 1, 9.0]])
    assert best_single_on_val(label, cost) == 1  # all three at 2/3: the cheapest wins
    label[:, 2] = 1
    assert best_single_on_val(label, cost) == 2
