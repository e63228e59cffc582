"""Cost targets and the smearing correction that turns a log-space regressor's median into a mean."""
import json

import numpy as np
import pytest

from concur.cost_scaling import CostScaling


@pytest.mark.parametrize("kind", ["log", "standardize", "raw"])
def test_cost_scaling_round_trip(kind):
    costs = np.array([0.0, 0.5, 3.0, 40.0, 200.0])
    s = CostScaling.fit(kind, costs)
    np.testing.assert_allclose(s.inverse(s.forward(costs)), costs, rtol=1e-9, atol=1e-9)
    assert (s.inverse(np.array([-50.0, 0.0, 3.0])) >= 0).all()
    assert CostScaling.from_json(json.loads(json.dumps(s.to_json()))) == s
    if kind != "raw":
        z = s.forward(costs)
        assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)


def test_smearing_recovers_a_lognormal_mean():
    # log c = mu(x) + sigma * e, e ~ N(0, 1): a perfect log-space regressor outputs mu(x), whose back-transform
    # exp(mu) is the median; the mean is exp(mu + sigma^2 / 2). Duan's factor estimates exp(sigma^2 / 2).
    rng = np.random.default_rng(0)
    sigma, n = 0.8, 200_000
    mu = rng.uniform(1.0, 4.0, size=n)
    cost = np.exp(mu + sigma * rng.standard_normal(n))
    s = CostScaling.fit("log", cost, eps=0.0)
    z = (mu - s.mean) / s.std  # the perfect regressor's output in target space
    assert s.inverse(z) == pytest.approx(np.exp(mu))  # no correction: the median
    fitted = s.with_smearing(z, cost)
    assert fitted.smear == pytest.approx(np.exp(sigma ** 2 / 2), rel=0.01)
    # on fresh tasks the corrected prediction's total matches the realised total; the median's is far below
    mu2 = rng.uniform(1.0, 4.0, size=n)
    cost2 = np.exp(mu2 + sigma * rng.standard_normal(n))
    z2 = (mu2 - s.mean) / s.std
    assert fitted.inverse(z2).sum() / cost2.sum() == pytest.approx(1.0, abs=0.01)
    assert s.inverse(z2).sum() / cost2.sum() < 0.8
    assert fitted.median(z2) == pytest.approx(s.inverse(z2))
    assert CostScaling.from_json(json.loads(json.dumps(fitted.to_json()))) == fitted


def test_smearing_leaves_other_targets_alone():
    costs = np.array([1.0, 2.0, 4.0])
    for kind in ("standardize", "raw"):
        s = CostScaling.fit(kind, costs)
        assert s.with_smearing(s.forward(costs), costs * 3) == s
