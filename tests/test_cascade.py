"""Cascades (concur/cascade.py), the answer features (concur/answer_features.py) and their evaluation
(concur/cascade_results.py) on hand-made and synthetic instances."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from concur.answer_features import OPEN_FORMAT_SINGLETONS, AnswerFormats, AnswerView, agreement, signal_auroc
from concur.cascade import (LearnedCascade, RoutedCascade, agreement_cascade, cascade_outcomes, chain_order)
from concur.cascade_results import evaluate, pick_prior, rank_agreement, validation_aiq, with_split_outcomes
from concur.data import SplitOutcomes
from concur.errors import ConcurError
from concur.metrics import auroc
from concur.pred_files import Predictions
from concur.routing import route_weighted

COSTS = np.array([1.0, 2.0, 5.0, 20.0])  # strategy 2 is dominated by 1 (see `synthetic`)


def synthetic(n: int = 600, seed: int = 0) -> AnswerView:
    """Four strategies of rising cost; a task's difficulty drives every label; a correct answer is the
    letter 'A', a wrong one a random other letter, so agreement carries signal."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n)
    skill = np.array([0.35, 0.55, 0.45, 0.85])
    label = (rng.random((n, 4)) < np.clip(skill + 0.4 * (0.5 - hard)[:, None], 0, 1)).astype(float)
    answer = np.where(label == 1, "A", rng.choice(["B", "C", "D"], size=(n, 4))).astype(object)
    parsed = rng.random((n, 4)) > 0.05
    answer[~parsed] = ""
    label[~parsed] = 0
    prob = np.clip(skill + 0.3 * (0.5 - hard)[:, None] + rng.normal(0, 0.1, (n, 4)), 0.01, 0.99)
    cost = COSTS * rng.uniform(0.8, 1.2, (n, 4))
    return AnswerView(np.array([str(i) for i in range(n)], dtype=object), ["s0_d", "s1_d", "s2_d", "s3_d"], prob,
                      np.tile(COSTS, (n, 1)), label, cost, answer, parsed, rng.integers(5, 50, (n, 4)).astype(float))


def test_chain_is_the_pareto_front_in_cost_order():
    label = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=float)  # accuracies 1/3, 2/3, 1/3, 1
    cost = np.tile(COSTS, (3, 1))
    assert chain_order(label, cost) == [0, 1, 3]


def test_a_cascade_charges_every_model_it_ran():
    rng = np.random.default_rng(1)
    view = synthetic(50)
    chain = [0, 1, 3]
    stop = rng.random((7, 50, 3)) < 0.4
    correct, total, steps = cascade_outcomes(stop, view.label, view.cost, chain)
    ran = np.arange(3)[None, None, :] < steps[..., None]  # (K, n, T) which steps ran
    spent = (ran * view.cost[:, chain][None]).sum(-1)
    assert np.allclose(total, spent)
    answered = np.take_along_axis(np.broadcast_to(np.array(chain), (7, 50, 3)), steps[..., None] - 1, -1)[..., 0]
    assert (total >= np.take_along_axis(np.broadcast_to(view.cost, (7, 50, 4)), answered[..., None], -1)[..., 0]).all()
    assert np.array_equal(correct, np.take_along_axis(np.broadcast_to(view.label, (7, 50, 4)), answered[..., None], -1)[..., 0])


def test_never_escalating_is_the_cheapest_strategy_and_always_escalating_the_whole_chain():
    val, test = synthetic(400, 0), synthetic(300, 1)
    chain = chain_order(val.label, val.cost)
    assert chain[0] == 0 and chain[-1] == 3
    cascade = LearnedCascade.fit(val, chain)
    a, c = cascade.sweep(test, np.array([0.0, 1.01]))
    assert np.array_equal(a[0], test.label[:, 0]) and np.allclose(c[0], test.cost[:, 0])
    assert np.array_equal(a[1], test.label[:, chain[-1]]) and np.allclose(c[1], test.cost[:, chain].sum(1))


def test_agreement_cascade_on_a_hand_made_instance():
    view = synthetic(4)
    view.answer[:] = np.array([["A", "A", "x", "C"], ["A", "B", "x", "C"], ["", "", "x", "C"], ["B", "B", "x", "A"]],
                              dtype=object)
    view.parsed[:] = view.answer != ""
    view.label[:] = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]])
    correct, cost = agreement_cascade(view, [0, 1, 3])
    c = view.cost
    # agree -> the cheap answer (two models paid); disagree or unparsed -> the last model (three paid)
    assert correct.tolist() == [1, 1, 1, 0]
    assert np.allclose(cost, [c[0, 0] + c[0, 1], c[1, [0, 1, 3]].sum(), c[2, [0, 1, 3]].sum(), c[3, 0] + c[3, 1]])


def test_routed_cascade_without_escalation_is_the_router_and_with_it_pays_both():
    val, test = synthetic(400, 0), synthetic(300, 1)
    routed = RoutedCascade.fit(val)
    assert routed.strong == 3
    weights = np.array([0.5, 0.99])
    a, c = routed.sweep(test, weights, np.array([0.0, 1.01]))  # rows: (w0, tau0), (w0, tau1), (w1, tau0), (w1, tau1)
    pick = route_weighted(test.prob, test.pred_cost, weights)
    rows = np.arange(test.n_tasks)
    for w in range(2):
        assert np.array_equal(a[2 * w], test.label[rows, pick[w]]) and np.allclose(c[2 * w], test.cost[rows, pick[w]])
        up = pick[w] != 3
        assert np.array_equal(a[2 * w + 1], np.where(up, test.label[:, 3], test.label[rows, pick[w]]))
        assert np.allclose(c[2 * w + 1], test.cost[rows, pick[w]] + up * test.cost[:, 3])


def test_agreement_feature():
    view = synthetic(3)
    view.answer[:] = np.array([["A", "A", "B", "A"], ["", "", "B", "B"], ["C", "D", "C", "C"]], dtype=object)
    view.parsed[:] = view.answer != ""
    assert agreement(view, 0, [1, 2, 3]).tolist() == pytest.approx([2 / 3, 0.0, 2 / 3])
    assert agreement(view, 0, []).tolist() == [0.0, 0.0, 0.0]


def test_answers_add_signal_on_synthetic_data_and_the_prior_auroc_is_the_metric():
    val, test = synthetic(800, 0), synthetic(800, 1)
    res = signal_auroc(val, test, [0, 1], 0)
    assert res["prior"] == pytest.approx(auroc(test.label[:, 0], test.prob[:, 0]))
    assert res["prior+answers"] > res["prior"]  # a correct cheap answer agrees with the other: informative


def test_evaluate_scores_every_method_on_the_same_resamples():
    val, test = synthetic(300, 0), synthetic(300, 1)
    router = Predictions("test", test.question_ids, test.strategies, test.prob, test.pred_cost, test.label, test.cost)
    res = evaluate(val, test, {"prior": router}, n_boot=50)
    assert res["best_question_only"] == "prior" and res["chain"][0] == "s0_d"
    for k in ("prior", "cascade", "routed cascade", "singles hull", "agreement cascade + singles"):
        assert 0.0 <= res["aiq"][k] <= 1.0
    lo, hi = res["routed_minus_best"]["ci"]
    assert lo <= res["routed_minus_best"]["diff"] <= hi
    assert "cascade_routing_minus_prior" not in res  # no prior named: no comparison with it
    # each method's stored hull (what the plot draws) is the curve its AIQ integrates
    from concur import curves

    c_min, c_max = test.cost.mean(0).min(), test.cost.mean(0).max()
    assert set(res["hulls"]) == set(res["aiq"])
    for k, h in res["hulls"].items():
        hull = curves.Hull(np.array(h["hull_cost"]), np.array(h["hull_acc"]))
        assert curves.aiq(hull, c_min, c_max) == pytest.approx(res["aiq"][k], abs=1e-12), k


def test_priors_are_chosen_and_scored_on_the_data_sets_own_labels():
    """A label-free router's validation file carries consensus pseudo-labels; the cascades' prior is picked on
    the split's gold labels, so a router whose pseudo-labels echo its predictions does not win by them."""
    val = synthetic(400, 3)
    split = SplitOutcomes("val", Path("val.csv"), val.question_ids, np.arange(400), val.strategies, val.label, val.cost)
    honest = Predictions("val", val.question_ids, val.strategies, val.prob, val.pred_cost, val.label, val.cost)
    rng = np.random.default_rng(0)
    noise = rng.random(val.prob.shape)
    echo_label = (noise < 0.5).astype(float)  # "pseudo-labels" that its own predictions match perfectly
    order = rng.permutation(400)  # rows in another order than the split's
    echo = Predictions("val", val.question_ids[order], val.strategies, echo_label[order], val.pred_cost[order],
                       echo_label[order], val.cost[order])
    assert pick_prior(validation_aiq({"honest": honest, "echo": echo})) == "echo"
    fixed = {k: with_split_outcomes(p, split) for k, p in {"honest": honest, "echo": echo}.items()}
    assert np.array_equal(fixed["echo"].label, val.label[order]) and np.array_equal(fixed["echo"].cost, val.cost[order])
    assert pick_prior(validation_aiq(fixed)) == "honest"
    stranger = Predictions("val", np.array(["x"], dtype=object), val.strategies, val.prob[:1], val.pred_cost[:1],
                           val.label[:1], val.cost[:1])
    with pytest.raises(ConcurError, match="question_id 'x'"):
        with_split_outcomes(stranger, split)


def test_answer_view_needs_answers_only_where_the_outcome_is_known():
    from concur.answer_features import answer_view
    from concur.answers import SplitAnswers

    qids = np.array(["a", "b"], dtype=object)
    label = np.array([[1.0, np.nan], [0.0, 1.0]])  # strategy y never ran on task a
    preds = Predictions("train", qids, ["x_d", "y_d"], np.full((2, 2), np.nan), np.full((2, 2), np.nan), label,
                        np.ones((2, 2)))
    observed = np.array([[True, False], [True, True]])
    answers = SplitAnswers("train", Path("answers_train.csv"), qids, ["x_d", "y_d"],
                           np.where(observed, "A", "").astype(object), observed.copy(), np.where(observed, 5.0, np.nan),
                           observed)
    view = answer_view(preds, answers)
    assert view.answer[0, 1] == "" and not view.parsed[0, 1]
    answers.observed[1, 1] = False  # an outcome without its answer
    with pytest.raises(ConcurError, match="answers_train.csv: some"):
        answer_view(preds, answers)


def test_evaluate_compares_the_cascades_with_their_own_prior_on_the_same_resamples():
    val, test = synthetic(300, 0), synthetic(300, 1)
    prior = Predictions("test", test.question_ids, test.strategies, test.prob, test.pred_cost, test.label, test.cost)
    # a second question-only router that knows the outcomes: the best on test, so "best" and "prior" differ
    oracle = Predictions("test", test.question_ids, test.strategies, test.label.astype(float), test.cost, test.label,
                         test.cost)
    res = evaluate(val, test, {"prior": prior, "oracle": oracle}, n_boot=50, prior="prior")
    assert res["best_question_only"] == "oracle" and res["prior"] == "prior"
    for key, name in (("cascade_routing_minus_prior", "cascade routing"), ("routed_minus_prior", "routed cascade")):
        d, (lo, hi) = res[key]["diff"], res[key]["ci"]
        assert d == pytest.approx(res["aiq"][name] - res["aiq"]["prior"]) and lo <= d <= hi
        assert d != pytest.approx(res[key.replace("prior", "best")]["diff"])
    with pytest.raises(ConcurError, match="'knn' is not among"):
        evaluate(val, test, {"prior": prior}, n_boot=10, prior="knn")


def test_rank_agreement_is_the_spearman_correlation_of_validation_and_test_aiq():
    val = {"a": 0.50, "b": 0.52, "c": 0.54, "d": 0.56}
    assert rank_agreement(val, {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}) == pytest.approx(1.0)
    assert rank_agreement(val, {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}) == pytest.approx(-1.0)
    assert rank_agreement(val, {"a": 0.2, "b": 0.1, "c": 0.4, "d": 0.3}) == pytest.approx(0.6)
    assert rank_agreement({"a": 0.5, "b": 0.6}, {"a": 0.5, "b": 0.6}) is None  # two routers: no ranking to test
    assert rank_agreement(val, dict.fromkeys(val, 0.5)) is None  # every router ties on test


def _with_answers(view: AnswerView, answer: np.ndarray) -> AnswerView:
    return dataclasses.replace(view, answer=answer.astype(object), parsed=answer != "")


def test_answer_formats_tell_a_closed_vocabulary_from_open_ended_answers():
    letters = np.array([["A", "B"], ["B", ""], ["C", "A"]] * 4, dtype=object)
    code = np.array([[f"x{i}", f"y{i}"] for i in range(12)], dtype=object)  # every answer given once
    code[0, 1] = ""
    ones = np.ones((12, 2))
    base = AnswerView(np.array([str(i) for i in range(12)], dtype=object), ["s0_d", "s1_d"], ones / 2, ones, ones,
                      ones, letters, letters != "", ones)
    formats = AnswerFormats.of(_with_answers(base, letters))
    assert formats.vocabulary == [frozenset("ABC"), frozenset("AB")] and not formats.open_ended.any()
    mixed = letters.copy()
    mixed[3, 0], mixed[5, 1] = "D", "zz"  # outside each closed vocabulary; "" (not parsed) never counts
    mixed[1, 1] = ""
    test = _with_answers(base, mixed)
    assert np.flatnonzero(formats.unseen(test)).tolist() == [3, 5]
    run = np.zeros((12, 2), dtype=bool)
    run[3, 1] = run[5, 1] = True  # only the run strategies' answers count
    assert np.flatnonzero(formats.unseen(test, run)).tolist() == [5]
    # open-ended (>= OPEN_FORMAT_SINGLETONS answers given once): any parsed answer is of a seen format
    opened = AnswerFormats.of(_with_answers(base, code), _with_answers(base, letters))
    assert OPEN_FORMAT_SINGLETONS <= 11 and opened.open_ended.all()
    assert not opened.unseen(test).any()
    with pytest.raises(ConcurError, match="same strategies"):
        AnswerFormats.of(_with_answers(base, letters), dataclasses.replace(base, strategies=["s1_d", "s0_d"]))


def test_offset_logistic_keeps_its_offset_and_fits_only_what_the_other_columns_add():
    from concur.answer_features import OffsetLogistic, fit_offset_logistic, predict_logistic

    rng = np.random.default_rng(0)
    n = 20000
    offset = rng.normal(0, 1.5, n)
    signal, noise = rng.normal(0, 1, n), rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(offset + 0.8 * signal)))).astype(float)
    model = fit_offset_logistic(np.column_stack([offset, signal, noise]), y)
    assert isinstance(model, OffsetLogistic)
    assert abs(model.coef[0] - 0.8) < 0.08 and abs(model.coef[1]) < 0.05
    # columns that carry nothing leave the offset's probabilities as they are (no intercept to refit them)
    blank = fit_offset_logistic(np.column_stack([offset, np.zeros(n)]), y)
    x = np.column_stack([offset, np.zeros(n)])
    assert np.allclose(predict_logistic(blank, x), 1 / (1 + np.exp(-offset)))
    # on few rows: the minimum of the log-loss plus the L2 penalty on unit-sd columns (its gradient vanishes)
    x, t = np.column_stack([offset, 3.0 * signal])[:40], y[:40]
    few = fit_offset_logistic(x, t)
    sd = x[:, 1].std() + 1e-9
    w = few.coef[0] * sd
    p = predict_logistic(few, x)
    assert np.allclose(p, 1 / (1 + np.exp(-(x[:, 0] + few.coef[0] * x[:, 1]))))
    assert abs((x[:, 1] / sd) @ (p - t) + w) < 1e-4
