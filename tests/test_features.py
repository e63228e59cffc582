"""Optional task features (predictor.task_features): columns, errors, and what the predictors see."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_script, write_tiny_dataset
from predictor_fixtures import write_random_embeddings

from concur.config import load_config
from concur.data import load_tasks
from concur.errors import ConcurError
from concur.features import task_feature_matrix, with_task_features
from concur import cache
from concur.inputs import load_inputs
from concur.routers import make_router


def tasks_of(tmp_path: Path, n: int = 12):
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=n)
    return cfg, load_tasks(load_config(cfg).task_path)


def test_length_is_standardised_log_length_in_task_order(tmp_path):
    _, tasks = tasks_of(tmp_path)
    feats, names = task_feature_matrix(tasks, ["length"])
    assert names == ["length"] and feats.shape == (len(tasks), 1)
    assert abs(feats.mean()) < 1e-6 and abs(feats.std() - 1) < 1e-5
    lengths = np.array([len(t) for t in tasks.texts()])
    # monotone in the text length, row by row
    assert np.array_equal(np.argsort(feats[:, 0], kind="stable"), np.argsort(np.log1p(lengths), kind="stable"))


def test_subject_is_one_hot_over_the_sorted_vocabulary(tmp_path):
    _, tasks = tasks_of(tmp_path)
    feats, names = task_feature_matrix(tasks, ["subject", "length"])
    assert names == ["subject=history", "subject=math", "length"]
    onehot = feats[:, :2]
    assert np.array_equal(onehot.sum(1), np.ones(len(tasks)))
    subjects = [r["subject"] for r in tasks.records]
    assert all(onehot[i, ["history", "math"].index(s)] == 1 for i, s in enumerate(subjects))


def test_missing_subject_names_the_file_and_task(tmp_path):
    cfg, _ = tasks_of(tmp_path)
    path = cfg.parent / "task.json"
    records = json.loads(path.read_text())
    del records[3]["subject"]
    path.write_text(json.dumps(records))
    tasks = load_tasks(path)
    with pytest.raises(ConcurError, match=r"task\.json: task '3' has no 'subject'"):
        task_feature_matrix(tasks, ["subject"])


def test_unknown_feature_is_a_config_error(tmp_path):
    cfg, _ = tasks_of(tmp_path)
    cfg.write_text(cfg.read_text() + "predictor:\n  task_features: [length, difficulty]\n")
    with pytest.raises(ConcurError, match=r"predictor\.task_features.*'difficulty'"):
        load_config(cfg)


def test_strategy_vectors_are_zero_padded(tmp_path):
    _, tasks = tasks_of(tmp_path)
    emb = torch.randn(len(tasks), 8)
    strat = {"model": {"a": torch.ones(8)}, "decoding": {"b": torch.full((8,), 2.0)}}
    x, s = with_task_features(emb, strat, tasks, ["length", "subject"])
    assert x.shape == (len(tasks), 11) and torch.equal(x[:, :8], emb)
    assert s["model"]["a"].shape == (11,) and torch.equal(s["model"]["a"][8:], torch.zeros(3))
    assert torch.equal(s["decoding"]["b"][:8], strat["decoding"]["b"])


def test_features_change_the_fingerprint_and_an_empty_list_does_not(tmp_path):
    cfg, _ = tasks_of(tmp_path, n=30)
    write_random_embeddings(cfg)
    base_text = cfg.read_text()
    fps = {}
    for tag, extra in (("none", ""), ("empty", "predictor:\n  task_features: []\n"),
                       ("subject", "predictor:\n  task_features: [subject]\n")):
        cfg.write_text(base_text + extra)
        config = load_config(cfg)
        inp = load_inputs(config, ("train", "val"))
        router = make_router("concur", config)
        fps[tag] = cache.fingerprint(router.fingerprint_parts(inp, "small_cot", ["small_cot"]))
        assert inp.text_dim == 16 + (2 if tag == "subject" else 0)
    assert fps["none"] == fps["empty"]
    assert fps["subject"] != fps["none"]


def test_new_tasks_get_features_from_task_json_statistics(tmp_path):
    _, tasks = tasks_of(tmp_path)
    own, _ = task_feature_matrix(tasks, ["length", "subject"])
    new, _ = task_feature_matrix(tasks, ["length", "subject"], [tasks.records[3], {"question": "x", "subject": "art"}])
    np.testing.assert_allclose(new[0], own[3])  # a known task gets its own row back
    assert new[1, 1:].tolist() == [0.0, 0.0]  # an unseen subject: no one-hot column set


def test_predictor_trains_and_predicts_with_features(tmp_path):
    cfg, _ = tasks_of(tmp_path, n=45)
    cfg.write_text(cfg.read_text() + "predictor:\n  epochs: 6\n  task_features: [length, subject]\n")
    write_random_embeddings(cfg)
    args = ("--config_path", str(cfg), "--no_progress", "--strategy", "all")
    r = run_script("predictor.py", *args)
    assert r.returncode == 0, r.stderr
    rec = json.loads((cfg.parent / "predictors" / "small_cot.json").read_text())
    assert rec["meta"]["text_dim"] == 16 + 3 and rec["inputs"]["settings"]["task_features"] == ["length", "subject"]
    r = run_script("predictor.py", *args, "--predict")
    assert r.returncode == 0, r.stderr
    # the features are part of the model: the same predictors without them are stale, not silently reused
    cfg.write_text(cfg.read_text().replace("  task_features: [length, subject]\n", ""))
    r = run_script("predictor.py", *args, "--predict")
    assert r.returncode == 2 and "stale" in r.stderr, r.stderr
