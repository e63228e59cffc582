"""Label-free routing vs the same routers on gold labels (issue 12): CASCAL, and kNN / CONCUR trained on
the models' consensus instead of the label column, scored on the gold test labels.

On an imported, embedded data set with answers files (prepare_data.py writes them for mmlu-pro and
routerbench; the embeddings may be copied from a results work folder of the same import), at one seed,
with the results pipeline's settings, every router is trained into a temporary folder and scored with
docs/RESULTS.md's code (AIQ on the test tasks, paired bootstrap difference to kNN on gold labels). The
consensus itself is scored too: the share of train (task, strategy) pairs whose pseudo-label equals the
gold label. It measures and prints; nothing is asserted.

  python benchmarks/bench_label_free.py --data /tmp/mmlu_pro [--routers cascal knn concur] [--n_boot 500]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from concur.answers import load_split_answers
    from concur.config import load_config
    from concur.consensus import consensus
    from concur.data import load_dataset
    from concur.experiments import Settings
    from concur.pred_files import load_predictions
    from concur.results_data import dataset_config
    from concur.results_stats import evaluate_curves
    from concur.router_jobs import predict_router, train_router
    from concur.routing import weight_grid

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="imported data set folder with answers and embeddings")
    ap.add_argument("--routers", nargs="+", default=["cascal", "knn", "concur"])
    ap.add_argument("--n_boot", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data)
    cfg0 = load_config(data / "config.yml")
    ds = load_dataset(cfg0)
    for name in ("train", "val"):
        split = ds.splits[name]
        ans = load_split_answers(cfg0, split)
        for method in ("majority", "weighted"):
            c = consensus(ans.answer, ans.parsed, method)
            ok = split.observed
            print(f"consensus ({method}) on {name}: pseudo-label = gold for {(c.score[ok] == split.label[ok]).mean():.4f} "
                  f"of the (task, strategy) pairs")
    ov = Settings(work_root=data, data_root=data).overrides()
    runs = [("knn", "gold")] + [(r, lab) for r in args.routers for lab in ("gold", "consensus")
                                if r != "cascal" and (r, lab) != ("knn", "gold")]
    if "cascal" in args.routers:
        runs.append(("cascal", "none"))
    test_sets, val_sets = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_label_free_") as tmp:
        for router, labels in runs:
            label = router if labels in ("gold", "none") else f"{router} (consensus labels)"
            t = time.perf_counter()
            cfg = dataset_config(data, args.seed, Path(tmp) / label / "p", Path(tmp) / label / "o", ov["embedding"],
                                 ov.get("predictor"), ov.get("routers"), labels=None if labels == "none" else labels)
            train_router(cfg, router, ["all"], log=lambda m: None, progress=False)
            predict_router(cfg, router, ["all"], log=lambda m: None, progress=False)
            test_sets[label] = [load_predictions(cfg.output_path, ds.strategies, "test")]
            val_sets[label] = [load_predictions(cfg.output_path, ds.strategies, "val")]
            print(f"trained and predicted {label} in {time.perf_counter() - t:.1f}s")
        # the test split's gold labels score every router (a consensus run's prediction files carry gold test labels)
        res = evaluate_curves(list(test_sets), test_sets, val_sets, weight_grid(size=400), args.n_boot, 12345)
    print(f"{data.name}: AIQ on the gold test labels ({res['n_test']} tasks), paired difference to kNN (gold)")
    for name, r in res["routers"].items():
        d = "" if "aiq_minus_knn" not in r else \
            f"  - knn: {r['aiq_minus_knn']:+.4f} [{r['aiq_minus_knn_ci'][0]:+.4f}, {r['aiq_minus_knn_ci'][1]:+.4f}]"
        print(f"  {name:<28} {r['aiq']:.4f} [{r['aiq_ci'][0]:.4f}, {r['aiq_ci'][1]:.4f}]{d}")


if __name__ == "__main__":
    main()
