"""Cascades against question-only routers on one data set: AIQ with paired bootstrap intervals and the
diagnostics that explain the result (concur/cascade.py, concur/answer_features.py).

Every curve is scored like docs/RESULTS.md's routers (concur/results_stats.py): the upper hull of the
accuracy-cost points plus the cheapest single strategy, its area over [cheapest, dearest single's
mean test cost] divided by that range (AIQ), resampled over the same test tasks for every method so
the differences are paired.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import curves
from .answer_features import AnswerView, answer_view, signal_auroc
from .cascade import LearnedCascade, RoutedCascade, agreement_cascade, chain_order
from .cascade_routing import LAMBDAS, CascadeRouter, curve_aiq
from .data import SplitOutcomes, task_subject
from .errors import ConcurError
from .pred_files import Predictions
from .results_stats import hull_metrics, hull_vertices, sweep
from .routing import weight_grid

THRESHOLDS = np.concatenate([np.linspace(0.0, 1.0, 201), [1.01]])


def scorer(test: AnswerView, n_boot: int, seed: int):
    """AIQ of (K, n) per-task correctness/cost matrices, point and per resample (same resamples each call)."""
    n = test.n_tasks
    counts = curves.bootstrap_counts(n, n_boot, seed)
    acc, cost = test.label.mean(0), test.cost.mean(0)
    lo, hi = int(np.argmin(cost)), int(np.argmax(cost))
    b_acc, b_cost = curves.resampled_means(test.label.T, counts), curves.resampled_means(test.cost.T, counts)

    def score(acc_k: np.ndarray, cost_k: np.ndarray) -> tuple[float, np.ndarray, dict[str, list[float]]]:
        """AIQ, its resamples and the test hull's vertices (what the AIQ integrates, for the plot)."""
        pt = hull_metrics(acc_k.mean(1), cost_k.mean(1), (cost[lo], acc[lo]), cost[lo], cost[hi], cost[lo], acc[lo])
        ra, rc = curves.resampled_means(acc_k, counts), curves.resampled_means(cost_k, counts)
        boot = np.array([hull_metrics(ra[b], rc[b], (b_cost[b, lo], b_acc[b, lo]), b_cost[b, lo], b_cost[b, hi],
                                      b_cost[b, lo], b_acc[b, lo])["aiq"] for b in range(len(counts))])
        return pt["aiq"], boot, hull_vertices(cost_k.mean(1), acc_k.mean(1), (cost[lo], acc[lo]))

    return score


def evaluate(val: AnswerView, test: AnswerView, routers: dict[str, Predictions], n_boot: int = 500,
             seed: int = 12345, train: AnswerView | None = None, prior: str | None = None) -> dict[str, Any]:
    """The routed and the learned chain cascade (prior: `val`/`test`'s router), the agreement cascade and every question-only
    router in `routers` (test predictions on the same tasks and strategies), with paired differences to the
    best question-only router on test and, where `prior` names the router in `routers` that the views carry,
    to that router (what the answers add to the same question-only predictions); plus the AUROC diagnostics
    for the chain's cheapest and last strategies."""
    if prior is not None and prior not in routers:
        raise ConcurError(f"the cascades' prior '{prior}' is not among the question-only routers scored")
    chain = chain_order(val.label, val.cost)
    score = scorer(test, n_boot, seed)
    out: dict[str, Any] = {"chain": [test.strategies[j] for j in chain], "n_test": test.n_tasks, "aiq": {},
                           "hulls": {}}
    weights = weight_grid(size=400)
    boots = {}

    def add(name: str, acc_k: np.ndarray, cost_k: np.ndarray) -> None:
        out["aiq"][name], boots[name], out["hulls"][name] = score(acc_k, cost_k)

    for name, preds in routers.items():
        add(name, *sweep(preds, weights))
    best = max(out["aiq"], key=out["aiq"].get)
    out["best_question_only"] = best
    cascade = LearnedCascade.fit(val, chain)
    add("cascade", *cascade.sweep(test, THRESHOLDS))
    routed = RoutedCascade.fit(val)
    add("routed cascade", *routed.sweep(test, weight_grid(size=60), THRESHOLDS[::10]))
    out["routed_strong"] = test.strategies[routed.strong]
    router = CascadeRouter.fit(val, seed=seed, train=train)
    a, c, steps = router.run(test, LAMBDAS)
    am = router.answer_model
    out["cascade_routing_answer_model"] = ("validation only" if am is None else "train answers"
                                           + (", subject interactions" if am.subjects is not None else ""))
    out["cascade_routing_combination"] = router.combination
    add("cascade routing", a, c)
    out["cascade_routing_pool"] = [test.strategies[j] for j in router.pool]
    out["cascade_routing_steps"] = float(steps.mean())
    # test tasks with an answer of a format the estimates were never fitted on: there it used the prior alone
    out["cascade_routing_unseen_format"] = int(router.formats.unseen(test).sum())
    out["cascade_routing_sigma_scale"] = router.sigma_scale
    out["cascade_routing_correlated"] = bool(router.correlated and router.sigma_scale > 0)
    ag_correct, ag_cost = agreement_cascade(test, chain)
    # the agreement cascade is one operating point: its hull with the singles it is built from
    singles_a, singles_c = test.label.T, test.cost.T
    add("agreement cascade + singles", np.vstack([singles_a, ag_correct[None]]), np.vstack([singles_c, ag_cost[None]]))
    add("singles hull", singles_a, singles_c)
    out["agreement_point"] = {"accuracy": float(ag_correct.mean()), "cost": float(ag_cost.mean())}
    out["singles"] = {"cost": test.cost.mean(0).tolist(), "accuracy": test.label.mean(0).tolist()}
    for key, name in (("cascade_minus_best", "cascade"), ("cascade_routing_minus_best", "cascade routing"),
                      ("routed_minus_best", "routed cascade"), ("agreement_minus_best", "agreement cascade + singles")):
        out[key] = {"diff": out["aiq"][name] - out["aiq"][best], "ci": curves.interval(boots[name] - boots[best])}
    out["prior"] = prior
    if prior is not None:
        for key, name in (("cascade_routing_minus_prior", "cascade routing"), ("routed_minus_prior", "routed cascade")):
            out[key] = {"diff": out["aiq"][name] - out["aiq"][prior],
                        "ci": curves.interval(boots[name] - boots[prior])}
    cheap = chain[:2] if len(chain) >= 3 else chain[:1]
    out["auroc"] = {f"{role} ({test.strategies[j]})": signal_auroc(val, test, cheap, j)
                    for role, j in (("cheap", chain[0]), ("strong", chain[-1]))}
    return out


def format_lines(name: str, res: dict[str, Any]) -> list[str]:
    """A printable summary of `evaluate`'s result."""
    best = res["best_question_only"]
    lines = [f"{name}: chain {' -> '.join(res['chain'])} ({res['n_test']} test tasks)"]
    for k, v in sorted(res["aiq"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  AIQ {k:<32} {v:.4f}")
    errors = " correlated" if res.get("cascade_routing_correlated") else ""
    for key, label in (("cascade_routing_minus_best",
                        f"cascade routing (uncertainty x{res['cascade_routing_sigma_scale']:g}{errors})"),
                       ("routed_minus_best", f"routed cascade (escalate to {res['routed_strong']})"),
                       ("cascade_minus_best", "learned chain cascade"), ("agreement_minus_best", "agreement cascade")):
        d = res[key]
        lines.append(f"  {label} - {best}: {d['diff']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]")
    for key, label in (("cascade_routing_minus_prior", "cascade routing"), ("routed_minus_prior", "routed cascade")):
        if key in res:
            d = res[key]
            lines.append(f"  {label} - its prior {res['prior']}: {d['diff']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]")
    p = res["agreement_point"]
    lines.append(f"  agreement cascade point: accuracy {p['accuracy']:.3f} at cost {p['cost']:.2f}")
    for k, v in res["auroc"].items():
        lines.append(f"  AUROC P(correct) of {k}: prior {v['prior']:.3f} -> prior + cheap answers {v['prior+answers']:.3f}")
    return lines


def validation_aiq(val_sets: dict[str, Predictions]) -> dict[str, float]:
    """Each question-only router's AIQ on its validation predictions (a 200-weight sweep)."""
    weights = weight_grid(size=200)
    return {name: curve_aiq(preds.label, preds.cost, *sweep(preds, weights)) for name, preds in val_sets.items()}


def pick_prior(val_aiq: dict[str, float]) -> str:
    """The question-only router of highest validation AIQ (`validation_aiq`): the cascades' prior, chosen on
    validation so the test comparison stays honest."""
    return max(val_aiq, key=val_aiq.get)


def rank_agreement(val_aiq: dict[str, float], test_aiq: dict[str, float]) -> float | None:
    """Spearman correlation of the routers' validation and test AIQ: how well validation, where every choice is
    made, ranks the question-only routers that the cascades are compared with on test (None: fewer than three
    routers, or a split on which they all tie)."""
    from scipy.stats import spearmanr  # lazy: only a results run needs it

    names = list(val_aiq)
    val, test = [val_aiq[n] for n in names], [test_aiq[n] for n in names]
    if len(names) < 3 or len(set(val)) < 2 or len(set(test)) < 2:
        return None
    return float(spearmanr(val, test).statistic)


def with_split_outcomes(preds: Predictions, split: SplitOutcomes) -> Predictions:
    """`preds` with the realised labels and costs of `split` (the data set's own, gold), matched by question_id.

    A label-free router's validation files carry the consensus pseudo-labels it was trained on; the cascades
    are fitted, and their prior chosen, on the gold validation labels, so every router is scored alike."""
    pos = {q: i for i, q in enumerate(split.question_ids)}
    rows = np.array([pos.get(q, -1) for q in preds.question_ids])
    missing = [str(q) for q, r in zip(preds.question_ids, rows) if r < 0]
    if missing:
        raise ConcurError(f"{split.path}: question_id {missing[0]!r} of the {preds.split} predictions is not in the split")
    cols = [split.column(s) for s in preds.strategies]
    return dataclasses.replace(preds, label=split.label[np.ix_(rows, cols)], cost=split.cost[np.ix_(rows, cols)])


def split_views(cfg, ds, val_preds: Predictions, test_preds: Predictions) -> tuple[AnswerView, AnswerView, AnswerView]:
    """(train, val, test) views of a data set with answers files: the prior's predictions (`val_preds`,
    `test_preds`, already on the data set's gold outcomes: `with_split_outcomes`), the answers of `cfg`, and
    each task's subject where the data set has several. The train view has no prior (NaN): only the answer models read it."""
    from .answers import load_split_answers

    subject = {q: task_subject(r) for q, r in zip(ds.tasks.ids, ds.tasks.records)}
    has_subjects = len(set(subject.values())) > 1

    def view(preds: Predictions, split: SplitOutcomes) -> AnswerView:
        group = np.array([subject[q] for q in preds.question_ids], dtype=object) if has_subjects else None
        return answer_view(preds, load_split_answers(cfg, split), group)

    tr = ds.train
    unknown = np.full(tr.label.shape, np.nan)
    train = view(Predictions("train", tr.question_ids, tr.strategies, unknown, unknown, tr.label, tr.cost), tr)
    return train, view(val_preds, ds.val), view(test_preds, ds.test)


def evaluate_dataset(cfg, ds, test_sets: dict[str, Predictions], val_sets: dict[str, Predictions],
                     n_boot: int, seed: int, prior: str | None = None) -> dict[str, Any]:
    """`evaluate` on a results run's data set: the answers files of `cfg`, every router's seed-0 predictions as
    a question-only baseline, and as the prior `prior` or else the router picked on validation
    (`pick_prior`), all on the data set's gold labels (`ds`); with every router's validation AIQ and how well it
    ranks them on test (`rank_agreement`)."""
    val_sets = {name: with_split_outcomes(preds, ds.val) for name, preds in val_sets.items()}
    test_sets = {name: with_split_outcomes(preds, ds.test) for name, preds in test_sets.items()}
    val_aiq = validation_aiq(val_sets)
    prior = prior or pick_prior(val_aiq)
    train, val, test = split_views(cfg, ds, val_sets[prior], test_sets[prior])
    out = evaluate(val, test, test_sets, n_boot=n_boot, seed=seed, train=train, prior=prior)
    out["validation_aiq"] = val_aiq
    out["val_test_rank_correlation"] = rank_agreement(val_aiq, out["aiq"])
    return out
