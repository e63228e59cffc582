"""What `predictor.py` does with any registered router: train (reusing current parts) and write predictions.

Training reads the train and validation splits only. Prediction writes, per strategy,
<output_path>/pred_<s>.csv (test) and pred_val_<s>.csv (validation) in the reference columns, each
with a record beside it (`.meta.json`: the fingerprint of the fitted part, the rows and their
embeddings, and the file's hash); a current file is left untouched, so adding a strategy to a
modular router rewrites only that strategy's files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from . import cache
from .config import Config
from .data import SplitOutcomes
from .pred_files import pred_table, prediction_path
from .inputs import Inputs, load_inputs, resolve_strategies, split_rows
from .io import check_inside, write_csv_atomic
from .routers import make_router
from .routers.base import FORMAT_VERSION, Router, rows_hash, tensor_hash

Log = Callable[[str], None]


def _pool_for(router: Router, requested: list[str], pool: list[str], log: Log) -> list[str]:
    names = resolve_strategies(requested, pool)
    if not router.modular and names != list(pool):
        log(f"note: router '{router.name}' is not modular: it is trained on the whole pool "
            f"({len(pool)} strategies), not only on the {len(names)} requested")
        return list(pool)
    return names


def train_router(config: Config, name: str, requested: list[str], force: bool = False, log: Log = print,
                 progress: bool = True, seed: int | None = None) -> tuple[dict[str, str], Inputs, Router]:
    """Fit `name` on train (+ validation for selection), reusing current saved parts. Never reads test."""
    inp = load_inputs(config, ("train", "val"))
    router = make_router(name, config, seed)
    names = _pool_for(router, requested, inp.ds.strategies, log)
    status = router.fit(inp, names, store=Path(config.predictor_path), force=force, log=log, progress=progress)
    return status, inp, router


def load_router_for(config: Config, name: str, inp: Inputs, requested: list[str] = ("all",),
                    seed: int | None = None, log: Log = print) -> Router:
    """A saved router, checked to be current for `inp` (one-line error otherwise)."""
    router = make_router(name, config, seed)
    names = _pool_for(router, list(requested), inp.ds.strategies, lambda _m: None)
    return router.load(inp, names, Path(config.predictor_path))


def prediction_fingerprint(router: Router, inp: Inputs, split: SplitOutcomes, strategy: str) -> str:
    qids, rows, y, c = split_rows(split, strategy)
    return cache.fingerprint({"format": FORMAT_VERSION, "router": router.name,
                              "part": router.prediction_fingerprint(strategy), "rows": rows_hash(qids, y, c),
                              "task_embeddings": tensor_hash(inp.task_emb[rows])})


def write_split_predictions(router: Router, inp: Inputs, split_name: str, output_path: Path,
                            strategies: list[str], force: bool = False) -> dict[str, str]:
    """pred[_<split>]_<s>.csv for each strategy unless current; returns strategy -> what was done."""
    split = inp.ds.splits[split_name]
    todo, done = [], {}
    for s in strategies:
        path = check_inside(prediction_path(output_path, s, split_name), output_path, "output_path")
        if not force and cache.check(Path(f"{path}.meta.json"), prediction_fingerprint(router, inp, split, s)).current:
            done[s] = f"{path.name} up to date"
        else:
            todo.append(s)
    if not todo:
        return done
    if router.modular:  # each strategy on exactly its own rows: its file never depends on the others
        jobs = [([s], split.observed[:, split.column(s)]) for s in todo]
    else:
        jobs = [(todo, split.observed[:, [split.column(s) for s in todo]].any(axis=1))]
    for names, mask in jobs:
        rows = np.flatnonzero(mask)
        est = router.predict(inp.batch(split, rows), names)
        for j, s in enumerate(names):
            col = split.column(s)
            keep = split.observed[rows, col]
            r = rows[keep]
            df = pred_table(s, split.question_ids[r], split.label[r, col], split.cost[r, col], est.prob[keep, j],
                            est.cost[keep, j])
            path = prediction_path(output_path, s, split_name)
            write_csv_atomic(path, df)
            cache.commit(Path(f"{path}.meta.json"), prediction_fingerprint(router, inp, split, s), [path],
                         router=router.name, rows=len(df))
            done[s] = f"{path.name} written ({len(df)} rows)"
    return done


def predict_router(config: Config, name: str, requested: list[str], force: bool = False, log: Log = print,
                   progress: bool = True, seed: int | None = None) -> dict[str, str]:
    """Write test and validation prediction files of a saved router; returns strategy -> written | up to date."""
    from tqdm import tqdm

    inp = load_inputs(config, ("train", "val", "test"))
    router = load_router_for(config, name, inp, requested, seed)
    names = resolve_strategies(requested, inp.ds.strategies)
    out = Path(config.output_path)
    status: dict[str, str] = {}
    notes: dict[str, list[str]] = {s: [] for s in names}
    for split_name in tqdm(("test", "val"), desc="predicting", disable=not progress):
        for s, what in write_split_predictions(router, inp, split_name, out, names, force).items():
            notes[s].append(what)
    for s in names:
        log(f"{s}: " + "; ".join(notes[s]))
        status[s] = "written" if any("written" in w for w in notes[s]) else "up to date"
    return status
