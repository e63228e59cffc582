"""Statistics of the results pipeline on hand-made predictions: curves, budgets with the guard, global vs local."""
import numpy as np
import pytest

from concur.results_stats import best_single_on_val, budget_levels, budgets_table, evaluate_curves, matched_spend
from concur.pred_files import Predictions
from concur.routing import weight_grid


def test_best_single_on_val_prefers_accuracy_then_cheaper():
    label = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1.0]])
    cost = np.array([[5, 1, 9], [5, 1, 9], [5, 1, 9.0]])
    assert best_single_on_val(label, cost) == 1  # all three at 2/3: the cheapest wins
    label[:, 2] = 1
    assert best_single_on_val(label, cost) == 2


def _preds(split: str, n: int, rng, bias: float = 1.0) -> Predictions:
    """Three strategies (cheap, middle, dear); predicted cost = realised x `bias` (bias < 1: under-predicted)."""
    skill = rng.random(n)
    p = np.stack([skill * 0.5, 0.3 + skill * 0.4, 0.6 + skill * 0.3], axis=1)
    label = (rng.random((n, 3)) < p).astype(float)
    cost = np.array([1.0, 4.0, 16.0]) * np.exp(rng.normal(0, 0.3, size=(n, 3)))
    prob = np.clip(p + rng.normal(0, 0.05, size=p.shape), 0, 1)
    return Predictions(split, np.arange(n).astype(str), ["a_x", "b_x", "c_x"], prob, cost * bias, label, cost)


def test_curves_and_paired_differences():
    rng = np.random.default_rng(0)
    test = {"knn": [_preds("test", 300, rng)], "concur": [_preds("test", 300, rng), _preds("test", 300, rng)]}
    val = {k: [_preds("val", 200, rng) for _ in v] for k, v in test.items()}
    out = evaluate_curves(["concur", "knn"], test, val, weight_grid(size=40), 50, 1)
    c = out["routers"]["concur"]
    assert c["n_seeds"] == 2 and len(c["per_seed"]) == 2
    assert c["aiq_minus_knn"] == pytest.approx(c["aiq"] - out["routers"]["knn"]["aiq"])
    assert out["routers"]["oracle-probability ceiling"]["aiq"] >= c["aiq"]


def test_guard_holds_realised_spend_when_costs_are_under_predicted():
    rng = np.random.default_rng(1)
    test = {"r": [_preds("test", 1500, rng, bias=0.7)]}
    val = {"r": [_preds("val", 1500, rng, bias=0.7)]}
    budgets = budget_levels(np.array([1.0, 4.0, 16.0]), 3)
    rows = budgets_table(["r"], test, val, budgets)["rows"]
    for b in budgets:
        none = next(r for r in rows if r["budget"] == b and r["mode"] == "global" and r["guard"] == "none")
        guarded = next(r for r in rows if r["budget"] == b and r["mode"] == "global" and r["guard"] == "realised")
        assert none["spend_ratio"] > 1.15  # predicted cost is 30% low: the plain solve overspends
        assert guarded["spend_ratio"] == pytest.approx(1.0, abs=0.03)  # the guard brings it back
        assert guarded["internal_budget"] < b
        assert guarded["acc_vs_unguarded"] > -0.02  # no worse than the plain solve at the same spend
    for r in rows:
        if r["mode"] == "local" and r["guard"] == "realised":
            assert r["internal_budget"] <= r["budget"] + 1e-9


def test_matched_spend_compares_modes_at_the_same_validation_spend():
    rng = np.random.default_rng(2)
    test, val = [_preds("test", 800, rng)], [_preds("val", 800, rng)]
    out = matched_spend("r", test, val, np.array([3.0, 6.0]), 100, 0)
    for row in out["rows"]:
        for mode in ("global", "local"):
            assert row[mode]["realised_cost"] == pytest.approx(row["level"], rel=0.1)
        lo, hi = row["global_minus_local_ci"]
        assert lo <= row["global_minus_local"] <= hi
        assert row["global_minus_local"] == pytest.approx(row["global"]["accuracy"] - row["local"]["accuracy"])
    assert out["n_seeds"] == 1 and out["levels"] == [3.0, 6.0]
