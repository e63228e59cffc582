"""docs/RESULTS.md rendering helpers (concur/report.py); the whole report is exercised in test_results_e2e.py."""
from __future__ import annotations

import numpy as np

from concur.report import _continual_lines, _minus_prior_text, _on_log_axis, _ood_cascade_lines, _sci


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


def test_cascade_text_says_what_the_answers_add_and_how_validation_ranks_the_routers():
    cs = {"prior": "a", "cascade_routing_minus_prior": {"diff": 0.002, "ci": [-0.001, 0.005]},
          "routed_minus_prior": {"diff": -0.0017, "ci": [-0.004, 0.0008]},
          "validation_aiq": {"a": 0.53, "b": 0.52, "c": 0.51, "d": 0.50},
          "aiq": {"a": 0.54, "b": 0.53, "c": 0.56, "d": 0.55, "cascade routing": 0.542},
          "val_test_rank_correlation": -0.2}
    text = _minus_prior_text(cs)
    assert "cascade routing +0.0020 [-0.0010, 0.0050], routed cascade -0.0017 [-0.0040, 0.0008]" in text
    assert "over 4 routers -0.20" in text
    # test order c, d, a, b: the prior (first on validation) is third on test; c and d are 3rd and 4th on validation
    assert "the prior, first on validation (0.5300), ranks 3 on test" in text
    assert "the three best on test rank 3 (c, 0.5100), 4 (d, 0.5000), 1 (a, 0.5300) on validation" in text
    assert "n/a" in _minus_prior_text({**cs, "val_test_rank_correlation": None})


def test_ood_cascade_row_shows_each_difference_in_its_own_column():
    cs = {"prior": "ensemble", "best_question_only": "shared", "n_test": 100,
          "aiq": {"shared": 0.5051, "cascade routing": 0.5080},
          "cascade_routing_minus_best": {"diff": 0.0029, "ci": [-0.0027, 0.0100]},
          "routed_minus_best": {"diff": -0.0085, "ci": [-0.0145, -0.0014]},
          "cascade_routing_minus_prior": {"diff": 0.0197, "ci": [0.0148, 0.0236]},
          "cascade_routing_steps": 1.15, "cascade_routing_unseen_format": 3}
    row = [line for line in _ood_cascade_lines([{"name": "mmlu_pro_ood", "cascades": cs}]) if "mmlu_pro_ood" in line]
    assert row == ["| mmlu_pro_ood | ensemble | shared | 0.5051 | 0.5080 | +0.0029 [-0.0027, 0.0100] | "
                   "-0.0085 [-0.0145, -0.0014] | +0.0197 [0.0148, 0.0236] | 1.15 | 3 of 100 |"]


def test_learning_rates_are_written_as_the_readme_writes_them():
    assert (_sci(3e-4), _sci(1e-3), _sci(2e-5)) == ("3e-4", "1e-3", "2e-5")
