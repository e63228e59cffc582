"""End to end: the results orchestration on a small synthetic data set (fake embeddings, no model load),
and results.py's refusal without the shared data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from concur import experiments
from concur.data import load_strategies, load_tasks
from concur.embeddings import (DEFAULT_MODEL_LABEL, EmbeddingMeta, save_strategy_embeddings, save_task_embeddings,
                               strategy_texts)
from concur.io import read_json, sha256_of_texts
from concur.report import render

REPO = Path(__file__).resolve().parent.parent
EMB = {"dtype": "bfloat16", "max_seq_length": 128}


def fake_embeddings(data_dir: Path, dim: int = 16) -> None:
    """Deterministic random vectors with sidecars that match the pipeline's settings (so no model loads)."""
    tasks, catalog = load_tasks(data_dir / "task.json"), load_strategies(data_dir / "strategies.json")
    g = torch.Generator().manual_seed(0)
    texts = tasks.texts()
    save_task_embeddings(data_dir / "task_embeddings.pt", torch.randn(len(texts), dim, generator=g), tasks,
                         EmbeddingMeta(DEFAULT_MODEL_LABEL, sha256_of_texts(texts), dim, len(texts), False, EMB))
    st = strategy_texts(catalog)
    save_strategy_embeddings(data_dir / "strategy_embeddings.pt", torch.randn(len(st), dim, generator=g), catalog,
                             EmbeddingMeta(DEFAULT_MODEL_LABEL, sha256_of_texts(st), dim, len(st), False, EMB))


DEMO = {"source": "demo", "title": "synthetic demo", "continual": True}
FAST = {"shared": {"epochs": 3, "hidden_dim": 16}, "routellm-mf": {"epochs": 3, "dim": 8},
        "embedllm": {"epochs": 3, "dim": 8}, "rtr": {"epochs": 3, "hidden_dim": 16, "emb_dim": 8}}


def test_orchestration_on_synthetic_data(tmp_path, monkeypatch):
    from concur.results_data import prepare_dataset
    from concur.routers import REGISTRY, router_class

    work = tmp_path / "work"
    data_dir, _, status = prepare_dataset("demo", work, tmp_path / "unused", {"n_tasks": 200}, print, DEMO)
    assert status == "imported"
    fake_embeddings(data_dir)
    settings = experiments.Settings(work_root=work, data_root=tmp_path / "unused", seeds=(0, 1), n_boot=20,
                                    workers=1, embedding=EMB, n_weights=60, import_kwargs={"n_tasks": 200},
                                    predictor={"epochs": 3, "eval_every": 1, "hidden_dim": 16, "emb_dim": 8},
                                    router_settings=FAST)
    res = experiments.run_dataset("demo", settings, log=lambda m: None, spec=DEMO)
    assert res["import_status"] == "reused" and res["embedding_status"] == {"task": "up to date", "strategy": "up to date"}
    pool = res["curves"]["strategies"]
    routers = res["curves"]["routers"]
    assert [n for n in routers if n not in ("singles hull", "oracle-probability ceiling")] == \
        list(REGISTRY) + ["concur (general only)", "concur (task-specific only)", "concur (consensus labels)",
                          "knn (consensus labels)"]  # the demo import writes answers: label-free variants run
    for name in REGISTRY:  # every registered router ran (stochastic ones at both seeds) and wrote its files
        seeds = (0, 1) if router_class(name).stochastic and name not in settings.single_seed else (0,)
        assert res["routers"][name]["seeds"] == list(seeds)
        for k in seeds:
            for s in pool:
                assert (work / "demo" / f"seed{k}" / "output" / name / f"pred_{s}.csv").is_file()
                assert (work / "demo" / f"seed{k}" / "output" / name / f"pred_val_{s}.csv").is_file()
    ceiling, singles = routers["oracle-probability ceiling"]["aiq"], routers["singles hull"]["aiq"]
    assert ceiling >= singles
    for name in REGISTRY:
        r = routers[name]
        assert r["aiq"] <= ceiling + 1e-9  # no router beats the router that knows the outcomes
        assert r["aiq_ci"][0] <= r["aiq"] + 0.05 and r["aiq_ci"][0] <= r["aiq_ci"][1]
    assert len(routers["concur"]["per_seed"]) == 2
    # paired bootstrap difference to kNN: the point lies inside its interval
    for name in REGISTRY:
        if name == "knn":
            assert "aiq_minus_knn" not in routers["knn"]
            continue
        d, (lo, hi) = routers[name]["aiq_minus_knn"], routers[name]["aiq_minus_knn_ci"]
        assert d == pytest.approx(routers[name]["aiq"] - routers["knn"]["aiq"]) and lo - 1e-9 <= hi
    cs = res["cascades"]  # the demo import writes answers: cascades run against every router's predictions
    assert cs["prior"] in routers and cs["best_question_only"] in routers
    assert {"cascade routing", "routed cascade", "cascade", "agreement cascade + singles"} <= set(cs["aiq"])
    d, (lo, hi) = cs["cascade_routing_minus_best"]["diff"], cs["cascade_routing_minus_best"]["ci"]
    assert d == pytest.approx(cs["aiq"]["cascade routing"] - cs["aiq"][cs["best_question_only"]]) and lo <= hi
    for key, name in (("cascade_routing_minus_prior", "cascade routing"), ("routed_minus_prior", "routed cascade")):
        d, (lo, hi) = cs[key]["diff"], cs[key]["ci"]  # what the answers add to the prior's own predictions
        assert d == pytest.approx(cs["aiq"][name] - cs["aiq"][cs["prior"]]) and lo <= hi
    assert 1.0 <= cs["cascade_routing_steps"] <= 3.0
    assert cs["cascade_routing_answer_model"].startswith("train answers")  # fitted on the train split's answers
    cont = res["continual"]
    assert set(cont["routers"]) == {n for n in REGISTRY if not getattr(router_class(n), "composite", False)}
    for name, r in cont["routers"].items():
        if r["modular"]:
            assert r["byte_identical"] is True and r["identical_to_main_run"] is True, name
            assert sorted(r["trained"]) == sorted(cont["small"]) and sorted(r["skipped"]) == sorted(cont["large"])
            assert set(r["setting1_status"].values()) == {"up to date"}  # the main run's parts were reused
        else:
            assert r["trained"] == ["router"] and r["byte_identical"] is None
    assert cont["routers"]["concur"]["time_vs_concur"] == pytest.approx(1.0)
    budgets = res["budgets"]
    assert len(budgets["budgets"]) == 5
    for row in budgets["rows"]:
        if "error" in row:
            continue
        # every seed of each router is routed and averaged (kNN has no seeds)
        assert row["n_seeds"] + row["n_infeasible"] == (1 if row["router"] == "knn" else 2)
        assert row["accuracy_range"][0] - 1e-12 <= row["accuracy"] <= row["accuracy_range"][1] + 1e-12
        # global routing without the guard never spends more than the budget on predicted cost
        if row["mode"] == "global" and row["guard"] == "none":
            assert row["predicted_cost"] <= row["budget"] * (1 + 1e-9)
        if row["mode"] == "local" and row["guard"] != "none":  # the guard only lowers a local cap
            assert row["internal_budget"] <= row["budget"] * (1 + 1e-9)
    for name in ("concur", "shared"):  # the mean correction: before and after, per strategy and split
        rows = res["cost_bias"][name]
        assert {(r["strategy"], r["split"]) for r in rows} == {(s, sp) for s in pool for sp in ("val", "test")}
        assert all(r["cost_bias"] is not None and r["cost_bias_uncorrected"] is not None for r in rows)
    ms = res["matched_spend"]
    assert len(ms["rows"]) == 5
    for r in ms["rows"]:
        lo, hi = r["global_minus_local_ci"]
        assert lo - 1e-9 <= hi and r["global"]["accuracy_ci"][0] <= r["global"]["accuracy_ci"][1]
    # the representation ablation ran beside CONCUR (first seed)
    for label in ("concur (general only)", "concur (task-specific only)"):
        assert routers[label]["n_seeds"] == 1 and res["routers"][label]["base"] == "concur"
    # an out-of-distribution re-split of the same import: one subject held out for test
    from concur import results_data

    subject = json.loads((data_dir / "task.json").read_text())[0]["subject"]
    monkeypatch.setitem(results_data.OOD, "demo_ood", {"base": "demo", "field": "subject", "test": lambda v: v == subject,
                                                       "title": "demo, one subject held out"})
    ood = experiments.run_dataset("demo_ood", settings, log=lambda m: None)
    assert ood["ood"] and ood["import_status"] == "derived" and set(ood["routers"]) == set(settings.ood_routers)
    test_tasks = pd.read_csv(work / "demo_ood" / "data" / "test.csv").question_id.unique()
    records = {str(t["question_id"]) if "question_id" in t else str(i): t
               for i, t in enumerate(json.loads((data_dir / "task.json").read_text()))}
    assert {records[str(q)]["subject"] for q in test_tasks} == {subject}
    assert ood["embedding_status"] == {"task": "up to date", "strategy": "up to date"}  # copied, not recomputed
    ocs = ood["cascades"]  # the re-split keeps the answers of its tasks: cascades run out of distribution too
    assert ocs["n_test"] == len(test_tasks) and ocs["prior"] in settings.ood_routers
    assert ocs["cascade_routing_minus_best"]["diff"] == pytest.approx(
        ocs["aiq"]["cascade routing"] - ocs["aiq"][ocs["best_question_only"]])
    # a rerun reuses everything (nothing is retrained)
    res2 = experiments.run_dataset("demo", settings, log=lambda m: None, spec=DEMO)
    assert all(job["trained"] == [] for r in res2["routers"].values() for job in r["jobs"])
    assert res2["curves"]["routers"]["concur"]["aiq"] == res["curves"]["routers"]["concur"]["aiq"]
    assert read_json(work / "demo" / "results.json")["name"] == "demo"
    meta = {"commit": "test", "date": "today", "runtime_s": 1.0, "machine": "test", "cached_note": "",
            "seeds": [0, 1], "boot_seed": 1, "embedding_model": "fake", "embedding": EMB, "data_root": "none"}
    md = render([res2, ood], meta, tmp_path / "docs")
    text = md.read_text()
    for heading in ("Table 2 shape", "Out of distribution", "Table 4 shape", "Table 5 shape", "Table 7 shape",
                    "What reproduces"):
        assert heading in text, heading
    assert "| concur | " in text.split("Table 2 shape")[1]
    assert "Routing on the models' answers" in text and "| cascade routing |" in text
    ood_rows = text.split("## Routing on the models' answers out of distribution")[1].split("##")[0]
    assert "| demo_ood | " in ood_rows
    ood_cells = [c.strip() for c in ood_rows.split("| demo_ood | ")[1].split("\n")[0].split("|")]
    vs_prior = ocs["cascade_routing_minus_prior"]
    assert ood_cells[6] == f"{vs_prior['diff']:+.4f} [{vs_prior['ci'][0]:.4f}, {vs_prior['ci'][1]:.4f}]"
    assert ood_cells[8] == f"{ocs['cascade_routing_unseen_format']} of {ocs['n_test']}"  # the demo's letters: all seen
    assert ocs["cascade_routing_unseen_format"] == 0
    assert set(cs["validation_aiq"]) == set(routers) - {"singles hull", "oracle-probability ceiling"}
    assert cs["prior"] == max(cs["validation_aiq"], key=cs["validation_aiq"].get)
    rho = cs["val_test_rank_correlation"]
    assert rho is None or -1.0 <= rho <= 1.0
    own = res2["cascades"]["cascade_routing_minus_prior"]
    assert f"Minus its own prior ({res2['cascades']['prior']}," in text and f"cascade routing {own['diff']:+.4f}" in text
    assert f"Spearman correlation of their validation and test AIQ over {len(cs['validation_aiq'])} routers" in text
    assert "## synthetic demo" in text and "Continual routing" in text and "nan" not in text.lower().split("definitions")[0]
    for name in REGISTRY:
        assert f"| {name} |" in text and f"`{name}`" in text
    for name in ("results_demo.png", "cascades_demo.png"):
        png = tmp_path / "docs" / name
        assert png.is_file() and png.stat().st_size < 300_000 and f"]({name})" in text


def test_results_exits_2_without_shared_data(tmp_path):
    env = {**os.environ, "CONCUR_SHARED_DATA": str(tmp_path / "nonexistent")}
    proc = subprocess.run([sys.executable, str(REPO / "results.py"), "--work_dir", str(tmp_path / "w"),
                           "--docs_dir", str(tmp_path / "d")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "shared data folder not found" in lines[0] and "nonexistent" in lines[0]
    assert not (tmp_path / "d").exists()


def test_predictor_levers_table_rendering():
    from concur.report import _predictor_levers

    assert "not measured" in _predictor_levers(None)[0]
    row = {"val_logloss": 0.59, "val_auroc": 0.69, "val_cost_mae": 42.0, "val_aiq": 0.52, "val_gain": -0.7,
           "test_aiq": 0.54, "test_gain": -0.8}
    lv = {"date": "2026-01-01 00:00", "adopted": "eval1_bs256",
          "variants": {"base": {"embeddings": "float32, 256 tokens", "settings": {}, "seed": 0},
                       "eval1_bs256": {"embeddings": "float32, 256 tokens", "settings": {"batch_size": 256}, "seed": 1},
                       "lr_s0": {"embeddings": "e", "settings": {"lr": 1e-4}, "seed": 0},
                       "lr_s1": {"embeddings": "e", "settings": {"lr": 1e-4}, "seed": 1}},
          "rows": [{"variant": "[ref] kNN", **row}, {"variant": "base", **row}, {"variant": "base +kNN", **row},
                   {"variant": "eval1_bs256", **row}, {"variant": "eval1_bs256 +kNN", **row},
                   {"variant": "lr_s0", **row}, {"variant": "lr_s0 +kNN", **row}, {"variant": "lr_s1", **row},
                   {"variant": "lr (mean of 2 seeds)", **row}]}
    lines = [line for line in _predictor_levers(lv) if line.startswith("| ") and not line.startswith("| variant")]
    names = [line.split("|")[1].strip() for line in lines]
    # other variants' +kNN rows dropped; seed-group means kept with their members' settings
    assert names == ["[ref] kNN", "base", "eval1_bs256 (adopted)", "eval1_bs256 +kNN", "lr_s0", "lr_s1",
                     "lr (mean of 2 seeds)"]
    assert "the config defaults of that run" in lines[1] and "batch_size 256, seed 1" in lines[2] and "0.5200" in lines[1]
    assert "| lr 0.0001 |" in lines[6] and "seed 1" in lines[5]
    # a reference row on other embeddings names them; a missing (NaN) value falls back to the variant's
    lv["rows"] = [{"variant": "[ref] kNN (mpnet)", "embeddings": "mpnet-base", **row},
                  {"variant": "base", "embeddings": float("nan"), **row}]
    lines = [line for line in _predictor_levers(lv) if line.startswith("| ") and not line.startswith("| variant")]
    assert lines[0].startswith("| [ref] kNN (mpnet) | mpnet-base |")
    assert lines[1].startswith("| base | float32, 256 tokens |")


def test_routers_that_read_answers_are_skipped_where_a_data_set_has_none(tmp_path):
    from conftest import write_tiny_dataset
    from concur.results_data import prepare_dataset

    src = tmp_path / "released"
    write_tiny_dataset(src, n_tasks=60)
    work = tmp_path / "work"
    spec = {"source": "concur", "title": "released, no answers"}
    data_dir, _, _ = prepare_dataset("plain", work, src, {}, lambda m: None, spec)
    assert not list(data_dir.glob("answers_*.csv"))
    fake_embeddings(data_dir)
    settings = experiments.Settings(work_root=work, data_root=src, seeds=(0,), n_boot=10, workers=1, embedding=EMB,
                                    n_weights=20, routers=["knn", "cascal"], continual_routers=[],
                                    variants=["knn (consensus labels)"], budget_routers=[])
    logs = []
    res = experiments.run_dataset("plain", settings, log=logs.append, spec=spec)
    assert "knn" in res["curves"]["routers"] and "cascal" not in res["curves"]["routers"]
    assert "knn (consensus labels)" not in res["curves"]["routers"]
    assert any("skipping cascal: the data set has no answers files" in m for m in logs)
