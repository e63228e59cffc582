"""Run both routing scripts (as subprocesses, or in-process for the many bad-input cases) on small synthetic
prediction files."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_script, write_tiny_dataset
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
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "4", "6", "--mode", "global",
                   "--guard", "none")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert "budget per task: 4" in got and "budget per task: 6" in got
    assert "PREDICTED cost only" in r.stdout
    df = pd.read_csv(out / "routing_constrained_global.csv")
    routing = df[df.kind == "routing"]
    assert (routing.internal_budget == routing.budget).all() and (routing.guard == "none").all()
    assert (routing.pred_cost <= routing.budget + 1e-9).all()
    assert (routing.realised_exceeds_budget == (routing.cost > routing.budget)).all()
    assert np.allclose(routing.realised_over_budget, routing.cost / routing.budget)
    assert (routing.certified_gap >= 0).all()
    assert (out / "routing_constrained_global.png").exists()

    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "2", "--mode", "local", "--no_plot",
                   "--guard", "none")
    assert r.returncode == 0, r.stderr
    loc = pd.read_csv(out / "routing_constrained_local.csv").iloc[0]
    fits = mats["pred_cost"] <= 2
    expect = np.where(fits.any(1), np.where(fits, mats["prob"], -1).argmax(1), mats["pred_cost"].argmin(1))
    assert loc.accuracy == pytest.approx(mats["label"][np.arange(30), expect].mean())
    # the fallback count, and no false "predicted cost <= budget" when fallbacks lift the mean above it
    n_no_fit = int((~fits.any(1)).sum())
    assert n_no_fit > 0 and loc.n_no_fit == n_no_fit and loc.pred_cost > 2
    assert f"{n_no_fit} tasks fit no strategy and got the cheapest" in r.stdout
    assert not re.search(r"predicted (mean )?cost [\d.]+ <= (per-task cap|budget|internal budget) 2\b", r.stdout)


@pytest.fixture
def biased(tmp_path: Path):
    """Predictions that under-estimate realised cost by 30%, on validation and test alike."""
    cfg = write_tiny_dataset(tmp_path / "ds")
    out = cfg.parent / "output"
    rng = np.random.default_rng(7)
    for split, n, seed, off in (("test", 300, 1, 0), ("val", 300, 2, 1000)):
        pred = np.geomspace(1, 10, 4) * rng.lognormal(0, 0.3, (n, 4))
        prob = np.clip(np.linspace(0.3, 0.8, 4) + rng.normal(0, 0.1, (n, 4)), 0, 1)
        write_preds(out, POOL, n, split, seed=seed, qid_offset=off, prob=prob, pred_cost=pred,
                    cost=pred / 0.7 * rng.lognormal(0, 0.1, (n, 4)))
    return cfg, out


def test_guard_holds_realised_spend(biased):
    cfg, out = biased
    ratios = {}
    for guard in ("realised", "none"):
        risk = ["--risk", "none"] if guard == "realised" else []  # the plain calibration: mean spend = budget
        r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "3", "5", "--mode", "global",
                       "--guard", guard, *risk, "--solver", "fast", "--no_plot")
        assert r.returncode == 0, r.stderr
        df = pd.read_csv(out / "routing_constrained_global.csv")
        rows = df[df.kind == "routing"]
        assert (rows.guard == guard).all()
        ratios[guard] = rows.realised_over_budget.to_numpy()
        if guard == "realised":
            plain_internal = rows.internal_budget.to_numpy()
    assert "internal budget" in r.stdout
    assert (ratios["none"] > 1.2).all() and (np.abs(ratios["realised"] - 1) < 0.08).all()
    # the guarded rows: internal budget below the user's, validation spend at most the budget
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "3", "5", "--mode", "global",
                   "--risk", "0.2", "--solver", "fast", "--no_plot")
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(out / "routing_constrained_global.csv").query("kind == 'routing'")
    assert (rows.internal_budget < rows.budget).all() and (rows.val_realised_cost <= rows.budget).all()
    assert (rows.val_spend_quantile <= rows.budget).all() and rows.test_coverage.between(0, 1).all()
    assert "test coverage:" in r.stdout and "probability ~0.8" in r.stdout
    # the default is the guard with a 0.1 margin: a wider margin than 0.2, below the plain calibration
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "3", "5", "--mode", "global",
                   "--solver", "fast", "--no_plot")
    assert r.returncode == 0, r.stderr
    default = pd.read_csv(out / "routing_constrained_global.csv").query("kind == 'routing'")
    assert (default.guard == "realised").all() and (default.risk == 0.1).all() and "probability ~0.9" in r.stdout
    assert (default.internal_budget.to_numpy() <= rows.internal_budget.to_numpy()).all()
    assert (default.internal_budget.to_numpy() < plain_internal).all()


def test_guard_without_validation_predictions_exit_2(routed):
    cfg, out, _ = routed
    (out / "pred_val_small_cot.csv").unlink()
    before = sorted(p.name for p in out.iterdir())
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "5", "--mode", "local")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "pred_val_small_cot.csv" in r.stderr and "--predict" in r.stderr and "--guard none" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == before
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "5", "--mode", "local",
                   "--guard", "none", "--no_plot")
    assert r.returncode == 0, r.stderr


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), REPO / name)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BAD_CONSTRAINED = [[*m, "--budget", v] for m in (["--mode", "global"], ["--mode", "local"])
                   for v in ("-1", "nan", "inf", "0")]
BAD_CONSTRAINED += [["--mode", "global", "--budget", "5", "--risk", v] for v in ("0", "1", "1.5", "nan")]
BAD_CONSTRAINED += [["--mode", "local", "--budget", "5", "--guard", "none", "--risk", "0.1"],
                    ["--mode", "global", "--budget", "5", "--time_limit", "nan"],
                    ["--mode", "local", "--budget", "5", "3", "-2"]]
BAD_UNCONSTRAINED = [["--weight", v] for v in ("nan", "inf", "-0.5", "1.5")]
BAD_UNCONSTRAINED += [["--lambda", v] for v in ("nan", "inf", "-1")]
BAD_UNCONSTRAINED += [["--target_cost", v] for v in ("nan", "inf", "-5", "0")]


@pytest.mark.parametrize("script,args", [("routing_constrained.py", a) for a in BAD_CONSTRAINED]
                         + [("routing_unconstrained.py", a) for a in BAD_UNCONSTRAINED])
def test_bad_numbers_exit_2_one_line_nothing_written(routed, capsys, script, args):
    cfg, out, _ = routed
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(SystemExit) as exc:
        load_script(script).main(["--config_path", str(cfg), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert sorted(p.name for p in out.iterdir()) == before


def test_bad_budget_exit_2_in_a_real_process(routed):
    cfg, out, _ = routed
    before = sorted(p.name for p in out.iterdir())
    r = run_script("routing_constrained.py", "--config_path", str(cfg), "--budget", "-3", "--mode", "local")
    assert r.returncode == 2 and r.stderr.strip() == "error: --budget must be a finite number > 0, got -3.0"
    assert sorted(p.name for p in out.iterdir()) == before


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
    assert "--guard" in r.stdout and "--risk" in r.stdout and "REALISED" in r.stdout
    r = run_script("routing_unconstrained.py", "--help")
    assert r.returncode == 0 and "--target_cost" in r.stdout and "--lambda" in r.stdout
