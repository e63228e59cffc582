"""What the models' answers add to a question-only router: aligned views and post-answer features.

An `AnswerView` holds one split as (tasks x strategies) matrices joined from a router's prediction
files (its question-only P(correct), the realised label and cost) and the answers files (answer text,
parse success, response length). `features_after` turns the answers seen so far in a cascade into
the features of a stop decision; `signal_auroc` measures, before any routing, whether those features
predict a model's correctness better than the router's prior alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from .answers import SplitAnswers
from .errors import ConcurError
from .metrics import auroc
from .pred_files import Predictions


@dataclass
class AnswerView:
    """One split: the router's prior and the realised outcomes and answers, rows and columns aligned."""

    question_ids: np.ndarray  # (n,)
    strategies: list[str]
    prob: np.ndarray  # (n, S) the question-only router's P(correct)
    pred_cost: np.ndarray  # (n, S) its predicted cost
    label: np.ndarray  # (n, S) realised correctness
    cost: np.ndarray  # (n, S) realised cost
    answer: np.ndarray  # (n, S) object: answer text, "" when not parsed
    parsed: np.ndarray  # (n, S) bool
    tokens: np.ndarray  # (n, S) response length
    group: np.ndarray | None = None  # (n,) the task's subject, where the data set has subjects

    @property
    def n_tasks(self) -> int:
        return len(self.question_ids)


def answer_view(preds: Predictions, answers: SplitAnswers, group: np.ndarray | None = None) -> AnswerView:
    """Join a router's predictions of a split with that split's answers (same tasks and strategies);
    `group`, when given, is each prediction row's subject."""
    rows = {q: i for i, q in enumerate(answers.question_ids)}
    missing = [q for q in preds.question_ids if q not in rows]
    if missing:
        raise ConcurError(f"{answers.path}: no answers for question_id '{missing[0]}' of the {preds.split} predictions")
    cols = {s: j for j, s in enumerate(answers.strategies)}
    absent = [s for s in preds.strategies if s not in cols]
    if absent:
        raise ConcurError(f"{answers.path}: no answers of strategy '{absent[0]}'")
    r = np.array([rows[q] for q in preds.question_ids])
    c = np.array([cols[s] for s in preds.strategies])
    # an answer is needed wherever the outcome is known; a (task, strategy) that never ran needs none
    if not answers.observed[np.ix_(r, c)][~np.isnan(preds.label)].all():
        raise ConcurError(f"{answers.path}: some (task, strategy) of the {preds.split} predictions has no answer row")
    tokens = answers.response_tokens[np.ix_(r, c)]
    return AnswerView(np.asarray(preds.question_ids, dtype=object), list(preds.strategies), preds.prob,
                      preds.pred_cost, preds.label, preds.cost, answers.answer[np.ix_(r, c)], answers.parsed[np.ix_(r, c)], tokens,
                      None if group is None else np.asarray(group, dtype=object))


OPEN_FORMAT_SINGLETONS = 10  # a strategy's answers are open-ended (text, code, numbers) with this many given once


@dataclass
class AnswerFormats:
    """Which answers each strategy gave in the splits its answer signals were fitted on: a closed vocabulary
    (option letters) or an open-ended format (free text, code hashes, numbers: at least OPEN_FORMAT_SINGLETONS
    distinct answers given once). A parsed answer outside a closed vocabulary is of a format those splits never
    showed (code where training saw only letters), so what was learned about agreement and parsing there says
    nothing about it."""

    strategies: list[str]
    vocabulary: list[frozenset]  # per strategy: the distinct parsed answers
    open_ended: np.ndarray  # (S,) bool

    @classmethod
    def of(cls, *views: AnswerView) -> "AnswerFormats":
        """The formats of the parsed answers in `views` (same strategies, in the same order)."""
        strategies = views[0].strategies
        if any(v.strategies != strategies for v in views):
            raise ConcurError("answer formats need the same strategies, in the same order, in every split")
        vocabulary, open_ended = [], []
        for j in range(len(strategies)):
            given = np.concatenate([v.answer[v.parsed[:, j], j] for v in views]).astype(str)
            values, counts = np.unique(given, return_counts=True)
            vocabulary.append(frozenset(values.tolist()))
            open_ended.append(int((counts == 1).sum()) >= OPEN_FORMAT_SINGLETONS)
        return cls(list(strategies), vocabulary, np.array(open_ended, dtype=bool))

    def unseen(self, view: AnswerView, run: np.ndarray | None = None) -> np.ndarray:
        """(n,) whether any strategy that ran on the task (`run`, (n, S) bool; None: every strategy) gave a parsed
        answer of a format unseen here: outside its closed vocabulary."""
        if view.strategies != self.strategies:
            raise ConcurError("the answers' strategies differ from those whose answer formats were recorded")
        seen = np.ones(view.answer.shape, dtype=bool)
        for j, (vocab, open_ended) in enumerate(zip(self.vocabulary, self.open_ended)):
            if not open_ended:
                seen[:, j] = np.isin(view.answer[:, j].astype(str), list(vocab))
        foreign = view.parsed & ~seen
        return (foreign if run is None else foreign & run).any(axis=1)


def agreement(view: AnswerView, j: int, others: list[int]) -> np.ndarray:
    """(n,) share of the `others` strategies whose parsed answer equals strategy j's (0 when j did not parse
    or there are no others)."""
    if not others:
        return np.zeros(view.n_tasks)
    a = view.answer[:, [j]]
    same = (view.answer[:, others] == a) & view.parsed[:, others] & view.parsed[:, [j]]
    return same.mean(axis=1)


def features_after(view: AnswerView, chain: list[int], t: int) -> np.ndarray:
    """(n, 8) features of the stop decision after running chain[0..t]: the current model's prior (and its
    logit), the best prior among the models not yet run, its agreement with the earlier answers, whether
    the earlier ones all agree with it, whether it parsed, its log response length, and the step."""
    j, earlier, later = chain[t], chain[:t], chain[t + 1:]
    p = np.clip(view.prob[:, j], 1e-4, 1 - 1e-4)
    best_later = view.prob[:, later].max(axis=1) if later else np.zeros(view.n_tasks)
    agree = agreement(view, j, earlier)
    unanimous = (agree == 1.0) & bool(earlier)
    return np.column_stack([p, np.log(p / (1 - p)), best_later, agree, unanimous.astype(float),
                            view.parsed[:, j].astype(float), np.log1p(np.nan_to_num(view.tokens[:, j])),
                            np.full(view.n_tasks, float(t))])


def fit_logistic(x: np.ndarray, y: np.ndarray, seed: int = 0) -> LogisticRegression | float:
    """A logistic regression of y on x (standardised inside), or the base rate when y has one class."""
    y = np.asarray(y, dtype=float)
    if y.min() == y.max():
        return float(y[0])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit((x - mu) / sd, y)
    model.scale_ = (mu, sd)
    return model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


@dataclass
class OffsetLogistic:
    """P(y) = sigmoid(x[:, 0] + x[:, 1:] @ coef): a logistic regression whose first column is a fixed offset
    (coefficient 1, no intercept), so the model can only add to the offset's log-odds."""

    coef: np.ndarray


def fit_offset_logistic(x: np.ndarray, y: np.ndarray) -> OffsetLogistic:
    """The OffsetLogistic of y on x, L2-penalised like `fit_logistic` (C = 1 on columns scaled to unit sd;
    not centred, since there is no intercept to absorb a shift)."""
    from scipy.optimize import minimize  # lazy: only fitting needs it

    y = np.asarray(y, dtype=float)
    offset, z = x[:, 0], x[:, 1:]
    sd = z.std(0) + 1e-9
    zs = z / sd

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = offset + zs @ w
        p = _sigmoid(eta)
        loss = np.logaddexp(0.0, eta) - y * eta
        return float(loss.sum() + 0.5 * w @ w), zs.T @ (p - y) + w

    res = minimize(objective, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B")
    return OffsetLogistic(res.x / sd)


def predict_logistic(model: LogisticRegression | OffsetLogistic | float, x: np.ndarray) -> np.ndarray:
    if isinstance(model, float):
        return np.full(len(x), model)
    if isinstance(model, OffsetLogistic):
        return _sigmoid(x[:, 0] + x[:, 1:] @ model.coef)
    mu, sd = model.scale_
    return model.predict_proba((x - mu) / sd)[:, 1]


def signal_auroc(val: AnswerView, test: AnswerView, cheap: list[int], target: int) -> dict[str, float]:
    """Test AUROC of P(correct of `target`) from (a) the router's prior alone and (b) a logistic model of
    the prior plus the `cheap` models' answers (each one's agreement with the other cheap answers, parse
    success and log length), fitted on validation. For a cheap target, its own answer is among them."""
    def x_of(v: AnswerView) -> np.ndarray:
        cols = [v.prob[:, target]]
        for k in cheap:
            cols += [agreement(v, k, [c for c in cheap if c != k]), v.parsed[:, k].astype(float),
                     np.log1p(np.nan_to_num(v.tokens[:, k]))]
        return np.column_stack(cols)

    model = fit_logistic(x_of(val), val.label[:, target])
    return {"prior": auroc(test.label[:, target], test.prob[:, target]),
            "prior+answers": auroc(test.label[:, target], predict_logistic(model, x_of(test)))}
