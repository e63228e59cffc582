"""Step 4b: budget-constrained routing.

--mode global: maximise the sum of predicted P(correct) over the test tasks subject to
  sum of predicted cost <= n * budget, one strategy per task (multiple-choice knapsack on
  real-valued costs; exact MILP or fast LP-hull solver with a certified gap).
--mode local: every task gets the budget: the most probable strategy whose predicted
  cost fits, else the cheapest strategy.
The budget holds on PREDICTED cost; realised spend is reported against it.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from concur.config import load_config
from concur.errors import cli_main
from concur.evaluation import format_line, format_shares, print_reference_rows, reference_rows, shares, summarise
from concur.io import write_csv_atomic
from concur.plotting import plot_accuracy_cost
from concur.routing import load_predictions, route_budget, strategy_pool


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml", help="config file (default: config.yml)")
    p.add_argument("--budget", nargs="+", type=float, required=True,
                   help="average cost budget per task (in the config's cost_unit); several values give several rows")
    p.add_argument("--mode", choices=["global", "local"], required=True,
                   help="global: one budget shared by all tasks (knapsack); local: each task gets the budget")
    p.add_argument("--num_batches", type=int, default=1,
                   help="global mode: split the tasks into K equal batches, each with an equal share of the budget")
    p.add_argument("--solver", choices=["auto", "exact", "fast"], default=None,
                   help="global solver: exact MILP (HiGHS), fast LP-hull greedy, or auto by size "
                        "(default: config routing.solver)")
    p.add_argument("--time_limit", type=float, default=None,
                   help="seconds per exact MILP solve (default: config routing.milp_time_limit)")
    p.add_argument("--no_plot", action="store_true", help="do not write the PNG plot")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config_path)
    rc = cfg.routing
    solver = args.solver or rc.solver
    time_limit = args.time_limit if args.time_limit is not None else float(rc.milp_time_limit)
    pool = strategy_pool(cfg)
    test = load_predictions(cfg.output_path, pool, "test")
    n = test.n_tasks
    what = f"{args.num_batches} batch(es)" if args.mode == "global" else "each task separately"
    print(f"Routing {n} test tasks over {len(pool)} strategies, {args.mode} mode, {what} (cost in {cfg.cost_unit})")
    print("note: the budget constraint holds on PREDICTED cost only; realised cost can differ")

    results = [route_budget(test.prob, test.pred_cost, b, args.mode, args.num_batches, solver, time_limit,
                            int(rc.exact_max_tasks)) for b in args.budget]
    rows: list[dict] = []
    for b, res in zip(args.budget, results):
        st = {k: float(v) for k, v in summarise(test, res.choice).items()}
        share = shares(res.choice, len(pool))
        over = st["cost"] - b
        row = {"kind": "routing", "name": f"budget per task: {b:g}", "mode": args.mode, "budget": b,
               "num_batches": args.num_batches if args.mode == "global" else 1, "n_tasks": n, **st,
               "pred_within_budget": st["pred_cost"] <= b + 1e-9 * max(1.0, abs(b)),
               "realised_exceeds_budget": over > 0, "realised_overshoot": max(0.0, over),
               "realised_overshoot_pct": max(0.0, over) / b * 100 if b > 0 else float("nan"),
               "solver": res.solver, "objective": st["pred_accuracy"] * n,
               "lp_bound": res.lp_bound, "certified_gap": res.gap,
               **{f"share_{s}": float(v) for s, v in zip(pool, share)}}
        rows.append(row)
        print(format_line(f"budget per task: {b:g}", n, st["accuracy"], st["cost"]))
        d = (f"  predicted cost {st['pred_cost']:.2f} <= budget {b:g} (constraint on predicted cost); "
             f"realised cost {st['cost']:.2f}: ")
        d += f"over budget by {over:.2f} ({row['realised_overshoot_pct']:.1f}%)" if over > 0 else "within budget"
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
        plot_accuracy_cost(png, rows, f"Budgeted routing, {args.mode} mode (test)", "budgets", cfg.cost_unit)
        print(f"wrote {png}")


if __name__ == "__main__":
    main()
