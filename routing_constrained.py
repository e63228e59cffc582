"""Step 4b: budget-constrained routing.

--budget B is the average cost per task the user means to SPEND (realised cost, gt_flops).

--mode global: maximise the sum of predicted P(correct) over the test tasks subject to
  sum of predicted cost <= n * B', one strategy per task (multiple-choice knapsack on
  real-valued costs; exact MILP or fast LP-hull solver with a certified gap).
--mode local: every task gets the cap B': the most probable strategy whose predicted cost
  fits, else the cheapest strategy (the tasks where nothing fits are counted: n_no_fit).

--guard realised (default): B' (the internal budget the solver sees) is calibrated on the
  validation predictions (pred_val_<strategy>.csv, written by `predictor.py --predict`) so
  that the REALISED validation spend of the same solver's assignment equals B (concur/guard.py).
  In global mode B' may be above or below B; in local mode it is only ever lowered (B is a cap
  on each task). --risk DELTA (default 0.1) leaves a margin so that realised spend <= B with
  probability about 1 - DELTA, and reports the test coverage (share of bootstrap resamples of
  the test tasks whose realised spend is <= B); --risk none calibrates the mean spend only.
--guard none: B' = B, the constraint holds on PREDICTED cost only.

Realised test spend is reported against B either way (realised/budget ratio).

--tasks FILE routes NEW tasks instead (predicted first with `predictor.py --predict --tasks FILE`):
the guard still calibrates on the validation predictions; the assignment (question_id, strategy,
pred_prob, pred_cost, per budget) goes to <output_path>/tasks/<file name>/routing_constrained_<mode>.csv
with the PREDICTED totals only: no realised figures exist for tasks nobody has answered.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from concur.config import load_config
from concur.new_tasks import (NO_OUTCOMES, assignment_table, check_same_router, check_source, predicted_line,
                              tasks_folder)
from concur.pred_files import PREDICT_HINT, load_predictions, load_task_predictions, prediction_path
from concur.errors import ConcurError, cli_main
from concur.evaluation import format_line, format_shares, print_reference_rows, reference_rows, shares, summarise
from concur.guard import (DEFAULT_RISK, GUARDS, ValidationSpend, calibrate_budget, coverage, parse_risk,
                          solver_budget)
from concur.io import prepare_output_dir, write_csv_atomic
from concur.plotting import plot_accuracy_cost
from concur.routing import batch_slices, check_budget, check_feasible_budget, route_budget, strategy_pool

N_BOOT = 1000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml", help="config file (default: config.yml)")
    p.add_argument("--budget", nargs="+", type=float, required=True,
                   help="average cost per task to spend, a finite number > 0 (in the config's cost_unit); "
                        "several values give several rows")
    p.add_argument("--mode", choices=["global", "local"], required=True,
                   help="global: one budget shared by all tasks (knapsack); local: each task gets the budget as a cap")
    p.add_argument("--guard", choices=list(GUARDS), default="realised",
                   help="realised (default): calibrate the budget the solver sees on the validation predictions so "
                        "that the realised spend estimated there meets --budget; none: constrain predicted cost only")
    p.add_argument("--risk", default=None, metavar="DELTA",
                   help=f"with --guard realised: leave a margin so that realised spend <= budget with probability "
                        f"about 1 - DELTA (0 < DELTA < 1; bootstrap over the validation tasks), and report the "
                        f"test coverage (default: {DEFAULT_RISK}); 'none': calibrate the mean spend only")
    p.add_argument("--num_batches", type=int, default=1,
                   help="global mode: split the tasks into K equal batches, each with an equal share of the budget")
    p.add_argument("--solver", choices=["auto", "exact", "fast"], default=None,
                   help="global solver: exact MILP (HiGHS), fast LP-hull greedy, or auto by size "
                        "(default: config routing.solver)")
    p.add_argument("--time_limit", type=float, default=None,
                   help="seconds per exact MILP solve (default: config routing.milp_time_limit)")
    p.add_argument("--tasks", default=None, metavar="FILE",
                   help="route the new tasks of FILE (predicted by `predictor.py --predict --tasks FILE`) instead of "
                        "the test split; writes the assignment beside their predictions")
    p.add_argument("--no_plot", action="store_true", help="do not write the PNG plot")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace, time_limit: float) -> None:
    """Every number finite and in range (and --risk resolved to its value) before anything is read or written."""
    for b in args.budget:
        check_budget(b)
    if args.risk is not None and args.guard != "realised":
        raise ConcurError("--risk needs --guard realised (the margin is calibrated on the validation predictions)")
    args.risk = DEFAULT_RISK if args.risk is None and args.guard == "realised" else parse_risk(args.risk)
    if args.num_batches < 1:
        raise ConcurError(f"--num_batches must be >= 1, got {args.num_batches}")
    if not np.isfinite(time_limit) or time_limit <= 0:
        raise ConcurError(f"--time_limit (or config routing.milp_time_limit) must be a finite number > 0, got {time_limit}")


def load_validation(cfg, pool: list[str]):
    """pred_val_<strategy>.csv for every strategy; a missing file says how to make it or turn the guard off."""
    for s in pool:
        path = prediction_path(cfg.output_path, s, "val")
        if not path.is_file():
            raise ConcurError(f"{path}: validation predictions not found (the realised-spend guard calibrates on them); "
                              f"{PREDICT_HINT}, or pass --guard none")
    return load_predictions(cfg.output_path, pool, "val")


def constraint_line(mode: str, st: dict, internal: float, n_no_fit: int | None, n: int) -> str:
    """What holds on predicted cost, stated truthfully (local fallbacks can exceed the cap)."""
    if mode == "global":
        return f"predicted mean cost {st['pred_cost']:.4g} <= internal budget {internal:.6g} (the solver's constraint)"
    if not n_no_fit:
        return (f"every task's predicted cost <= per-task cap {internal:.6g} (the solver's constraint); "
                f"predicted mean cost {st['pred_cost']:.4g}")
    return (f"{n - n_no_fit} of {n} tasks have predicted cost <= per-task cap {internal:.6g}; {n_no_fit} tasks fit no "
            f"strategy and got the cheapest; predicted mean cost {st['pred_cost']:.4g}")


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config_path)
    rc = cfg.routing
    solver = args.solver or rc.solver
    time_limit = args.time_limit if args.time_limit is not None else float(rc.milp_time_limit)
    check_args(args, time_limit)
    # the folder written to, checked (and cleared of killed runs' temp files) before any work
    folder = tasks_folder(cfg, args.tasks) if args.tasks else cfg.output_path
    stem = f"routing_constrained_{args.mode}"
    outputs = [folder / f"{stem}.csv"] + ([] if args.no_plot or args.tasks else [folder / f"{stem}.png"])
    prepare_output_dir(folder, "the new tasks' folder in output_path" if args.tasks else "output_path", outputs)
    if args.tasks:
        return route_new_tasks(args, cfg, solver, time_limit)
    pool = strategy_pool(cfg)
    test = load_predictions(cfg.output_path, pool, "test")
    n = test.n_tasks
    if args.mode == "global":
        batch_slices(n, args.num_batches)
        for b in args.budget:  # infeasible on predicted cost: exit 2 before any work
            check_feasible_budget(test.pred_cost, b, args.num_batches)
    guarded = args.guard == "realised"
    spend = None
    if guarded:
        val = load_validation(cfg, pool)
        spend = ValidationSpend(val, args.mode, args.num_batches)  # the guard's search: fast solver (concur/guard.py)
    what = f"{args.num_batches} batch(es)" if args.mode == "global" else "each task separately"
    print(f"Routing {n} test tasks over {len(pool)} strategies, {args.mode} mode, {what} (cost in {cfg.cost_unit})")
    if guarded:
        risk = "" if args.risk is None else f" (with a margin: realised spend <= budget with probability ~{1 - args.risk:g})"
        print(f"note: guard 'realised': each budget is calibrated on {spend.val.n_tasks} validation tasks so that the "
              f"REALISED validation spend meets it{risk}; the solver sees the internal budget; test spend can still differ")
    else:
        print("note: --guard none: the budget constraint holds on PREDICTED cost only; realised cost can differ")

    rows: list[dict] = []
    rows_idx = np.arange(n)
    for b in args.budget:
        guard = calibrate_budget(spend, b, args.risk, n, N_BOOT, int(cfg.seed)) if guarded else None
        internal, raised = solver_budget(guard, test.pred_cost, args.mode, args.num_batches) if guarded else (b, "")
        res = route_budget(test.prob, test.pred_cost, internal, args.mode, args.num_batches, solver, time_limit,
                           int(rc.exact_max_tasks))
        st = {k: float(v) for k, v in summarise(test, res.choice).items()}
        share = shares(res.choice, len(pool))
        over = st["cost"] - b
        row = {"kind": "routing", "name": f"budget per task: {b:g}", "mode": args.mode, "guard": args.guard,
               "budget": b, "internal_budget": internal,
               "num_batches": args.num_batches if args.mode == "global" else 1, "n_tasks": n, **st,
               "realised_over_budget": st["cost"] / b, "realised_exceeds_budget": over > 0,
               "realised_overshoot": max(0.0, over), "realised_overshoot_pct": max(0.0, over) / b * 100,
               "n_no_fit": res.n_no_fit if args.mode == "local" else None,
               "solver": res.solver, "objective": st["pred_accuracy"] * n,
               "lp_bound": res.lp_bound, "certified_gap": res.gap}
        if guarded:
            row.update({"val_realised_cost": guard.val_spend, "val_pred_cost": guard.val_pred_spend,
                        "n_val_tasks": guard.n_val, "guard_saturated": guard.saturated or "no",
                        "guard_note": "; ".join(x for x in (guard.note, raised) if x)})
        if args.risk is not None:
            row.update({"risk": args.risk, "val_spend_quantile": guard.val_quantile,
                        "test_coverage": coverage(test.cost[rows_idx, res.choice], b, N_BOOT, int(cfg.seed))})
        row.update({f"share_{s}": float(v) for s, v in zip(pool, share)})
        rows.append(row)
        print(format_line(f"budget per task: {b:g}", n, st["accuracy"], st["cost"]))
        if guarded:
            d = f"  guard: internal budget {internal:.6g} ({guard.note}"
            d += f"; {raised})" if raised else ")"
        else:
            d = f"  no guard: internal budget = budget {b:g}"
        d += f"\n  {constraint_line(args.mode, st, internal, res.n_no_fit, n)}"
        d += (f"\n  realised mean cost {st['cost']:.4g} = {st['cost'] / b:.3f} x budget {b:g}: "
              + (f"over budget by {over:.4g} ({row['realised_overshoot_pct']:.1f}%)" if over > 0 else "within budget"))
        if args.risk is not None:
            d += (f"\n  test coverage: {row['test_coverage']:.3f} of {N_BOOT} bootstrap resamples of the test tasks "
                  f"spend <= budget (target {1 - args.risk:g})")
        if args.mode == "global":
            d += f"\n  solver: {res.solver}; expected correct {row['objective']:.2f}"
            if res.gap is not None:
                d += f"; LP bound {res.lp_bound:.2f}; certified gap <= {res.gap:.4f} tasks"
        print(d)
    ref = reference_rows(test)
    print("-- reference rows (same test tasks) --")
    for line in print_reference_rows(ref):
        print(line)
    print("-- routing distribution (share of tasks per strategy) --")
    for r, b in zip(rows, args.budget):
        print(f"budget per task: {b:g}: {format_shares(pool, np.array([r[f'share_{s}'] for s in pool]))}")
    rows += ref

    out = cfg.output_path / f"routing_constrained_{args.mode}.csv"
    write_csv_atomic(out, pd.DataFrame(rows))
    print(f"wrote {out}")
    if not args.no_plot:
        png = cfg.output_path / f"routing_constrained_{args.mode}.png"
        plot_accuracy_cost(png, rows, f"Budgeted routing, {args.mode} mode, guard {args.guard} (test)", "budgets",
                           cfg.cost_unit)
        print(f"wrote {png}")


def route_new_tasks(args: argparse.Namespace, cfg, solver: str, time_limit: float) -> None:
    """The --tasks path: guard calibrated on validation as for the test split; predicted totals only."""
    folder, src = check_source(cfg, args.tasks)
    pool = src["strategies"]
    preds = load_task_predictions(folder, pool)
    rc = cfg.routing
    if args.mode == "global":
        batch_slices(preds.n_tasks, args.num_batches)
    spend = None
    if args.guard == "realised":
        check_same_router(cfg, pool, src["router"])
        spend = ValidationSpend(load_validation(cfg, pool), args.mode, args.num_batches)
    print(f"Routing {preds.n_tasks} new tasks from {args.tasks} over {len(pool)} strategies, {args.mode} mode (router "
          f"'{src['router']}'; cost in {cfg.cost_unit})")
    print(NO_OUTCOMES)
    choices, settings = [], []
    for b in args.budget:
        if spend is not None:
            guard = calibrate_budget(spend, b, args.risk, preds.n_tasks, N_BOOT, int(cfg.seed))
            internal, raised = solver_budget(guard, preds.pred_cost, args.mode, args.num_batches)
            note = f"guard: internal budget {internal:.6g} ({'; '.join(x for x in (guard.note, raised) if x)})"
        else:
            internal, note = b, f"no guard: internal budget = budget {b:g} (predicted cost)"
        if args.mode == "global":
            check_feasible_budget(preds.pred_cost, internal, args.num_batches)
        res = route_budget(preds.prob, preds.pred_cost, internal, args.mode, args.num_batches, solver, time_limit,
                           int(rc.exact_max_tasks))
        print(predicted_line(f"budget per task: {b:g}", preds, res.choice))
        print(f"  {note}")
        if args.mode == "local" and res.n_no_fit:
            print(f"  {res.n_no_fit} of {preds.n_tasks} tasks fit no strategy under the cap and got the cheapest")
        print(f"  {format_shares(pool, shares(res.choice, len(pool)))}")
        choices.append(res.choice)
        settings.append({"budget": b, "internal_budget": internal, "mode": args.mode, "guard": args.guard})
    out = folder / f"routing_constrained_{args.mode}.csv"
    write_csv_atomic(out, assignment_table(preds, np.stack(choices), settings))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
