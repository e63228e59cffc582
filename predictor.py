"""Step 2 (train) and step 3 (--predict): CONCUR's per-strategy accuracy and cost predictors.

Training reads the train and validation splits only. For each strategy it trains a P(correct)
classifier and a cost regressor, keeps each one's best validation checkpoint and saves
  <predictor_path>/accuracy_cls_<strategy>.pt, cost_reg_<strategy>.pt, <strategy>.json
A strategy whose saved predictor matches the current data, embeddings and config is skipped;
a stale one is retrained. Afterwards a diagnostics table (validation and test AUROC, Brier, ECE,
cost MAE and median APE, for CONCUR and a kNN peer) is printed and saved to
<predictor_path>/diagnostics.csv; the test split is read only then.

--predict writes <output_path>/pred_<strategy>.csv (test split) and pred_val_<strategy>.csv
(validation split) with the columns question_id, model, decoding, gt_label, pred_label,
pred_cls_prob, gt_flops, pred_flops; an up-to-date prediction file is left untouched.

examples:
  python predictor.py --strategy all
  python predictor.py --strategy qwen7b_cot llama8b_vanilla --force
  python predictor.py --strategy all --predict
"""
from __future__ import annotations

import argparse
import time

import torch

from concur.config import load_config
from concur.errors import ConcurError, cli_main
from concur.predictor_jobs import (diagnostics, format_diagnostics, predict_strategies, resolve_strategies,
                                   save_diagnostics, train_strategies)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml", help="YAML config (default: %(default)s)")
    p.add_argument("--strategy", nargs="+", required=True, metavar="NAME",
                   help="'all' (every strategy in the pool) or one or more '<model>_<decoding>' names, e.g. llama8b_cot")
    p.add_argument("--predict", action="store_true",
                   help="predict with the trained predictors instead of training (writes pred_<strategy>.csv "
                        "for test and pred_val_<strategy>.csv for validation into output_path)")
    p.add_argument("--force", action="store_true",
                   help="retrain (or re-predict) even when the saved files match the current data and config")
    p.add_argument("--no_diagnostics", action="store_true", help="skip the diagnostics table after training")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default: %(default)s; batch-32 training of these small networks "
                        "does not gain from more, and extra threads slow down badly on a busy machine)")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    if "all" in args.strategy and len(args.strategy) > 1:
        raise ConcurError("--strategy: 'all' cannot be combined with strategy names")
    if args.threads < 1:
        raise ConcurError("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    config = load_config(args.config_path)
    start = time.perf_counter()
    if args.predict:
        status = predict_strategies(config, args.strategy, force=args.force, progress=not args.no_progress)
        n = sum(v == "written" for v in status.values())
        print(f"predictions: {n} strategies written, {len(status) - n} up to date "
              f"({time.perf_counter() - start:.1f}s) -> {config.output_path}")
        return
    status, inp = train_strategies(config, args.strategy, force=args.force, progress=not args.no_progress,
                                   threads=args.threads)
    n = sum(v == "trained" for v in status.values())
    print(f"training: {n} strategies trained, {len(status) - n} up to date ({time.perf_counter() - start:.1f}s) "
          f"-> {config.predictor_path}")
    if not args.no_diagnostics:
        # only now, with every checkpoint chosen and saved, is the test split read (for reporting)
        names = resolve_strategies(args.strategy, inp.ds.strategies)
        table = diagnostics(config, inp, names)
        path = save_diagnostics(config, table, inp.ds.strategies)
        print(format_diagnostics(table))
        print(f"diagnostics -> {path}")


if __name__ == "__main__":
    main()
