"""Step 4a: weighted (unconstrained) routing over a sweep of weights.

Per test task, pick the strategy maximising W * P(correct) - (1 - W) * cost using the
predictions in <output_path>/pred_<strategy>.csv (ties -> cheaper strategy), then
report realised accuracy and mean cost from the files' ground truth.

--tasks FILE routes NEW tasks instead (predicted first with `predictor.py --predict --tasks FILE`):
it writes the assignment (question_id, strategy, pred_prob, pred_cost, per weight) to
<output_path>/tasks/<file name>/routing_unconstrained.csv and prints the PREDICTED totals only:
no realised figures exist for tasks nobody has answered.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from concur.config import load_config
from concur.errors import ConcurError, cli_main
from concur.evaluation import format_line, format_shares, print_reference_rows, reference_rows, shares, summarise
from concur.io import prepare_output_dir, write_csv_atomic
from concur.plotting import plot_accuracy_cost
from concur.new_tasks import (NO_OUTCOMES, assignment_table, check_same_router, check_source, predicted_line,
                              tasks_folder)
from concur.pred_files import load_predictions, load_task_predictions
from concur.routing import (DEFAULT_WEIGHTS, check_lambdas, check_target_costs, check_weights,
                            pick_weight_for_target, route_lambda, route_weighted, strategy_pool, weight_grid)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml", help="config file (default: config.yml)")
    p.add_argument("--weight", nargs="+", type=float, default=None,
                   help="weights W, finite numbers in [0, 1] (preference for accuracy over cost); default: config routing.weights, "
                        f"else the reference list {DEFAULT_WEIGHTS}")
    p.add_argument("--lambda", dest="lambdas", nargs="+", type=float, default=None,
                   help="instead of weights: lambda >= 0, accuracy points given up per unit of cost "
                        "(score = P(correct) - lambda * cost; W = 1 / (1 + lambda))")
    p.add_argument("--target_cost", nargs="+", type=float, default=None,
                   help="mean cost per task to aim for (finite, > 0): picks the weight whose VALIDATION spend "
                        "(pred_val_<strategy>.csv) is closest, then reports its test result")
    p.add_argument("--tasks", default=None, metavar="FILE",
                   help="route the new tasks of FILE (predicted by `predictor.py --predict --tasks FILE`) instead of "
                        "the test split; writes the assignment beside their predictions")
    p.add_argument("--no_plot", action="store_true", help="do not write the PNG plot")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    if args.weight is not None and args.lambdas is not None:
        raise ConcurError("--weight and --lambda are alternatives; give one of them")
    cfg = load_config(args.config_path)
    # every number finite and in range before anything is read or written
    if args.weight is not None:
        check_weights(args.weight)
    elif cfg.routing.weights:
        check_weights(cfg.routing.weights, f"{args.config_path}: routing.weights")
    if args.lambdas is not None:
        check_lambdas(args.lambdas)
    if args.target_cost is not None:
        check_target_costs(args.target_cost)
    # the folder written to, checked (and cleared of killed runs' temp files) before any work
    folder = tasks_folder(cfg, args.tasks) if args.tasks else cfg.output_path
    stem = "routing_unconstrained"
    outputs = [folder / f"{stem}.csv"] + ([] if args.no_plot or args.tasks else [folder / f"{stem}.png"])
    prepare_output_dir(folder, "the new tasks' folder in output_path" if args.tasks else "output_path", outputs)
    if args.tasks:
        return route_new_tasks(args, cfg)
    pool = strategy_pool(cfg)
    test = load_predictions(cfg.output_path, pool, "test")
    weights = args.weight if args.weight is not None else (cfg.routing.weights or DEFAULT_WEIGHTS)

    rows: list[dict] = []
    if args.lambdas is not None:
        lam = check_lambdas(args.lambdas)
        choices = route_lambda(test.prob, test.pred_cost, lam)
        tags = [f"lambda: {v:g}" for v in lam]
        sweep = [{"weight": 1.0 / (1.0 + v), "lambda": v} for v in lam]
    else:
        w = check_weights(weights)
        choices = route_weighted(test.prob, test.pred_cost, w)
        tags = [f"weight: {v:g}" for v in w]
        sweep = [{"weight": v, "lambda": (1.0 - v) / v if v > 0 else np.inf} for v in w]

    if args.target_cost:
        val = load_predictions(cfg.output_path, pool, "val")
        cands = weight_grid(list(np.atleast_1d(weights)) if args.lambdas is None else None)
        picked = [pick_weight_for_target(val, t, cands) for t in args.target_cost]
        tw = np.array([p[0] for p in picked])
        choices = np.concatenate([choices, route_weighted(test.prob, test.pred_cost, tw)])
        for t, (wt, vc) in zip(args.target_cost, picked):
            tags.append(f"weight: {wt:.9g} (target cost {t:g}; validation cost {vc:.2f})")
            sweep.append({"weight": wt, "lambda": (1.0 - wt) / wt if wt > 0 else np.inf, "target_cost": t, "val_cost": vc})

    stats = summarise(test, choices)
    share = shares(choices, len(pool))
    print(f"Routing {test.n_tasks} test tasks over {len(pool)} strategies (score = W * P(correct) - (1 - W) * cost; "
          f"cost in {cfg.cost_unit})")
    for k, tag in enumerate(tags):
        print(format_line(tag, test.n_tasks, stats["accuracy"][k], stats["cost"][k]))
        rows.append({"kind": "routing" if "target_cost" not in sweep[k] else "target_cost", "name": tag, **sweep[k],
                     "n_tasks": test.n_tasks, **{key: float(v[k]) for key, v in stats.items()},
                     **{f"share_{s}": float(share[k, j]) for j, s in enumerate(pool)}})
    ref = reference_rows(test)
    print("-- reference rows (same test tasks) --")
    for line in print_reference_rows(ref):
        print(line)
    print("-- routing distribution (share of tasks per strategy) --")
    for k, tag in enumerate(tags):
        print(f"{tag}: {format_shares(pool, share[k])}")
    rows += ref

    out = cfg.output_path / "routing_unconstrained.csv"
    write_csv_atomic(out, pd.DataFrame(rows))
    print(f"wrote {out}")
    if not args.no_plot:
        png = cfg.output_path / "routing_unconstrained.png"
        plot_accuracy_cost(png, rows, "Unconstrained routing (test)", "weight sweep", cfg.cost_unit)
        print(f"wrote {png}")


def route_new_tasks(args: argparse.Namespace, cfg) -> None:
    """The --tasks path: the same rules on the new tasks' predictions; predicted totals only."""
    folder, src = check_source(cfg, args.tasks)
    pool = src["strategies"]
    preds = load_task_predictions(folder, pool)
    weights = args.weight if args.weight is not None else (cfg.routing.weights or DEFAULT_WEIGHTS)
    if args.lambdas is not None:
        lam = check_lambdas(args.lambdas)
        choices, settings = route_lambda(preds.prob, preds.pred_cost, lam), [{"lambda": v} for v in lam]
        tags = [f"lambda: {v:g}" for v in lam]
    else:
        w = check_weights(weights)
        choices, settings = route_weighted(preds.prob, preds.pred_cost, w), [{"weight": v} for v in w]
        tags = [f"weight: {v:g}" for v in w]
    if args.target_cost:
        check_same_router(cfg, pool, src["router"])
        val = load_predictions(cfg.output_path, pool, "val")
        cands = weight_grid(list(np.atleast_1d(weights)) if args.lambdas is None else None)
        for t in args.target_cost:
            wt, vc = pick_weight_for_target(val, t, cands)
            choices = np.concatenate([choices, route_weighted(preds.prob, preds.pred_cost, [wt])])
            settings.append({"weight": wt, "target_cost": t})
            tags.append(f"weight: {wt:.9g} (target cost {t:g}; validation cost {vc:.2f})")
    print(f"Routing {preds.n_tasks} new tasks from {args.tasks} over {len(pool)} strategies (router "
          f"'{src['router']}'; cost in {cfg.cost_unit})")
    print(NO_OUTCOMES)
    for tag, choice in zip(tags, choices):
        print(predicted_line(tag, preds, choice))
        print(f"  {format_shares(pool, shares(choice, len(pool)))}")
    out = folder / "routing_unconstrained.csv"
    write_csv_atomic(out, assignment_table(preds, choices, settings))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
