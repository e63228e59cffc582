"""Measure the predictor's improvement switches against the reference behaviour.

Trains CONCUR (router "concur") on all strategies of an embedded data set once per variant
(outputs in a temporary folder) and prints mean validation and test figures over strategies, with
the kNN router as the peer (concur.diagnostics):
  old default           selection=logloss, cost_target=log, temperature_scaling=true
  selection=accuracy    the reference's checkpoint choice
  temperature off       no temperature scaling of P(correct)
  cost_target=raw       the reference's raw-cost MSE (Softplus output)
  cost_target=standardize
  adopted + smearing    the current config defaults: batch 128, lr 3e-4, validation every epoch,
                        and the smearing (mean) correction of the log-space cost
The first five are the switches as first measured, on the schedule of that time (batch 32, lr 1e-3,
validation every 3 epochs, no cost smearing), spelled out so they keep their meaning now that the
defaults are the adopted schedule. The defaults are chosen on validation; test figures are shown for
reference only.

  python benchmarks/bench_predictor_switches.py --config_path data/demo/../../config.yml
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_predictor import redirect  # noqa: E402
from concur.config import load_config  # noqa: E402
from concur.diagnostics import diagnostics  # noqa: E402
from concur.router_jobs import train_router  # noqa: E402

# The predictor defaults when these switches were first measured (before the router interface):
# the switch variants keep these settings (and no cost smearing, which did not exist then).
OLD_DEFAULTS = {"batch_size": 32, "eval_every": 3, "lr": 1e-3, "cost_lr": 1e-3, "cost_smearing": False}
VARIANTS = {
    "old default": dict(OLD_DEFAULTS),
    "selection=accuracy": {**OLD_DEFAULTS, "selection": "accuracy"},
    "temperature off": {**OLD_DEFAULTS, "temperature_scaling": False},
    "cost_target=raw": {**OLD_DEFAULTS, "cost_target": "raw"},
    "cost_target=standardize": {**OLD_DEFAULTS, "cost_target": "standardize"},
    # the adopted schedule with the smearing correction (both roles at lr 3e-4, as measured)
    "adopted + smearing": {"batch_size": 128, "eval_every": 1, "lr": 3e-4, "cost_lr": 3e-4, "cost_smearing": True},
    # today's config defaults, spelled out: the regressors at their own cost_lr
    "adopted + smearing + cost_lr 1e-3": {"batch_size": 128, "eval_every": 1, "lr": 3e-4, "cost_lr": 1e-3,
                                          "cost_smearing": True},
}
COLS = ["auroc", "brier", "ece", "logloss", "cost_mae", "cost_mdape", "cost_bias"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config_path", type=Path, default=REPO / "config.yml")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_switches_"))
    try:
        knn_done = False
        for name in args.variants:
            out = tmp / name.replace(" ", "_").replace("=", "_")
            out.mkdir()
            cfg = load_config(redirect(args.config_path.resolve(), out))
            cfg.predictor.update(VARIANTS[name])
            start = time.perf_counter()
            _, inp, router = train_router(cfg, "concur", ["all"], log=lambda m: None, progress=False)
            table = diagnostics(cfg, inp, router, inp.ds.strategies, log=lambda m: None)
            print(f"{name}: trained {len(inp.ds.strategies)} strategies in {time.perf_counter() - start:.0f}s", flush=True)
            for (pred, split), g in table.groupby(["predictor", "split"]):
                if pred == "knn" and knn_done:
                    continue
                rows.append({"variant": name if pred == "concur" else "kNN peer", "split": split,
                             **g[COLS].mean().to_dict()})
            knn_done = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = pd.DataFrame(rows)
    for split in ("val", "test"):
        print(f"\nmean over strategies, {split} split")
        print(res[res.split == split].drop(columns="split").to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
