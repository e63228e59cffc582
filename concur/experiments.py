"""Results on real data, one data set end to end: import, embed, run every router, evaluate.

Under `<work_root>/<name>/` (every step reused when current):
  data/                  prepare_data.py's folder (+ task/strategy embeddings)   concur/results_data.py
  seed<k>/predictors/    every router's saved parts for training seed k           concur/results_routers.py
  seed<k>/output/<r>/    router r's prediction files
  continual/             the Setting 1 -> Setting 2 protocol                       concur/continual.py
  results.json           every number the report prints                           concur/results_stats.py
Operating points and internal budgets are chosen on validation predictions (pred_val_*.csv) only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .continual import run_continual
from .data import load_dataset
from .io import read_json, write_json_atomic
from .results_data import DATASETS, OOD, derive_ood, embed_dataset, prepare_dataset
from .results_routers import VARIANTS, job_config, run_routers
from .results_stats import budget_levels, budgets_table, evaluate_curves, matched_spend, weak_strong
from .routers import REGISTRY, router_class
from .pred_files import load_predictions
from .routing import weight_grid

Log = Callable[[str], None]

__all__ = ["DATASETS", "Settings", "run_dataset"]


def _default_routers() -> list[str]:
    return list(REGISTRY)


@dataclass
class Settings:
    work_root: Path
    data_root: Path
    seeds: tuple[int, ...] = (0, 1, 2)
    # bfloat16 with the model's own 256-token limit: truncating to 128 tokens cut MMLU-Pro's 10-option
    # questions and cost 0.014 validation AIQ (benchmarks/bench_predictor_levers.py)
    embedding: dict[str, Any] = field(default_factory=lambda: {"dtype": "auto", "max_seq_length": None})
    n_weights: int = 400
    n_boot: int = 1000
    boot_seed: int = 12345
    n_budgets: int = 5
    workers: int = 2
    routers: list[str] = field(default_factory=_default_routers)  # registered routers to run, in report order
    budget_routers: tuple[str, ...] = ("concur", "knn", "shared", "ensemble")
    # the paper's baselines train one network over the whole pool; on this 2-core CPU three seeds of
    # them would add about 20 minutes, so they run with the first seed (intervals are still over test tasks)
    single_seed: tuple[str, ...] = ("routellm-mf", "embedllm", "rtr")
    continual_routers: list[str] | None = None  # None: every non-composite router that runs
    predictor: dict[str, Any] = field(default_factory=dict)  # overrides of the predictor section (CONCUR)
    # overrides of routers.<name>. RTR at its paper sizes (hidden 768, learned embeddings 768, validation every 3
    # epochs, patience 5) took 96 s an epoch on MMLU-Pro on one CPU thread and did not stop within 30 minutes;
    # the pipeline trains it at hidden 256, embeddings 64, batch 512, validation every epoch, patience 4
    router_settings: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "rtr": {"hidden_dim": 256, "emb_dim": 64, "batch_size": 512, "eval_every": 1, "patience": 4}})
    import_kwargs: dict[str, Any] = field(default_factory=dict)  # extra prepare() kwargs (tests)
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))  # settings variants (first seed)
    # the out-of-distribution data sets (first seed; no budgets, continual or variants)
    ood_routers: tuple[str, ...] = ("concur", "knn", "shared", "ensemble", "routellm-mf", "embedllm", "rtr", "cascal")

    def overrides(self) -> dict[str, Any]:
        return {"embedding": dict(self.embedding), "predictor": dict(self.predictor),
                "routers": {k: dict(v) for k, v in self.router_settings.items()}}


def run_dataset(name: str, settings: Settings, log: Log = print, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    ood = name in OOD and spec is None
    spec = spec or (OOD[name] if ood else DATASETS[name])
    timings: dict[str, float] = {}
    settings.work_root = Path(settings.work_root).resolve()  # configs resolve relative paths against data/
    work = settings.work_root / name
    overrides = settings.overrides()
    t = time.perf_counter()
    if ood:
        data_dir, import_status = derive_ood(name, settings.work_root, log)
    else:
        data_dir, _, import_status = prepare_dataset(name, settings.work_root, settings.data_root,
                                                     settings.import_kwargs, log, spec)
    timings["import"] = time.perf_counter() - t
    cfg0 = job_config(data_dir, work, settings.seeds[0], "concur", overrides)
    timings["embed"], emb_status = embed_dataset(cfg0, log)
    log(f"[{name}] embeddings: {emb_status} ({timings['embed']:.1f}s)")

    t = time.perf_counter()
    names = [n for n in settings.routers if not ood or n in settings.ood_routers]
    if cfg0.train_answers_path is None:  # routers that read the models' answers need the answers files
        skipped = [n for n in names if getattr(router_class(n), "needs_answers", False)]
        if skipped:
            log(f"[{name}] skipping {', '.join(skipped)}: the data set has no answers files")
        names = [n for n in names if n not in skipped]
    seeds = (settings.seeds[0],) if ood else settings.seeds
    runs = run_routers(names, data_dir, work, seeds, overrides, settings.workers, settings.single_seed,
                       [] if ood else [v for v in settings.variants if VARIANTS[v][0] in names
                                       and (cfg0.train_answers_path is not None
                                            or VARIANTS[v][1].get("labels") != "consensus")])
    timings["routers"] = time.perf_counter() - t
    for r in runs.values():
        trained = [j for j in r.jobs if j["trained"]]
        log(f"[{name}] {r.name}: {len(trained)} of {len(r.jobs)} seed runs trained")

    torch.set_num_threads(1)
    ds = load_dataset(cfg0)
    pool = ds.strategies
    test_sets = {n: [load_predictions(o, pool, "test") for o in r.outputs] for n, r in runs.items()}
    val_sets = {n: [load_predictions(o, pool, "val") for o in r.outputs] for n, r in runs.items()}
    t = time.perf_counter()
    weights = weight_grid(size=settings.n_weights)
    res: dict[str, Any] = {"name": name, "title": spec["title"], "cost_unit": cfg0.cost_unit,
                           "import_info": read_json(data_dir / "import_info.json"), "import_status": import_status,
                           "embedding_status": emb_status, "seeds": list(seeds), "ood": ood,
                           "routers": {n: {"seeds": r.seeds, "jobs": r.jobs, "base": _base(n),
                                           "modular": router_class(_base(n)).modular,
                                           "summary": router_class(_base(n)).summary} for n, r in runs.items()},
                           "n_weights": len(weights), "n_boot": settings.n_boot,
                           "split_sizes": {s: int(len(ds.splits[s].question_ids)) for s in ("train", "val", "test")}}
    res["curves"] = evaluate_curves(list(runs), test_sets, val_sets, weights, settings.n_boot, settings.boot_seed)
    if len(pool) == 2:
        res["weak_strong"] = weak_strong(list(runs), test_sets)
    if ood:
        timings["evaluate"] = time.perf_counter() - t
        _cascades(name, cfg0, ds, test_sets, val_sets, settings, res, timings, log)
        res["timings"] = timings
        res = _jsonable(res)
        write_json_atomic(work / "results.json", res)
        return res
    train_cost = np.nanmean(ds.train.cost, axis=0)
    levels = budget_levels(train_cost, settings.n_budgets)
    budget_names = [n for n in settings.budget_routers if n in runs]
    res["budgets"] = budgets_table(budget_names, test_sets, val_sets, levels)
    if "concur" in runs:
        res["matched_spend"] = matched_spend("concur", test_sets["concur"], val_sets["concur"], levels,
                                             settings.n_boot, settings.boot_seed)
    res["cost_bias"] = {n: cost_bias(job_config(data_dir, work, settings.seeds[0], n, overrides), n, pool)
                        for n in ("concur", "shared") if n in runs}
    timings["evaluate"] = time.perf_counter() - t
    _cascades(name, cfg0, ds, test_sets, val_sets, settings, res, timings, log)
    names = settings.continual_routers
    if names is None:
        names = [n for n in runs if n in REGISTRY and not getattr(router_class(n), "composite", False)]
    if spec.get("continual") and names:
        t = time.perf_counter()
        cont = run_continual(data_dir, work, settings.seeds[0], pool, train_cost, names, overrides, log)
        outs = {n: Path(r["output"]) for n, r in cont["routers"].items()}
        ctest = {n: [load_predictions(o, pool, "test")] for n, o in outs.items()}
        cval = {n: [load_predictions(o, pool, "val")] for n, o in outs.items()}
        ccurves = evaluate_curves(list(outs), ctest, cval, weights, min(settings.n_boot, 200), settings.boot_seed)
        res["continual"] = {**cont, "setting2": {n: {m: ccurves["routers"][n][m] for m in ("aiq", "aiq_ci",
                                                                                           "operating_point")}
                                                 for n in outs}}
        timings["continual"] = time.perf_counter() - t
    res["timings"] = timings
    res = _jsonable(res)
    write_json_atomic(work / "results.json", res)
    return res


CASCADE_KEYS = ("cascade routing", "routed cascade", "cascade", "agreement cascade + singles")


def _cascades(name: str, cfg0, ds, test_sets: dict[str, list], val_sets: dict[str, list], settings: Settings,
              res: dict[str, Any], timings: dict[str, float], log: Log) -> None:
    """Routing on the models' answers (cascades vs the question-only routers' seed-0 predictions) into
    res["cascades"], where the data set has answers files."""
    if cfg0.train_answers_path is None:
        return
    from .cascade_results import evaluate_dataset

    t = time.perf_counter()
    res["cascades"] = evaluate_dataset(cfg0, ds, {n: s[0] for n, s in test_sets.items()},
                                       {n: s[0] for n, s in val_sets.items()},
                                       min(settings.n_boot, 500), settings.boot_seed)
    timings["cascades"] = time.perf_counter() - t
    log(f"[{name}] cascades ({timings['cascades']:.0f}s): " +
        ", ".join(f"{k} {v:.4f}" for k, v in res["cascades"]["aiq"].items() if k in CASCADE_KEYS))


def _base(label: str) -> str:
    """The registered router behind a run label (itself, or a settings variant's router)."""
    return VARIANTS[label][0] if label in VARIANTS else label


def cost_bias(cfg, name: str, pool: list[str]) -> list[dict[str, Any]]:
    """Per strategy, the total relative bias sum(predicted) / sum(realised) - 1 of a router's cost (first seed) on
    validation and test, after its mean correction and before it (the back-transformed median)."""
    from .diagnostics import diagnostics
    from .inputs import load_inputs
    from .router_jobs import load_router_for

    inp = load_inputs(cfg, ("train", "val"))
    table = diagnostics(cfg, inp, load_router_for(cfg, name, inp), pool, log=lambda _m: None, peer=False)
    return table[["strategy", "split", "n", "cost_bias", "cost_bias_uncorrected"]].to_dict("records")


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
