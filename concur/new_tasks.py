"""Predictions for new, unlabeled tasks (`predictor.py --predict --tasks FILE`).

The tasks file is a JSON list or JSON Lines of task objects as in task.json (`question`, optional
`options`, `subject`, `question_id`); no outcomes. The tasks are embedded like the data set's tasks
(same model and settings; cached), and the saved router predicts them. Everything goes to
<output_path>/tasks/<file name>/: task_embeddings.pt, pred_<strategy>.csv (question_id, model,
decoding, pred_label, pred_cls_prob, pred_flops: no ground-truth columns, none exist) and
source.json, which records the tasks file's hash and the router, so the routing scripts can tell
that the predictions belong to the file they are given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from . import cache
from .config import Config
from .data import load_tasks
from .embeddings import embed_tasks_like
from .errors import ConcurError
from .inputs import Inputs, TaskBatch, load_inputs
from .io import check_inside, read_json, sha256_of_file, write_csv_atomic, write_json_atomic
from .pred_files import Predictions, new_task_table
from .router_jobs import load_router_for
from .routers.base import tensor_hash

Log = Callable[[str], None]


def tasks_folder(config: Config, tasks_file: str | Path) -> Path:
    return Path(config.output_path) / "tasks" / Path(tasks_file).name


def task_batch(inp: Inputs, tasks_path: Path, emb: torch.Tensor) -> TaskBatch:
    """New tasks as a batch in the routers' input space (task features appended as configured)."""
    tasks = load_tasks(tasks_path)
    if inp.ds.config.predictor.task_features:
        emb = torch.cat([emb, torch.from_numpy(inp.new_task_features(tasks.records))], dim=1)
    return TaskBatch(np.asarray(tasks.ids, dtype=object), emb, tasks.records)


def predict_new_tasks(config: Config, router_name: str, tasks_file: str | Path, requested: list[str] = ("all",),
                      force: bool = False, log: Log = print, progress: bool = True) -> tuple[Path, int]:
    """Embed the tasks of `tasks_file` and write the router's predictions for them; returns (folder, n tasks)."""
    tasks_path = Path(tasks_file)
    tasks = load_tasks(tasks_path)  # validates the file before anything is computed or written
    inp = load_inputs(config, ("train", "val"))
    router = load_router_for(config, router_name, inp, requested)
    folder = tasks_folder(config, tasks_path)
    emb = embed_tasks_like(config, tasks, folder / "task_embeddings.pt", log=log, progress=progress)
    batch = task_batch(inp, tasks_path, emb)
    file_sha = sha256_of_file(tasks_path)
    written = 0
    est = None
    for s in router.strategies:
        path = check_inside(folder / f"pred_{s}.csv", config.output_path, "output_path")
        fp = cache.fingerprint({"router": router.name, "part": router.prediction_fingerprint(s), "tasks": file_sha,
                                "task_embeddings": tensor_hash(batch.emb)})
        if not force and cache.check(Path(f"{path}.meta.json"), fp).current:
            continue
        if est is None:
            est = router.predict(batch)
        j = est.strategies.index(s)
        write_csv_atomic(path, new_task_table(s, batch.question_ids, est.prob[:, j], est.cost[:, j]))
        cache.commit(Path(f"{path}.meta.json"), fp, [path], router=router.name, rows=len(batch))
        written += 1
    write_json_atomic(folder / "source.json", {"tasks_file": str(tasks_path.resolve()), "sha256": file_sha,
                                               "router": router.name, "strategies": router.strategies,
                                               "n_tasks": len(batch)})
    log(f"{folder}: {written} prediction files written, {len(router.strategies) - written} up to date")
    return folder, len(batch)


def check_source(config: Config, tasks_file: str | Path) -> tuple[Path, dict]:
    """The predictions folder of `tasks_file`, checked to have been made from this very file."""
    tasks_path = Path(tasks_file)
    if not tasks_path.is_file():
        raise ConcurError(f"{tasks_path}: tasks file not found")
    folder = tasks_folder(config, tasks_path)
    hint = f"run `python predictor.py --predict --tasks {tasks_file}` first"
    if not (folder / "source.json").is_file():
        raise ConcurError(f"{folder}: no predictions for {tasks_path.name}; {hint}")
    src = read_json(folder / "source.json")
    if src.get("sha256") != sha256_of_file(tasks_path):
        raise ConcurError(f"{folder}: the predictions were made for another version of {tasks_path.name}; {hint}")
    return folder, src


def assignment_table(preds: Predictions, choices: np.ndarray, settings: list[dict]) -> pd.DataFrame:
    """Long table of the chosen strategy per new task, one block per routing setting (weight, budget, ...)."""
    rows = np.arange(preds.n_tasks)
    blocks = []
    for choice, extra in zip(np.atleast_2d(choices), settings):
        blocks.append(pd.DataFrame({"question_id": preds.question_ids,
                                    "strategy": np.asarray(preds.strategies, dtype=object)[choice],
                                    "pred_prob": preds.prob[rows, choice], "pred_cost": preds.pred_cost[rows, choice],
                                    **extra}))
    return pd.concat(blocks, ignore_index=True)


def predicted_line(tag: str, preds: Predictions, choice: np.ndarray) -> str:
    rows = np.arange(preds.n_tasks)
    return (f"{tag} | number of tasks: {preds.n_tasks} | predicted accuracy: {preds.prob[rows, choice].mean():.3f} | "
            f"predicted cost: {preds.pred_cost[rows, choice].mean():.2f}")


NO_OUTCOMES = ("note: these are NEW tasks: no realised accuracy or cost exists; every figure below is the router's "
               "prediction")


def check_same_router(config: Config, pool: list[str], router: str) -> None:
    """Validation predictions (for --target_cost or the guard) must come from the router that predicted the new tasks."""
    from .pred_files import prediction_path, router_of

    for s in pool:
        path = prediction_path(config.output_path, s, "val")
        made_by = router_of(path) if path.is_file() else None
        if path.is_file() and made_by is not None and made_by != router:
            raise ConcurError(f"{path}: validation predictions are from router '{made_by}' but the new tasks were "
                              f"predicted by '{router}'; run `python predictor.py --router {router} --predict`")
