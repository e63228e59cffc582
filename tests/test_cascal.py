"""CASCAL's estimates (concur/routers/cascal.py): empirical-Bayes shrinkage and soft niche assignment."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from concur.errors import ConcurError
from concur.inputs import TaskBatch
from concur.routers.cascal import MAX_STRENGTH, CascalRouter, Niches, empirical_bayes_strength


def test_empirical_bayes_recovers_the_prior_strength_of_simulated_niches():
    rng = np.random.default_rng(0)
    strength, p = 20.0, np.array([0.3, 0.7])
    rates = rng.beta(p * strength, (1 - p) * strength, size=(2000, 2))
    n = rng.integers(20, 80, size=(2000, 2)).astype(float)
    hits = rng.binomial(n.astype(int), rates).astype(float)
    a = empirical_bayes_strength(hits, n)
    assert np.all(np.abs(a - strength) < 0.25 * strength), a


def test_empirical_bayes_strength_is_the_cap_without_spread_and_small_with_a_wide_one():
    n = np.full((6, 2), 40.0)
    same = n * 0.5  # every niche at the overall rate: nothing to tell them apart
    split = np.where(np.arange(6)[:, None] % 2 == 0, n, 0.0)  # niches right always or never
    assert np.allclose(empirical_bayes_strength(same, n), MAX_STRENGTH)
    assert np.all(empirical_bayes_strength(split, n) < 0.1)


def _router(**settings) -> CascalRouter:
    return CascalRouter(settings)


def test_one_neighbour_takes_the_nearest_niche_and_more_average_the_nearest():
    cent = np.eye(3)
    state = Niches(cent, np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
                   ["a_x", "b_x"])
    x = np.array([[1.0, 0.2, 0.0], [0.0, 0.1, 1.0]])
    batch = TaskBatch(np.array(["t0", "t1"], dtype=object), torch.tensor(x), [{}, {}])
    p, c = _router(neighbours=1).predict_part(state, batch, ["b_x", "a_x"])
    assert np.array_equal(p, [[0.1, 0.9], [0.9, 0.1]]) and np.array_equal(c, [[2.0, 1.0], [6.0, 5.0]])
    # a huge temperature: plain mean of the two nearest niches (the third never counts)
    p, c = _router(neighbours=2, temperature=1e6).predict_part(state, batch, ["a_x", "b_x"])
    assert np.allclose(p, [[0.7, 0.3], [0.3, 0.7]]) and np.allclose(c, [[2.0, 3.0], [4.0, 5.0]])
    # a small one weighs the nearer niche more: between the nearest and the mean of the two
    p, _ = _router(neighbours=2, temperature=0.2).predict_part(state, batch, ["a_x"])
    assert 0.7 < p[0, 0] < 0.9 and 0.1 < p[1, 0] < 0.3


@pytest.mark.parametrize("settings", [{"neighbours": 0}, {"temperature": 0.0}, {"shrinkage": "bayes"}])
def test_cascal_settings_out_of_range_are_one_line(settings):
    with pytest.raises(ConcurError, match="routers.cascal"):
        CascalRouter(settings)
