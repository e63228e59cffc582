r"""Measure levers on CONCUR's per-strategy predictors on the MMLU-Pro import (issue 5).

Each variant = (embedding folder, predictor-section overrides). It trains all strategies (one
seed unless the name ends in _s<k>), writes pred files under <work>/<variant>/ (reused when
current), and prints per variant:
  val_logloss / val_auroc   mean over strategies of P(correct) on VALIDATION
  val_cost_mae / val_cost_bias   mean absolute error / mean relative bias of the cost prediction
  val_aiq / val_gain        AIQ of the weighted-routing sweep on VALIDATION predictions, and the
                            hull's accuracy at the best single strategy's cost minus that single's
  test_aiq / test_gain      the same on test, FOR INFORMATION ONLY (choose levers on validation)
Reference rows (kNN, shared model seed 0, concur seed 0) are read from the results pipeline's
prediction folders, results_work/mmlu_pro/seed0/output/<router>/, when present; for another
embedding folder (mpnet) they are computed here (routers knn and shared, seed 0).
Settings: every variant but the last two predates the router interface and keeps the
predictor settings it was measured with, spelled out on top of the defaults of that time (PRE_ROUTER:
batch 32, lr 1e-3, validation every 3 epochs, no cost smearing); bf16_adopted_smearing is the adopted
schedule (batch 128, lr 3e-4, every epoch) with the smearing correction of the cost, and
bf16_adopted_smearing_cost_lr1e-3 adds the regressors' own learning rate 1e-3: today's config defaults
(the 'adopted' variant of the JSON). Every variant but that one trains both roles at its "lr".
Post-hoc rows need no training: '+kNN' (mean with kNN's P(correct) and cost, same embeddings),
'+kNN (weight per strategy on val)' (the mixing weight chosen per strategy on validation loss), and
'true cost (bound)' (the variant's P(correct) routed with the realised costs: what a perfect cost
model would add). Variants <name>_s0.._s2 also get a '<name> (mean of 3 seeds)' row.
Folders: F32 = data/imported/mmlu_pro (prepare_data.py + embed_dataset.py defaults), BF16 = the
results pipeline's (make results), MPNET = BF16's import re-embedded with all-mpnet-base-v2:
  python benchmarks/fetch_mpnet.py
  mkdir -p results_work/levers/data_mpnet && cp results_work/mmlu_pro/data/{*.json,*.csv,config.yml} $_
  printf 'embedding:\n  model: %s/models/all-mpnet-base-v2\n  dtype: bfloat16\n' $PWD >> results_work/levers/data_mpnet/config.yml
  python embed_dataset.py --config_path results_work/levers/data_mpnet/config.yml

  python benchmarks/bench_predictor_levers.py                       # every variant
  python benchmarks/bench_predictor_levers.py --variants base bf16 --workers 2
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from concur import curves, metrics  # noqa: E402
from concur.errors import cli_main  # noqa: E402
from concur.io import write_json_atomic  # noqa: E402
from concur.config import SCHEMA  # noqa: E402
from concur.evaluation import take  # noqa: E402
from concur.experiments import Settings  # noqa: E402
from concur.pred_files import Predictions, load_predictions  # noqa: E402
from concur.results_routers import output_dir  # noqa: E402
from concur.routing import route_weighted, weight_grid  # noqa: E402

F32 = REPO / "data/imported/mmlu_pro"  # float32 / 256-token embeddings
BF16 = REPO / "results_work/mmlu_pro/data"  # the results pipeline's import and embeddings
# the results import re-embedded with all-mpnet-base-v2 (the paper's embedding model, 768-d, 384 tokens);
# benchmarks/fetch_mpnet.py fetches the model into models/, then see MPNET_HELP
MPNET = REPO / "results_work/levers/data_mpnet"
MPNET_MODEL = REPO / "models/all-mpnet-base-v2"
# Must equal the results pipeline's settings (concur.experiments.Settings.embedding): anything else
# would re-embed its folder and invalidate its cache. (The 128-token runs were measured before the
# pipeline moved to the model's 256-token limit.)
EMB = {F32: {}, BF16: dict(Settings(work_root=REPO, data_root=REPO).embedding),
       MPNET: {"model": str(MPNET_MODEL), "dtype": "bfloat16", "max_seq_length": None}}
EMB_LABEL = {F32: "MiniLM-L6 float32, 256 tokens", BF16: "MiniLM-L6 bfloat16, 256 tokens",
             MPNET: "mpnet-base bfloat16, 384 tokens"}
# The predictor defaults before the router interface. Every variant below but bf16_adopted_smearing was
# measured on top of them (and before cost smearing existed), so each spells them out: its effective
# settings stay what they were, whatever today's defaults are.
PRE_ROUTER = {"batch_size": 32, "eval_every": 3, "lr": 1e-3, "cost_smearing": False}
RS = {**PRE_ROUTER, "eval_every": 1, "batch_size": 256}  # the results pipeline's predictor settings of that time
# the schedule adopted from these runs (the results pipeline's before the router interface), without smearing
ADOPTED = {**PRE_ROUTER, "batch_size": 128, "eval_every": 1, "lr": 3e-4}

SEED = "_seed"  # not a predictor key: the variant's training seed (default 0)
# name -> (data folder, predictor overrides); "base" = the pre-router defaults
VARIANTS: dict[str, tuple[Path, dict]] = {
    "base": (F32, dict(PRE_ROUTER)),
    "eval1": (F32, {**PRE_ROUTER, "eval_every": 1}),
    "eval1_lr3e-4": (F32, {**PRE_ROUTER, "eval_every": 1, "lr": 3e-4}),
    "eval1_bs256": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256}),
    "eval1_bs256_wd0.1": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, "weight_decay": 0.1}),
    "eval1_bs256_h32": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, "hidden_dim": 32}),
    "eval1_bs256_h256": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, "hidden_dim": 256}),
    "eval1_bs128_lr3e-4": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 128, "lr": 3e-4}),
    "eval1_lr1e-4": (F32, {**PRE_ROUTER, "eval_every": 1, "lr": 1e-4}),
    "eval1_bs256_lr3e-4": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, "lr": 3e-4}),
    "eval1_bs256_p10": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, "patience": 10}),
    "bs256": (F32, {**PRE_ROUTER, "batch_size": 256}),
    # seed repeats (training seed, not the split) to gauge one-seed noise
    "eval1_bs256_s1": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, SEED: 1}),
    "eval1_bs256_s2": (F32, {**PRE_ROUTER, "eval_every": 1, "batch_size": 256, SEED: 2}),
    "bf16_eval1_bs256": (BF16, dict(RS)),
    # richer task features (predictor.task_features), on the results pipeline's embeddings and settings
    "bf16_len": (BF16, {**RS, "task_features": ["length"]}),
    "bf16_subj": (BF16, {**RS, "task_features": ["subject"]}),
    "bf16_len_subj": (BF16, {**RS, "task_features": ["length", "subject"]}),
    # re-selection of the schedule on the results embeddings, 3 training seeds each
    **{f"bf16_bs128_lr3e-4_s{k}": (BF16, {**ADOPTED, SEED: k}) for k in range(3)},
    **{f"bf16_lr1e-4_s{k}": (BF16, {**PRE_ROUTER, "eval_every": 1, "lr": 1e-4, SEED: k}) for k in range(3)},
    **{f"bf16_eval1_bs256_s{k}": (BF16, {**RS, SEED: k}) for k in (1, 2)},
    # the reference's choices in place of ours, with the adopted schedule (calibration, cost target, selection)
    **{f"bf16_adopted_no_temperature_s{k}": (BF16, {**ADOPTED, "temperature_scaling": False, SEED: k})
       for k in range(3)},
    "bf16_adopted_cost_raw": (BF16, {**ADOPTED, "cost_target": "raw"}),
    "bf16_adopted_select_accuracy": (BF16, {**ADOPTED, "selection": "accuracy"}),
    # the adopted schedule WITH the smearing (mean) correction of the cost: today's config defaults
    "bf16_adopted_smearing": (BF16, {**ADOPTED, "cost_smearing": True}),
    # a larger embedding model
    "mpnet_bs128_lr3e-4": (MPNET, dict(ADOPTED)),
}
# Every variant above was measured before the regressors had their own learning rate: both roles at "lr".
for _folder, _overrides in VARIANTS.values():
    _overrides.setdefault("cost_lr", _overrides["lr"])
# today's config defaults: the adopted schedule with smearing, the regressors at cost_lr 1e-3
# (chosen with benchmarks/bench_cost_lr.py)
VARIANTS["bf16_adopted_smearing_cost_lr1e-3"] = (BF16, {**ADOPTED, "cost_smearing": True, "cost_lr": 1e-3})
# [ref] rows: the results pipeline's prediction folders for training seed 0 (label -> router)
REFS = {"kNN": "knn", "shared s0": "shared", "concur s0 (results)": "concur"}


def _train(args: tuple) -> tuple[str, float]:
    name, data_dir, overrides, work = args
    import torch

    from concur.results_data import dataset_config
    from concur.router_jobs import predict_router, train_router

    torch.set_num_threads(1)
    overrides = dict(overrides)
    seed = int(overrides.pop(SEED, 0))
    cfg = dataset_config(data_dir, seed, work / name / "predictors", work / name / "output", EMB[data_dir], overrides)
    t = time.perf_counter()
    quiet = lambda _m: None  # noqa: E731
    train_router(cfg, "concur", ["all"], log=quiet, progress=False)
    predict_router(cfg, "concur", ["all"], log=quiet, progress=False)
    return name, time.perf_counter() - t


def route_metrics(p: Predictions, prob: np.ndarray, cost: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(AIQ, hull accuracy at the best single's cost minus its accuracy) of the weighted sweep on split p."""
    ch = route_weighted(prob, cost, weights)
    acc, spend = take(p.label, ch).mean(1), take(p.cost, ch).mean(1)
    sa, sc = p.label.mean(0), p.cost.mean(0)
    lo, hi, best = int(np.argmin(sc)), int(np.argmax(sc)), int(np.argmax(sa))
    h = curves.hull(spend, acc, (sc[lo], sa[lo]))
    return curves.aiq(h, sc[lo], sc[hi]), float(h.at(sc[best]) - sa[best])


def quality(p: Predictions, prob: np.ndarray, cost: np.ndarray) -> dict[str, float]:
    S = p.label.shape[1]
    return {"val_logloss": np.mean([metrics.log_loss(p.label[:, j], prob[:, j]) for j in range(S)]),
            "val_auroc": np.mean([metrics.auroc(p.label[:, j], prob[:, j]) for j in range(S)]),
            "val_cost_mae": np.mean(np.abs(cost - p.cost)),
            "val_cost_bias": np.mean(cost.mean(0) / p.cost.mean(0) - 1)}


def row(name: str, val: Predictions, test: Predictions, weights: np.ndarray,
        vp=None, vc=None, tp=None, tc=None) -> dict:
    vp, vc = (val.prob if vp is None else vp), (val.pred_cost if vc is None else vc)
    tp, tc = (test.prob if tp is None else tp), (test.pred_cost if tc is None else tc)
    va, vg = route_metrics(val, vp, vc, weights)
    ta, tg = route_metrics(test, tp, tc, weights)
    return {"variant": name, **quality(val, vp, vc), "val_aiq": va, "val_gain": 100 * vg,
            "test_aiq": ta, "test_gain": 100 * tg}


def blend_weights(v: Predictions, kv: Predictions, grid: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Per strategy, the weight a in {0, 0.1, ..., 1} of concur in a*concur + (1-a)*kNN minimising the
    VALIDATION log-loss (P(correct)) and mean |log(1+cost) error| (cost): a modular blend."""
    alphas = np.linspace(0.0, 1.0, grid)
    S = v.label.shape[1]
    ap, ac = np.empty(S), np.empty(S)
    for j in range(S):
        y, c = v.label[:, j], v.cost[:, j]
        ap[j] = alphas[int(np.argmin([metrics.log_loss(y, a * v.prob[:, j] + (1 - a) * kv.prob[:, j]) for a in alphas]))]
        ac[j] = alphas[int(np.argmin([np.mean(np.abs(np.log1p(a * v.pred_cost[:, j] + (1 - a) * kv.pred_cost[:, j])
                                                       - np.log1p(c))) for a in alphas]))]
    return ap, ac


def reference_routers(folder: Path, out: Path) -> dict[str, Path]:
    """kNN and shared-model (seed 0) pred files for another embedding folder, with the routers' default
    settings as in the results pipeline; saved parts and pred files are reused while current."""
    import torch

    from concur.results_data import dataset_config
    from concur.router_jobs import predict_router, train_router

    dirs = {"kNN": out / "knn", "shared s0": out / "shared_s0"}
    torch.set_num_threads(2)
    quiet = lambda _m: None  # noqa: E731
    for label, router in (("kNN", "knn"), ("shared s0", "shared")):
        cfg = dataset_config(folder, 0, out / "predictors", dirs[label], EMB[folder])
        train_router(cfg, router, ["all"], log=quiet, progress=False)
        predict_router(cfg, router, ["all"], log=quiet, progress=False)
    return dirs


@cli_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--work", type=Path, default=REPO / "results_work/levers")
    ap.add_argument("--refs", type=Path, default=REPO / "results_work/mmlu_pro")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=REPO / "results_work/levers/levers.json",
                    help="also write the table here; results.py puts it into docs/RESULTS.md (default: %(default)s)")
    args = ap.parse_args()
    jobs = [(n, VARIANTS[n][0], VARIANTS[n][1], args.work) for n in args.variants]
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=max(1, args.workers), mp_context=mp.get_context("spawn")) as pool:
        for name, secs in pool.map(_train, jobs):
            print(f"{name}: trained + predicted in {secs:.0f}s", flush=True)

    from concur.data import load_dataset
    from concur.results_data import dataset_config

    first = VARIANTS[args.variants[0]][0]  # every folder holds the same import, hence the same pool
    cfg = dataset_config(first, 0, args.work / "_", args.work / "_", EMB[first])
    strategies = load_dataset(cfg, splits=("train",)).strategies
    weights = weight_grid(size=400)
    rows, loaded = [], {}
    load = lambda d: tuple(load_predictions(d, strategies, s) for s in ("val", "test"))  # noqa: E731
    # kNN and shared-model references per embedding folder: the results pipeline's for BF16,
    # computed here (one seed) for any other folder a selected variant uses
    refs: dict[Path, dict[str, Path]] = {}
    if output_dir(args.refs, 0, "knn").is_dir():
        refs[BF16] = {label: output_dir(args.refs, 0, router) for label, router in REFS.items()}
    for folder in dict.fromkeys(VARIANTS[n][0] for n in args.variants):
        if folder not in (F32, BF16):
            refs[folder] = reference_routers(folder, args.work / f"refs_{folder.name}")
    for folder, subs in refs.items():
        for label, sub in subs.items():
            if sub.is_dir():
                v, t = load(sub)
                rows.append({**row(f"[ref] {label}" + ("" if folder == BF16 else f" ({EMB_LABEL[folder]})"), v, t,
                                   weights), "embeddings": "as in this report" if folder == BF16 else EMB_LABEL[folder]})
    for name in args.variants:
        v, t = load(args.work / name / "output")
        loaded[name] = (v, t)
        rows.append(row(name, v, t, weights))
        folder = VARIANTS[name][0]
        knn_dir = refs.get(folder if folder in refs else BF16, {}).get("kNN")
        if knn_dir is not None and knn_dir.is_dir():  # ensemble: mean of P(correct) and of cost with kNN
            kv, kt = load(knn_dir)
            rows.append(row(f"{name} +kNN", v, t, weights, (v.prob + kv.prob) / 2, (v.pred_cost + kv.pred_cost) / 2,
                            (t.prob + kt.prob) / 2, (t.pred_cost + kt.pred_cost) / 2))
            ap, ac = blend_weights(v, kv)
            rows.append(row(f"{name} +kNN (weight per strategy on val)", v, t, weights,
                            ap * v.prob + (1 - ap) * kv.prob, ac * v.pred_cost + (1 - ac) * kv.pred_cost,
                            ap * t.prob + (1 - ap) * kt.prob, ac * t.pred_cost + (1 - ac) * kt.pred_cost))
        rows.append(row(f"{name} true cost (bound)", v, t, weights, vc=v.cost, tc=t.cost))
    # seed groups (<name>_s<k>): the mean over their seeds
    groups: dict[str, list[dict]] = {}
    for r in rows:
        m = re.fullmatch(r"(.+)_s(\d+)", r["variant"])
        if m:
            groups.setdefault(m.group(1), []).append(r)
    for r in rows:  # a plain <name> variant is seed 0 of <name>_s1, _s2
        if r["variant"] in groups and r["variant"] in VARIANTS:
            groups[r["variant"]].append(r)
    for base, members in groups.items():
        if len(members) > 1:
            mean = {k: float(np.mean([m[k] for m in members])) for k in members[0] if k != "variant"}
            rows.append({"variant": f"{base} (mean of {len(members)} seeds)", **mean})
    res = pd.DataFrame(rows)
    res["embeddings"] = res["embeddings"].fillna("") if "embeddings" in res else ""
    pd.set_option("display.width", 200)
    print("\nMMLU-Pro, one seed; select on val_* columns only (test_* for information)")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    variants = {n: {"embeddings": EMB_LABEL[VARIANTS[n][0]],
                    "settings": {k: v for k, v in VARIANTS[n][1].items() if k != SEED},
                    "seed": int(VARIANTS[n][1].get(SEED, 0))} for n in args.variants}
    # the adopted variant: on the results embeddings, seed 0, every setting at today's config default
    defaults = {k: v[1] for k, v in SCHEMA["predictor"].items()}
    adopted = next((n for n, (f, o) in VARIANTS.items() if f == BF16 and o.get(SEED, 0) == 0
                    and all(defaults[k] == v for k, v in o.items() if k != SEED)), None)
    write_json_atomic(args.json, {"data": "MMLU-Pro import (results_work/mmlu_pro, data/imported/mmlu_pro)",
                                  "adopted": adopted, "show_posthoc": ["mpnet_bs128_lr3e-4"],
                                  "date": time.strftime("%Y-%m-%d %H:%M"), "variants": variants,
                                  "rows": res.to_dict(orient="records")})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
