"""Statistics of the results pipeline: accuracy-cost curves with bootstrap intervals, two-model
metrics, and budgeted routing (with and without the realised-spend guard, global vs local).

Every router is evaluated from its prediction files with the same routing code; operating points and
internal budgets are chosen on validation predictions only. Bootstrap resamples are of the test tasks,
shared by every router, so differences between routers are paired.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import curves
from .errors import ConcurError
from .evaluation import oracle_choice, take
from .guard import ValidationSpend, calibrate_budget, first_crossing, solver_budget
from .pred_files import Predictions
from .routing import min_budget_per_task, route_budget, route_weighted

BUDGET_SOLVER = "fast"
RISK = 0.1  # the --risk variant shown beside the plain guard
GUARD_VARIANTS = ("none", "realised", "realised, risk")  # LP-hull solver with a certified gap: the guard's searches take hundreds of solves


def best_single_on_val(val_label: np.ndarray, val_cost: np.ndarray) -> int:
    """Column of the single strategy with the highest validation accuracy; ties -> lower mean cost."""
    acc = np.nanmean(val_label, axis=0)
    cost = np.nanmean(val_cost, axis=0)
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return int(best[np.argmin(cost[best])])


def sweep(preds: Predictions, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-task realised (accuracy, cost) matrices (W, n) of the weighted router at every weight."""
    ch = route_weighted(preds.prob, preds.pred_cost, weights)
    return take(preds.label, ch), take(preds.cost, ch)


def hull_metrics(acc_pts: np.ndarray, cost_pts: np.ndarray, anchor: tuple[float, float], c_min: float, c_max: float,
                 ref_cost: float, ref_acc: float) -> dict[str, float]:
    h = curves.hull(cost_pts, acc_pts, anchor)
    at = float(h.at(ref_cost))
    return {"aiq": curves.aiq(h, c_min, c_max), "acc_at_ref_cost": at, "gain_at_ref_cost": at - ref_acc,
            "cost_at_ref_acc": h.cost_at(ref_acc)}


def evaluate_curves(names: list[str], test_sets: dict[str, list[Predictions]], val_sets: dict[str, list[Predictions]],
                    weights: np.ndarray, n_boot: int, boot_seed: int) -> dict[str, Any]:
    """Hull metrics (point + bootstrap CI over test tasks, seed-mean), val-chosen operating points."""
    first = next(iter(test_sets.values()))[0]
    first_val = next(iter(val_sets.values()))[0]
    n = first.label.shape[0]
    counts = curves.bootstrap_counts(n, n_boot, boot_seed)
    single_acc, single_cost = first.label.mean(0), first.cost.mean(0)
    b_acc, b_cost = curves.resampled_means(first.label.T, counts), curves.resampled_means(first.cost.T, counts)  # (B, S)
    lo_j, hi_j = int(np.argmin(single_cost)), int(np.argmax(single_cost))
    best = best_single_on_val(first_val.label, first_val.cost)

    def metrics_of(acc_w: np.ndarray, cost_w: np.ndarray) -> tuple[dict, dict]:
        """Point metrics and per-resample metrics for (W, n) per-task matrices (or (S, n) for singles)."""
        point = hull_metrics(acc_w.mean(1), cost_w.mean(1), (single_cost[lo_j], single_acc[lo_j]), single_cost[lo_j],
                             single_cost[hi_j], single_cost[best], single_acc[best])
        ra, rc = curves.resampled_means(acc_w, counts), curves.resampled_means(cost_w, counts)  # (B, W)
        boots = [hull_metrics(ra[b], rc[b], (b_cost[b, lo_j], b_acc[b, lo_j]), b_cost[b, lo_j], b_cost[b, hi_j],
                              b_cost[b, best], b_acc[b, best]) for b in range(n_boot)]
        return point, {k: np.array([d[k] for d in boots]) for k in point}

    out: dict[str, Any] = {"n_test": n, "strategies": first.strategies, "best_single": first.strategies[best],
                           "cheapest_single": first.strategies[lo_j], "dearest_single": first.strategies[hi_j],
                           "c_min": float(single_cost[lo_j]), "c_max": float(single_cost[hi_j]),
                           "singles": [{"name": s, "accuracy": float(single_acc[j]), "cost": float(single_cost[j]),
                                        "val_accuracy": float(np.nanmean(first_val.label[:, j]))}
                                       for j, s in enumerate(first.strategies)],
                           "best_single_point": {"accuracy": float(single_acc[best]), "cost": float(single_cost[best]),
                                                 "accuracy_ci": curves.interval(b_acc[:, best]),
                                                 "cost_ci": curves.interval(b_cost[:, best])},
                           "routers": {}, "curves": {}}
    singles_point, singles_boot = metrics_of(first.label.T, first.cost.T)
    oracle_choice_w = route_weighted(first.label, first.cost, weights)
    oracle_acc, oracle_cost = take(first.label, oracle_choice_w), take(first.cost, oracle_choice_w)
    ceil_point, ceil_boot = metrics_of(oracle_acc, oracle_cost)
    # the oracle itself (cheapest correct) and random, as reference rows
    och = oracle_choice(first.label, first.cost)
    out["oracle"] = {"accuracy": float(take(first.label, och).mean()), "cost": float(take(first.cost, och).mean())}
    out["random"] = {"accuracy": float(first.label.mean()), "cost": float(first.cost.mean())}
    ref = {"singles hull": (singles_point, singles_boot, first.cost.mean(0), first.label.mean(0)),
           "oracle-probability ceiling": (ceil_point, ceil_boot, oracle_cost.mean(1), oracle_acc.mean(1))}
    for name, (pt, bt, cpts, apts) in ref.items():
        out["routers"][name] = _summ(pt, bt, 1)
        out["curves"][name] = _curve(cpts, apts, (single_cost[lo_j], single_acc[lo_j]))
    boot_aiq: dict[str, np.ndarray] = {}
    op_boot: dict[str, np.ndarray] = {}  # accuracy at the validation-chosen operating point, per resample
    for name in names:
        per_seed_pt, per_seed_bt, ops = [], [], []
        for k, (test, val) in enumerate(zip(test_sets[name], val_sets[name])):
            acc_w, cost_w = sweep(test, weights)
            pt, bt = metrics_of(acc_w, cost_w)
            per_seed_pt.append(pt)
            per_seed_bt.append(bt)
            if k == 0:
                out["curves"][name] = _curve(cost_w.mean(1), acc_w.mean(1), (single_cost[lo_j], single_acc[lo_j]))
            # operating point on validation: the weight with the best validation accuracy whose validation
            # spend stays within the best single strategy's validation spend
            va, vc = sweep(val, weights)
            va, vc = va.mean(1), vc.mean(1)
            cap = float(np.nanmean(val.cost[:, best]))
            ok = np.flatnonzero(vc <= cap + 1e-9)
            w = int(ok[np.argmax(va[ok])]) if ok.size else int(np.argmin(vc))
            ra, rc = curves.resampled_means(acc_w[w], counts), curves.resampled_means(cost_w[w], counts)
            ops.append({"weight": float(weights[w]), "val_accuracy": float(va[w]), "val_cost": float(vc[w]),
                        "accuracy": float(acc_w[w].mean()), "cost": float(cost_w[w].mean()),
                        "boot_gain": ra - b_acc[:, best], "boot_acc": ra, "boot_cost": rc})
        pt = {k: float(np.mean([p[k] for p in per_seed_pt])) for k in per_seed_pt[0]}
        # seed mean inside each resample (NaN where a seed's hull never reaches the reference accuracy)
        bt = {k: np.mean(np.stack([b[k] for b in per_seed_bt]), axis=0) for k in per_seed_bt[0]}
        summ = _summ(pt, bt, len(per_seed_pt))
        boot_aiq[name] = bt["aiq"]
        summ["per_seed"] = per_seed_pt
        summ["gap_recovered"] = curves.gap_recovered(pt["aiq"], singles_point["aiq"], ceil_point["aiq"])
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample without a gap: NaN, left out of the interval
            boot_gap = (bt["aiq"] - singles_boot["aiq"]) / (ceil_boot["aiq"] - singles_boot["aiq"])
        summ["gap_recovered_ci"] = curves.interval(boot_gap)
        op_gain = np.mean([o["boot_gain"] for o in ops], axis=0)
        summ["operating_point"] = {
            "weights": [o["weight"] for o in ops],
            "accuracy": float(np.mean([o["accuracy"] for o in ops])),
            "accuracy_ci": curves.interval(np.mean([o["boot_acc"] for o in ops], axis=0)),
            "cost": float(np.mean([o["cost"] for o in ops])),
            "cost_ci": curves.interval(np.mean([o["boot_cost"] for o in ops], axis=0)),
            "gain_vs_best_single": float(np.mean([o["accuracy"] for o in ops]) - single_acc[best]),
            "gain_ci": curves.interval(op_gain),
            "val_accuracy": float(np.mean([o["val_accuracy"] for o in ops])),
            "val_cost": float(np.mean([o["val_cost"] for o in ops])),
            "per_seed": [{"accuracy": o["accuracy"], "cost": o["cost"]} for o in ops],
        }
        out["routers"][name] = summ
        op_boot[name] = np.mean([o["boot_acc"] for o in ops], axis=0)
    # paired differences at the operating point with CONCUR (the paper's comparison)
    if "concur" in op_boot:
        for name, b in op_boot.items():
            r = out["routers"][name]["operating_point"]
            r["accuracy_minus_concur"] = r["accuracy"] - out["routers"]["concur"]["operating_point"]["accuracy"]
            r["accuracy_minus_concur_ci"] = curves.interval(b - op_boot["concur"])
    # paired differences with kNN: every router is resampled on the same test tasks (one `counts`)
    if "knn" in boot_aiq:
        for name, b in boot_aiq.items():
            if name != "knn":
                out["routers"][name]["aiq_minus_knn"] = out["routers"][name]["aiq"] - out["routers"]["knn"]["aiq"]
                out["routers"][name]["aiq_minus_knn_ci"] = curves.interval(b - boot_aiq["knn"])
    return out


def _summ(pt: dict, bt: dict, n_seeds: int) -> dict[str, Any]:
    return {**pt, **{f"{k}_ci": curves.interval(v) for k, v in bt.items()}, "n_seeds": n_seeds}


def hull_vertices(cost_pts, acc_pts, anchor) -> dict[str, list[float]]:
    """The hull's vertices as stored in results.json (what the plots draw and AIQ integrates)."""
    h = curves.hull(cost_pts, acc_pts, anchor)
    return {"hull_cost": h.cost.tolist(), "hull_acc": h.acc.tolist()}


def _curve(cost_pts, acc_pts, anchor) -> dict[str, list[float]]:
    pts = sorted(set(zip(np.round(np.asarray(cost_pts, float), 6), np.round(np.asarray(acc_pts, float), 6))))
    return {**hull_vertices(cost_pts, acc_pts, anchor), "points": [list(p) for p in pts]}


def weak_strong(names: list[str], test_sets: dict[str, list[Predictions]]) -> dict[str, Any]:
    """Two-model metrics (RouteLLM's APGR/CPT, RouterXBench's LPM/MPM/HCR/AUROC; seed means), see
    concur/two_model_metrics.py for the definitions."""
    from . import two_model_metrics as tm

    first = next(iter(test_sets.values()))[0]
    mean_cost = first.cost.mean(0)
    w, s = int(np.argmin(mean_cost)), int(np.argmax(mean_cost))
    out = {"weak": first.strategies[w], "strong": first.strategies[s], "n_tasks": int(first.n_tasks),
           "acc_weak": float(first.label[:, w].mean()), "acc_strong": float(first.label[:, s].mean()),
           "routellm_bins": tm.ROUTELLM_BINS, "recovery_band": list(tm.RECOVERY_BAND), "lpm_band": list(tm.LPM_BAND),
           "routers": {}}
    for name in names:
        ms = [tm.weak_strong_metrics(p.prob[:, w], p.prob[:, s], p.pred_cost[:, w], p.pred_cost[:, s],
                                     p.label[:, w], p.label[:, s]) for p in test_sets[name]]
        out["routers"][name] = {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}
    # the oracle ordering as a ceiling: escalate first the tasks only the strong model gets right, last those
    # only the weak one gets right; its 'weak is right' score y_weak - y_strong / 2 ranks them the same way
    yw, ys = first.label[:, w], first.label[:, s]
    out["routers"]["oracle ordering"] = tm.weak_strong_metrics(yw, ys, first.cost[:, w], first.cost[:, s], yw, ys,
                                                               weak_right_score=yw - ys / 2)
    return out


def budget_levels(train_costs: np.ndarray, n: int) -> np.ndarray:
    """n budgets per task spaced geometrically strictly between the cheapest and the dearest single
    strategy's mean TRAINING cost (no test information)."""
    lo, hi = float(np.min(train_costs)), float(np.max(train_costs))
    return np.geomspace(lo, hi, n + 2)[1:-1]


def _route(test: Predictions, budget: float, mode: str) -> dict[str, float]:
    res = route_budget(test.prob, test.pred_cost, float(budget), mode, 1, BUDGET_SOLVER)
    return {"accuracy": float(take(test.label, res.choice).mean()), "realised_cost": float(take(test.cost, res.choice).mean()),
            "predicted_cost": float(take(test.pred_cost, res.choice).mean()), "n_no_fit": int(res.n_no_fit or 0),
            "solver": res.solver}


def _unguarded_curve(test: Predictions, mode: str, n: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(realised spend, accuracy) of the unguarded solve over a dense budget sweep, sorted by spend."""
    pc = test.pred_cost
    lo = float(pc.min(axis=1).mean()) if mode == "global" else float(pc.min())
    pts = []
    for b in np.geomspace(max(lo, 1e-12), float(pc.max()), n):
        try:
            r = _route(test, b, mode)
        except ConcurError:
            continue
        pts.append((r["realised_cost"], r["accuracy"]))
    pts.sort()
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def budgets_table(names: list[str], test_sets: dict[str, list[Predictions]], val_sets: dict[str, list[Predictions]],
                  budgets: np.ndarray) -> dict[str, Any]:
    """Budgeted routing at each budget, global and local, without the guard (the constraint on predicted cost)
    and with it (the internal budget calibrated on validation so that realised spend meets the budget; also with
    the --risk RISK margin), over
    every seed of each router: accuracy and spend are seed means, with the seed range, the worst realised
    spend / budget and how many seeds overspent. With the guard, `acc_vs_unguarded` is the guarded accuracy
    minus the unguarded solve's accuracy at the same realised spend (read off its budget sweep)."""
    rows = []
    for name in names:
        for mode in ("global", "local"):
            spends = [ValidationSpend(v, mode, 1, BUDGET_SOLVER) for v in val_sets[name]]
            curves_ = [_unguarded_curve(t, mode) for t in test_sets[name]]
            for b in budgets:
                for guard in GUARD_VARIANTS:
                    runs, errors = [], []
                    for k, (test, spend) in enumerate(zip(test_sets[name], spends)):
                        try:
                            if guard == "none":
                                run = _route(test, b, mode)
                            else:
                                risk = RISK if guard == "realised, risk" else None
                                g = calibrate_budget(spend, float(b), risk, test.n_tasks)
                                internal, _ = solver_budget(g, test.pred_cost, mode)
                                run = {**_route(test, internal, mode), "internal_budget": internal,
                                       "val_spend": g.val_spend, "saturated": g.saturated}
                                xs, ys = curves_[k]
                                if len(xs):
                                    run["acc_vs_unguarded"] = run["accuracy"] - float(np.interp(run["realised_cost"], xs, ys))
                        except ConcurError as err:  # infeasible on predicted cost
                            errors.append(str(err))
                            continue
                        runs.append(run)
                    row = {"router": name, "mode": mode, "guard": guard, "budget": float(b)}
                    if not runs:
                        rows.append({**row, "error": errors[0]})
                        continue
                    acc = [x["accuracy"] for x in runs]
                    ratio = [x["realised_cost"] / b for x in runs]
                    row.update({"n_seeds": len(runs), "n_infeasible": len(errors),
                                **{k: float(np.mean([x[k] for x in runs]))
                                   for k in ("accuracy", "realised_cost", "predicted_cost", "n_no_fit")},
                                "accuracy_range": [min(acc), max(acc)], "spend_ratio": float(np.mean(ratio)),
                                "max_spend_ratio": float(max(ratio)), "seeds_over_budget": sum(r > 1 + 1e-12 for r in ratio),
                                "solver": ",".join(sorted({x["solver"] for x in runs}))})
                    if guard != "none":
                        row["internal_budget"] = float(np.mean([x["internal_budget"] for x in runs]))
                        row["val_spend"] = float(np.mean([x["val_spend"] for x in runs]))
                        row["saturated"] = sorted({x["saturated"] for x in runs} - {""})
                        diffs = [x["acc_vs_unguarded"] for x in runs if "acc_vs_unguarded" in x]
                        row["acc_vs_unguarded"] = float(np.mean(diffs)) if diffs else None
                    rows.append(row)
    return {"budgets": [float(b) for b in budgets], "solver": BUDGET_SOLVER, "rows": rows}


def matched_spend(name: str, test_sets: list[Predictions], val_sets: list[Predictions], levels: np.ndarray,
                  n_boot: int, boot_seed: int) -> dict[str, Any]:
    """Global vs local at equal realised spend (the paper's Table 4 claim): for each spend level S and each mode,
    the internal budget whose realised VALIDATION spend is S (first crossing, as the guard searches; in local
    mode the per-task cap may exceed S), then the test accuracy and spend; seed means, and the paired
    bootstrap interval of the accuracy difference global - local over test resamples."""
    n = test_sets[0].n_tasks
    counts = curves.bootstrap_counts(n, n_boot, boot_seed)
    out = []
    for s in levels:
        per_mode: dict[str, list[dict[str, Any]]] = {"global": [], "local": []}
        for test, val in zip(test_sets, val_sets):
            for mode in ("global", "local"):
                spend = ValidationSpend(val, mode, 1, BUDGET_SOLVER)
                pc = val.pred_cost
                lo = float(pc.min(axis=1).mean()) if mode == "global" else float(pc.min())
                internal, sat = first_crossing(spend.spend, float(s), max(lo, 1e-12), float(pc.max()),
                                               tol=1e-3 * float(s))
                if mode == "global":  # the test tasks' own minimum feasible budget may be higher
                    internal = max(internal, min_budget_per_task(test.pred_cost))
                res = route_budget(test.prob, test.pred_cost, internal, mode, 1, BUDGET_SOLVER)
                per_mode[mode].append({"internal_budget": internal, "saturated": sat,
                                       "acc_tasks": take(test.label, res.choice), "cost_tasks": take(test.cost, res.choice)})
        row: dict[str, Any] = {"level": float(s)}
        for mode, runs in per_mode.items():
            acc = np.mean([r["acc_tasks"] for r in runs], axis=0)  # seed mean per task
            cost = np.mean([r["cost_tasks"] for r in runs], axis=0)
            row[mode] = {"accuracy": float(acc.mean()), "realised_cost": float(cost.mean()),
                         "accuracy_ci": curves.interval(curves.resampled_means(acc, counts)),
                         "internal_budget": float(np.mean([r["internal_budget"] for r in runs])),
                         "saturated": sorted({r["saturated"] for r in runs} - {""})}
            row[f"_{mode}_acc"] = acc
        diff = row.pop("_global_acc") - row.pop("_local_acc")
        row["global_minus_local"] = float(diff.mean())
        row["global_minus_local_ci"] = curves.interval(curves.resampled_means(diff, counts))
        out.append(row)
    return {"router": name, "levels": [float(x) for x in levels], "n_seeds": len(test_sets), "rows": out}
