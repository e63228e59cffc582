"""Data already in the CONCUR layout: the paper's released MMLU files, and the demo generator.

Both are checked with the data layer and copied (normalised) into the output folder;
their splits are kept as they are.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import parse_config
from ..data import SPLITS, load_dataset, read_outcome_csv
from ..errors import ConcurError
from ..io import read_json
from .common import REPO_ROOT, Imported

COST_UNIT = "1e11 FLOPs"


def find_strategies(folder: Path, strategies: str | os.PathLike | None) -> Path:
    """--strategies, else <folder>/strategies.json, else the reference layout's
    <folder>/../strategies.json, else the repo's top-level file (the paper's pool)."""
    if strategies:
        path = Path(strategies)
        if not path.is_file():
            raise ConcurError(f"{path}: strategies file not found (--strategies)")
        return path
    for cand in (folder / "strategies.json", folder.parent / "strategies.json", REPO_ROOT / "strategies.json"):
        if cand.is_file():
            return cand
    raise ConcurError(f"{folder}: no strategies.json found (pass --strategies FILE)")


def import_released(folder: Path, strategies: str | os.PathLike | None = None, source: str = "concur",
                    cost_unit: str = COST_UNIT) -> tuple[Imported, dict[str, str]]:
    """Check a CONCUR-layout folder in place and return it with its own split."""
    if not folder.is_dir():
        raise ConcurError(f"{folder}: input folder not found (--input)")
    strat_path = find_strategies(folder, strategies)
    raw = {key: "unused" for key in ("strategy_emb_path", "task_emb_path", "predictor_path", "output_path")}
    raw.update(strategy_path=str(strat_path.resolve()), task_path=str((folder / "task.json").resolve()),
               **{f"{s}_data_path": str((folder / f"{s}.csv").resolve()) for s in SPLITS})
    raw["cost_unit"] = cost_unit
    load_dataset(parse_config(raw, folder, source=str(folder)))  # full validation before copying
    tasks = read_json(folder / "task.json", "task file")
    frames, split_of = [], {}
    for s in SPLITS:
        df = read_outcome_csv(folder / f"{s}.csv", s).drop(columns="strategy")
        split_of.update(dict.fromkeys(df["question_id"], s))
        frames.append(df)
    info = {"input": str(folder), "strategies_from": str(strat_path)}
    data = Imported(source, tasks, pd.concat(frames, ignore_index=True), read_json(strat_path, "strategies file"),
                    cost_unit, None, info)
    return data, split_of


def import_demo(seed: int, n_tasks: int) -> tuple[Imported, dict[str, str]]:
    """Generate the synthetic demo set (concur.demo_data) and read it back like a released set."""
    try:
        from ..demo_data import write_demo_dataset
    except ImportError as err:
        raise ConcurError(f"--source demo needs concur/demo_data.py ({err})") from None
    with tempfile.TemporaryDirectory(prefix="concur-demo-") as tmp:
        write_demo_dataset(Path(tmp), seed=seed, n_tasks=n_tasks)
        data, split_of = import_released(Path(tmp), REPO_ROOT / "strategies.json", source="demo")
    data.info = {"generator": "concur.demo_data.write_demo_dataset", "n_tasks": n_tasks,
                 "note": "synthetic outcomes and answers, not measurements of real models"}
    data.answers = demo_answers(data, seed)
    return data, split_of


def demo_answers(data: Imported, seed: int) -> pd.DataFrame:
    """Synthetic answers consistent with the demo outcomes: a correct row answers the task's gold letter;
    a wrong one the task's most tempting distractor (60%) or another wrong letter; 5% of the wrong rows
    fail to parse (as an extraction failure counts as wrong in real data)."""
    out = data.outcomes
    rng = np.random.default_rng(seed + 7)
    letters = np.array(list("ABCDEFGHIJ"))
    gold_of = {str(t.get("question_id", i)): str(t.get("answer", "A")) for i, t in enumerate(data.tasks)}
    n_opt = {str(t.get("question_id", i)): max(2, len(t.get("options") or "ABCD")) for i, t in enumerate(data.tasks)}
    qid = out["question_id"].astype(str).to_numpy()
    gold = np.array([gold_of[q] for q in qid], dtype=object)
    k = np.array([n_opt[q] for q in qid])
    g_idx = np.array([int(np.flatnonzero(letters == g)[0]) if g in letters else 0 for g in gold])
    tempting = (g_idx + 1 + np.array([hash_index(q) for q in qid]) % (k - 1)) % k  # one per task
    other = (g_idx + 1 + rng.integers(0, 1 << 30, len(qid)) % (k - 1)) % k
    wrong = np.where(rng.random(len(qid)) < 0.6, tempting, other)
    answer = np.where(out["label"].to_numpy() >= 0.5, gold, letters[wrong]).astype(object)
    parsed = ~((out["label"].to_numpy() < 0.5) & (rng.random(len(qid)) < 0.05))
    answer[~parsed] = ""
    tokens = np.round(20 + 30 * rng.random(len(qid)) + np.where(out["decoding"].to_numpy() == "cot", 150, 0))
    return pd.DataFrame({"question_id": qid, "model": out["model"].to_numpy(), "decoding": out["decoding"].to_numpy(),
                         "answer": answer, "response_tokens": tokens.astype(np.int64), "parsed": parsed.astype(np.int64)})


def hash_index(text: str) -> int:
    """A stable small integer from a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
