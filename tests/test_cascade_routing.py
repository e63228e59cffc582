"""Cascade routing (concur/cascade_routing.py) on hand-made and synthetic instances."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from concur.answer_features import AnswerView
from concur.cascade_routing import (LAMBDAS, MAX_POOL, CascadeRouter, QualityMemo, _expected_max, _extensions, _plurality_agreement,
                                    clipped_normal_cell_cdf, expected_max_independent, supermodels)
from concur.errors import ConcurError
from test_cascade import synthetic


def test_expected_max_of_every_supermodel_equals_brute_force():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(5, 4, 7))
    members, masks = supermodels(4, 3)
    assert len(masks) == 4 + 6 + 4 and masks.sum(axis=1).max() == 3
    em = _expected_max(draws, members)
    for i, mask in enumerate(masks):
        assert np.array_equal(em[:, i], draws[:, mask].max(axis=1).mean(axis=1))


def test_extensions_are_the_supermodels_that_add_only_later_strategies_to_a_run_set():
    rng = np.random.default_rng(2)
    m = 5
    ran = rng.uniform(size=(300, m)) < 0.3  # many repeated run sets, the empty one among them
    members, masks = supermodels(m, 3)
    valid, row = _extensions(ran, masks)
    assert len(valid) == len({tuple(r) for r in ran}) and row.shape == (len(ran),)
    for r, v in zip(ran, valid[row]):
        last = np.flatnonzero(r).max() if r.any() else -1
        expected = [bool((mask >= r).all() and all(k > last for k in np.flatnonzero(mask & ~r))) for mask in masks]
        assert v.tolist() == expected


def test_expected_max_of_independent_clipped_normals_matches_sampling():
    rng = np.random.default_rng(1)
    q = rng.uniform(-0.1, 1.1, (6, 4))
    sd = rng.choice([0.0, 0.02, 0.1, 0.4], (6, 4))
    sd[0] = 0.0  # no uncertainty at all: the max of the clipped estimates
    members, masks = supermodels(4, 3)
    em = expected_max_independent(q, sd, members, cells=64)
    draws = np.clip(q[:, :, None] + sd[:, :, None] * rng.standard_normal((6, 4, 200_000)), 0.0, 1.0)
    sampled = np.stack([draws[:, mask].max(axis=1).mean(axis=1) for mask in masks], axis=1)
    # sampling error of 200k draws is < 0.003 here; a product of cell averages errs where two steps share a cell
    assert np.abs(em - sampled).max() < 0.01
    clipped = np.concatenate([np.clip(q[0], 0, 1), [-np.inf]])
    assert np.abs(em[0] - clipped[members].max(axis=1)).max() < 1 / 64  # sd 0: the max, to within one cell
    single = masks.sum(axis=1) == 1
    assert np.abs(em[:, single] - sampled[:, single]).max() < 0.003  # one member: exact up to the sampling


def test_cell_cdf_is_a_cdf_and_a_step_without_uncertainty():
    q, sd = np.array([[0.3, 0.3, 1.5, -0.5]]), np.array([[0.0, 0.05, 0.1, 0.1]])
    cdf = clipped_normal_cell_cdf(q, sd, cells=10)[0]
    assert (np.diff(cdf, axis=1) >= -1e-12).all() and ((cdf >= 0) & (cdf <= 1)).all()
    assert np.allclose(cdf[0], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1])  # a step at 0.3: each cell's mean
    assert cdf[2].max() < 1e-6 and cdf[3].min() > 1 - 1e-6  # clipped at 1 / at 0: always above / below t < 1
    assert abs(1 - cdf[1].mean() - 0.3) < 1e-9  # E[X] = integral of P(X > t): exact for one member


def test_plurality_agreement_on_a_hand_made_instance():
    answer = np.array([["A", "B", "A", "C"], ["B", "B", "C", "C"], ["D", "", "D", "D"]], dtype=object)
    parsed = answer != ""
    view = AnswerView(np.array(["0", "1", "2"], dtype=object), list("wxyz"), np.full((3, 4), 0.5), np.ones((3, 4)),
                      np.zeros((3, 4)), np.ones((3, 4)), answer, parsed, np.ones((3, 4)))
    run = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 1]], dtype=bool)
    got = _plurality_agreement(view, run)
    # task 0: A twice among run (w, y); task 1: B and C tie, B comes first; task 2: x did not parse, D (y, z)
    assert got.tolist() == [[True, False, True, False], [True, True, False, False], [False, False, True, True]]


def test_a_huge_cost_weight_runs_only_the_cheapest_strategy():
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val)
    correct, cost, steps = router.run(test, np.array([1e9]))
    cheapest = router.pool[0]
    assert (steps == 1).all()
    assert np.array_equal(correct[0], test.label[:, cheapest]) and np.allclose(cost[0], test.cost[:, cheapest])


def test_cascade_routing_charges_every_strategy_it_ran_and_answers_with_one_of_them():
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val)
    lambdas = np.array([0.0, 0.05, 0.2, 1.0])
    correct, cost, steps = router.run(test, lambdas)
    assert (steps >= 1).all() and (steps <= len(router.pool)).all()
    c = test.cost[:, router.pool]
    # the cost of k strategies is at least the k cheapest of them and at most the k dearest
    srt = np.sort(c, axis=1)
    lo = np.take_along_axis(np.cumsum(srt, axis=1), steps.T - 1, axis=1).T
    hi = np.take_along_axis(np.cumsum(srt[:, ::-1], axis=1), steps.T - 1, axis=1).T
    assert (cost >= lo - 1e-9).all() and (cost <= hi + 1e-9).all()
    # a task answered correctly has a correct strategy in the pool
    assert (correct <= test.label[:, router.pool].max(axis=1)[None]).all()
    # a heavy cost weight spends less than none (not monotone in between: each step's choice is myopic)
    assert cost[-1].mean() < cost[0].mean()


def test_more_answers_make_the_estimates_better_on_synthetic_data():
    val, test = synthetic(600, 0), synthetic(600, 1)
    router = CascadeRouter.fit(val)
    none = np.zeros(test.prob.shape, dtype=bool)
    full = np.zeros(test.prob.shape, dtype=bool)
    full[:, router.pool] = True
    q0, sd0 = router.quality(test, none)
    q1, sd1 = router.quality(test, full)
    y = test.label[:, router.pool]
    assert np.mean((q1 - y) ** 2) < np.mean((q0 - y) ** 2)  # the answers carry signal here
    assert (sd1 <= sd0 + 1e-12).all()  # and the estimates given every answer are the least uncertain


def test_the_uncertainty_factor_is_chosen_on_validation_among_the_offered_ones():
    val = synthetic(400, 0)
    one = CascadeRouter.fit(val, scales=(0.5,))
    assert one.sigma_scale == 0.5
    picked = CascadeRouter.fit(val, scales=(0.0, 1.0))
    assert picked.sigma_scale in (0.0, 1.0) and (picked.sigma_scale > 0 or not picked.correlated)
    assert np.allclose(picked.sigma, CascadeRouter.fit(val, scales=(1.0,)).sigma * picked.sigma_scale)
    assert not CascadeRouter.fit(val, scales=(0.0,)).correlated  # without uncertainty there is nothing to correlate


def _with_subjects(view: AnswerView, seed: int) -> AnswerView:
    """`view` with a subject per task; on subject 'code' answers are unique strings, so agreement means nothing."""
    import dataclasses

    rng = np.random.default_rng(seed)
    group = rng.choice(["code", "letters"], size=view.n_tasks).astype(object)
    answer = view.answer.copy()
    code = group == "code"
    answer[code] = np.array([[f"{i}-{j}" for j in range(answer.shape[1])] for i in np.flatnonzero(code)], dtype=object)
    answer[~view.parsed] = ""
    return dataclasses.replace(view, answer=answer, group=group)


def test_answer_models_are_fitted_on_train_answers_without_reading_the_prior():
    from concur.cascade_routing import AnswerModel

    train = _with_subjects(synthetic(800, 2), 2)
    pool = [0, 1, 2, 3]
    a = AnswerModel.fit(train, pool, use_subjects=True)
    blind = AnswerModel.fit(__import__("dataclasses").replace(train, prob=np.full(train.prob.shape, np.nan),
                                                               pred_cost=np.full(train.prob.shape, np.nan)),
                            pool, use_subjects=True)
    test = _with_subjects(synthetic(400, 3), 3)
    run = np.zeros(test.prob.shape, dtype=bool)
    run[:, :2] = True
    from concur.cascade_routing import _plurality_agreement

    pl = _plurality_agreement(test, run)
    for pos, j in enumerate(pool):
        assert np.array_equal(a.logit(test, run, pos, j, pool, pl), blind.logit(test, run, pos, j, pool, pl))
    assert a.subjects == ["code", "letters"]
    # where agreement means nothing on one subject (unique code answers), the subject interactions predict better
    plain = AnswerModel.fit(train, pool, use_subjects=False)
    full = np.ones(test.prob.shape, dtype=bool)
    pl = _plurality_agreement(test, full)

    def log_loss(model: AnswerModel) -> float:
        p = np.column_stack([1 / (1 + np.exp(-model.logit(test, full, pos, j, pool, pl))) for pos, j in enumerate(pool)])
        y = test.label[:, pool]
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert log_loss(a) < log_loss(plain)


def test_with_train_answers_the_router_keeps_its_guarantees_and_the_answers_still_help():
    train, val, test = (_with_subjects(synthetic(n, k), k) for n, k in ((800, 2), (400, 0), (400, 1)))
    router = CascadeRouter.fit(val, train=train)
    assert router.answer_model is not None
    correct, cost, steps = router.run(test, np.array([1e9]))
    cheapest = router.pool[0]
    assert (steps == 1).all() and np.array_equal(correct[0], test.label[:, cheapest])
    none = np.zeros(test.prob.shape, dtype=bool)
    full = np.zeros(test.prob.shape, dtype=bool)
    full[:, router.pool] = True
    y = test.label[:, router.pool]
    (q0, _), (q1, _) = router.quality(test, none), router.quality(test, full)
    assert np.mean((q1 - y) ** 2) < np.mean((q0 - y) ** 2)
    # the subject interactions are a candidate only where every split has subjects
    import dataclasses

    plain = CascadeRouter.fit(val, train=dataclasses.replace(train, group=None))
    assert plain.answer_model.subjects is None


def test_error_correlations_are_recovered_per_number_run_and_fall_back_to_the_pooled_one():
    from concur.cascade_routing import MIN_CORRELATION_ROWS, error_correlation_factors

    rng = np.random.default_rng(0)
    n = 4000
    shared = rng.normal(size=n)
    dev = np.column_stack([shared + 0.5 * rng.normal(size=n), shared + 0.5 * rng.normal(size=n), rng.normal(size=n),
                           np.zeros(n)])  # the last strategy's estimate never moves
    n_run = np.where(np.arange(n) < n // 2, 1, 2)
    n_run[:MIN_CORRELATION_ROWS - 1] = 0  # too few rows with nothing run: the pooled correlation
    dev[n_run == 2, 1] = rng.normal(size=(n_run == 2).sum())  # with two run, strategy 1 decouples
    factors = error_correlation_factors(dev, n_run, 4)
    assert factors.shape == (5, 4, 4)
    corr = factors @ factors.transpose(0, 2, 1)
    assert np.allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0)
    assert abs(corr[1, 0, 1] - 0.8) < 0.05 and abs(corr[1, 0, 2]) < 0.05
    assert abs(corr[2, 0, 1]) < 0.07  # a different correlation with two run
    pooled = np.corrcoef(dev[:, :3], rowvar=False)
    assert np.allclose(corr[0, :3, :3], pooled, atol=1e-4) and np.allclose(corr[3], corr[0])
    assert np.allclose(corr[1, 3], [0, 0, 0, 1], atol=1e-6)  # a constant deviation is uncorrelated


def test_correlated_errors_make_further_runs_worth_less():
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val, scales=(1.0,))
    assert router.correlation_factor is not None and router.sigma.any()
    lambdas = np.array([0.02, 0.05, 0.1])
    m = len(router.pool)
    router.correlated = True
    router.correlation_factor = np.broadcast_to(np.eye(m), (m + 1, m, m)).copy()
    _, cost_independent, steps_independent = router.run(test, lambdas)
    # every error the same draw: the best of several estimates is no more likely to beat its estimate than one
    router.correlation_factor = np.zeros((m + 1, m, m))
    router.correlation_factor[:, :, 0] = 1.0
    _, cost_shared, steps_shared = router.run(test, lambdas)
    assert steps_shared.sum() < steps_independent.sum() and cost_shared.mean() < cost_independent.mean()


def test_independent_errors_route_the_same_whatever_the_draw_seed():
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val, scales=(1.0,))
    router.correlated = False
    lambdas = np.array([0.0, 0.02, 0.05, 0.1, 0.3])
    first, second = router.run(test, lambdas, seed=0), router.run(test, lambdas, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))  # E[max] integrated, not sampled
    router.correlated = True  # sampled: the seed's draws enter, in antithetic pairs
    correct, cost, steps = router.run(test, lambdas, seed=0)
    assert np.isfinite(cost).all() and (steps >= 1).all()


def test_every_lambda_routes_as_if_it_ran_alone():
    # the sweep shares E[max] between lambdas that reach the same run set on a task; each must still be its own
    val, test = synthetic(400, 0), synthetic(300, 1)
    for correlated in (False, True):
        router = CascadeRouter.fit(val, scales=(1.0,))
        router.correlated = correlated
        lambdas = np.array([0.0, 0.01, 0.03, 0.1, 0.3, 1e9])
        together = router.run(test, lambdas)
        alone = [router.run(test, lambdas[k:k + 1]) for k in range(len(lambdas))]
        for out, parts in zip(together, zip(*alone)):
            assert np.array_equal(out, np.concatenate(parts))
        assert len({int(s) for s in together[2].sum(axis=1)}) > 2  # the lambdas do route differently


def test_a_pool_too_large_for_run_set_codes_is_refused_up_front():
    n, s = 4, MAX_POOL + 1
    ones = np.ones((n, s))
    view = AnswerView(np.arange(n).astype(str).astype(object), [f"s{k}" for k in range(s)], ones / 2, ones,
                      np.zeros((n, s)), ones, np.full((n, s), "A", dtype=object), ones.astype(bool), ones)
    with pytest.raises(ConcurError, match=f"at most {MAX_POOL} strategies, got {s}"):
        CascadeRouter.fit(view)


def test_the_options_are_chosen_by_their_mean_over_repeated_halvings_of_validation(monkeypatch):
    val = synthetic(200, 0)
    fitted_on = []
    original = CascadeRouter._fit.__func__

    def spy(cls, view, *args, **kwargs):
        fitted_on.append(frozenset(view.question_ids))
        return original(cls, view, *args, **kwargs)

    monkeypatch.setattr(CascadeRouter, "_fit", classmethod(spy))
    router = CascadeRouter.fit(val, scales=(0.0, 1.0), repeats=3)
    every = frozenset(val.question_ids)
    folds, final = fitted_on[:-1], fitted_on[-1]
    assert final == every and len(folds) == 6  # two halves per halving, then the whole split
    for a, b in zip(folds[::2], folds[1::2]):
        assert a | b == every and not a & b and abs(len(a) - len(b)) <= 1
    assert len(set(folds)) == 6  # three different halvings
    table = router.cross_fit_aiq
    assert table.shape == (1, 3)  # options: factor 0; factor 1 independent or correlated
    options = [(0.0, False), (1.0, False), (1.0, True)]
    assert (router.sigma_scale, router.correlated) == options[int(np.argmax(table[0]))]
    fitted_on.clear()
    single = CascadeRouter.fit(val, scales=(0.0, 1.0), repeats=1)
    assert len(fitted_on) == 3 and fitted_on[0] == folds[0]  # the first halving is the single split's
    assert single.cross_fit_aiq.shape == (1, 3)
    assert CascadeRouter.fit(val, scales=(0.0,)).cross_fit_aiq is None  # one option: nothing to choose
    with pytest.raises(ConcurError, match="at least one halving"):
        CascadeRouter.fit(val, repeats=0)


def test_answers_of_a_format_never_fitted_on_fall_back_to_the_prior():
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val, repeats=1)
    assert router.formats is not None and router.formats.vocabulary[0] == frozenset("ABCD")
    lambdas = np.array([0.0, 0.01, 0.05, 1e9])
    # answers in the fitted format: the fallback changes nothing
    with_fallback = router.run(test, lambdas)
    formats, router.formats = router.formats, None
    assert all(np.array_equal(a, b) for a, b in zip(with_fallback, router.run(test, lambdas)))
    router.formats = formats
    # code where validation saw letters: after a run, every estimate is the prior's, known exactly
    code = np.where(test.parsed, np.char.add("def f(): return ", test.answer.astype(str)), "").astype(object)
    foreign = dataclasses.replace(test, answer=code)
    run = np.zeros((300, 4), dtype=bool)
    run[:150, 0] = True
    q, sd = router.quality(foreign, run)
    ran = run.any(axis=1) & test.parsed[:, 0]
    assert np.array_equal(q[ran], test.prob[np.ix_(ran, router.pool)]) and not sd[ran].any()
    q_in, _ = router.quality(test, run)
    assert not np.allclose(q_in[ran], q[ran])  # in format, the answers move the estimates
    assert np.array_equal(q[~run.any(axis=1)], q_in[~run.any(axis=1)])  # before any run: the prior either way
    # so what those answers say cannot matter: programs that agree where the letters did (the signal the
    # estimates were fitted on) route exactly as programs that never agree
    unique = np.where(test.parsed, np.array([[f"p{i}_{j}" for j in range(4)] for i in range(300)]), "").astype(object)
    never = dataclasses.replace(test, answer=unique)
    assert all(np.array_equal(a, b) for a, b in zip(router.run(foreign, LAMBDAS), router.run(never, LAMBDAS)))
    router.formats = None  # without the fallback they do
    assert not all(np.array_equal(a, b) for a, b in zip(router.run(foreign, LAMBDAS), router.run(never, LAMBDAS)))


def test_a_memo_shared_by_runs_that_vary_the_uncertainty_changes_no_outcome(monkeypatch):
    val, test = synthetic(400, 0), synthetic(300, 1)
    router = CascadeRouter.fit(val, repeats=1)
    router.sigma = np.where(router.sigma > 0, router.sigma, 0.05)  # some uncertainty, so the options differ
    lambdas = np.array([0.0, 0.003, 0.01, 0.05, 1e9])
    calls = []
    estimates = CascadeRouter._estimates
    monkeypatch.setattr(CascadeRouter, "_estimates", lambda self, view, run: calls.append(len(run)) or
                        estimates(self, view, run))
    base, memo, fresh_rows, shared_rows = router.sigma.copy(), QualityMemo(), 0, 0
    for factor, correlated in ((1.0, False), (0.25, True), (1.0, True)):
        router.sigma, router.correlated = base * factor, correlated
        calls.clear()
        fresh = router.run(test, lambdas)
        fresh_rows += sum(calls)
        calls.clear()
        shared = router.run(test, lambdas, memo=memo)
        shared_rows += sum(calls)
        assert all(np.array_equal(a, b) for a, b in zip(fresh, shared))
    assert len(np.unique(memo.keys)) == len(memo.keys) == len(memo.q)
    assert shared_rows < fresh_rows  # later runs found most states already estimated


def test_the_offset_combination_is_a_validation_choice_and_adds_to_the_prior_logit():
    from concur.answer_features import OffsetLogistic
    from concur.cascade_routing import _prior_logit

    train, val, test = (_with_subjects(synthetic(n, k), k) for n, k in ((800, 2), (300, 0), (300, 1)))
    both = CascadeRouter.fit(val, train=train, combinations=("stack", "offset"), repeats=1)
    # rows: (answer model without, with subject interactions) x (stack, offset); columns: error options
    assert both.cross_fit_aiq.shape == (4, 5)
    k = int(np.argmax(both.cross_fit_aiq.max(axis=1)))
    assert both.combination == ("stack", "offset")[k % 2]
    assert (both.answer_model.subjects is not None) == (k >= 2)
    offset = CascadeRouter.fit(val, train=train, combinations=("offset",), repeats=1)
    assert offset.combination == "offset" and all(isinstance(m, OffsetLogistic) for m in offset.models)
    # estimates: the prior's logit plus the fitted shift of what the answers say, never a refit of the prior
    run = np.zeros(test.prob.shape, dtype=bool)
    run[:, offset.pool[0]] = True
    q, _ = offset.quality(test, run)
    nothing = np.zeros_like(run)
    for pos, j in enumerate(offset.pool):
        pl = _plurality_agreement(test, run)
        shift = (offset.answer_model.logit(test, run, pos, j, offset.pool, pl)
                 - offset.answer_model.logit(test, nothing, pos, j, offset.pool, nothing))
        ran = run[:, j].astype(float)
        expect = _prior_logit(test, j) + offset.models[pos].coef @ np.vstack([(1 - ran) * shift, ran * shift])
        assert np.allclose(q[:, pos], 1 / (1 + np.exp(-expect)))
    # the answers still help, and the guarantees hold
    full = np.zeros(test.prob.shape, dtype=bool)
    full[:, offset.pool] = True
    y = test.label[:, offset.pool]
    assert np.mean((offset.quality(test, full)[0] - y) ** 2) < np.mean((offset.quality(test, nothing)[0] - y) ** 2)
    correct, cost, steps = offset.run(test, np.array([0.0, 1e9]))
    assert (steps[1] == 1).all() and (cost >= 0).all()
    assert CascadeRouter.fit(val, combinations=("stack", "offset"), repeats=1).combination == "stack"  # no train answers
    with pytest.raises(ConcurError, match="combinations"):
        CascadeRouter.fit(val, train=train, combinations=("mean",))
