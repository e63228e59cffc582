"""Synthetic demo data: structure, reproducibility of the committed files, and the
qualitative properties its outcome model promises (measured with tolerances)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from concur.config import parse_config
from concur.data import load_dataset, load_strategies
from concur.demo_data import (CSV_COLUMNS, REPO_STRATEGIES, SUBJECTS, generate_demo, routing_sanity,
                              strategy_table, write_demo_dataset)
from concur.errors import ConcurError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo"
FILES = ("task.json", "train.csv", "val.csv", "test.csv")


@pytest.fixture(scope="module")
def demo():
    return generate_demo(0, 1500)


def _config_for(data_dir: Path, tmp: Path):
    raw = {"strategy_path": str(REPO_STRATEGIES), "strategy_emb_path": "s.pt", "task_path": str(data_dir / "task.json"),
           "task_emb_path": "t.pt", "train_data_path": str(data_dir / "train.csv"),
           "val_data_path": str(data_dir / "val.csv"), "test_data_path": str(data_dir / "test.csv"),
           "predictor_path": "predictors", "output_path": "output"}
    return parse_config(raw, tmp, source="test config")


def _acc(out: pd.DataFrame, mask=None) -> pd.Series:
    df = out if mask is None else out[mask]
    return df.groupby(df["model"] + "_" + df["decoding"])["label"].mean()


# ---------------------------------------------------------------- structure
def test_tasks_are_four_option_mcq(demo):
    tasks, _ = demo
    assert len(tasks) == 1500
    for t in tasks:
        assert set(t) == {"question", "options", "answer", "subject"}
        assert len(t["options"]) == 4 and len(set(t["options"])) == 4, t
        assert t["answer"] in "ABCD" and t["subject"] in SUBJECTS
    answers = pd.Series([t["answer"] for t in tasks]).value_counts(normalize=True)
    assert answers.min() > 0.18  # correct option position is shuffled
    assert len({t["question"] for t in tasks}) > 900  # varied wording, not a handful of templates


def test_outcomes_cover_every_strategy_and_split_by_task(demo):
    tasks, out = demo
    catalog = load_strategies(REPO_STRATEGIES)
    assert len(out) == len(tasks) * len(catalog.all_strategies())
    assert set(out["model"] + "_" + out["decoding"]) == set(catalog.all_strategies())
    assert set(out["label"].unique()) <= {0, 1}
    assert (out["flops"] > 0).all()
    per_task = out.groupby("question_id")["split"].nunique()
    assert (per_task == 1).all()
    sizes = out.drop_duplicates("question_id")["split"].value_counts(normalize=True)
    assert sizes["train"] == pytest.approx(0.6, abs=0.01)
    assert sizes["val"] == pytest.approx(0.2, abs=0.01) and sizes["test"] == pytest.approx(0.2, abs=0.01)


def test_cost_is_two_params_tokens(demo):
    _, out = demo
    params = {m: info["params"] for m, info in load_strategies(REPO_STRATEGIES).model_info.items()}
    expected = 2 * out["model"].map(params) * (out["prompt_tokens"] + out["gen_tokens"]) / 1e11
    np.testing.assert_allclose(out["flops"], expected, atol=6e-5)


# ------------------------------------------------------------ reproducibility
def test_same_seed_same_data_other_seed_differs():
    t1, o1 = generate_demo(3, 120)
    t2, o2 = generate_demo(3, 120)
    t3, o3 = generate_demo(4, 120)
    assert t1 == t2
    pd.testing.assert_frame_equal(o1, o2)
    assert t1 != t3 and not o1["label"].equals(o3["label"])


def test_committed_files_match_generator(tmp_path):
    write_demo_dataset(tmp_path, seed=0, n_tasks=1500)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"data/demo/{name} is stale: run python -m concur.demo_data --out data/demo --seed 0")
    assert sum((DEMO / n).stat().st_size for n in FILES) < 2 * 1024 * 1024


def test_written_files_have_contract_columns_and_load(tmp_path):
    write_demo_dataset(tmp_path, seed=1, n_tasks=200)
    df = pd.read_csv(tmp_path / "train.csv")
    assert list(df.columns) == CSV_COLUMNS
    assert json.loads((tmp_path / "task.json").read_text())[0]["question"]
    ds = load_dataset(_config_for(tmp_path, tmp_path))
    assert len(ds.strategies) == 10 and len(ds.tasks) == 200
    assert sum(len(ds.splits[s].question_ids) for s in ("train", "val", "test")) == 200
    assert not np.isnan(ds.train.label).any()


def test_committed_demo_loads(tmp_path):
    ds = load_dataset(_config_for(DEMO, tmp_path))
    assert ds.strategies == load_strategies(REPO_STRATEGIES).all_strategies()
    assert len(ds.tasks) == 1500
    assert ds.train.label.shape == (900, 10) and ds.test.label.shape == (300, 10)


# -------------------------------------------------------- outcome model promises
def test_cot_costs_more_than_vanilla_for_each_model(demo):
    _, out = demo
    cost = out.pivot_table(index="model", columns="decoding", values="flops")
    assert (cost["cot"] > 2 * cost["vanilla"]).all(), cost


def test_cot_generates_more_tokens_on_more_steps(demo):
    _, out = demo
    cot = out[(out["decoding"] == "cot") & (out["steps"] > 0)]
    short, long = cot.loc[cot["steps"] <= 2, "gen_tokens"].mean(), cot.loc[cot["steps"] >= 4, "gen_tokens"].mean()
    assert long > 1.3 * short


def test_larger_qwen_is_more_accurate(demo):
    _, out = demo
    acc = out[out["model"].str.startswith("qwen")].groupby("model")["label"].mean()
    assert acc["qwen7b"] > acc["qwen3b"] + 0.03 > acc["qwen2b"] + 0.06


def test_cot_helps_multi_step_more_than_recall(demo):
    _, out = demo
    gains = {}
    for name, mask in (("steps", out["steps"] > 0), ("recall", out["steps"] == 0)):
        acc = out[mask].pivot_table(index="model", columns="decoding", values="label")
        gains[name] = acc["cot"] - acc["vanilla"]
    assert gains["steps"].mean() > gains["recall"].mean() + 0.05, gains
    for model in ("qwen7b", "llama8b"):  # the models that can actually use CoT
        assert gains["steps"][model] > 0.08 and gains["recall"][model] < 0.03, gains


def test_small_models_fail_hard_multi_step_tasks(demo):
    _, out = demo
    hard = out[(out["steps"] >= 5) & (out["model"] == "qwen2b")]["label"].mean()
    easy = out[(out["steps"].between(1, 2)) & (out["model"] == "qwen2b")]["label"].mean()
    assert hard < 0.45 and easy - hard > 0.1


def test_size_helps_on_knowledge_heavy_recall(demo):
    _, out = demo
    heavy = out["subject"].map(lambda s: SUBJECTS[s][2] >= 0.7) & (out["steps"] == 0)
    acc = _acc(out, heavy)
    for small, large in (("qwen2b", "qwen7b"), ("llama3b", "llama8b")):
        assert acc[f"{large}_vanilla"] > acc[f"{small}_vanilla"] + 0.1, acc


def test_size_gain_grows_with_subject_knowledge_weight(demo):
    # Within a family the logit difference between two sizes cancels every task term except
    # the subject's knowledge weight K, so its slope in K isolates "size pays on knowledge".
    _, out = demo
    van = out[out["decoding"] == "vanilla"]
    z = {m: np.log((g["p_correct"].to_numpy() - 0.25) / (1 - g["p_correct"].to_numpy()))
         for m, g in van.groupby("model")}
    k_weight = van[van["model"] == "qwen2b"]["subject"].map(lambda s: SUBJECTS[s][2]).to_numpy()
    for small, large in (("qwen2b", "qwen7b"), ("llama3b", "llama8b")):
        slope = np.polyfit(k_weight, z[large] - z[small], 1)[0]
        assert slope > 0.4, (small, large, slope)


def test_difficulty_is_visible_in_text(demo):
    tasks, out = demo
    steps = out.drop_duplicates("question_id").set_index("question_id")["steps"]
    lengths = pd.Series([len(t["question"]) for t in tasks])
    multi = steps > 0
    assert lengths[multi].corr(steps[multi], method="spearman") > 0.3


def test_routing_matters(demo):
    _, out = demo
    table = strategy_table(out)
    sanity = routing_sanity(out)
    assert len(sanity["frontier"]) >= 3  # no single strategy dominates the accuracy-cost plane
    assert sanity["oracle_accuracy"] > sanity["best_single_accuracy"] + 0.05
    assert sanity["oracle_accuracy"] < 0.99  # errors are shared, the oracle is not trivial
    assert sanity["oracle_mean_cost"] < table["mean_cost"].min() * 5
    # a router that only sees the subject already beats the best single strategy on test
    assert sanity["subject_router_test_accuracy"] > sanity["best_single_test_accuracy"]
    assert sanity["subject_router_test_cost"] < sanity["best_single_test_cost"]


# --------------------------------------------------------------- bad input / CLI
def test_strategies_without_params_rejected(tmp_path):
    raw = json.loads(REPO_STRATEGIES.read_text())
    raw["model"]["qwen2b"] = "no params here"
    bad = tmp_path / "strategies.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ConcurError, match="qwen2b.*params"):
        generate_demo(0, 50, strategies_path=bad)
    proc = subprocess.run([sys.executable, "-m", "concur.demo_data", "--out", str(tmp_path / "o"), "--n_tasks", "50",
                           "--strategy_path", str(bad)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "params" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unknown_family_rejected(tmp_path):
    raw = json.loads(REPO_STRATEGIES.read_text())
    raw["model"]["gpt4"] = {"description": "x", "params": 1e12}
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConcurError, match="gpt4"):
        generate_demo(0, 50, strategies_path=path)


def test_cli_writes_files(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "concur.demo_data", "--out", str(tmp_path), "--seed", "2",
                           "--n_tasks", "60"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "synthetic" in proc.stdout and "qwen7b_cot" in proc.stdout
    assert all((tmp_path / n).is_file() for n in FILES)
