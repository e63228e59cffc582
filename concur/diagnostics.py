"""Predictor quality per strategy: validation and test metrics of a router and its kNN peer.

Computed only after training is over; the test split is read here for reporting, never for choosing.
Columns: AUROC, Brier, ECE, log-loss and accuracy of P(correct); cost MAE, median APE and the total
relative bias sum(pred) / sum(realised) - 1 of the cost (what a budget on predicted cost is off by),
plus that bias before the mean correction (smearing) for routers that apply one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import metrics
from .config import Config
from .data import load_dataset
from .inputs import Inputs, TaskBatch, split_rows
from .io import write_csv_atomic
from .routers import make_router
from .routers.base import Router

Log = Callable[[str], None]
COLUMNS = ["strategy", "predictor", "split", "n", "base_rate", "auroc", "brier", "ece", "logloss", "accuracy",
           "cost_mae", "cost_mdape", "cost_bias", "cost_bias_uncorrected", "k_cls", "k_cost"]


def diagnostics(config: Config, inp: Inputs, router: Router, names: list[str], log: Log = print,
                peer: bool = True) -> pd.DataFrame:
    """Rows (strategy, predictor, split) for `router` and, beside it (unless peer=False), the per-strategy kNN peer."""
    test_path = Path(config.test_data_path)
    test = load_dataset(config, splits=("test",)).test if test_path.is_file() else None
    if test is None:
        log(f"note: {test_path} not found; test diagnostics skipped")
    peers = [router]
    if peer and router.name != "knn":
        knn = make_router("knn", config)
        knn.fit(inp, names, log=lambda _m: None)
        peers.append(knn)
    rows = []
    for s in names:
        for split_name, split in [("val", inp.ds.val)] + ([("test", test)] if test is not None else []):
            qids, task_rows, y, c = split_rows(split, s)
            if len(y) == 0:
                continue
            batch = TaskBatch(qids, inp.task_emb[task_rows], [inp.ds.tasks.records[i] for i in task_rows])
            for peer in peers:
                est = peer.predict(batch, [s])
                p, cost = est.prob[:, 0], est.cost[:, 0]
                raw = getattr(peer, "uncorrected_cost", None)
                raw = raw(batch, s) if raw is not None else None
                extra = {}
                if peer.name == "knn":
                    state = peer.states_[s]
                    extra = {"k_cls": state.k_cls, "k_cost": state.k_cost}
                rows.append({"strategy": s, "predictor": peer.name, "split": split_name, "n": len(y),
                             **metrics.classification_metrics(y, p), **metrics.cost_metrics(c, cost),
                             "cost_bias_uncorrected": metrics.total_bias(c, raw) if raw is not None else np.nan,
                             **extra})
    return pd.DataFrame(rows, columns=COLUMNS)


def save_diagnostics(config: Config, table: pd.DataFrame, pool: list[str], log: Log = print) -> Path:
    """Merge into <predictor_path>/diagnostics.csv: rows of other strategies or routers are kept
    (an unreadable old table is announced and replaced)."""
    path = Path(config.predictor_path) / "diagnostics.csv"
    old = None
    if path.is_file():
        try:
            old = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            log(f"note: {path} is unreadable ({type(err).__name__}); writing a new table")
        if old is not None and not {"strategy", "predictor"} <= set(old.columns):
            log(f"note: {path} has no strategy/predictor columns; writing a new table")
            old = None
    if old is not None:
        key = old["strategy"].astype(str) + "\t" + old["predictor"].astype(str)
        new_key = set(table["strategy"] + "\t" + table["predictor"])
        old = old[old["strategy"].isin(pool) & ~key.isin(new_key)]
        table = pd.concat([old, table], ignore_index=True) if len(old) else table
    order = {s: i for i, s in enumerate(pool)}
    table = table.sort_values(["strategy", "predictor", "split"], key=lambda s: s.map(order) if s.name == "strategy" else s,
                              kind="stable")
    write_csv_atomic(path, table)
    return path


def format_diagnostics(table: pd.DataFrame) -> str:
    cols = ["strategy", "predictor", "split", "n", "base_rate", "auroc", "brier", "ece", "cost_mae", "cost_bias",
            "cost_bias_uncorrected"]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
