"""Cascades: run strategies in cost order and stop once an answer looks right.

A cascade runs the strategies of a *chain* (the singles' accuracy-cost Pareto front on the fitting
split, cheapest first) one after another; after each answer a decision stops (the task gets that
answer) or escalates to the next. A task's cost is the sum over every strategy run on it, so a
cascade never charges less than the models it ran.

- `agreement_cascade`: the plain two-model baseline: run the two cheapest strategies of the chain;
  if their answers agree, keep the cheaper one's answer, else run the chain's last (most accurate).
- `LearnedCascade`: at step t a logistic model estimates P(the current answer is correct) from the
  question-only router's prior and the answers so far (concur/answer_features.py); the cascade stops
  at the first step whose estimate reaches a threshold tau. Sweeping tau from 1 (run the whole chain)
  to 0 (never escalate: the cheapest strategy alone) traces an accuracy-cost curve, evaluated with
  the same hull/AIQ code as the routers.

- `RoutedCascade` (routing and cascading together, a two-step form of Dekoninck et al.'s cascade
  routing): the question-only router picks a strategy per task (argmax W*p - (1-W)*cost); after its
  answer, a logistic model of the router's prior, the parse result and the response length (per
  strategy) estimates P(correct); below a threshold tau the task escalates to the most accurate
  strategy (on the fitting split), paying for both. The (W, tau) grid traces the curve.

The stop models are fitted on the validation split, not train: the router's predictions on train
are in-sample (a kNN router has seen each training task), so post-answer features would be fitted
against an over-confident prior there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .answer_features import AnswerView, agreement, features_after, fit_logistic, predict_logistic
from .routing import route_weighted


def chain_order(label: np.ndarray, cost: np.ndarray) -> list[int]:
    """Columns on the Pareto front of mean (cost, accuracy) — each more accurate than every cheaper one —
    in cost order (NaNs ignored)."""
    acc, c = np.nanmean(label, axis=0), np.nanmean(cost, axis=0)
    order = np.lexsort((-acc, c))
    chain, best = [], -np.inf
    for j in order:
        if acc[j] > best + 1e-12:
            chain.append(int(j))
            best = acc[j]
    return chain


def cascade_outcomes(stop: np.ndarray, label: np.ndarray, cost: np.ndarray, chain: list[int]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-task (correct, cost, steps run) of a cascade given its stop decisions.

    `stop` is (..., n, len(chain)) bool: stop after step t (the last step always stops)."""
    stop = np.array(stop, dtype=bool, copy=True)
    stop[..., -1] = True
    last = stop.argmax(axis=-1)  # the first step that stops
    spent = np.cumsum(cost[:, chain], axis=1)  # (n, T): cost of running steps 0..t
    rows = np.arange(label.shape[0])
    correct = label[:, chain][rows, last]
    total = spent[rows, last]
    return correct, total, last + 1


def agreement_cascade(view: AnswerView, chain: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(correct, cost) per task of the two-model agreement cascade on `chain` (cheapest two, then the last)."""
    if len(chain) < 3:
        sub = chain
    else:
        sub = [chain[0], chain[1], chain[-1]]
    agree = agreement(view, sub[0], [sub[1]]) == 1.0 if len(sub) > 1 else np.ones(view.n_tasks, dtype=bool)
    stop = np.zeros((view.n_tasks, len(sub)), dtype=bool)
    if len(sub) >= 2:
        stop[:, 1] = agree  # both cheap ones ran; agreement stops with the cheaper one's answer
    correct, total, _ = cascade_outcomes(stop, view.label, view.cost, sub)
    if len(sub) >= 2:  # on agreement the answer is the cheapest one's (the same text), its label counts
        correct = np.where(agree, view.label[:, sub[0]], correct)
    return correct, total


@dataclass
class LearnedCascade:
    """Stop models per step of a chain (fitted on validation) and the threshold sweep."""

    chain: list[int]
    models: list  # per step but the last: LogisticRegression or a constant rate

    @classmethod
    def fit(cls, val: AnswerView, chain: list[int], seed: int = 0) -> "LearnedCascade":
        models = [fit_logistic(features_after(val, chain, t), val.label[:, chain[t]], seed)
                  for t in range(len(chain) - 1)]
        return cls(list(chain), models)

    def p_correct(self, view: AnswerView) -> np.ndarray:
        """(n, len(chain)) estimated P(correct) of the current answer after each step (the last: 1)."""
        out = np.ones((view.n_tasks, len(self.chain)))
        for t, m in enumerate(self.models):
            out[:, t] = predict_logistic(m, features_after(view, self.chain, t))
        return out

    def sweep(self, view: AnswerView, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, n) per-task correctness and cost at each threshold (stop at the first step reaching it)."""
        p = self.p_correct(view)
        stop = p[None, :, :] >= np.asarray(thresholds, dtype=float)[:, None, None]
        correct, total, _ = cascade_outcomes(stop, view.label, view.cost, self.chain)
        return correct.astype(float), total


def answer_features(view: AnswerView) -> np.ndarray:
    """(n, S, 3 + S) features of each strategy's own answer: logit prior, parsed, log length, strategy one-hot."""
    n, k = view.prob.shape
    p = np.clip(view.prob, 1e-4, 1 - 1e-4)
    onehot = np.broadcast_to(np.eye(k), (n, k, k))
    return np.concatenate([np.log(p / (1 - p))[..., None], view.parsed[..., None].astype(float),
                           np.log1p(np.nan_to_num(view.tokens))[..., None], onehot], axis=2)


@dataclass
class RoutedCascade:
    """The router's pick, then escalation to the strongest strategy when its answer looks wrong."""

    strong: int
    model: object  # LogisticRegression or a constant rate: P(correct | own answer), all strategies

    @classmethod
    def fit(cls, val: AnswerView, seed: int = 0) -> "RoutedCascade":
        acc, cost = np.nanmean(val.label, axis=0), np.nanmean(val.cost, axis=0)
        strong = int(np.lexsort((cost, -acc))[0])  # most accurate, then cheapest
        x = answer_features(val)
        return cls(strong, fit_logistic(x.reshape(-1, x.shape[2]), val.label.reshape(-1), seed))

    def p_correct(self, view: AnswerView) -> np.ndarray:
        """(n, S) P(correct) of each strategy's answer, given that answer."""
        x = answer_features(view)
        return predict_logistic(self.model, x.reshape(-1, x.shape[2])).reshape(view.prob.shape)

    def sweep(self, view: AnswerView, weights: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(weights) * len(thresholds), n) per-task correctness and cost over the (W, tau) grid."""
        first = route_weighted(view.prob, view.pred_cost, weights)  # (W, n): the question-only router's picks
        rows = np.arange(view.n_tasks)
        q = self.p_correct(view)[rows, first]  # (W, n)
        escalate = (q[:, None, :] < np.asarray(thresholds, dtype=float)[None, :, None]) & (first != self.strong)[:, None, :]
        lab0, cost0 = view.label[rows, first][:, None, :], view.cost[rows, first][:, None, :]
        correct = np.where(escalate, view.label[:, self.strong], lab0)
        total = cost0 + escalate * view.cost[:, self.strong]
        return correct.reshape(-1, view.n_tasks).astype(float), total.reshape(-1, view.n_tasks)
