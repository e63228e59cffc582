"""What `predictor.py` does: train, skip or retrain each strategy's predictors; predict; diagnose.

Every strategy is handled on its own: its seed comes from (global seed, strategy name), its
fingerprint covers only its own rows and embedding vectors, and its files are written only when
that fingerprint (or --force) says so. Adding a strategy therefore leaves the others' predictor
and prediction files byte-identical.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from . import metrics
from .config import Config
from .data import Dataset, SplitOutcomes, load_dataset, pred_table, prediction_path, split_strategy
from .embeddings import load_strategy_embeddings, load_task_embeddings
from .errors import ConcurError
from .features import with_task_features
from .io import read_json, save_torch_atomic, sha256_of_file, write_csv_atomic, write_json_atomic
from .knn import fit_knn
from .predictors import (FORMAT_VERSION, CostScaling, accuracy_classifier, cost_regressor, fingerprint,
                         model_config, rows_hash, strategy_seed, tensor_hash)
from .training import StrategyData, fit_strategy, predict_outputs, resolve_device

Log = Callable[[str], None]


# ------------------------------------------------------------------ paths and inputs
def predictor_files(config: Config, strategy: str) -> dict[str, Path]:
    root = Path(config.predictor_path)
    return {"cls": root / f"accuracy_cls_{strategy}.pt", "reg": root / f"cost_reg_{strategy}.pt",
            "json": root / f"{strategy}.json"}


def prediction_file(config: Config, strategy: str, split: str) -> Path:
    return prediction_path(config.output_path, strategy, split)


@dataclass
class Inputs:
    ds: Dataset
    task_emb: torch.Tensor
    strat_emb: dict[str, dict[str, torch.Tensor]]
    emb_model: str


def load_inputs(config: Config, splits: tuple[str, ...]) -> Inputs:
    ds = load_dataset(config, splits=splits)
    task_emb, meta = load_task_embeddings(config, ds.tasks)
    strat_emb, smeta = load_strategy_embeddings(config, ds.catalog)
    if meta.get("model") != smeta.get("model") or task_emb.shape[1] != next(iter(strat_emb["model"].values())).shape[0]:
        raise ConcurError(f"{config.task_emb_path} and {config.strategy_emb_path}: made by different embedding models "
                          f"({meta.get('model')} vs {smeta.get('model')}); run `python embed_dataset.py --force`")
    if config.predictor.task_features:
        task_emb, strat_emb = with_task_features(task_emb, strat_emb, ds.tasks, config.predictor.task_features)
    return Inputs(ds, task_emb, strat_emb, str(meta.get("model")))


def resolve_strategies(requested: list[str], pool: list[str]) -> list[str]:
    """'all' -> the pool; otherwise every name must be in the pool (pool order kept for 'all')."""
    if requested == ["all"]:
        return list(pool)
    unknown = [s for s in requested if s not in pool]
    if unknown:
        raise ConcurError(f"unknown strategy '{unknown[0]}' (the pool: {', '.join(pool) or 'empty'})")
    return list(dict.fromkeys(requested))


def strategy_vectors(inp: Inputs, strategy: str) -> tuple[torch.Tensor, torch.Tensor]:
    model, decoding = split_strategy(strategy)
    try:
        return inp.strat_emb["model"][model].float(), inp.strat_emb["decoding"][decoding].float()
    except KeyError as err:
        raise ConcurError(f"{inp.ds.config.strategy_emb_path}: no embedding for {err}; run `python embed_dataset.py`") from None


def split_rows(split: SplitOutcomes, strategy: str):
    if strategy not in split.strategies:
        return np.array([], dtype=object), np.array([], dtype=np.int64), np.zeros(0), np.zeros(0)
    return split.rows_of(strategy)


# ------------------------------------------------------------------ fingerprints
def expected_record(config: Config, inp: Inputs, strategy: str) -> tuple[dict[str, Any], StrategyData]:
    """What the saved predictor of `strategy` must match to be current, and its training data."""
    g_model, g_decoding = strategy_vectors(inp, strategy)
    tr_q, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, strategy)
    va_q, va_rows, va_y, va_c = split_rows(inp.ds.val, strategy)
    if len(tr_y) == 0:
        raise ConcurError(f"{config.train_data_path}: strategy '{strategy}' has no training rows")
    data = StrategyData(g_model, g_decoding, inp.task_emb[tr_rows], tr_y, tr_c, inp.task_emb[va_rows], va_y, va_c)
    parts = {
        "format": FORMAT_VERSION,
        "strategy": strategy,
        "config": model_config(config.predictor),
        "seed": strategy_seed(config.seed, strategy),
        "embedding_model": inp.emb_model,
        "text_dim": int(inp.task_emb.shape[1]),
        "data": {"train_rows": rows_hash(tr_q, tr_y, tr_c), "val_rows": rows_hash(va_q, va_y, va_c),
                 "task_embeddings": tensor_hash(data.train_x, data.val_x),
                 "strategy_embeddings": tensor_hash(g_model, g_decoding)},
    }
    return {**parts, "fingerprint": fingerprint(parts)}, data


def saved_record(config: Config, strategy: str) -> dict[str, Any] | None:
    """The saved JSON when all three files exist and the weight files are the ones it records."""
    files = predictor_files(config, strategy)
    if not all(p.is_file() for p in files.values()):
        return None
    try:
        rec = json.loads(files["json"].read_text(encoding="utf-8"))
        ok = rec["files"]["cls"] == sha256_of_file(files["cls"]) and rec["files"]["reg"] == sha256_of_file(files["reg"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return None
    return rec if ok else None


def _save_state(path: Path, state: dict[str, torch.Tensor]) -> str:
    save_torch_atomic(path, state)  # byte-reproducible: identical weights give identical files
    return sha256_of_file(path)


# ------------------------------------------------------------------ training
def train_strategies(config: Config, requested: list[str], force: bool = False, log: Log = print,
                     progress: bool = True, threads: int | None = 1) -> tuple[dict[str, str], Inputs]:
    """Train (or skip, when current) each requested strategy. Reads train and val only, never test."""
    from tqdm import tqdm

    inp = load_inputs(config, ("train", "val"))
    names = resolve_strategies(requested, inp.ds.strategies)
    device = resolve_device(config.predictor.device)
    status: dict[str, str] = {}
    for strategy in tqdm(names, desc="strategies", disable=not progress or len(names) < 2):
        record, data = expected_record(config, inp, strategy)
        saved = saved_record(config, strategy)
        if saved is not None and saved.get("fingerprint") == record["fingerprint"] and not force:
            log(f"{strategy}: predictor up to date, skipped ({predictor_files(config, strategy)['json']})")
            status[strategy] = "up to date"
            continue
        why = "forced" if force and saved else ("stale (data, embeddings or config changed)" if saved or
                                                 predictor_files(config, strategy)["json"].exists() else "new")
        log(f"{strategy}: training ({why}) on {len(data.train_y)} train / {len(data.val_y)} val rows, device {device}")
        fit = fit_strategy(data, config.predictor, record["seed"], device, warn=log, name=strategy, threads=threads)
        p_val, c_val = predict_outputs(fit.cls_net, fit.reg_net, fit.scaling, fit.temperature, data.val_x,
                                       data.g_model, data.g_decoding, device)
        val = {**metrics.classification_metrics(data.val_y, p_val), **metrics.cost_metrics(data.val_c, c_val)}
        files = predictor_files(config, strategy)
        shas = {"cls": _save_state(files["cls"], fit.cls_net.state_dict()),
                "reg": _save_state(files["reg"], fit.reg_net.state_dict())}
        out = {**record, "emb_dim": config.predictor.emb_dim, "hidden_dim": config.predictor.hidden_dim,
               "temperature": fit.temperature, "cost_scaling": fit.scaling.to_json(),
               "constant_probability": fit.constant_prob, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
               "n_train": len(data.train_y), "n_val": len(data.val_y),
               "validation": {k: _finite(v) for k, v in val.items()}, "files": shas}
        write_json_atomic(files["json"], out)  # last: the JSON marks the pair as complete
        log(f"{strategy}: saved (best epoch cls {fit.best_epoch['cls']}, reg {fit.best_epoch['reg']}; "
            f"val AUROC {val['auroc']:.3f}, Brier {val['brier']:.4f}, cost MAE {val['cost_mae']:.4g})")
        status[strategy] = "trained"
    return status, inp


def _finite(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


# ------------------------------------------------------------------ loading and predicting
@dataclass
class LoadedPredictor:
    strategy: str
    record: dict[str, Any]
    cls_net: torch.nn.Module
    reg_net: torch.nn.Module
    scaling: CostScaling


def load_predictor(config: Config, inp: Inputs, strategy: str) -> LoadedPredictor:
    """Load a saved predictor, refusing one trained on other embeddings or other data."""
    files = predictor_files(config, strategy)
    rec = saved_record(config, strategy)
    if rec is None:
        raise ConcurError(f"{files['json']}: no complete trained predictor for '{strategy}'; "
                          f"run `python predictor.py --strategy {strategy}`")
    trained_features = (rec.get("config") or {}).get("task_features", [])
    if trained_features != list(config.predictor.task_features):
        raise ConcurError(f"{files['json']}: predictor for '{strategy}' is stale: trained with predictor.task_features "
                          f"{trained_features}, the config has {list(config.predictor.task_features)}; retrain with "
                          f"`python predictor.py --strategy {strategy}`")
    if rec.get("embedding_model") != inp.emb_model or rec.get("text_dim") != int(inp.task_emb.shape[1]):
        raise ConcurError(f"{files['json']}: predictor for '{strategy}' was trained under embedding model "
                          f"'{rec.get('embedding_model')}' (dim {rec.get('text_dim')}), but the embeddings are from "
                          f"'{inp.emb_model}' (dim {inp.task_emb.shape[1]}); retrain with "
                          f"`python predictor.py --strategy {strategy}`")
    expected, _ = expected_record(config, inp, strategy)
    if rec.get("fingerprint") != expected["fingerprint"]:
        raise ConcurError(f"{files['json']}: predictor for '{strategy}' is stale (training data, embeddings or "
                          f"predictor config changed); retrain with `python predictor.py --strategy {strategy}`")
    d, e, h = rec["text_dim"], rec["emb_dim"], rec["hidden_dim"]
    cls_net = accuracy_classifier(d, e, h)
    reg_net = cost_regressor(d, e, h, rec["config"]["cost_target"])
    try:
        cls_net.load_state_dict(torch.load(files["cls"], map_location="cpu", weights_only=True))
        reg_net.load_state_dict(torch.load(files["reg"], map_location="cpu", weights_only=True))
    except (RuntimeError, KeyError) as err:
        raise ConcurError(f"{files['cls'].parent}: cannot load the weights of '{strategy}': "
                          f"{str(err).splitlines()[0]}; retrain with --force") from None
    return LoadedPredictor(strategy, rec, cls_net, reg_net, CostScaling.from_json(rec["cost_scaling"]))


def strategy_knn(config: Config, inp: Inputs, strategy: str):
    """The strategy's kNN peer (its own train rows, k chosen on its validation rows)."""
    _, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, strategy)
    _, va_rows, va_y, va_c = split_rows(inp.ds.val, strategy)
    return fit_knn(inp.task_emb[tr_rows], tr_y, tr_c, inp.task_emb[va_rows], va_y, va_c, config.predictor.knn_k)


def predict_split(pred: LoadedPredictor, inp: Inputs, split: SplitOutcomes, device: torch.device,
                  knn=None, knn_blend: float = 0.0) -> pd.DataFrame:
    """The prediction table (reference columns) of one split, in task.json order; with `knn` and
    knn_blend b > 0, P(correct) and cost are (1-b)*concur + b*kNN."""
    qids, rows, y, c = split_rows(split, pred.strategy)
    g_model, g_decoding = strategy_vectors(inp, pred.strategy)
    p, cost = predict_outputs(pred.cls_net, pred.reg_net, pred.scaling, pred.record["temperature"],
                              inp.task_emb[rows], g_model, g_decoding, device)
    if knn is not None and knn_blend > 0 and len(rows):
        kp, kc = knn.predict(inp.task_emb[rows])
        p, cost = (1 - knn_blend) * p + knn_blend * kp, (1 - knn_blend) * cost + knn_blend * kc
    return pred_table(pred.strategy, qids, y, c, p, cost)


def prediction_fingerprint(pred: LoadedPredictor, inp: Inputs, split: SplitOutcomes, knn_blend: float = 0.0,
                           knn_k: list[int] | None = None) -> str:
    qids, rows, y, c = split_rows(split, pred.strategy)
    parts = {"format": FORMAT_VERSION, "predictor": pred.record["fingerprint"],
             "files": pred.record["files"], "rows": rows_hash(qids, y, c),
             "task_embeddings": tensor_hash(inp.task_emb[rows])}
    if knn_blend > 0:  # the kNN part depends on the blend weight, its k grid, and the train/val rows (in the
        # predictor fingerprint already)
        parts["knn"] = {"blend": float(knn_blend), "k": [int(k) for k in (knn_k or [])]}
    return fingerprint(parts)


def predict_strategies(config: Config, requested: list[str], force: bool = False, log: Log = print,
                       progress: bool = True) -> dict[str, str]:
    """Write pred_<s>.csv (test) and pred_val_<s>.csv (validation) unless they are current."""
    from tqdm import tqdm

    inp = load_inputs(config, ("train", "val", "test"))
    names = resolve_strategies(requested, inp.ds.strategies)
    device = resolve_device(config.predictor.device)
    preds = [load_predictor(config, inp, s) for s in names]  # all checked before anything is written
    blend = float(config.predictor.knn_blend)
    status: dict[str, str] = {}
    for pred in tqdm(preds, desc="predicting", disable=not progress or len(preds) < 2):
        done = []
        knn = None
        for split_name in ("test", "val"):
            split = inp.ds.splits[split_name]
            path = prediction_file(config, pred.strategy, split_name)
            side = Path(f"{path}.meta.json")
            fp = prediction_fingerprint(pred, inp, split, blend, config.predictor.knn_k)
            if not force and path.is_file() and side.is_file() and _sidecar_fp(side) == fp \
                    and _sidecar_sha(side) == sha256_of_file(path):
                done.append(f"{path.name} up to date")
                continue
            if blend > 0 and knn is None:
                knn = strategy_knn(config, inp, pred.strategy)
            df = predict_split(pred, inp, split, device, knn, blend)
            write_csv_atomic(path, df)
            write_json_atomic(side, {"fingerprint": fp, "sha256": sha256_of_file(path), "rows": len(df)})
            done.append(f"{path.name} written ({len(df)} rows)")
        log(f"{pred.strategy}: " + "; ".join(done))
        status[pred.strategy] = "written" if any("written" in d for d in done) else "up to date"
    return status


def _sidecar_fp(path: Path) -> str | None:
    try:
        return read_json(path).get("fingerprint")
    except (ConcurError, AttributeError):
        return None


def _sidecar_sha(path: Path) -> str | None:
    try:
        return read_json(path).get("sha256")
    except (ConcurError, AttributeError):
        return None


# ------------------------------------------------------------------ diagnostics
DIAG_COLUMNS = ["strategy", "predictor", "split", "n", "base_rate", "auroc", "brier", "ece", "logloss",
                "accuracy", "cost_mae", "cost_mdape", "cost_bias", "k_cls", "k_cost"]


def diagnostics(config: Config, inp: Inputs, names: list[str], log: Log = print) -> pd.DataFrame:
    """Validation and test quality of CONCUR and the kNN peer, per strategy.

    Called only after all training and checkpoint selection is over: the test split is read here,
    for the first time in the run, and only for reporting.
    """
    test_path = Path(config.test_data_path)
    test = load_dataset(config, splits=("test",)).test if test_path.is_file() else None
    if test is None:
        log(f"note: {test_path} not found; test diagnostics skipped")
    device = resolve_device(config.predictor.device)
    rows = []
    for strategy in names:
        pred = load_predictor(config, inp, strategy)
        g_model, g_decoding = strategy_vectors(inp, strategy)
        knn = strategy_knn(config, inp, strategy)
        splits = [("val", inp.ds.val)] + ([("test", test)] if test is not None else [])
        for split_name, split in splits:
            _, rows_s, y, c = split_rows(split, strategy)
            x = inp.task_emb[rows_s]
            p, cost = predict_outputs(pred.cls_net, pred.reg_net, pred.scaling, pred.record["temperature"],
                                      x, g_model, g_decoding, device)
            kp, kc = knn.predict(x) if len(y) else (np.zeros(0), np.zeros(0))
            for name, pp, cc, extra in (("concur", p, cost, {}),
                                        ("knn", kp, kc, {"k_cls": knn.k_cls, "k_cost": knn.k_cost})):
                rows.append({"strategy": strategy, "predictor": name, "split": split_name, "n": len(y),
                             **metrics.classification_metrics(y, pp), **metrics.cost_metrics(c, cc), **extra})
    return pd.DataFrame(rows, columns=DIAG_COLUMNS)


def save_diagnostics(config: Config, table: pd.DataFrame, pool: list[str]) -> Path:
    """Merge into <predictor_path>/diagnostics.csv: rows of other pool strategies are kept."""
    path = Path(config.predictor_path) / "diagnostics.csv"
    if path.is_file():
        try:
            old = pd.read_csv(path)
            old = old[old["strategy"].isin(pool) & ~old["strategy"].isin(table["strategy"])]
            table = pd.concat([old, table], ignore_index=True) if len(old) else table
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError):
            pass
    order = {s: i for i, s in enumerate(pool)}
    table = table.sort_values(["strategy", "predictor", "split"], key=lambda s: s.map(order) if s.name == "strategy" else s,
                              kind="stable")
    write_csv_atomic(path, table)
    return path


def format_diagnostics(table: pd.DataFrame) -> str:
    cols = ["strategy", "predictor", "split", "n", "base_rate", "auroc", "brier", "ece", "cost_mae", "cost_mdape"]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="nan")
