"""Shared test helpers: tiny datasets written to tmp dirs, and the real-data root."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from concur.config import folder_config_text

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CONCUR_SHARED_DATA", REPO.parent / "shared" / "data"))

CONFIG_TEMPLATE = folder_config_text({"seed": 7})

TINY_STRATEGIES = {
    "model": {"small": {"description": "A small fast model.", "params": 1e9},
              "large": {"description": "A large accurate model.", "params": 8e9}},
    "decoding": {"vanilla": "Answer directly.", "cot": "Think step by step."},
}


def write_tiny_dataset(root: Path, n_tasks: int = 30, seed: int = 0, strategies=None) -> Path:
    """A small valid dataset folder with config.yml; returns the config path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    strategies = strategies or TINY_STRATEGIES
    tasks = [{"question": f"What is {i} plus {i + 1}?", "options": [str(2 * i + 1), str(2 * i), "7", "9"],
              "answer": "A", "subject": ["math", "history"][i % 2]} for i in range(n_tasks)]
    (root / "task.json").write_text(json.dumps(tasks))
    (root / "strategies.json").write_text(json.dumps(strategies))
    split = np.array(["train", "val", "test"])[np.arange(n_tasks) % 5 % 3]
    rows = []
    for qid in range(n_tasks):
        for m in strategies["model"]:
            for d in strategies["decoding"]:
                rows.append({"question_id": qid, "model": m, "decoding": d, "split": split[qid],
                             "label": int(rng.random() < 0.6), "flops": round(float(rng.uniform(1, 10)), 3)})
    df = pd.DataFrame(rows)
    for name in ("train", "val", "test"):
        df[df.split == name].drop(columns="split").to_csv(root / f"{name}.csv", index=False)
    (root / "config.yml").write_text(CONFIG_TEMPLATE)
    return root / "config.yml"


def run_script(script: str, *args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a top-level script with this interpreter; returns the completed process."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(autouse=True)
def _own_embedding_cache(tmp_path_factory, monkeypatch):
    """Each test its own embedding cache, never the user's: cached vectors must not leak between tests
    (subprocesses inherit the variable)."""
    monkeypatch.setenv("CONCUR_CACHE_DIR", str(tmp_path_factory.mktemp("concur_cache")))


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_tiny_dataset(tmp_path / "ds")


def write_tiny_answers(cfg: Path, seed: int = 0) -> Path:
    """answers_<split>.csv for every outcome row of a tiny dataset (correct: 'A'; wrong: 'B' or 'C'), and the
    config keys naming them; returns the config path."""
    rng = np.random.default_rng(seed)
    for s in ("train", "val", "test"):
        o = pd.read_csv(cfg.parent / f"{s}.csv", dtype={"question_id": str})
        wrong = np.where(rng.random(len(o)) < 0.6, "B", "C")
        pd.DataFrame({"question_id": o.question_id, "model": o.model, "decoding": o.decoding,
                      "answer": np.where(o.label >= 0.5, "A", wrong), "response_tokens": rng.integers(5, 60, len(o)),
                      "parsed": 1}).to_csv(cfg.parent / f"answers_{s}.csv", index=False)
    with open(cfg, "a") as fh:
        fh.write("".join(f"{s}_answers_path: ./answers_{s}.csv\n" for s in ("train", "val", "test")))
    return cfg
