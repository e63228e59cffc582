"""Results on real data: import, embed, train every router, evaluate them with the same routing code.

Per data set, under `<work_root>/<name>/` (every step reused when current):
  data/                 prepare_data.py's folder (+ task/strategy embeddings)
  concur_s<seed>/       CONCUR predictors and pred files, one folder per training seed
  knn/, shared_s<seed>/, ensemble_s<seed>/   the other routers' pred files
  continual/            the Setting 1 -> Setting 2 protocol (MMLU-Pro)
  results.json          every number the report prints
Operating points are chosen on validation predictions (pred_val_*.csv) only.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import yaml

from . import curves
from .baselines import (SHARED_DEFAULTS, best_single_on_val, load_shared, save_shared, train_shared,
                        write_knn_preds, write_pred_files, write_shared_preds)
from .config import Config, parse_config
from .errors import ConcurError
from .evaluation import take
from .io import read_json, sha256_of_file, write_json_atomic
from .predictors import fingerprint
from .routing import Predictions, load_predictions, route_budget, route_weighted, weight_grid

Log = Callable[[str], None]

DATASETS: dict[str, dict[str, Any]] = {
    "mmlu_pro": {"source": "mmlu-pro", "title": "MMLU-Pro, 10-model pool (Phi-3-mini ... Llama-3.1-70B), cost in FLOPs",
                 "continual": True},
    "routerbench": {"source": "routerbench", "title": "RouterBench (arc_challenge + mbpp + winograde in one data set), "
                                                      "11 models, real USD cost", "continual": True},
    "routellm_mmlu": {"source": "routellm-mmlu", "title": "RouteLLM MMLU, weak/strong pair (Mixtral-8x7B / GPT-4)",
                      "continual": False},
}


RESULTS_PREDICTOR = {"batch_size": 128, "eval_every": 1, "lr": 3e-4}


@dataclass
class Settings:
    work_root: Path
    data_root: Path
    seeds: tuple[int, ...] = (0, 1, 2)
    # bfloat16 with the model's own 256-token limit: truncating to 128 tokens cut MMLU-Pro's 10-option
    # questions and cost 0.014 validation AIQ (benchmarks/bench_predictor_levers.py)
    embedding: dict[str, Any] = field(default_factory=lambda: {"dtype": "bfloat16", "max_seq_length": None})
    n_weights: int = 400
    n_boot: int = 1000
    boot_seed: int = 12345
    n_budgets: int = 5
    workers: int = 2
    # overrides of the predictor section: validation every epoch, batch 128, lr 3e-4 instead of the
    # reference every 3 epochs / 32 / 1e-3. The reference schedule checks validation so rarely that half
    # the classifiers kept their first checkpoint. On MMLU-Pro validation (bfloat16 embeddings, 3 seeds
    # each): reference 0.5095 (one seed), batch 256 0.5230, batch 128 + lr 3e-4 0.5287, lr 1e-4 0.5275
    # (benchmarks/bench_predictor_levers.py)
    predictor: dict[str, Any] = field(default_factory=lambda: dict(RESULTS_PREDICTOR))
    shared: dict[str, Any] = field(default_factory=dict)  # overrides of SHARED_DEFAULTS (tests)
    import_kwargs: dict[str, Any] = field(default_factory=dict)  # extra prepare() kwargs (tests)


# ------------------------------------------------------------------ configs
def dataset_config(data_dir: Path, seed: int, predictor_dir: Path, output_dir: Path, settings: Settings,
                   strategies: list[str] | None = None) -> Config:
    """The import's config.yml with the results pipeline's embedding settings, seed and folders."""
    raw = yaml.safe_load((data_dir / "config.yml").read_text(encoding="utf-8"))
    raw.update(seed=int(seed), predictor_path=str(predictor_dir), output_path=str(output_dir),
               embedding={**raw.get("embedding", {}), **settings.embedding})
    if settings.predictor:
        raw["predictor"] = {**raw.get("predictor", {}), **settings.predictor}
    if strategies is not None:
        raw["strategies"] = list(strategies)
    cfg = parse_config(raw, data_dir.resolve(), source=str(data_dir / "config.yml"))
    cfg["_config_path"] = data_dir / "config.yml"
    return cfg


def _train_and_predict(args: tuple) -> dict[str, Any]:
    """One seed of CONCUR (runs in a worker process): train all strategies, write pred files."""
    data_dir, seed, pdir, odir, settings, strategies = args
    from .predictor_jobs import predict_strategies, train_strategies

    torch.set_num_threads(1)
    cfg = dataset_config(Path(data_dir), seed, Path(pdir), Path(odir), settings, strategies)
    quiet = lambda _msg: None  # noqa: E731
    t0 = time.perf_counter()
    status, _ = train_strategies(cfg, ["all"], log=quiet, progress=False, threads=1)
    t1 = time.perf_counter()
    predict_strategies(cfg, ["all"], log=quiet, progress=False)
    return {"seed": seed, "train_seconds": t1 - t0, "predict_seconds": time.perf_counter() - t1,
            "trained": sorted(k for k, v in status.items() if v == "trained")}


def run_seeds(jobs: list[tuple], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(jobs) == 1:
        return [_train_and_predict(j) for j in jobs]
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(_train_and_predict, jobs))


# ------------------------------------------------------------------ import + embed
def prepare_dataset(name: str, settings: Settings, log: Log) -> tuple[Path, float, str]:
    """Import `name` into <work>/<name>/data unless already there; returns (dir, seconds, what)."""
    from .importers import prepare

    spec = DATASETS[name]
    data_dir = settings.work_root / name / "data"
    info = data_dir / "import_info.json"
    if info.is_file() and (data_dir / "config.yml").is_file():
        return data_dir, 0.0, "reused"
    t = time.perf_counter()
    prepare(spec["source"], data_dir, force=True, seed=0, input_path=str(settings.data_root), **settings.import_kwargs)
    log(f"[{name}] imported into {data_dir}")
    return data_dir, time.perf_counter() - t, "imported"


def embed_dataset(cfg: Config, log: Log) -> tuple[float, dict[str, str]]:
    from .data import load_strategies, load_tasks
    from .embeddings import embed_all

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t = time.perf_counter()
    status = embed_all(cfg, load_tasks(cfg.task_path), load_strategies(cfg.strategy_path), progress=False, log=log)
    return time.perf_counter() - t, status


# ------------------------------------------------------------------ evaluation helpers
@dataclass
class Router:
    name: str  # e.g. "concur"
    outputs: list[Path]  # one output folder per seed (pred files)


def sweep(preds: Predictions, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-task realised (accuracy, cost) matrices (W, n) of the weighted router at every weight."""
    ch = route_weighted(preds.prob, preds.pred_cost, weights)
    return take(preds.label, ch), take(preds.cost, ch)


def hull_metrics(acc_pts: np.ndarray, cost_pts: np.ndarray, anchor: tuple[float, float], c_min: float, c_max: float,
                 ref_cost: float, ref_acc: float) -> dict[str, float]:
    h = curves.hull(cost_pts, acc_pts, anchor)
    at = float(h.at(ref_cost))
    return {"aiq": curves.aiq(h, c_min, c_max), "acc_at_ref_cost": at, "gain_at_ref_cost": at - ref_acc,
            "cost_at_ref_acc": h.cost_at(ref_acc)}


def evaluate_curves(routers: list[Router], test_sets: dict[str, list[Predictions]], val_sets: dict[str, list[Predictions]],
                    weights: np.ndarray, n_boot: int, boot_seed: int) -> dict[str, Any]:
    """Hull metrics (point + bootstrap CI over test tasks, seed-mean), val-chosen operating points."""
    first = next(iter(test_sets.values()))[0]
    first_val = next(iter(val_sets.values()))[0]
    n = first.label.shape[0]
    counts = curves.bootstrap_counts(n, n_boot, boot_seed)
    single_acc, single_cost = first.label.mean(0), first.cost.mean(0)
    b_acc, b_cost = curves.resampled_means(first.label.T, counts), curves.resampled_means(first.cost.T, counts)  # (B, S)
    lo_j, hi_j = int(np.argmin(single_cost)), int(np.argmax(single_cost))
    best = best_single_on_val(first_val.label, first_val.cost)

    def metrics_of(acc_w: np.ndarray, cost_w: np.ndarray) -> tuple[dict, dict]:
        """Point metrics and per-resample metrics for (W, n) per-task matrices (or (S, n) for singles)."""
        point = hull_metrics(acc_w.mean(1), cost_w.mean(1), (single_cost[lo_j], single_acc[lo_j]), single_cost[lo_j],
                             single_cost[hi_j], single_cost[best], single_acc[best])
        ra, rc = curves.resampled_means(acc_w, counts), curves.resampled_means(cost_w, counts)  # (B, W)
        boots = [hull_metrics(ra[b], rc[b], (b_cost[b, lo_j], b_acc[b, lo_j]), b_cost[b, lo_j], b_cost[b, hi_j],
                              b_cost[b, best], b_acc[b, best]) for b in range(n_boot)]
        return point, {k: np.array([d[k] for d in boots]) for k in point}

    out: dict[str, Any] = {"n_test": n, "strategies": first.strategies, "best_single": first.strategies[best],
                           "cheapest_single": first.strategies[lo_j], "dearest_single": first.strategies[hi_j],
                           "c_min": float(single_cost[lo_j]), "c_max": float(single_cost[hi_j]),
                           "singles": [{"name": s, "accuracy": float(single_acc[j]), "cost": float(single_cost[j]),
                                        "val_accuracy": float(np.nanmean(first_val.label[:, j]))}
                                       for j, s in enumerate(first.strategies)],
                           "routers": {}, "curves": {}}
    singles_point, singles_boot = metrics_of(first.label.T, first.cost.T)
    oracle_choice_w = route_weighted(first.label, first.cost, weights)
    oracle_acc, oracle_cost = take(first.label, oracle_choice_w), take(first.cost, oracle_choice_w)
    ceil_point, ceil_boot = metrics_of(oracle_acc, oracle_cost)
    # the oracle itself (cheapest correct) and random, as reference rows
    from .evaluation import oracle_choice

    och = oracle_choice(first.label, first.cost)
    out["oracle"] = {"accuracy": float(take(first.label, och).mean()), "cost": float(take(first.cost, och).mean())}
    out["random"] = {"accuracy": float(first.label.mean()), "cost": float(first.cost.mean())}
    ref = {"singles hull": (singles_point, singles_boot, first.cost.mean(0), first.label.mean(0)),
           "oracle-probability ceiling": (ceil_point, ceil_boot, oracle_cost.mean(1), oracle_acc.mean(1))}
    for name, (pt, bt, cpts, apts) in ref.items():
        out["routers"][name] = _summ(pt, bt, 1)
        out["curves"][name] = _curve(cpts, apts, (single_cost[lo_j], single_acc[lo_j]))
    boot_aiq: dict[str, np.ndarray] = {}
    for r in routers:
        per_seed_pt, per_seed_bt, ops = [], [], []
        for k, (test, val) in enumerate(zip(test_sets[r.name], val_sets[r.name])):
            acc_w, cost_w = sweep(test, weights)
            pt, bt = metrics_of(acc_w, cost_w)
            per_seed_pt.append(pt)
            per_seed_bt.append(bt)
            if k == 0:
                out["curves"][r.name] = _curve(cost_w.mean(1), acc_w.mean(1), (single_cost[lo_j], single_acc[lo_j]))
            # operating point on validation: the weight with the best validation accuracy whose validation
            # spend stays within the best single strategy's validation spend
            va, vc = sweep(val, weights)
            va, vc = va.mean(1), vc.mean(1)
            cap = float(np.nanmean(val.cost[:, best]))
            ok = np.flatnonzero(vc <= cap + 1e-9)
            w = int(ok[np.argmax(va[ok])]) if ok.size else int(np.argmin(vc))
            ra, rc = curves.resampled_means(acc_w[w], counts), curves.resampled_means(cost_w[w], counts)
            ops.append({"weight": float(weights[w]), "val_accuracy": float(va[w]), "val_cost": float(vc[w]),
                        "accuracy": float(acc_w[w].mean()), "cost": float(cost_w[w].mean()),
                        "boot_gain": ra - b_acc[:, best], "boot_acc": ra, "boot_cost": rc})
        pt = {k: float(np.mean([p[k] for p in per_seed_pt])) for k in per_seed_pt[0]}
        # seed mean inside each resample (NaN where a seed's hull never reaches the reference accuracy)
        bt = {k: np.mean(np.stack([b[k] for b in per_seed_bt]), axis=0) for k in per_seed_bt[0]}
        summ = _summ(pt, bt, len(per_seed_pt))
        boot_aiq[r.name] = bt["aiq"]
        summ["per_seed"] = per_seed_pt
        summ["gap_recovered"] = curves.gap_recovered(pt["aiq"], singles_point["aiq"], ceil_point["aiq"])
        boot_gap = (bt["aiq"] - singles_boot["aiq"]) / (ceil_boot["aiq"] - singles_boot["aiq"])
        summ["gap_recovered_ci"] = curves.interval(boot_gap)
        op_gain = np.mean([o["boot_gain"] for o in ops], axis=0)
        summ["operating_point"] = {
            "weights": [o["weight"] for o in ops],
            "accuracy": float(np.mean([o["accuracy"] for o in ops])),
            "accuracy_ci": curves.interval(np.mean([o["boot_acc"] for o in ops], axis=0)),
            "cost": float(np.mean([o["cost"] for o in ops])),
            "cost_ci": curves.interval(np.mean([o["boot_cost"] for o in ops], axis=0)),
            "gain_vs_best_single": float(np.mean([o["accuracy"] for o in ops]) - single_acc[best]),
            "gain_ci": curves.interval(op_gain),
            "val_accuracy": float(np.mean([o["val_accuracy"] for o in ops])),
            "val_cost": float(np.mean([o["val_cost"] for o in ops])),
        }
        out["routers"][r.name] = summ
    # paired differences with kNN: every router is resampled on the same test tasks (one `counts`)
    if "kNN" in boot_aiq:
        for name, b in boot_aiq.items():
            if name != "kNN":
                out["routers"][name]["aiq_minus_knn"] = out["routers"][name]["aiq"] - out["routers"]["kNN"]["aiq"]
                out["routers"][name]["aiq_minus_knn_ci"] = curves.interval(b - boot_aiq["kNN"])
    return out


def _summ(pt: dict, bt: dict, n_seeds: int) -> dict[str, Any]:
    return {**pt, **{f"{k}_ci": curves.interval(v) for k, v in bt.items()}, "n_seeds": n_seeds}


def _curve(cost_pts, acc_pts, anchor) -> dict[str, list[float]]:
    h = curves.hull(cost_pts, acc_pts, anchor)
    pts = sorted(set(zip(np.round(np.asarray(cost_pts, float), 6), np.round(np.asarray(acc_pts, float), 6))))
    return {"hull_cost": h.cost.tolist(), "hull_acc": h.acc.tolist(), "points": [list(p) for p in pts]}


def weak_strong(routers: list[Router], test_sets: dict[str, list[Predictions]]) -> dict[str, Any]:
    """Two-model metrics (RouteLLM's APGR/CPT, RouterXBench's LPM/MPM/HCR/AUROC; seed means), see
    concur/two_model_metrics.py for the definitions."""
    from . import two_model_metrics as tm

    first = next(iter(test_sets.values()))[0]
    mean_cost = first.cost.mean(0)
    w, s = int(np.argmin(mean_cost)), int(np.argmax(mean_cost))
    out = {"weak": first.strategies[w], "strong": first.strategies[s], "n_tasks": int(first.n_tasks),
           "acc_weak": float(first.label[:, w].mean()), "acc_strong": float(first.label[:, s].mean()),
           "routellm_bins": tm.ROUTELLM_BINS, "recovery_band": list(tm.RECOVERY_BAND), "lpm_band": list(tm.LPM_BAND),
           "routers": {}}
    for r in routers:
        ms = [tm.weak_strong_metrics(p.prob[:, w], p.prob[:, s], p.pred_cost[:, w], p.pred_cost[:, s],
                                     p.label[:, w], p.label[:, s]) for p in test_sets[r.name]]
        out["routers"][r.name] = {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}
    # the oracle ordering as a ceiling: escalate first the tasks only the strong model gets right, last those
    # only the weak one gets right; its 'weak is right' score y_weak - y_strong / 2 ranks them the same way
    yw, ys = first.label[:, w], first.label[:, s]
    out["routers"]["oracle ordering"] = tm.weak_strong_metrics(yw, ys, first.cost[:, w], first.cost[:, s], yw, ys,
                                                               weak_right_score=yw - ys / 2)
    return out


def budgets_table(routers: list[Router], test_sets: dict[str, list[Predictions]], train_costs: np.ndarray,
                  n_budgets: int) -> dict[str, Any]:
    """Global vs local budgeted routing at budgets spaced geometrically between the cheapest and the
    dearest single strategy's mean TRAINING cost (no test information), over every seed of each router:
    accuracy and spend are seed means, with the seed range and how many seeds overspent in reality."""
    lo, hi = float(np.min(train_costs)), float(np.max(train_costs))
    budgets = np.geomspace(lo, hi, n_budgets + 2)[1:-1]
    rows = []
    for r in routers:
        for mode in ("global", "local"):
            for b in budgets:
                runs, errors = [], []
                for p in test_sets[r.name]:
                    try:
                        res = route_budget(p.prob, p.pred_cost, float(b), mode, 1, "auto", 20.0, 20000)
                    except ConcurError as err:  # infeasible on predicted cost
                        errors.append(str(err))
                        continue
                    runs.append({"accuracy": float(take(p.label, res.choice).mean()),
                                 "realised_cost": float(take(p.cost, res.choice).mean()),
                                 "predicted_cost": float(take(p.pred_cost, res.choice).mean()),
                                 "predicted_accuracy": float(take(p.prob, res.choice).mean()), "solver": res.solver})
                if not runs:
                    rows.append({"router": r.name, "mode": mode, "budget": float(b), "error": errors[0]})
                    continue
                acc = [x["accuracy"] for x in runs]
                rows.append({"router": r.name, "mode": mode, "budget": float(b), "n_seeds": len(runs),
                             "n_infeasible": len(errors),
                             **{k: float(np.mean([x[k] for x in runs]))
                                for k in ("accuracy", "realised_cost", "predicted_cost", "predicted_accuracy")},
                             "accuracy_range": [min(acc), max(acc)],
                             "seeds_over_budget": sum(x["realised_cost"] > b for x in runs),
                             "solver": ",".join(sorted({x["solver"] for x in runs}))})
    return {"budgets": budgets.tolist(), "rows": rows}


# ------------------------------------------------------------------ continual protocol
def _hashes(paths: list[Path]) -> dict[str, str]:
    return {p.name: sha256_of_file(p) for p in paths}


def continual(name: str, data_dir: Path, settings: Settings, main_seed_dir: Path, inp, log: Log) -> dict[str, Any]:
    """Setting 1: the large (dearest) half of the pool; Setting 2: add the small half.

    CONCUR trains only the new strategies' predictors; the shared model retrains from scratch on all.
    Setting-1 CONCUR predictors are the first seed's predictors of the large strategies (a strategy's
    predictor depends only on its own rows and the (seed, name) seed, so training them again in
    Setting 1 gives the same files; `predictor_jobs.train_strategies` confirms they are current).
    """
    from .predictor_jobs import predict_strategies, predictor_files, prediction_file, train_strategies

    root = settings.work_root / name / "continual"
    cache = root / "continual.json"
    seed = settings.seeds[0]
    pool = list(inp.ds.strategies)
    mean_cost = np.nanmean(inp.ds.train.cost, axis=0)
    order = np.argsort(-mean_cost, kind="stable")
    large = sorted((pool[j] for j in order[:len(pool) // 2]), key=pool.index)
    small = [s for s in pool if s not in large]
    key = hashlib.sha256(json.dumps({"pool": pool, "large": large, "settings": str(settings.embedding),
                                     "pred": settings.predictor, "shared": settings.shared,
                                     "main": _hashes(sorted(main_seed_dir.joinpath("predictors").glob("*")))},
                                    sort_keys=True).encode()).hexdigest()
    if cache.is_file():
        old = read_json(cache)
        if old.get("key") == key:
            log(f"[{name}] continual protocol: reused {cache}")
            return old
    if root.exists():
        shutil.rmtree(root)
    pdir, odir = root / "predictors", root / "output"
    pdir.mkdir(parents=True)
    for s in large:  # Setting 1 predictors (see docstring)
        for p in predictor_files(dataset_config(data_dir, seed, main_seed_dir / "predictors", odir, settings), s).values():
            shutil.copy2(p, pdir / p.name)
    quiet = lambda _m: None  # noqa: E731
    cfg1 = dataset_config(data_dir, seed, pdir, odir, settings, large)
    st1, _ = train_strategies(cfg1, ["all"], log=quiet, progress=False, threads=1)
    predict_strategies(cfg1, ["all"], log=quiet, progress=False)
    files1 = [f for s in large for f in predictor_files(cfg1, s).values()]
    files1 += [prediction_file(cfg1, s, sp) for s in large for sp in ("test", "val")]
    before = _hashes(files1)
    # Setting 2: CONCUR trains only the new strategies
    cfg2 = dataset_config(data_dir, seed, pdir, odir, settings, pool)
    t = time.perf_counter()
    st2, _ = train_strategies(cfg2, ["all"], log=quiet, progress=False, threads=1)
    concur_seconds = time.perf_counter() - t
    predict_strategies(cfg2, ["all"], log=quiet, progress=False)
    after = _hashes(files1)
    # the shared model: from scratch on all strategies (same thread count)
    shared = train_shared(inp.task_emb, inp.strat_emb, inp.ds.train, inp.ds.val, seed, settings.shared)
    sdir = root / "shared_output"
    write_shared_preds(sdir, shared, inp.task_emb, inp.strat_emb, {"test": inp.ds.test, "val": inp.ds.val})
    result = {"key": key, "large": large, "small": small,
              "setting1_status": st1, "setting2_trained": sorted(k for k, v in st2.items() if v == "trained"),
              "setting2_skipped": sorted(k for k, v in st2.items() if v == "up to date"),
              "concur_update_seconds": concur_seconds, "shared_retrain_seconds": shared.train_seconds,
              "ratio_shared_over_concur": shared.train_seconds / max(concur_seconds, 1e-9),
              "byte_identical": before == after, "n_files_checked": len(before),
              "identical_to_main_run": all(before.get(p.name) == sha256_of_file(p)
                                           for p in sorted((main_seed_dir / "predictors").glob("*.pt"))
                                           if p.name in before),
              "outputs": {"concur": str(odir), "shared": str(sdir)}}
    write_json_atomic(cache, result)
    return result


# ------------------------------------------------------------------ one data set
def run_dataset(name: str, settings: Settings, log: Log = print) -> dict[str, Any]:
    from .predictor_jobs import load_inputs

    timings: dict[str, float] = {}
    settings.work_root = Path(settings.work_root).resolve()  # configs resolve relative paths against data/
    work = settings.work_root / name
    data_dir, timings["import"], import_status = prepare_dataset(name, settings, log)
    seed_dirs = {k: work / f"concur_s{k}" for k in settings.seeds}
    cfg0 = dataset_config(data_dir, settings.seeds[0], seed_dirs[settings.seeds[0]] / "predictors",
                          seed_dirs[settings.seeds[0]] / "output", settings)
    timings["embed"], emb_status = embed_dataset(cfg0, log)
    log(f"[{name}] embeddings: {emb_status} ({timings['embed']:.1f}s)")

    t = time.perf_counter()
    jobs = [(str(data_dir), k, str(d / "predictors"), str(d / "output"), settings, None) for k, d in seed_dirs.items()]
    seed_runs = run_seeds(jobs, settings.workers)
    timings["concur_train_predict"] = time.perf_counter() - t
    log(f"[{name}] concur: {len(seed_runs)} seeds trained/predicted ({timings['concur_train_predict']:.1f}s wall)")

    torch.set_num_threads(1)
    inp = load_inputs(cfg0, ("train", "val", "test"))
    ds = inp.ds
    t = time.perf_counter()
    knn_dir = work / "knn"
    ks = write_knn_preds(knn_dir, inp.task_emb, ds.train, ds.val, {"val": ds.val, "test": ds.test},
                         list(cfg0.predictor.knn_k))
    timings["knn"] = time.perf_counter() - t

    t = time.perf_counter()
    shared_runs = []
    shared_settings = {**SHARED_DEFAULTS, **settings.shared}
    data_fp = {f: sha256_of_file(Path(cfg0[f])) for f in ("train_data_path", "val_data_path", "task_emb_path",
                                                            "strategy_emb_path")}
    for k in settings.seeds:
        sdir = work / f"shared_s{k}"
        fp = fingerprint({"seed": k, "settings": shared_settings, "data": data_fp, "pool": ds.strategies,
                                 "format": 1})
        model = load_shared(sdir / "shared_model.pt", fp, inp.task_emb.shape[1], int(shared_settings["hidden_dim"]))
        fresh = model is None
        if fresh:
            model = train_shared(inp.task_emb, inp.strat_emb, ds.train, ds.val, k, settings.shared)
            save_shared(sdir / "shared_model.pt", model, fp)
        write_shared_preds(sdir / "output", model, inp.task_emb, inp.strat_emb, {"val": ds.val, "test": ds.test})
        shared_runs.append({"seed": k, "train_seconds": model.train_seconds, "best_epoch": model.best_epoch,
                            "temperature": model.temperature, "fresh": fresh})
    timings["shared"] = time.perf_counter() - t

    # pred files of every router, read back with the routing module (the same code for all)
    routers = [Router("concur", [d / "output" for d in seed_dirs.values()]), Router("kNN", [knn_dir]),
               Router("shared model", [work / f"shared_s{k}" / "output" for k in settings.seeds])]
    test_sets = {r.name: [load_predictions(o, ds.strategies, "test") for o in r.outputs] for r in routers}
    val_sets = {r.name: [load_predictions(o, ds.strategies, "val") for o in r.outputs] for r in routers}
    # lever: ensemble of CONCUR (each seed) with kNN, averaging P(correct) and cost
    ens = Router("concur+kNN ensemble", [work / f"ensemble_s{k}" for k in settings.seeds])
    for k, (ct, cv) in enumerate(zip(test_sets["concur"], val_sets["concur"])):
        for split_name, c, kn in (("test", ct, test_sets["kNN"][0]), ("val", cv, val_sets["kNN"][0])):
            sp = ds.splits[split_name]
            idx = pd.Index(c.question_ids).get_indexer(sp.question_ids)
            write_pred_files(ens.outputs[k], split_name, sp, (c.prob[idx] + kn.prob[idx]) / 2,
                             (c.pred_cost[idx] + kn.pred_cost[idx]) / 2)
    routers.append(ens)
    test_sets[ens.name] = [load_predictions(o, ds.strategies, "test") for o in ens.outputs]
    val_sets[ens.name] = [load_predictions(o, ds.strategies, "val") for o in ens.outputs]

    t = time.perf_counter()
    weights = weight_grid(size=settings.n_weights)
    res: dict[str, Any] = {"name": name, "title": DATASETS[name]["title"], "cost_unit": cfg0.cost_unit,
                           "import_info": read_json(data_dir / "import_info.json"), "import_status": import_status,
                           "embedding_status": emb_status, "seeds": list(settings.seeds), "seed_runs": seed_runs,
                           "shared_runs": shared_runs, "knn_k": {s: list(v) for s, v in ks.items()},
                           "n_weights": len(weights), "n_boot": settings.n_boot,
                           "split_sizes": {s: int(len(ds.splits[s].question_ids)) for s in ("train", "val", "test")}}
    res["curves"] = evaluate_curves(routers, test_sets, val_sets, weights, settings.n_boot, settings.boot_seed)
    if len(ds.strategies) == 2:
        res["weak_strong"] = weak_strong(routers, test_sets)
    res["budgets"] = budgets_table(routers[:3], test_sets, np.nanmean(ds.train.cost, axis=0), settings.n_budgets)
    timings["evaluate"] = time.perf_counter() - t
    if DATASETS[name].get("continual"):
        t = time.perf_counter()
        cont = continual(name, data_dir, settings, seed_dirs[settings.seeds[0]], inp, log)
        cpool = list(ds.strategies)
        cres = {}
        for label, out_dir in (("concur", cont["outputs"]["concur"]), ("shared model", cont["outputs"]["shared"])):
            cres[label] = {"test": [load_predictions(out_dir, cpool, "test")], "val": [load_predictions(out_dir, cpool, "val")]}
        crouters = [Router(k, []) for k in cres]
        ccurves = evaluate_curves(crouters, {k: v["test"] for k, v in cres.items()}, {k: v["val"] for k, v in cres.items()},
                                  weights, min(settings.n_boot, 200), settings.boot_seed)
        cont = {**cont, "setting2": {k: {m: ccurves["routers"][k][m] for m in ("aiq", "aiq_ci", "operating_point")}
                                     for k in cres}}
        res["continual"] = cont
        timings["continual"] = time.perf_counter() - t
    res["timings"] = timings
    write_json_atomic(work / "results.json", _jsonable(res))
    return _jsonable(res)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj
