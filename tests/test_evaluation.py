import re

import numpy as np
import pytest

from concur.evaluation import format_line, format_shares, oracle_choice, reference_rows, shares, summarise
from concur.pred_files import Predictions


def make_preds():
    label = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 0, 1]], float)
    cost = np.array([[1, 5, 3], [4, 2, 6], [2, 1, 3], [1, 1, 9]], float)
    prob = np.full_like(label, 0.5)
    return Predictions("test", np.array(["a", "b", "c", "d"], dtype=object), ["m1_v", "m2_v", "m3_v"],
                       prob, cost * 2, label, cost)


def test_oracle_cheapest_correct_else_cheapest():
    p = make_preds()
    # task a: correct 1 (5) or 2 (3) -> 2; b: none correct -> cheapest (1); c: 0 (2) vs 2 (3) -> 0; d: only 2
    assert oracle_choice(p.label, p.cost).tolist() == [2, 1, 0, 2]


def test_summarise_and_shares_batched():
    p = make_preds()
    choice = np.array([[0, 0, 0, 0], [2, 1, 0, 2]])
    s = summarise(p, choice)
    assert s["accuracy"].tolist() == [0.25, 0.75]
    assert s["cost"][0] == pytest.approx((1 + 4 + 2 + 1) / 4)
    assert s["pred_cost"][1] == pytest.approx(2 * (3 + 2 + 2 + 9) / 4)
    np.testing.assert_allclose(shares(choice, 3), [[1, 0, 0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(shares(choice[1], 3), [0.25, 0.25, 0.5])


def test_reference_rows():
    p = make_preds()
    rows = {r["name"]: r for r in reference_rows(p)}
    assert rows["m3_v"]["accuracy"] == 0.75 and rows["m3_v"]["cost"] == pytest.approx(21 / 4)
    assert rows["oracle"]["accuracy"] == 0.75  # task b has no correct strategy
    assert rows["random"]["accuracy"] == pytest.approx(p.label.mean())
    assert rows["random"]["share_m1_v"] == pytest.approx(1 / 3)
    assert all(r["n_tasks"] == 4 for r in rows.values())


def test_line_format():
    line = format_line("weight: 0.99", 12, 0.74512, 36.5)
    assert line == "weight: 0.99 | number of tasks: 12 | accuracy: 0.745 | cost: 36.50"
    assert re.fullmatch(r"weight: [\d.]+ \| number of tasks: \d+ \| accuracy: [\d.]+ \| cost: [\d.]+", line)
    assert format_shares(["a_x", "b_y"], np.array([0.25, 0.75])) == "b_y 75.0%, a_x 25.0%"
