"""Hull, AIQ, interpolation, gap recovered and bootstrap helpers (hand-computed cases)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concur import curves


def test_hull_drops_dominated_and_non_concave_points():
    h = curves.hull([1, 2, 3, 4], [0.5, 0.6, 0.9, 0.8])
    # (4, .8) is dominated by (3, .9); (2, .6) lies below the chord (1, .5)-(3, .9) (.7 at cost 2)
    assert h.cost.tolist() == [1.0, 3.0]
    assert h.acc.tolist() == [0.5, 0.9]


def test_hull_anchor_and_duplicate_costs():
    h = curves.hull([2, 2, 4], [0.6, 0.7, 0.8], anchor=(1.0, 0.3))
    assert h.cost.tolist() == [1.0, 2.0, 4.0]
    assert h.acc.tolist() == [0.3, 0.7, 0.8]


def test_at_is_linear_flat_right_and_undefined_left():
    h = curves.hull([1, 3], [0.5, 0.9])
    assert h.at(2.0) == pytest.approx(0.7)
    assert h.at(10.0) == pytest.approx(0.9)
    assert math.isnan(float(h.at(0.5)))


def test_aiq_hand_computed():
    h = curves.hull([1, 3], [0.5, 0.9])
    # [1,3]: trapezoid 2 * .7 = 1.4; [3,5]: flat .9 * 2 = 1.8; / 4
    assert curves.aiq(h, 1.0, 5.0) == pytest.approx(0.8)
    assert curves.aiq(h, 1.0, 3.0) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        curves.aiq(h, 0.5, 3.0)  # the hull does not cover the range start
    assert math.isnan(curves.aiq(h, 2.0, 2.0))


def test_cost_at_accuracy():
    h = curves.hull([1, 3], [0.5, 0.9])
    assert h.cost_at(0.7) == pytest.approx(2.0)
    assert h.cost_at(0.4) == pytest.approx(1.0)
    assert h.cost_at(0.9) == pytest.approx(3.0)
    assert math.isnan(h.cost_at(0.95))


def test_gap_recovered():
    assert curves.gap_recovered(0.75, 0.7, 0.8) == pytest.approx(0.5)
    assert curves.gap_recovered(0.65, 0.7, 0.8) == pytest.approx(-0.5)
    assert math.isnan(curves.gap_recovered(0.7, 0.7, 0.7))


points = st.lists(st.tuples(st.floats(0.1, 100), st.floats(0, 1)), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(points)
def test_hull_properties(pts):
    c, a = np.array(pts).T
    h = curves.hull(c, a)
    assert np.all(np.diff(h.cost) > 0)
    assert np.all(np.diff(h.acc) > 0)  # strictly non-decreasing after Pareto filtering
    slopes = np.diff(h.acc) / np.diff(h.cost)
    assert np.all(np.diff(slopes) <= 1e-9 * max(1.0, np.abs(slopes).max(initial=0)))  # concave
    ok = c >= h.cost[0]
    assert np.all(h.at(c[ok]) >= a[ok] - 1e-9)  # the hull dominates every point it covers
    assert h.cost[0] == c.min() and h.acc[-1] == a.max()
    assert set(zip(h.cost, h.acc)) <= set(zip(c, a))  # vertices are input points


@settings(max_examples=100, deadline=None)
@given(points, st.floats(0.1, 100), st.floats(0, 1))
def test_adding_a_point_never_lowers_aiq(pts, c_new, a_new):
    c, a = np.array(pts).T
    lo = min(c.min(), c_new)
    anchor = (lo, 0.0)
    h1 = curves.hull(c, a, anchor)
    h2 = curves.hull(np.append(c, c_new), np.append(a, a_new), anchor)
    hi = max(c.max(), c_new) + 1
    assert curves.aiq(h2, lo, hi) >= curves.aiq(h1, lo, hi) - 1e-12


def test_bootstrap_helpers():
    counts = curves.bootstrap_counts(50, 30, seed=1)
    assert counts.shape == (30, 50) and np.all(counts.sum(1) == 50)
    v = np.arange(50.0)
    assert curves.resampled_means(v, np.ones((2, 50))).tolist() == [v.mean()] * 2
    m = curves.resampled_means(np.stack([v, 2 * v]), counts)
    assert m.shape == (30, 2) and np.allclose(m[:, 1], 2 * m[:, 0])
    lo, hi = curves.interval(np.arange(101.0))
    assert lo == pytest.approx(2.5) and hi == pytest.approx(97.5)
    assert all(math.isnan(x) for x in curves.interval([np.nan]))
