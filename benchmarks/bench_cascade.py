"""Cascades vs question-only routers on real data (issue 12): AIQ, paired intervals, AUROC diagnostics.

Needs an imported data set WITH answers files (prepare_data.py writes them for mmlu-pro and routerbench)
and the routers' prediction folders of a results run on the same import (results_work/<name>/seed0/output,
one sub-folder per router with pred_<s>.csv and pred_val_<s>.csv). The cascade's question-only prior is
--prior's predictions; its answer models are fitted on the train split's answers; every router folder found is scored as a question-only baseline on the same
resamples of the test tasks. It measures and prints; nothing is asserted.

  python benchmarks/bench_cascade.py --data /tmp/mmlu_pro --outputs results_work/mmlu_pro/seed0/output [--prior knn]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from concur.cascade_results import evaluate_dataset, format_lines
    from concur.config import load_config
    from concur.data import load_dataset
    from concur.pred_files import load_predictions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="an imported data set folder with answers_<split>.csv")
    ap.add_argument("--outputs", required=True, help="folder of router prediction folders (seed 0 of a results run)")
    ap.add_argument("--prior", default="knn", help="the router whose predictions are the cascade's prior")
    ap.add_argument("--n_boot", type=int, default=500)
    args = ap.parse_args()
    cfg = load_config(Path(args.data) / "config.yml")
    ds = load_dataset(cfg)
    outputs = Path(args.outputs)
    routers, routers_val = {}, {}
    for folder in sorted(p for p in outputs.iterdir() if p.is_dir()):
        try:
            routers[folder.name] = load_predictions(folder, ds.strategies, "test")
            routers_val[folder.name] = load_predictions(folder, ds.strategies, "val")
        except Exception as err:  # a folder without a full set of predictions is reported, not scored
            print(f"skipped {folder.name}: {str(err).splitlines()[0][:160]}")
    if args.prior not in routers:
        print(f"error: {outputs / args.prior}: no predictions of the prior router (--prior)", file=sys.stderr)
        sys.exit(2)
    res = evaluate_dataset(cfg, ds, routers, routers_val, args.n_boot, 12345, prior=args.prior)
    print("\n".join(format_lines(f"{Path(args.data).name} (prior: {args.prior})", res)))


if __name__ == "__main__":
    main()
