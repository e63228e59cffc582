"""Step 2 (train) and step 3 (--predict): a router's accuracy and cost predictors.

--router NAME picks a registered router (default: the config's `router`, else concur):
  concur        CONCUR's per-strategy classifier + cost regressor (modular)
  knn           per-strategy k-nearest neighbours, k chosen on validation (modular)
  shared        one MLP over [task; model; decoding] embeddings for all strategies
  ensemble      weighted mean of other routers, weights chosen on validation
  subject-best  per task subject, each strategy's train accuracy and mean cost (modular)
  routellm-mf   RouteLLM's matrix-factorisation router, with a cost head
  embedllm      EmbedLLM: learned model embeddings x task encoder, with a cost head
  rtr           Route-To-Reason: one network predicting accuracy and cost jointly
Training reads the train and validation splits only and saves the router under predictor_path
(CONCUR in the reference layout: accuracy_cls_<s>.pt, cost_reg_<s>.pt, <s>.json; other routers in
predictor_path/<router>/). A part whose data, embeddings and settings are unchanged is reused; a
modular router trains only new or changed strategies (CONCUR starts a new strategy's cost regressor
from the best-fitting current one of the pool, config key predictor.warm_start). Afterwards a diagnostics table (validation
and test AUROC, Brier, ECE, cost MAE and bias, for the router and a kNN peer) is printed and saved to
<predictor_path>/diagnostics.csv; the test split is read only then.

--predict writes <output_path>/pred_<strategy>.csv (test split) and pred_val_<strategy>.csv
(validation split) with the columns question_id, model, decoding, gt_label, pred_label,
pred_cls_prob, gt_flops, pred_flops; an up-to-date prediction file is left untouched.
--predict --tasks FILE predicts NEW tasks (a JSON list or JSONL of {question, options?, subject?,
question_id?}, no outcomes): they are embedded (cached) and their predictions, without ground-truth
columns, go to <output_path>/tasks/<file name>/.

examples:
  python predictor.py --strategy all
  python predictor.py --strategy qwen7b_cot llama8b_vanilla --force
  python predictor.py --strategy all --predict
  python predictor.py --router knn --strategy all && python predictor.py --router knn --strategy all --predict
  python predictor.py --predict --tasks new_questions.jsonl
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from concur.config import load_config
from concur.errors import ConcurError, cli_main, one_line


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml", help="YAML config (default: %(default)s)")
    p.add_argument("--router", default=None, metavar="NAME",
                   help="registered router to train or predict with (default: config key 'router', else concur)")
    p.add_argument("--strategy", nargs="+", default=["all"], metavar="NAME",
                   help="'all' (every strategy in the pool; the default) or one or more '<model>_<decoding>' names, "
                        "e.g. llama8b_cot; a router that is not modular always trains on the whole pool")
    p.add_argument("--predict", action="store_true",
                   help="predict with the trained router instead of training (writes pred_<strategy>.csv "
                        "for test and pred_val_<strategy>.csv for validation into output_path)")
    p.add_argument("--tasks", default=None, metavar="FILE",
                   help="with --predict: predict new tasks from FILE (JSON list or JSONL of task objects) into "
                        "<output_path>/tasks/<file name>/ instead of the test and validation splits")
    p.add_argument("--force", action="store_true",
                   help="retrain (or re-predict) even when the saved files match the current data and config")
    p.add_argument("--no_diagnostics", action="store_true", help="skip the diagnostics table after training")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default: %(default)s; on an idle machine more threads train "
                        "faster (README, Benchmarks), on a busy one they slow down badly)")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return p.parse_args(argv)


def check_outputs(config, name: str, args: argparse.Namespace) -> None:
    """Refuse an output folder this run could not write (one line, nothing written) and remove the temp
    files killed runs left in it: predictor_path (and the routers' folders in it) when training,
    output_path (or the new tasks' folder) when predicting."""
    from pathlib import Path

    from concur.io import prepare_output_dir
    from concur.routers import REGISTRY

    if args.tasks:
        from concur.new_tasks import tasks_folder

        folder = tasks_folder(config, args.tasks)
        files = sorted(folder.glob("*")) if folder.is_dir() else []
        prepare_output_dir(folder, "the new tasks' folder in output_path", replaces=files)
    elif args.predict:
        out = Path(config.output_path)
        files = sorted(out.glob("pred_*")) if out.is_dir() else []
        prepare_output_dir(out, "output_path", replaces=files)
    else:
        if name not in REGISTRY:
            return  # make_router names the registered routers
        root = Path(config.predictor_path)
        stores = [root] + [root / r for r in REGISTRY if r != "concur" and (r == name or (root / r).is_dir())]
        for folder in stores:
            files = [f for f in folder.glob("*") if not f.is_dir()] if folder.is_dir() else []
            what = "predictor_path" if folder == root else f"the '{folder.name}' router's folder in predictor_path"
            prepare_output_dir(folder, what, replaces=files)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    if "all" in args.strategy and len(args.strategy) > 1:
        raise ConcurError("--strategy: 'all' cannot be combined with strategy names")
    if args.threads < 1:
        raise ConcurError("--threads must be at least 1")
    if args.tasks and not args.predict:
        raise ConcurError("--tasks goes with --predict (new tasks have no outcomes to train on)")
    torch.set_num_threads(args.threads)
    config = load_config(args.config_path)
    name = args.router or config.router
    progress = not args.no_progress
    check_outputs(config, name, args)  # before anything is read, trained or written
    start = time.perf_counter()
    if args.tasks:
        from concur.new_tasks import predict_new_tasks

        folder, n = predict_new_tasks(config, name, args.tasks, args.strategy, force=args.force, progress=progress)
        print(f"predictions for {n} new tasks by router '{name}' ({time.perf_counter() - start:.1f}s) -> {folder}")
        return
    if args.predict:
        from concur.router_jobs import predict_router

        status = predict_router(config, name, args.strategy, force=args.force, progress=progress)
        n = sum(v == "written" for v in status.values())
        print(f"predictions ({name}): {n} strategies written, {len(status) - n} up to date "
              f"({time.perf_counter() - start:.1f}s) -> {config.output_path}")
        return
    from concur.diagnostics import diagnostics, format_diagnostics, save_diagnostics
    from concur.router_jobs import train_router

    status, inp, router = train_router(config, name, args.strategy, force=args.force, progress=progress)
    n = sum(v == "trained" for v in status.values())
    what = "strategies" if router.modular else "parts"
    print(f"router {name!r}: {n} {what} trained, {len(status) - n} up to date ({time.perf_counter() - start:.1f}s) "
          f"-> {config.predictor_path}")
    if not args.no_diagnostics:
        # only now, with every checkpoint chosen and saved, is the test split read (for reporting); a test
        # split that cannot be read does not undo the training: it is reported, and --predict refuses it
        try:
            table = diagnostics(config, inp, router, router.strategies)
        except ConcurError as err:
            print(f"warning: diagnostics skipped: {one_line(str(err))}", file=sys.stderr)
            return
        path = save_diagnostics(config, table, inp.ds.strategies)
        print(format_diagnostics(table))
        print(f"diagnostics -> {path}")


if __name__ == "__main__":
    main()
