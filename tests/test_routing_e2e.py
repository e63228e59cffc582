"""Run both routing scripts as subprocesses on small synthetic prediction files."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_script, write_tiny_dataset
from routing_helpers import write_preds

POOL = ["small_vanilla", "small_cot", "large_vanilla", "large_cot"]
LINE = re.compile(r"^(?P<tag>.+?) \| number of tasks: (?P<n>\d+) \| accuracy: (?P<acc>[\d.]+) \| cost: (?P<cost>[\d.]+)$")


@pytest.fixture
def routed(tmp_path: Path):
    cfg = write_tiny_dataset(tmp_path / "ds")
    out = cfg.parent / "output"
    mats = write_preds(out, POOL, 30, "test", seed=1)
    write_preds(out, POOL, 20, "val", seed=2, qid_offset=100)
    return cfg, out, mats


def lines(stdout: str) -> dict[str, re.Match]:
    return {m["tag"]: m for m in map(LINE.match, stdout.splitlines()) if m}


def test_unconstrained_default_sweep(routed):
    cfg, out, mats = routed
    r = run_script("routing_unconstrained.py", "--config_path", str(cfg))
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    for w in ("0.95", "0.999", "0.99999", "1"):
        assert f"weight: {w}" in got and got[f"weight: {w}"]["n"] == "30"
    # weight 1: max predicted probability, realised accuracy from gt_label
    best = mats["prob"].argmax(1)
    assert float(got["weight: 1"]["acc"]) == pytest.approx(mats["label"][np.arange(30), best].mean(), abs=5e-4)
    for s in POOL:
        assert f"strategy: {s}" in got
    assert "oracle (cheapest correct)" in got and "random (uniform, expected)" in got
    assert "routing distribution" in r.stdout
    df = pd.read_csv(out / "routing_unconstrained.csv")
    assert set(df.kind) == {"routing", "single", "oracle", "random"}
    assert (out / "routing_unconstrained.png").stat().st_size > 0


def test_unconstrained_lambda_and_target_cost(routed):
    cfg, out, _ = routed
    r = run_script("routing_unconstrained.py", "--config_path", str(cfg), "--lambda", "0", "0.05", "--target_cost", "5")
    assert r.returncode == 0, r.stderr
    tags = list(lines(r.stdout))
    assert "lambda: 0" in tags and "lambda: 0.05" in tags
    assert any("target cost 5; validation cost" in t for t in tags)
    df = pd.read_csv(out / "routing_unconstrained.csv")
    assert (df.kind == "target_cost").sum() == 1


def test_target_cost_without_validation_files(routed):
    cfg, out, _ = routed
    (out / "pred_val_large_cot.csv").unlink()
    r = run_script("routing_unconstrained.py", "--config_path", str(cfg), "--target_cost", "5", "--no_plot")
    assert r.returncode == 2
    assert "pred_val_large_cot.csv" in r.stderr and "--predict" in r.stderr


def test_constrained_global_and_local(routed):
    cfg, out, mats = routed
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "4", "6", "--mode", "global")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert "budget per task: 4" in got and "budget per task: 6" in got
    assert "PREDICTED cost only" in r.stdout
    df = pd.read_csv(out / "routing_constrained_global.csv")
    routing = df[df.kind == "routing"]
    assert (routing.pred_cost <= routing.budget + 1e-9).all()
    assert (routing.realised_exceeds_budget == (routing.cost > routing.budget)).all()
    assert (routing.certified_gap >= 0).all()
    assert (out / "routing_constrained_global.png").exists()

    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "2", "--mode", "local", "--no_plot")
    assert r.returncode == 0, r.stderr
    loc = pd.read_csv(out / "routing_constrained_local.csv").iloc[0]
    fits = mats["pred_cost"] <= 2
    expect = np.where(fits.any(1), np.where(fits, mats["prob"], -1).argmax(1), mats["pred_cost"].argmin(1))
    assert loc.accuracy == pytest.approx(mats["label"][np.arange(30), expect].mean())


def test_constrained_num_batches_and_solver_flag(routed):
    cfg, out, _ = routed
    for solver in ("fast", "exact"):
        r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "5", "--mode", "global",
                       "--num_batches", "3", "--solver", solver, "--no_plot")
        assert r.returncode == 0, r.stderr
        row = pd.read_csv(out / "routing_constrained_global.csv").iloc[0]
        assert row.num_batches == 3 and row.pred_cost <= 5 + 1e-9
        assert row.solver.split(" ")[0] in ("fast", "exact")


def test_constrained_infeasible_budget_exit_2(routed):
    cfg, out, mats = routed
    before = sorted(p.name for p in out.iterdir())
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "0.5", "--mode", "global")
    assert r.returncode == 2
    need = mats["pred_cost"].min(1).mean()
    m = re.search(r"minimum feasible budget per task is ([\d.e+-]+)", r.stderr)
    assert m and float(m[1]) == pytest.approx(need, rel=1e-5)
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_missing_task_in_one_file_exit_2(routed):
    cfg, out, _ = routed
    f = out / "pred_small_cot.csv"
    df = pd.read_csv(f)
    df[df.question_id != 4].to_csv(f, index=False)
    for script, extra in (("routing_unconstrained.py", []), ("routing_constrained.py", ["--budget", "5", "--mode", "local"])):
        r = run_script(script, "--config_path", str(cfg), *extra)
        assert r.returncode == 2
        assert "pred_small_cot.csv" in r.stderr and "'4'" in r.stderr


def test_help_mentions_flags():
    r = run_script("routing_constrained.py", "--help")
    assert r.returncode == 0 and "--num_batches" in r.stdout and "--solver" in r.stdout
    r = run_script("routing_unconstrained.py", "--help")
    assert r.returncode == 0 and "--target_cost" in r.stdout and "--lambda" in r.stdout
