import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss as sk_log_loss

from concur import metrics


def test_auroc_ranking_and_single_class():
    y = [0, 0, 1, 1]
    assert metrics.auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert metrics.auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(metrics.auroc([1, 1, 1], [0.2, 0.5, 0.9]))
    # soft labels are thresholded at 0.5 for the ranking
    assert metrics.auroc([0.2, 0.9], [0.1, 0.7]) == 1.0


def test_brier_and_logloss_match_sklearn_on_binary_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))
    assert metrics.log_loss(y, p) == pytest.approx(sk_log_loss(y, p))
    # soft labels are allowed
    assert metrics.brier([0.5, 1.0], [0.5, 0.5]) == pytest.approx(0.125)


def test_ece_by_hand():
    # a constant 0.8 for tasks that are always right: off by 0.2 everywhere
    assert metrics.ece([1, 1, 1, 1], [0.8] * 4) == pytest.approx(0.2)
    # two bins, each perfectly calibrated on average
    assert metrics.ece([0, 1, 1, 1], [0.25, 0.25, 0.75, 0.75]) == pytest.approx(0.5 * 0.25 + 0.5 * 0.25)
    assert metrics.ece([1, 0, 1, 0], [0.55, 0.55, 0.55, 0.55]) == pytest.approx(0.05)
    # p == 1.0 lands in the last bin instead of overflowing
    assert metrics.ece([1, 1], [1.0, 1.0]) == pytest.approx(0.0)


def test_cost_metrics():
    y = np.array([1.0, 2.0, 4.0, 0.0])
    pred = np.array([2.0, 2.0, 2.0, 1.0])
    assert metrics.mae(y, pred) == pytest.approx((1 + 0 + 2 + 1) / 4)
    # the zero cost has no relative error: median of [1.0, 0.0, 0.5]
    assert metrics.median_ape(y, pred) == pytest.approx(0.5)
    assert metrics.total_bias(y, pred) == pytest.approx(7 / 7 - 1)
    assert np.isnan(metrics.median_ape([0.0], [1.0]))


def test_empty_inputs_are_nan_not_errors():
    for fn in (metrics.auroc, metrics.brier, metrics.ece, metrics.log_loss, metrics.mae):
        assert np.isnan(fn([], []))
    with pytest.raises(ValueError):
        metrics.brier([1, 0], [0.5])
