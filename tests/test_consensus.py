"""concur/consensus.py: consensus answers and pseudo-labels from the models' answers alone."""
from __future__ import annotations

import numpy as np
import pytest

from concur.consensus import consensus


def test_majority_on_a_hand_made_instance():
    answer = np.array([["A", "A", "B"], ["B", "C", "C"], ["", "", ""], ["D", "", "E"]], dtype=object)
    parsed = answer != ""
    c = consensus(answer, parsed, "majority")
    # a tie (task 3: D vs E, one vote each) goes to the earlier column when the weights are equal
    assert c.answer.tolist() == ["A", "C", "", "D"]
    assert c.score.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 0]]
    assert c.agreement.tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])


def test_weighted_vote_lets_a_reliable_model_outvote_two_unreliable_ones():
    # strategy 0 is always right ('A'); 1 and 2 agree with each other on a wrong 'B' on the last task and
    # disagree everywhere else, so the majority follows them there but the one-coin weights do not
    answer = np.array([["A", "A", "C"]] * 5 + [["A", "C", "A"]] * 5 + [["A", "B", "B"]], dtype=object)
    parsed = answer != ""
    assert consensus(answer, parsed, "majority").answer[-1] == "B"
    w = consensus(answer, parsed, "weighted")
    assert w.answer[-1] == "A" and w.weights[0] > w.weights[1] and w.weights[0] > w.weights[2]


def test_unparsed_answers_never_vote_and_never_agree():
    answer = np.array([["X", "X", "Y"]], dtype=object)
    parsed = np.array([[False, False, True]])
    c = consensus(answer, parsed)
    assert c.answer.tolist() == ["Y"] and c.score.tolist() == [[0, 0, 1]]


def test_consensus_is_deterministic_under_column_weights_and_rejects_unknown_methods():
    rng = np.random.default_rng(0)
    answer = rng.choice(list("ABCD"), size=(200, 5)).astype(object)
    parsed = rng.random((200, 5)) > 0.1
    a, b = consensus(answer, parsed), consensus(answer.copy(), parsed.copy())
    assert np.array_equal(a.answer, b.answer) and np.array_equal(a.score, b.score)
    with pytest.raises(ValueError, match="consensus method"):
        consensus(answer, parsed, "oracle")
