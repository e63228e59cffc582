"""docs/RESULTS.md rendering helpers (concur/report.py); the whole report is exercised in test_results_e2e.py."""
from __future__ import annotations

import numpy as np

from concur.report import _continual_lines, _on_log_axis


def test_hulls_are_drawn_along_their_linear_interpolation_on_a_log_cost_axis():
    cost, acc = [10.0, 100.0, 1000.0], [0.2, 0.5, 0.6]
    xs, ys = _on_log_axis(cost, acc, points=50)
    assert set(cost) <= set(xs.tolist()) and np.all(np.diff(xs) > 0)
    assert np.allclose(ys, np.interp(xs, cost, acc))
    # the geometric midpoint of the first segment sits on the chord in cost, well below the straight line
    # a log axis would draw between the two vertices (0.35)
    mid = np.argmin(np.abs(xs - np.sqrt(10.0 * 100.0)))
    assert ys[mid] < 0.3
    one = _on_log_axis([5.0], [0.4])
    assert one[0].tolist() == [5.0] and one[1].tolist() == [0.4]


def test_continual_section_says_how_concurs_update_started():
    router = {"modular": True, "update_seconds": 3.0, "time_vs_concur": 1.0, "trained": ["b"], "skipped": ["a"],
              "byte_identical": True, "n_files_checked": 3}
    base = {"large": ["a"], "small": ["b"], "routers": {"concur": router}}
    cost = "\n".join(_continual_lines({**base, "concur_warm_start": "cost"}))
    assert "predictor.warm_start: cost" in cost and "| concur | yes | 3.0 |" in cost
    assert "warm_start" not in "\n".join(_continual_lines({**base, "concur_warm_start": "none"}))
    assert "warm_start" not in "\n".join(_continual_lines(base))  # a record from before the setting existed
