"""What the models' answers add to question-only routers: cascade routing minus its own prior, for several
priors and training seeds of a results run (issue 12's diagnostics).

docs/RESULTS.md compares cascade routing, on the prior chosen on validation at seed 0, with the best
question-only router on test. This benchmark asks the narrower question that the choice of prior blurs:
given the same question-only predictions, do the answers raise the curve? For every (seed, prior) it fits
cascade routing as `make results` does (answer models on the train split's answers, every option chosen on
validation) and prints its test AIQ minus the prior's, paired over the same 500 resamples of the test tasks,
then the mean over all (seed, prior) pairs with its interval over those resamples (seeds and priors fixed).
It measures and prints; nothing is asserted.

  python benchmarks/bench_cascade_priors.py --dataset results_work/mmlu_pro --priors concur ensemble shared --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from concur import curves
    from concur.cascade_results import scorer, split_views, with_split_outcomes
    from concur.cascade_routing import LAMBDAS, CascadeRouter
    from concur.config import load_config
    from concur.data import load_dataset
    from concur.pred_files import load_predictions
    from concur.results_stats import sweep
    from concur.routing import weight_grid

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True,
                    help="a results work folder's data set (its data/ with answers files and seed<k>/output/<router>/)")
    ap.add_argument("--priors", nargs="+", default=["concur", "ensemble", "shared"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n_boot", type=int, default=500)
    ap.add_argument("--boot_seed", type=int, default=12345)
    args = ap.parse_args()
    cfg = load_config(args.dataset / "data" / "config.yml")
    ds = load_dataset(cfg)
    weights = weight_grid(size=400)
    pairs = [(seed, prior, args.dataset / f"seed{seed}" / "output" / prior) for seed in args.seeds for prior in args.priors]
    for seed, prior, folder in pairs:  # every (seed, prior) checked before the first fit
        if not folder.is_dir():
            print(f"error: {folder}: no predictions of '{prior}' at seed {seed}", file=sys.stderr)
            sys.exit(2)
    score, gains, rows = None, [], []
    for seed, prior, folder in pairs:
        val_preds = with_split_outcomes(load_predictions(folder, ds.strategies, "val"), ds.val)
        test_preds = with_split_outcomes(load_predictions(folder, ds.strategies, "test"), ds.test)
        train, val, test = split_views(cfg, ds, val_preds, test_preds)
        score = score or scorer(test, args.n_boot, args.boot_seed)  # the same resamples for every pair
        start = time.perf_counter()
        prior_aiq, prior_boot, _ = score(*sweep(test_preds, weights))
        router = CascadeRouter.fit(val, seed=args.boot_seed, train=train)
        correct, cost, steps = router.run(test, LAMBDAS)
        aiq, boot, _ = score(correct, cost)
        gains.append(boot - prior_boot)
        rows.append(aiq - prior_aiq)
        lo, hi = curves.interval(boot - prior_boot)
        print(f"seed {seed} prior {prior:<24} prior {prior_aiq:.4f}  cascade routing {aiq:.4f}  "
              f"gain {aiq - prior_aiq:+.4f} [{lo:+.4f}, {hi:+.4f}]  strategies run {steps.mean():.2f}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    lo, hi = curves.interval(np.mean(gains, axis=0))
    print(f"{args.dataset.name}: mean gain over {len(rows)} (seed, prior) pairs {np.mean(rows):+.4f} [{lo:+.4f}, {hi:+.4f}]; "
          f"above 0 in {sum(r > 0 for r in rows)} of {len(rows)}")


if __name__ == "__main__":
    main()
