"""Two-model metrics: RouteLLM's APGR/CPT and RouterXBench's LPM/MPM/HCR/AUROC on hand-computed instances,
the convergence of the quantile-threshold APGR to the exact curve's, and the report's weak/strong tables."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concur import two_model_metrics as tm


# ------------------------------------------------------------------ RouteLLM
def test_quantile_curve_hand_computed():
    score = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    yw = np.array([0, 1, 0, 1, 1.0])  # acc_weak = 3/5
    ys = np.array([1, 1, 1, 0, 1.0])  # acc_strong = 4/5
    # 4 bins: quantile edges of the score = 0.1, 0.3, 0.5, 0.7, 0.9 (positions 0..4 of the sorted scores)
    # score >= 0.1: all strong 4/5 | >= 0.3: tasks 0-3 strong -> 1+1+1+0 + yw4 1 = 4/5
    # >= 0.5: tasks 0-2 -> 1+1+1 + 1+1 = 5/5 | >= 0.7: tasks 0,1 -> 1+1 + 0+1+1 = 4/5 | > 0.9: none -> 3/5
    rate, acc = tm.quantile_curve(score, yw, ys, n_bins=4)
    assert rate.tolist() == pytest.approx([0.0, 0.4, 0.6, 0.8, 1.0])
    assert acc.tolist() == pytest.approx([0.6, 0.8, 1.0, 0.8, 0.8])
    m = tm.routellm_metrics(score, yw, ys, n_bins=4)
    # PGR = (acc - 0.6) / 0.2 = 0, 1, 2, 1, 1
    # APGR = trapezoid over x: 0.4 * (0+1)/2 + 0.2 * (1+2)/2 + 0.2 * (2+1)/2 + 0.2 * (1+1)/2 = 0.2 + 0.3 + 0.3 + 0.2
    assert m["apgr"] == pytest.approx(1.0)
    # CPT(q) = first crossing of PGR q, linear in [0, 0.4] where PGR goes 0 -> 1: x = 0.4 q
    assert m["cpt50"] == pytest.approx(0.2)
    assert m["cpt80"] == pytest.approx(0.32)


def test_exact_curve_hand_computed():
    score = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    yw = np.array([0, 1, 0, 1, 1.0])
    ys = np.array([1, 1, 1, 0, 1.0])
    # every task a threshold: gains ys - yw in score order = +1, 0, +1, -1, 0
    # acc at k = 0..5 escalated: 3/5, 4/5, 4/5, 5/5, 4/5, 4/5 -> PGR 0, 1, 1, 2, 1, 1
    rate, acc = tm.exact_curve(score, yw, ys)
    assert rate.tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert acc.tolist() == pytest.approx([0.6, 0.8, 0.8, 1.0, 0.8, 0.8])
    m = tm.routellm_metrics(score, yw, ys)
    # APGR = 0.2 * ((0+1)/2 + (1+1)/2 + (1+2)/2 + (2+1)/2 + (1+1)/2) = 0.2 * 5.5
    assert m["apgr"] == pytest.approx(1.1)
    assert m["cpt50"] == pytest.approx(0.1)  # PGR 0 -> 1 over [0, 0.2]: x = 0.2 q
    assert m["cpt80"] == pytest.approx(0.16)


def test_tied_scores_move_together_and_last_edge_is_strict():
    score = np.array([1.0, 1.0, 0.0, 0.0])
    yw = np.array([0, 1, 0, 1.0])  # 2/4
    ys = np.array([1, 1, 1, 0.0])  # 3/4
    # 2 bins: edges 0, 0.5, 1. >= 0: all strong 3/4 | >= 0.5: the tied pair {0, 1} -> 1+1 + 0+1 = 3/4
    # > 1 (last edge, strict): none -> 2/4.  PGR = (acc - 1/2) / (1/4): 0, 1, 1 at x = 0, 0.5, 1
    for rate, acc in (tm.quantile_curve(score, yw, ys, n_bins=2), tm.exact_curve(score, yw, ys)):
        assert rate.tolist() == pytest.approx([0, 0.5, 1.0])
        assert acc.tolist() == pytest.approx([0.5, 0.75, 0.75])
    m = tm.routellm_metrics(score, yw, ys, n_bins=2)
    assert m["apgr"] == pytest.approx(0.5 * (0 + 1) / 2 + 0.5 * 1)  # 0.75
    assert m["cpt50"] == pytest.approx(0.25) and m["cpt80"] == pytest.approx(0.4)


def test_pgr_undefined_without_a_gap_and_unreached_cpt():
    assert math.isnan(tm.apgr([0, 1], [0.7, 0.6], 0.7, 0.6))  # strong not better: PGR undefined
    # a curve that never recovers 80% of the gap: PGR 0, 0.5, 0.6
    assert math.isnan(tm.cpt([0, 0.5, 1], [0.5, 0.55, 0.56], 0.5, 0.6, 0.8))
    assert tm.cpt([0, 0.5, 1], [0.5, 0.55, 0.56], 0.5, 0.6, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        tm.exact_curve([0.1, np.nan], [0, 1], [1, 1])
    with pytest.raises(ValueError):
        tm.quantile_curve([0.1, 0.2], [0, 1], [1, 1], n_bins=0)


def test_cost_order_is_our_variant_not_routellms():
    p_weak, p_strong = np.array([0.5, 0.5]), np.array([0.9, 0.7])
    c_weak, c_strong = np.array([1.0, 1.0]), np.array([11.0, 2.0])
    yw, ys = np.array([0, 0.0]), np.array([1, 0.0])  # acc_weak 0, acc_strong 1/2
    m = tm.weak_strong_metrics(p_weak, p_strong, c_weak, c_strong, yw, ys)
    # gain order (0.4 > 0.2): task 0 first -> acc 0, 1/2, 1/2 -> PGR 0, 1, 1 -> APGR 0.5 * 1/2 + 0.5 * 1 = 0.75
    assert m["apgr"] == pytest.approx(0.75) and m["cpt50"] == pytest.approx(0.25)
    # gain per extra cost (0.4/10 < 0.2/1): task 1 first -> acc 0, 0, 1/2 -> PGR 0, 0, 1 -> APGR 0.5 * 1/2 = 0.25
    assert m["apgr_cost_order"] == pytest.approx(0.25) and m["cpt50_cost_order"] == pytest.approx(0.75)


def test_cost_order_score_handles_non_positive_cost_gaps():
    s = tm.cost_order_score([0.5, 0.5, 0.5], [0.9, 0.4, 0.6], [1, 1, 1], [1, 0.5, 2])
    # task 0: strong at equal cost and better -> +inf (first); task 1: strong cheaper but worse -> -inf (last)
    assert s.tolist() == [np.inf, -np.inf, pytest.approx(0.1)]
    rate, acc = tm.exact_curve(s, [0, 0, 0], [1, 0, 1])  # escalation order 0, 2, 1
    assert acc.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3])


def test_apgr_of_exact_curve_is_the_limit_of_the_quantile_formula():
    rng = np.random.default_rng(7)
    n = 400
    score = rng.normal(size=n)  # distinct scores
    yw = (rng.random(n) < 0.5).astype(float)
    ys = np.maximum(yw, rng.random(n) < 0.2 + 0.5 * (score > 0)).astype(float)
    ys[rng.random(n) < 0.1] = 0.0  # some tasks only the weak model gets right
    gap = ys.mean() - yw.mean()
    assert gap > 0.05
    exact = tm.routellm_metrics(score, yw, ys)["apgr"]
    for n_bins in (5, 10, 20, 50, 100, 200):
        binned = tm.routellm_metrics(score, yw, ys, n_bins=n_bins)["apgr"]
        # each bin spans at most n/B + 2 tasks; within it the chord and the exact curve differ by at most the
        # PGR variation inside the bin, and PGR varies by at most 1 / gap in total
        assert abs(binned - exact) <= (1 / n_bins + 2 / n) / gap
    # with one bin per task every task is a threshold: the two curves coincide
    assert tm.routellm_metrics(score, yw, ys, n_bins=n)["apgr"] == pytest.approx(exact, abs=1e-12)
    r_q, a_q = tm.quantile_curve(score, yw, ys, n_bins=n)
    r_e, a_e = tm.exact_curve(score, yw, ys)
    assert np.allclose(r_q, r_e) and np.allclose(a_q, a_e)


labels = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 6)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(labels, st.integers(1, 12))
def test_quantile_points_lie_on_the_exact_curve(rows, n_bins):
    yw, ys, score = (np.array(c, dtype=float) for c in zip(*rows))  # few distinct scores: many ties
    r_q, a_q = tm.quantile_curve(score, yw, ys, n_bins)
    r_e, a_e = tm.exact_curve(score, yw, ys)
    assert r_e[0] == 0 and r_e[-1] == 1 and a_e[0] == pytest.approx(yw.mean()) and a_e[-1] == pytest.approx(ys.mean())
    for r, a in zip(r_q, a_q):
        j = np.flatnonzero(np.isclose(r_e, r))
        assert j.size == 1 and a_e[j[0]] == pytest.approx(a)


# ------------------------------------------------------------------ RouterXBench
# 10 tasks listed in ascending 'weak model is right' score (the escalation order):
#   gains ys - yw:  +1 +1 +1  0 +1  0 -1 +1  0 +1
WEAK = np.array([0, 0, 0, 1, 0, 0, 1, 0, 1, 0.0])  # acc_weak w = 0.3
STRONG = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1.0])  # acc_strong s = 0.8
SCORE = np.arange(10) / 10 + 0.05
# accuracy with k tasks escalated, k = 0..10: .3 .4 .5 .6 .6 .7 .7 .6 .7 .7 .8; on the grid r = i/100,
# k = floor(10 r), so each k < 10 covers the 10 rates k/10 .. k/10 + 0.09 (mean rate k/10 + 0.045)
SHUFFLE = np.array([3, 7, 0, 9, 5, 1, 8, 2, 6, 4])  # the input order must not matter


def test_routerxbench_grid_curve():
    rates, acc = tm.grid_curve(SCORE[SHUFFLE], WEAK[SHUFFLE], STRONG[SHUFFLE])
    assert rates.size == 101 and rates[10] == pytest.approx(0.1)
    per_k = [0.3, 0.4, 0.5, 0.6, 0.6, 0.7, 0.7, 0.6, 0.7, 0.7, 0.8]
    assert acc.tolist() == pytest.approx([per_k[i // 10] for i in range(101)])


def test_routerxbench_default_bands_hand_computed():
    m = tm.routerxbench_metrics(SCORE[SHUFFLE], WEAK[SHUFFLE], STRONG[SHUFFLE])
    # LPM: rates 0 .. 0.1 (11 grid points): ten at k = 0 (.3) and one at k = 1 (.4) -> (10 * .3 + .4) / 11
    assert m["lpm"] == pytest.approx(3.4 / 11)
    # recovery band [w + .7 (s - w), w + .9 (s - w)] = [.65, .75] holds the accuracy .7 at k = 5, 6, 8, 9
    # HCR = 1 - mean rate of those 40 points = 1 - (.545 + .645 + .845 + .945) / 4 = 1 - .745
    assert m["hcr"] == pytest.approx(0.255)
    # MPM: accuracy > acc(0.1) = .4 and < .65: .5 (k = 2) and .6 (k = 3, 4, 7) -> (10 * .5 + 30 * .6) / 40
    assert m["mpm"] == pytest.approx(23 / 40)
    # AUROC, label 'weak right' = WEAK: positives at score ranks 4, 7, 9 of 10 (3 positives, 7 negatives)
    # = (4 + 7 + 9 - 3 * 4 / 2) / (3 * 7) = 14 / 21
    assert m["auroc_weak_right"] == pytest.approx(2 / 3)


def test_routerxbench_bands_are_arguments_and_an_empty_band_scores_zero():
    m = tm.routerxbench_metrics(SCORE, WEAK, STRONG, recovery_band=(0.5, 0.6), lpm_band=(0.0, 0.25))
    # LPM over rates 0 .. 0.25 (26 points): 10 x .3, 10 x .4, 6 x .5 (k = 2 at rates .20 .. .25)
    assert m["lpm"] == pytest.approx((3 + 4 + 3) / 26)
    # band [.3 + .5 * .5, .3 + .6 * .5] = [.55, .6]: accuracy .6 at k = 3, 4, 7 -> 1 - (.345 + .445 + .745) / 3
    assert m["hcr"] == pytest.approx(1 - 1.535 / 3)
    # MPM: above acc(0.25) = .5 and below .55: no grid point -> 0 (RouterXBench's convention)
    assert m["mpm"] == 0.0
    # a band the curve jumps over: [.3 + .9 * .5, .3 + .95 * .5] = [.75, .775] holds no grid point -> HCR 0
    assert tm.routerxbench_metrics(SCORE, WEAK, STRONG, recovery_band=(0.9, 0.95))["hcr"] == 0.0
    with pytest.raises(ValueError):
        tm.routerxbench_metrics(SCORE, WEAK, STRONG, lpm_band=(0.2, 0.1))


def test_weak_right_auroc_label_rules():
    # one class only -> 0.5 (RouterXBench's convention)
    assert tm.weak_right_auroc([0.1, 0.9], [1, 1], [0, 1]) == 0.5
    # soft labels: 'weak right' = weak score >= strong score -> labels T, F, T
    yw, ys = [0.9, 0.2, 0.5], [0.5, 0.6, 0.5]
    assert tm.weak_right_auroc([0.3, 0.1, 0.2], yw, ys) == pytest.approx(1.0)
    assert tm.weak_right_auroc([0.1, 0.3, 0.2], yw, ys) == pytest.approx(0.0)


# ------------------------------------------------------------------ the pipeline's table
def test_weak_strong_results_render_with_published_rows():
    from concur.results_stats import weak_strong
    from concur.report import ROUTELLM_MMLU_PUBLISHED, _weak_strong_lines
    from concur.pred_files import Predictions

    rng = np.random.default_rng(3)
    n = 300
    label = np.stack([rng.random(n) < 0.6, rng.random(n) < 0.8], axis=1).astype(float)
    cost = np.tile([1.0, 10.0], (n, 1))

    def preds(noise: float) -> Predictions:
        prob = np.clip(0.5 * label + 0.25 + noise * rng.normal(size=label.shape), 0.01, 0.99)
        return Predictions("test", np.arange(n).astype(str), ["weak_x", "strong_x"], prob, cost * 1.1, label, cost)

    test_sets = {"concur": [preds(0.2), preds(0.2)], "kNN": [preds(0.3)]}
    ws = weak_strong(["concur", "kNN"], test_sets)
    assert ws["weak"] == "weak_x" and ws["n_tasks"] == n
    c = ws["routers"]["concur"]
    one = tm.weak_strong_metrics(*(test_sets["concur"][0].prob.T), *(cost.T * 1.1), *label.T)
    two = tm.weak_strong_metrics(*(test_sets["concur"][1].prob.T), *(cost.T * 1.1), *label.T)
    assert c["apgr_qbins"] == pytest.approx((one["apgr_qbins"] + two["apgr_qbins"]) / 2)  # seed mean
    oracle = ws["routers"]["oracle ordering"]
    assert oracle["auroc_weak_right"] == pytest.approx(1.0)
    assert oracle["apgr"] >= max(c["apgr"], ws["routers"]["kNN"]["apgr"])
    res = {"name": "routellm_mmlu", "weak_strong": ws, "split_sizes": {"train": 900, "test": n},
           "import_info": {"dropped_contaminated": 0}}
    text = "\n".join(_weak_strong_lines(res))
    row = next(line for line in text.splitlines() if line.startswith("| concur |"))
    assert f"| {c['apgr_qbins']:.3f} | {100 * c['cpt50_qbins']:.2f}% |" in row
    assert f"| {c['apgr']:.3f} |" in row and "n/a" not in row
    assert text.count("*RouteLLM paper:") == len(ROUTELLM_MMLU_PUBLISHED) and "LPM" in text and "HCR" in text
    # other two-model pools get our rows only
    assert "*RouteLLM paper:" not in "\n".join(_weak_strong_lines({**res, "name": "other"}))
