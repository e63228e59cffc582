"""Cascade routing (Dekoninck et al., "A Unified Approach to Routing and Cascading for LLMs", 2024).

Routing picks one strategy per task before any runs; a cascade runs strategies in a fixed order and
stops once an answer looks right. Cascade routing does both: at every step it considers each
*supermodel* U (a set of strategies) that extends the strategies already run on the task, R, scores
it by the expected quality of its best answer minus lambda times its cost,

    tau(U) = E[max_{i in U} Q_i] - lambda * sum_{i in U} cost_i,

and either stops (the best U is R itself) or runs the next strategy of the best U (strategies run in
cost order, as in the paper's default `force_order`). The task's answer is that of the run strategy
with the highest estimated quality, and its cost is the sum over every strategy run on it.

Quality estimates Q_j are P(correct of strategy j | what is known now): before any run, the question-only
router's own P(correct); after some runs, a per-strategy logistic model of the answers seen so far: for a run
strategy, its own answer's parse, length and agreement with each other run strategy; for one not run, the
agreement of each run strategy with the run strategies' plurality answer. With a training split's answers
(the default in make results) this *answer model* is fitted on train over random run sets R, optionally with
interactions of the task's subject (answer formats differ: code answers rarely agree, two-option ones often
do), and a small logistic model on validation joins it to the prior (the prior is in-sample on train, so only
validation can weigh it), in one of two ways chosen on validation: "stack" weighs the prior's logit and the
answer model's freely; "offset" keeps the prior's logit as it is and fits only how far to move it by the
answer model's shift from its no-answer logit (two coefficients per strategy: the prior's calibration across
strategies survives a small validation split); without one, a single model of the prior and the answer features
is fitted on validation. Their uncertainty is a normal with the standard deviation of (estimate given R -
estimate given every answer) on validation, per strategy, per number run and per whether j itself ran, times
a factor; the factor, the subject interactions and the combination are chosen on validation by a two-fold
cross-fit repeated over five random halvings (a factor of 0 is the paper's ablation without uncertainty), and so is whether the
strategies' errors are drawn independent or, as in the paper, correlated: their correlation matrix is that of
the same deviations on validation, one per number of strategies run (the paper keeps one covariance per run
set; with 10-11 strategies most sets are never sampled). The supermodel's expected maximum of its members'
estimates, each clipped to [0, 1], is computed without sampling where the errors are independent, E[max] =
integral over t in [0, 1] of (1 - prod_i P(Q_i <= t)), by averaging each normal CDF exactly over the cells of
a fine grid of t (sampling noise would change decisions from one draw seed to the next); correlated errors
have no such product, so they keep Monte Carlo with fixed draws in antithetic pairs. Supermodels hold at most
MAX_DEPTH strategies (the paper's max_depth), chosen from the whole pool. Sweeping lambda traces an
accuracy-cost curve (a large lambda runs one strategy: plain routing). Once a strategy gives a task a parsed
answer of a format the estimates were never fitted on (outside the closed set of answers it gave on the fitted
splits, where those held no open-ended answers: code where they saw only option letters; `AnswerFormats`), the
task's estimates are the prior's, known exactly: answer signals learned on another format do not transfer.

This is our own implementation of the paper's algorithm; the quality and uncertainty estimators are
ours (the paper fits per-benchmark ones, with a per-step lambda chosen for a target cost).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .answer_features import AnswerFormats, AnswerView, fit_logistic, fit_offset_logistic, predict_logistic
from .errors import ConcurError
from .results_stats import hull_metrics

SIGMA_SCALES = (0.0, 0.25, 1.0)  # factors on the fitted deviations, chosen on validation
# cost weights swept (costs / the dearest's): as dense as the question-only routers' weight grid (400), since a
# coarser sweep leaves gaps that the hull's linear interpolation scores below the achievable curve
LAMBDAS = np.concatenate([[0.0], np.logspace(-3, 1.5, 400), [1e9]])
FIT_LAMBDAS = np.concatenate([[0.0], np.logspace(-3, 1.5, 40), [1e9]])  # the cross-fit's choice among options
N_SAMPLES = 64  # Monte Carlo draws (32 antithetic pairs) for E[max] of correlated errors
CDF_CELLS = 32  # cells of [0, 1] over which E[max] of independent errors is integrated
MAX_DEPTH = 3  # strategies in a supermodel at most (the paper's max_depth): at most this many run per task
MAX_POOL = 32  # strategies at most: a run set is an integer's bits, and a (task, run set) pair one int64
CHUNK = 256  # tasks per block of the E[max] computation (bounds memory)
ROW_BLOCK = 16384  # (lambda, task) rows per block of the supermodels' scoring (bounds memory)
STATES_PER_TASK = 12  # random run sets per validation task for fitting the quality models
TRAIN_STATES_PER_TASK = 8  # random run sets per training task for fitting the answer models
CV_REPEATS = 5  # random halvings of validation in the cross-fit that chooses the options (1: a single two-fold)
SUBJECT_OPTIONS = (False, True)  # answer models without / with subject interactions, chosen on validation
# how the validation-fitted quality model joins the prior and a train-fitted answer model, chosen on validation:
# "stack" weighs both logits freely; "offset" keeps the prior's logit and adds the answer model's shift
COMBINATIONS = ("stack", "offset")
MIN_CORRELATION_ROWS = 200  # validation rows (task x run set) needed to estimate one correlation matrix


def _plurality_agreement(view: AnswerView, run: np.ndarray) -> np.ndarray:
    """(n, S) per strategy k: 1 when k ran, parsed and gave the plurality answer of the run strategies."""
    n, s = view.answer.shape
    ok = run & view.parsed
    best = np.zeros((n, s), dtype=bool)
    best_count = np.full(n, -1)
    for k in range(s):  # the plurality answer: the one most run strategies share (first in order on ties)
        count = ((view.answer == view.answer[:, [k]]) & ok).sum(axis=1) * ok[:, k]
        better = count > best_count
        best_count = np.where(better, count, best_count)
        best[better] = ((view.answer[better] == view.answer[better, k][:, None]) & ok[better])
    return best


def answer_only_features(view: AnswerView, run: np.ndarray, j: int, pool: list[int],
                         plurality: np.ndarray) -> np.ndarray:
    """(n, F) features of strategy j's quality from the answers of the run sets `run` ((n, S) bool, one per
    task) alone; `plurality` is `_plurality_agreement(view, run)` (computed once per run set by the caller)."""
    ran = run[:, j].astype(float)
    parsed = view.parsed[:, j].astype(float)
    length = np.log1p(np.nan_to_num(view.tokens[:, j]))
    others = [k for k in pool if k != j]
    own = (view.answer[:, others] == view.answer[:, [j]]) & view.parsed[:, others] & view.parsed[:, [j]]
    plural = plurality[:, others]
    agree = np.where(run[:, [j]], own, plural) & run[:, others]
    n_run = run[:, pool].sum(axis=1) - ran
    cols = [ran, ran * parsed, ran * length, n_run / len(pool), run[:, others].astype(float), agree.astype(float),
            ran[:, None] * agree]
    return np.column_stack([c if c.ndim == 2 else c[:, None] for c in cols])


def _prior_logit(view: AnswerView, j: int) -> np.ndarray:
    p = np.clip(view.prob[:, j], 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def state_features(view: AnswerView, run: np.ndarray, j: int, pool: list[int], plurality: np.ndarray) -> np.ndarray:
    """(n, F) features of strategy j's quality given the run sets: the prior's logit (split by whether j ran)
    and `answer_only_features`."""
    ran = run[:, j].astype(float)
    logit = _prior_logit(view, j)
    return np.column_stack([(1 - ran) * logit, ran * logit, answer_only_features(view, run, j, pool, plurality)])


def _random_run_sets(n: int, s: int, pool: list[int], states: int, rng: np.random.Generator) -> np.ndarray:
    """(states + 2, n, s) run sets: each pool strategy ran with a probability drawn per state (so small and
    large sets both occur), then the empty and the full set for every task (the last: the deviations' reference)."""
    shares = rng.uniform(0, 1, size=(states, 1, 1))
    runs = np.zeros((states + 2, n, s), dtype=bool)
    runs[:states][..., pool] = rng.uniform(size=(states, n, len(pool))) < shares
    runs[-1][:, pool] = True
    return runs


@dataclass
class AnswerModel:
    """Per pool strategy, P(correct) from the answers alone (no prior), fitted on a training split's answers;
    with `subjects`, the main features also interact with the task's subject."""

    models: list  # per pool position: LogisticRegression or a rate
    subjects: list[str] | None

    @classmethod
    def fit(cls, train: AnswerView, pool: list[int], use_subjects: bool, seed: int = 0,
            states: int = TRAIN_STATES_PER_TASK) -> "AnswerModel":
        subjects = sorted(set(map(str, train.group))) if use_subjects else None
        model = cls([], subjects)
        runs = _random_run_sets(train.n_tasks, train.prob.shape[1], pool, states, np.random.default_rng(seed))
        plurality = [_plurality_agreement(train, r) for r in runs]
        for j in pool:
            x = np.vstack([model.features(train, r, j, pool, pl) for r, pl in zip(runs, plurality)])
            y = np.tile(train.label[:, j], len(runs))
            known = ~np.isnan(y)
            model.models.append(fit_logistic(x[known], y[known], seed))
        return model

    def features(self, view: AnswerView, run: np.ndarray, j: int, pool: list[int], plurality: np.ndarray) -> np.ndarray:
        x = answer_only_features(view, run, j, pool, plurality)
        if self.subjects is None:
            return x
        onehot = (np.asarray(view.group, dtype=object).astype(str)[:, None] == np.array(self.subjects)[None]).astype(float)
        k = len(pool) - 1  # x's columns (answer_only_features): 4 scalars, then k run flags, k agreements, k more
        agree = x[:, 4 + k: 4 + 2 * k].mean(axis=1, keepdims=True) if k else np.zeros((len(x), 1))
        n_run = x[:, 4: 4 + k].mean(axis=1, keepdims=True) if k else np.zeros((len(x), 1))
        ran = x[:, :1]
        return np.column_stack([x, onehot, onehot * ran, onehot * x[:, 1:2], onehot * x[:, 2:3], onehot * agree,
                                onehot * agree * ran, onehot * n_run])

    def logit(self, view: AnswerView, run: np.ndarray, pos: int, j: int, pool: list[int],
              plurality: np.ndarray) -> np.ndarray:
        q = np.clip(predict_logistic(self.models[pos], self.features(view, run, j, pool, plurality)), 1e-4, 1 - 1e-4)
        return np.log(q / (1 - q))

    def no_answer_logit(self, view: AnswerView, pos: int, j: int, pool: list[int]) -> np.ndarray:
        """`logit` with nothing run: the base rate the answers shift from (per subject with interactions)."""
        nothing = np.zeros(view.prob.shape, dtype=bool)
        return self.logit(view, nothing, pos, j, pool, nothing)


def quality_features(view: AnswerView, run: np.ndarray, pos: int, j: int, pool: list[int], plurality: np.ndarray,
                     answer_model: AnswerModel | None, combination: str = "stack",
                     no_answer_logit: np.ndarray | None = None) -> np.ndarray:
    """The validation-fitted quality model's features: `state_features`, or with an answer model fitted on
    train, for the "stack" combination the prior's logit (split by whether j ran), whether j ran, and the answer
    model's logit (once where anything ran, once more where j did); for "offset", the prior's logit (the fixed
    offset of an OffsetLogistic) and the answer model's shift from its no-answer logit, split by whether j ran:
    the prior's calibration across strategies is kept and only what the answers add is fitted.
    `no_answer_logit`: the answer model's logit for j with nothing run, where the caller has it already."""
    if answer_model is None:
        return state_features(view, run, j, pool, plurality)
    ran = run[:, j].astype(float)
    prior, answers = _prior_logit(view, j), answer_model.logit(view, run, pos, j, pool, plurality)
    if combination == "offset":
        if no_answer_logit is None:
            no_answer_logit = answer_model.no_answer_logit(view, pos, j, pool)
        shift = answers - no_answer_logit
        return np.column_stack([prior, (1 - ran) * shift, ran * shift])
    any_run = run[:, pool].any(axis=1).astype(float)
    return np.column_stack([(1 - ran) * prior, ran * prior, ran, any_run * answers, ran * answers])


@dataclass
class CascadeRouter:
    """Fitted quality estimators over a pool of strategies in cost order, and the routing rule."""

    pool: list[int]  # strategy columns, cheapest first (mean validation cost)
    models: list  # per pool position: P(correct) given the state (LogisticRegression or a rate)
    sigma: np.ndarray  # (len(pool), len(pool) + 1, 2): std by (position, number of others run, j ran)
    cost_scale: float  # costs are divided by this (the dearest pool strategy's mean cost) before lambda

    # (len(pool) + 1, m, m) Cholesky factors of the errors' correlation by number run (used where `correlated`)
    correlation_factor: np.ndarray | None = None
    correlated: bool = True  # errors correlated (the paper's model) or independent: chosen on validation by `fit`
    max_depth: int = MAX_DEPTH
    sigma_scale: float = 1.0  # the factor applied to the fitted deviations (chosen on validation by `fit`)
    answer_model: AnswerModel | None = None  # fitted on train answers (None: quality models on validation only)
    combination: str = "stack"  # how the quality models join the prior and the answer model (COMBINATIONS)
    # ((answer model, combination) candidates, error options) mean cross-fit AIQ on validation that chose them
    # (None: nothing to choose)
    cross_fit_aiq: np.ndarray | None = None
    # the answer formats of the splits the estimates were fitted on; a task with an answer of another format
    # falls back to the prior (None: never)
    formats: AnswerFormats | None = None

    @classmethod
    def fit(cls, val: AnswerView, pool: list[int] | None = None, seed: int = 0,
            scales: tuple[float, ...] = SIGMA_SCALES, train: AnswerView | None = None,
            repeats: int = CV_REPEATS, combinations: tuple[str, ...] = COMBINATIONS) -> "CascadeRouter":
        """Quality models and deviations fitted on `val` (with `train`, on top of answer models fitted on its
        answers, with and without subject interactions where both splits have subjects, joined to the prior by
        each of `combinations`). With several candidates ((answer model, combination) x deviation factors in
        `scales` x independent or correlated errors), the one
        whose curve has the highest mean AIQ over a two-fold cross-fit on `val` (fit on one half, score on the
        other), repeated over `repeats` random halvings, is kept (`cross_fit_aiq`: the mean per candidate).
        A factor of 0 is the paper's ablation without uncertainty: E[max] becomes the max."""
        pool = sorted(range(val.prob.shape[1]) if pool is None else pool,
                      key=lambda j: float(np.nanmean(val.cost[:, j])))
        if repeats < 1:
            raise ConcurError(f"cascade routing's cross-fit needs at least one halving of validation, got {repeats}")
        if len(pool) > MAX_POOL:
            raise ConcurError(f"cascade routing takes at most {MAX_POOL} strategies, got {len(pool)}; "
                              "pass a smaller pool")
        if not combinations or set(combinations) - set(COMBINATIONS):
            raise ConcurError(f"cascade routing's combinations must be among {COMBINATIONS}, got {combinations}")
        options = [False] if train is None or train.group is None or val.group is None else list(SUBJECT_OPTIONS)
        answer_models = [None] if train is None else [AnswerModel.fit(train, pool, o, seed) for o in options]
        # without an answer model there is one quality model of the prior and the answers: nothing to join
        candidates = [(am, c) for am in answer_models for c in (combinations if am is not None else ("stack",))]
        errors = [(float(f), correlated) for f in scales for correlated in ((False,) if f == 0 else (False, True))]
        best = (*candidates[0], *errors[0])
        aiq = None
        if len(errors) * len(candidates) > 1:
            aiq = np.zeros((len(candidates), len(errors)))
            folds = []
            for rep in range(repeats):  # a fresh halving each time: one split's AIQ is noisy on a small split
                perm = np.random.default_rng(seed + rep).permutation(val.n_tasks)
                halves = (perm[: val.n_tasks // 2], perm[val.n_tasks // 2:])
                folds += [halves, halves[::-1]]
            for a, b in folds:
                held_out = _rows(val, b)
                for k, (am, combination) in enumerate(candidates):
                    part = cls._fit(_rows(val, a), pool, seed, am, combination)
                    base, memo = part.sigma, QualityMemo()  # the estimates do not depend on the error options
                    for i, (f, correlated) in enumerate(errors):
                        part.sigma, part.correlated = base * f, correlated
                        correct, cost, _ = part.run(held_out, FIT_LAMBDAS, seed, memo)
                        aiq[k, i] += curve_aiq(held_out.label, held_out.cost, correct, cost) / len(folds)
            k, i = np.unravel_index(int(np.argmax(aiq)), aiq.shape)
            best = (*candidates[k], *errors[i])
        router = cls._fit(val, pool, seed, best[0], best[1])
        router.cross_fit_aiq = aiq
        router.formats = AnswerFormats.of(val) if train is None else AnswerFormats.of(train, val)
        router.sigma_scale, router.correlated = best[2], best[3]
        router.sigma = router.sigma * best[2]
        return router

    @classmethod
    def _fit(cls, val: AnswerView, pool: list[int], seed: int, answer_model: AnswerModel | None = None,
             combination: str = "stack") -> "CascadeRouter":
        n, s = val.prob.shape
        m = len(pool)
        runs = _random_run_sets(n, s, pool, STATES_PER_TASK, np.random.default_rng(seed))
        plurality = [_plurality_agreement(val, r) for r in runs]
        models, sigma = [], np.full((m, m + 1, 2), np.nan)
        deviations = np.zeros((len(runs) - 1, n, m))  # per run set: estimate given it - estimate given every answer
        for pos, j in enumerate(pool):
            base = None
            if combination == "offset" and answer_model is not None:  # once, not once per run set
                base = answer_model.no_answer_logit(val, pos, j, pool)
            feats = [quality_features(val, r, pos, j, pool, pl, answer_model, combination, base)
                     for r, pl in zip(runs, plurality)]
            x, y = np.vstack(feats), np.tile(val.label[:, j], len(runs))
            model = fit_offset_logistic(x, y) if combination == "offset" else fit_logistic(x, y, seed)
            models.append(model)
            q_full = predict_logistic(model, feats[-1])
            for si, (r, f) in enumerate(zip(runs[:-1], feats[:-1])):
                deviations[si, :, pos] = predict_logistic(model, f) - q_full
                n_others = r[:, pool].sum(axis=1) - r[:, j]
                for ran in (0, 1):
                    for k in range(m):
                        sel = (n_others == k) & (r[:, j] == bool(ran))
                        if sel.sum() >= 20:
                            sigma[pos, k, ran] = np.fmax(sigma[pos, k, ran], float(np.std(deviations[si, sel, pos])))
        # cells without enough rows borrow the largest deviation of their column (a conservative default)
        for pos in range(m):
            for ran in (0, 1):
                col = sigma[pos, :, ran]
                col[np.isnan(col)] = np.nanmax(col) if not np.isnan(col).all() else 0.0
        n_run = np.stack([r[:, pool].sum(axis=1) for r in runs[:-1]])
        factor = error_correlation_factors(deviations.reshape(-1, m), n_run.reshape(-1), m)
        cost_scale = float(np.nanmean(val.cost[:, pool[-1]]) or 1.0)
        return cls(pool, models, sigma, cost_scale, correlation_factor=factor, answer_model=answer_model,
                   combination=combination)

    def quality(self, view: AnswerView, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, m) estimated P(correct) and its standard deviation for every pool strategy given the run sets."""
        q, foreign = self._estimates(view, run)
        return q, self._deviations(run[:, self.pool], foreign)

    def _estimates(self, view: AnswerView, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, m) estimated P(correct) given the run sets, and (n,) whether the task fell back to the prior."""
        pool = self.pool
        plurality = _plurality_agreement(view, run)
        q = np.column_stack([predict_logistic(mod, quality_features(view, run, pos, j, pool, plurality,
                                                                    self.answer_model, self.combination))
                             for pos, (mod, j) in enumerate(zip(self.models, pool))])
        n_run = run[:, pool].sum(axis=1)
        # before any run the question-only router's own P(correct): its calibration across strategies beat
        # a refit of it on validation (a small split refits worse; RouterBench has 275 validation tasks)
        q[n_run == 0] = view.prob[np.ix_(n_run == 0, pool)]
        foreign = np.zeros(view.n_tasks, dtype=bool)
        if self.formats is not None:
            # an answer of a format never fitted on (code where training saw only option letters): the answer
            # signals learned there do not transfer, so the prior alone, known exactly (no further run changes it)
            foreign = self.formats.unseen(view, run)
            q[foreign] = view.prob[np.ix_(foreign, pool)]
        return q, foreign

    def _deviations(self, ran: np.ndarray, foreign: np.ndarray) -> np.ndarray:
        """(n, m) the estimates' standard deviations given the run sets `ran` ((n, m), pool order); 0 where the
        task fell back to the prior (`foreign`, (n,))."""
        n_run = ran.sum(axis=1)
        others = np.clip(n_run[:, None] - ran, 0, len(self.pool))
        sd = self.sigma[np.arange(len(self.pool))[None, :], others, ran.astype(int)]
        sd[foreign] = 0.0
        return sd

    def run(self, view: AnswerView, lambdas: np.ndarray, seed: int = 0,
            memo: "QualityMemo | None" = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per lambda, per task: (correct, cost, strategies run), each (len(lambdas), n). `memo`: the estimates
        already computed on this view by these quality models (shared by runs that vary only the uncertainty)."""
        n = view.n_tasks
        pool, m = self.pool, len(self.pool)
        memo = QualityMemo() if memo is None else memo
        members, masks = supermodels(m, self.max_depth)  # (M, depth) positions (m = none), (M, m) membership
        size = masks.sum(axis=1)
        uncertain = bool(self.sigma.any())  # without uncertainty E[max] is the max of the estimates
        sampled = uncertain and self.correlated and self.correlation_factor is not None
        if sampled:  # correlated draws per number of strategies run: (m + 1, m, draws)
            z = np.einsum("kab,bn->kan", self.correlation_factor, _normal_draws(m, seed))
        pred_cost = np.nan_to_num(view.pred_cost[:, pool]) / self.cost_scale  # (n, m)
        mask_cost = pred_cost @ masks.T  # (n, M)

        def state_keys(tasks: np.ndarray, ran: np.ndarray) -> np.ndarray:
            return tasks * (1 << m) + run_set_codes(ran)  # one int64 per (task, run set): m <= MAX_POOL

        def estimates(tasks: np.ndarray, ran: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """quality() at distinct (task, run set) states, `ran` (k, m) in pool order; each state computed once."""
            keys = state_keys(tasks, ran)
            new = ~memo.find(keys)[0]
            if new.any():
                run = np.zeros((int(new.sum()), view.prob.shape[1]), dtype=bool)
                run[:, pool] = ran[new]
                memo.add(keys[new], *self._estimates(_rows(view, tasks[new]), run))
            pos = memo.find(keys)[1]
            return memo.q[pos], self._deviations(ran, memo.foreign[pos])

        def expected_max(tasks: np.ndarray, ran: np.ndarray) -> np.ndarray:
            q, sd = estimates(tasks, ran)
            n_run = ran.sum(axis=1)
            em = np.empty((len(tasks), len(masks)))
            for c in range(0, len(tasks), CHUNK):
                qc, sc = q[c:c + CHUNK], sd[c:c + CHUNK]
                if not uncertain:
                    em[c:c + CHUNK] = _expected_max(qc[:, :, None], members)
                elif sampled:
                    # a probability stays in [0, 1]: unclipped draws would overstate what another run can add
                    draws = np.clip(qc[:, :, None] + sc[:, :, None] * z[n_run[c:c + CHUNK]], 0.0, 1.0)
                    em[c:c + CHUNK] = _expected_max(draws, members)
                else:
                    em[c:c + CHUNK] = expected_max_independent(qc, sc, members)
            return em

        def at_states(tasks: np.ndarray, ran: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
            """fn(tasks, run sets) once per distinct (task, run set) among the rows, and each row's index."""
            _, first, inv = np.unique(state_keys(tasks, ran), return_index=True, return_inverse=True)
            return fn(tasks[first], ran[first]), inv.reshape(-1)

        # every lambda's cascade advances together, step by step: the lambdas share most of their states
        lambdas = np.asarray(lambdas, dtype=float)
        n_lam = len(lambdas)
        ran = np.zeros((n_lam, n, m), dtype=bool)
        active = np.ones((n_lam, n), dtype=bool)
        for step in range(self.max_depth):
            li, ti = np.nonzero(active)
            if li.size == 0:
                break
            r = ran[li, ti]
            em, em_row = ((expected_max(np.arange(n), np.zeros((n, m), dtype=bool)), ti) if step == 0
                          else at_states(ti, r, expected_max))
            valid, valid_row = _extensions(r, masks)
            for c in range(0, len(li), ROW_BLOCK):
                sl = slice(c, c + ROW_BLOCK)
                score = np.where(valid[valid_row[sl]], em[em_row[sl]] - lambdas[li[sl], None] * mask_cost[ti[sl]],
                                 -np.inf)
                best = np.argmax(score - 1e-12 * size[None], axis=1)  # ties go to the smaller supermodel
                new = masks[best] & ~r[sl]
                stop = ~new.any(axis=1)
                nxt = np.argmax(new, axis=1)  # the cheapest strategy of the chosen supermodel not yet run
                ran[li[sl][~stop], ti[sl][~stop], nxt[~stop]] = True
                active[li[sl][stop], ti[sl][stop]] = False
        ti = np.tile(np.arange(n), n_lam)
        # the answer: the run strategy of highest estimate, once per distinct final state
        best_run, state = at_states(ti, ran.reshape(-1, m),
                                    lambda tasks, r: np.argmax(np.where(r, estimates(tasks, r)[0], -np.inf), axis=1))
        pick = np.asarray(pool)[best_run[state]]
        correct = view.label[ti, pick].reshape(n_lam, n)
        total = (np.nan_to_num(view.cost[:, pool])[None] * ran).sum(axis=2)
        steps = ran.sum(axis=2)
        return correct, total, steps


class QualityMemo:
    """Quality estimates already computed for (task, run set) states of one view, by one router's quality models:
    keys (task * 2^m + run-set code) kept sorted, with each state's (m,) estimates and fallback flag."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.q = np.zeros((0, 0))
        self.foreign = np.zeros(0, dtype=bool)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(whether each key is known, its row where it is)."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[pos] == keys, pos

    def add(self, keys: np.ndarray, q: np.ndarray, foreign: np.ndarray) -> None:
        """Record new (distinct, unknown) states."""
        keys = np.concatenate([self.keys, keys])
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.q = np.concatenate([self.q.reshape(-1, q.shape[1]), q])[order]
        self.foreign = np.concatenate([self.foreign, foreign])[order]


def curve_aiq(label: np.ndarray, cost: np.ndarray, correct_k: np.ndarray, cost_k: np.ndarray) -> float:
    """AIQ of the (K, n) per-task outcomes' accuracy-cost points, as the routers are scored (results_stats'
    hull_metrics): the upper hull anchored at the cheapest single strategy of the (n, S) `label`/`cost`,
    over [cheapest, dearest] single's mean cost."""
    acc_s, cost_s = np.nanmean(label, axis=0), np.nanmean(cost, axis=0)
    lo, hi = int(np.argmin(cost_s)), int(np.argmax(cost_s))
    return float(hull_metrics(correct_k.mean(axis=1), cost_k.mean(axis=1), (cost_s[lo], acc_s[lo]), cost_s[lo],
                              cost_s[hi], cost_s[lo], acc_s[lo])["aiq"])


def error_correlation_factors(deviations: np.ndarray, n_run: np.ndarray, m: int) -> np.ndarray:
    """(m + 1, m, m) lower Cholesky factors of the correlation of the strategies' estimation errors (rows of
    `deviations`, (rows, m)), one per number of strategies run (`n_run`, per row). A count with fewer than
    MIN_CORRELATION_ROWS rows uses the correlation over all rows; a strategy whose deviation never varies
    is uncorrelated with the others. Each matrix is made positive definite (eigenvalues >= 1e-6)."""
    def factor(rows: np.ndarray) -> np.ndarray:
        d = rows - rows.mean(axis=0)
        sd = np.sqrt((d ** 2).mean(axis=0))
        varies = sd > 1e-12
        corr = np.eye(m)
        if len(rows) > 1 and varies.any():
            dv = d[:, varies] / sd[varies]
            corr[np.ix_(varies, varies)] = dv.T @ dv / len(rows)
        w, v = np.linalg.eigh((corr + corr.T) / 2)
        corr = (v * np.clip(w, 1e-6, None)) @ v.T
        scale = np.sqrt(np.diag(corr))
        return np.linalg.cholesky(corr / np.outer(scale, scale))

    pooled = factor(deviations)
    return np.stack([factor(deviations[n_run == k]) if (n_run == k).sum() >= MIN_CORRELATION_ROWS else pooled
                     for k in range(m + 1)])


def run_set_codes(ran: np.ndarray) -> np.ndarray:
    """Each run set (a row of the (rows, m) bool `ran`, m <= MAX_POOL) as an m-bit int64: bit k = strategy k ran."""
    return ran @ (1 << np.arange(ran.shape[1], dtype=np.int64))


def _extensions(ran: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each supermodel extends a run set R with only strategies after the last one run (cost order):
    (distinct run sets among the rows `ran` (rows, m), M), and each row's index into it."""
    m = ran.shape[1]
    # np.unique on the codes: on the rows themselves (axis=0) it sorts them as byte strings, many times slower
    distinct, inv = np.unique(run_set_codes(ran), return_inverse=True)
    codes = (distinct[:, None] >> np.arange(m)[None, :]) & 1 == 1
    last = np.where(codes.any(axis=1), codes.shape[1] - 1 - np.argmax(codes[:, ::-1], axis=1), -1)
    contains = (masks[None, :, :] | ~codes[:, None, :]).all(axis=2)
    later = np.arange(codes.shape[1])[None, None, :] > last[:, None, None]
    valid = contains & (~masks[None] | codes[:, None, :] | later).all(axis=2)
    return valid, inv.reshape(-1)


def supermodels(m: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Every set of 1..depth of m strategies: (M, depth) member positions padded with m, and (M, m) membership."""
    sets = [c for k in range(1, min(depth, m) + 1) for c in itertools.combinations(range(m), k)]
    members = np.full((len(sets), max(1, min(depth, m))), m)
    masks = np.zeros((len(sets), m), dtype=bool)
    for i, c in enumerate(sets):
        members[i, :len(c)] = c
        masks[i, list(c)] = True
    return members, masks


def _expected_max(draws: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(a, M) the mean over draws (a, m, N) of the maximum over each set's members ((M, depth), m = none)."""
    padded = np.concatenate([draws, np.full((draws.shape[0], 1, draws.shape[2]), -np.inf)], axis=1)
    best = padded[:, members[:, 0]]
    for d in range(1, members.shape[1]):  # member by member: a (a, M, depth, N) gather is depth times the memory
        np.maximum(best, padded[:, members[:, d]], out=best)
    return best.mean(axis=2)


def _normal_draws(m: int, seed: int) -> np.ndarray:
    """(m, N_SAMPLES) standard normal draws fixed by the seed, in antithetic pairs (z and -z): the estimate of
    E[max] varies far less with the seed than with independent draws."""
    z = np.random.default_rng(seed).standard_normal((m, N_SAMPLES // 2))
    return np.concatenate([z, -z], axis=1)


def clipped_normal_cell_cdf(q: np.ndarray, sd: np.ndarray, cells: int = CDF_CELLS) -> np.ndarray:
    """(a, m, cells) the mean of P(min(max(N(q, sd), 0), 1) <= t) over each of `cells` equal cells of t in
    [0, 1], exactly (the integral of the normal CDF is u * Phi(u) + phi(u)); sd 0 is a step at q."""
    edges = np.linspace(0.0, 1.0, cells + 1)
    q, sd = q[..., None], sd[..., None]
    safe = np.maximum(sd, 1e-12)
    lo, hi = (edges[:-1] - q) / safe, (edges[1:] - q) / safe

    def cdf_integral(u: np.ndarray) -> np.ndarray:
        return u * ndtr(u) + np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)

    smooth = safe * cells * (cdf_integral(hi) - cdf_integral(lo))
    step = np.clip((edges[1:] - q) * cells, 0.0, 1.0)
    return np.where(sd > 1e-9, np.clip(smooth, 0.0, 1.0), step)


def expected_max_independent(q: np.ndarray, sd: np.ndarray, members: np.ndarray,
                             cells: int = CDF_CELLS) -> np.ndarray:
    """(a, M) E[max over each set's members ((M, depth), m = none) of independent N(q, sd) clipped to [0, 1]]:
    E[X] = integral over [0, 1] of P(X > t) for X in [0, 1], and P(max <= t) = prod_i P(X_i <= t). Each CDF is
    averaged exactly over a cell; the product of the averages is exact where one member's CDF varies in a cell."""
    cdf = clipped_normal_cell_cdf(q, sd, cells)
    padded = np.concatenate([cdf, np.ones((cdf.shape[0], 1, cells))], axis=1)
    return 1.0 - padded[:, members].prod(axis=2).mean(axis=2)


def _rows(view: AnswerView, idx: np.ndarray) -> AnswerView:
    """The view restricted to tasks idx."""
    return AnswerView(view.question_ids[idx], view.strategies, view.prob[idx], view.pred_cost[idx], view.label[idx],
                      view.cost[idx], view.answer[idx], view.parsed[idx], view.tokens[idx],
                      None if view.group is None else view.group[idx])
