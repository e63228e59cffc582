from pathlib import Path

import numpy as np
import pytest
from routing_helpers import write_preds

from concur.config import load_config
from concur.errors import ConcurError
from concur.pred_files import load_predictions
from concur.routing import (batch_slices, check_lambdas, check_target_costs, check_weights,
                            no_fit_mask, pick_weight_for_target, route_budget, route_lambda, route_weighted,
                            strategy_pool, weight_grid)

POOL = ["small_vanilla", "small_cot", "large_vanilla", "large_cot"]


def brute_weighted(p, c, w):
    out = []
    for i in range(p.shape[0]):
        s = w * p[i] - (1 - w) * c[i]
        best = [j for j in range(p.shape[1]) if s[j] == s.max()]
        out.append(min(best, key=lambda j: (c[i, j], -p[i, j], j)))
    return out


def test_weighted_matches_loop_and_ties_go_cheaper():
    rng = np.random.default_rng(0)
    p, c = rng.random((60, 5)).round(1), rng.integers(1, 5, (60, 5)).astype(float)
    ws = [0.0, 0.5, 0.9, 0.99, 1.0]
    got = route_weighted(p, c, ws)
    for k, w in enumerate(ws):
        assert got[k].tolist() == brute_weighted(p, c, w)
    tie = route_weighted(np.array([[0.8, 0.8, 0.3]]), np.array([[5.0, 2.0, 1.0]]), [1.0])
    assert tie.tolist() == [[1]]


def test_lambda_equals_weight():
    rng = np.random.default_rng(1)
    p, c = rng.random((100, 6)), rng.random((100, 6))
    lam = np.array([0.0, 0.1, 1.0, 10.0])
    np.testing.assert_array_equal(route_lambda(p, c, lam), route_weighted(p, c, 1 / (1 + lam)))
    with pytest.raises(ConcurError):
        route_weighted(p, c, [1.5])
    with pytest.raises(ConcurError):
        route_lambda(p, c, [-1])


def test_target_cost_uses_validation(tmp_path: Path):
    val = write_preds(tmp_path, POOL, 40, split="val", seed=5)
    # realised cost equal to predicted cost on validation: target spend is reachable
    write_preds(tmp_path, POOL, 40, split="val", seed=5, cost=val["pred_cost"])
    preds = load_predictions(tmp_path, POOL, "val")
    grid = weight_grid()
    spends = []
    for target in (preds.cost.min(1).mean() + 0.5, preds.cost.mean()):
        w, spend = pick_weight_for_target(preds, target, grid)
        ch = route_weighted(preds.prob, preds.pred_cost, [w])[0]
        assert spend == pytest.approx(preds.cost[np.arange(40), ch].mean())
        all_spend = preds.cost[np.arange(40)[None], route_weighted(preds.prob, preds.pred_cost, grid)].mean(1)
        assert abs(spend - target) == pytest.approx(np.abs(all_spend - target).min())
        spends.append(spend)
    assert spends[0] < spends[1]


def test_batches_equal_and_budget_split():
    assert [s.stop - s.start for s in batch_slices(10, 3)] == [3, 4, 3]
    with pytest.raises(ConcurError):
        batch_slices(3, 5)
    rng = np.random.default_rng(2)
    p, c = rng.random((40, 4)), rng.uniform(1, 10, (40, 4))
    res = route_budget(p, c, 4.0, "global", num_batches=4, solver="exact")
    for sl in batch_slices(40, 4):
        spent = c[np.arange(sl.start, sl.stop), res.choice[sl]].sum()
        assert spent <= 4.0 * (sl.stop - sl.start) + 1e-9
    one = route_budget(p, c, 4.0, "global", num_batches=1, solver="exact")
    assert p[np.arange(40), one.choice].sum() >= p[np.arange(40), res.choice].sum() - 1e-9


def test_infeasible_with_batches_names_minimum():
    c = np.array([[1.0, 2.0], [1.0, 3.0], [5.0, 6.0], [5.0, 7.0]])
    p = np.ones_like(c)
    route_budget(p, c, 3.0, "global")  # pooled: min mean 3.0 is feasible
    with pytest.raises(ConcurError, match=r"minimum feasible budget per task is 5"):
        route_budget(p, c, 3.0, "global", num_batches=2)


def test_strategy_pool_from_config_or_training(tiny_config: Path):
    cfg = load_config(tiny_config)
    assert strategy_pool(cfg) == POOL
    cfg["strategies"] = ["large_cot", "small_cot"]
    assert strategy_pool(cfg) == ["large_cot", "small_cot"]


def test_local_fallback_count_on_hand_made_instance():
    cost = np.array([[1.0, 5.0], [3.0, 4.0], [2.0, 2.5], [6.0, 7.0], [2.5, 9.0]])
    prob = np.array([[0.2, 0.9], [0.5, 0.1], [0.3, 0.6], [0.4, 0.8], [0.7, 0.8]])
    res = route_budget(prob, cost, 2.5, "local")
    # tasks 1 and 3 fit nothing (cheapest used); 2.5 == budget fits (tasks 2 and 4)
    assert res.n_no_fit == 2
    assert res.choice.tolist() == [0, 0, 1, 0, 0]
    assert route_budget(prob, cost, 10.0, "local").n_no_fit == 0
    assert route_budget(prob, cost, 0.5, "local").n_no_fit == 5
    assert route_budget(prob, cost, 6.0, "global").n_no_fit is None
    assert no_fit_mask(cost, 2.5).tolist() == [False, True, False, True, False]


@pytest.mark.parametrize("mode", ["global", "local"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), float("-inf")])
def test_bad_budget_rejected_in_every_mode(mode, bad):
    p, c = np.full((3, 2), 0.5), np.ones((3, 2))
    with pytest.raises(ConcurError, match=r"--budget must be a finite number > 0"):
        route_budget(p, c, bad, mode)
    with pytest.raises(ConcurError, match=r"--mode must be global or local"):
        route_budget(p, c, 1.0, "both")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1])
def test_bad_weights_lambdas_targets_rejected(bad):
    with pytest.raises(ConcurError, match=r"--weight: weights must be finite numbers in \[0, 1\]"):
        check_weights([0.5, bad])
    with pytest.raises(ConcurError, match=r"--lambda: values must be finite and >= 0"):
        check_lambdas([bad])
    with pytest.raises(ConcurError, match=r"--target_cost: values must be finite numbers > 0"):
        check_target_costs([1.0, bad])
    with pytest.raises(ConcurError, match=r"routing.weights: expected numbers"):
        check_weights(["a"], "routing.weights")
    assert check_target_costs([0.5]).tolist() == [0.5]
