"""Benchmark predictor.py: training one strategy, all strategies, and --predict (wall clock).

The CONCUR router (concur.router_jobs.train_router) with the config's predictor defaults, whatever
they are at the time (printed): the README's figures date from the old schedule (batch 32, validation
every 3 epochs, lr 1e-3); the current defaults are batch 128, every epoch, lr 3e-4, cost smearing on.

Default: a synthetic data set at the MMLU-Pro import's scale (7,000 train / 2,400 val / 2,400
test tasks, 384-d embeddings, the 10 strategies of strategies.json) with a learnable signal, in
a temporary folder. --config_path runs on a real, already-embedded data set instead (its
predictor_path/output_path are redirected into a temporary folder, so nothing of yours is touched).

Targets (CPU): one strategy <= 20 s, all 10 <= 3 min, --predict 10 strategies x 2.4k <= 5 s.

  python benchmarks/bench_predictor.py [--config_path data/imported/mmlu-pro/config.yml] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from concur.config import folder_config_text, load_config  # noqa: E402
from concur.data import load_strategies, load_tasks  # noqa: E402
from concur.embeddings import EmbeddingMeta, save_strategy_embeddings, save_task_embeddings, strategy_texts  # noqa: E402
from concur.io import sha256_of_texts  # noqa: E402
from concur.router_jobs import train_router  # noqa: E402

CONFIG = folder_config_text({"seed": 123})


def write_synthetic(root: Path, n_train: int, n_val: int, n_test: int, dim: int, seed: int = 0) -> Path:
    """Tasks with random unit embeddings; P(correct) and cost depend on them through each strategy."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "strategies.json", root / "strategies.json")
    (root / "task.json").write_text(json.dumps([{"question": f"synthetic task {i}"} for i in range(n)]))
    (root / "config.yml").write_text(CONFIG)
    tasks = load_tasks(root / "task.json")
    catalog = load_strategies(root / "strategies.json")
    emb = rng.standard_normal((n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    difficulty = emb @ rng.standard_normal(dim) * 3
    length = emb @ rng.standard_normal(dim)
    split = np.repeat(["train", "val", "test"], [n_train, n_val, n_test])
    frames = []
    for mi, (m, info) in enumerate(catalog.model_info.items()):
        for d in catalog.decodings:
            skill = 0.4 * mi + (0.5 if d == "cot" else 0.0) + emb @ rng.standard_normal(dim) * 0.5
            p = 1 / (1 + np.exp(-(skill - difficulty)))
            tokens = np.exp(4 + 0.8 * length + (1.5 if d == "cot" else 0) + 0.3 * rng.standard_normal(n))
            frames.append(pd.DataFrame({"question_id": np.arange(n), "model": m, "decoding": d, "split": split,
                                        "label": (rng.random(n) < p).astype(int),
                                        "flops": np.round(2 * float(info.get("params", 1e9)) * tokens / 1e11, 4)}))
    df = pd.concat(frames)
    for name in ("train", "val", "test"):
        df[df.split == name].drop(columns="split").to_csv(root / f"{name}.csv", index=False)
    t = torch.from_numpy(emb)
    save_task_embeddings(root / "task_embeddings.pt", t, tasks,
                         EmbeddingMeta("synthetic", sha256_of_texts(tasks.texts()), dim, n, False, {}))
    texts = strategy_texts(catalog)
    vec = torch.from_numpy(rng.standard_normal((len(texts), dim)).astype(np.float32))
    save_strategy_embeddings(root / "strategy_embeddings.pt", vec, catalog,
                             EmbeddingMeta("synthetic", sha256_of_texts(texts), dim, len(texts), False, {}))
    return root / "config.yml"


def redirect(config_path: Path, tmp: Path) -> Path:
    """A copy of a real config whose outputs go to tmp (inputs stay where they are)."""
    import yaml

    cfg = load_config(config_path)
    raw = yaml.safe_load(config_path.read_text())
    for key in ("strategy_path", "strategy_emb_path", "task_path", "task_emb_path",
                "train_data_path", "val_data_path", "test_data_path"):
        raw[key] = str(cfg[key])
    raw["predictor_path"], raw["output_path"] = str(tmp / "predictors"), str(tmp / "output")
    out = tmp / "config.yml"
    out.write_text(yaml.safe_dump(raw))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config_path", type=Path, default=None, help="real embedded data set (default: synthetic)")
    ap.add_argument("--n_train", type=int, default=7000)
    ap.add_argument("--n_eval", type=int, default=2400, help="validation and test tasks each")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_predictor_"))
    try:
        if args.config_path:
            cfg_path = redirect(args.config_path.resolve(), tmp)
            print(f"data: {args.config_path}")
        else:
            cfg_path = write_synthetic(tmp / "ds", args.n_train, args.n_eval, args.n_eval, args.dim)
            print(f"data: synthetic, {args.n_train} train / {args.n_eval} val / {args.n_eval} test tasks, "
                  f"{args.dim}-d, 10 strategies")
        cfg = load_config(cfg_path)
        pc = cfg.predictor
        # one thread, as predictor.py's --threads default (the old fit_strategy default)
        torch.set_num_threads(args.threads or 1)
        print(f"training threads: {torch.get_num_threads()}, device: {pc.device}; schedule: batch {pc.batch_size}, "
              f"lr {pc.lr:g}, cost_lr {pc.cost_lr:g}, eval_every {pc.eval_every}, cost_smearing {pc.cost_smearing}")
        quiet = lambda msg: None  # noqa: E731

        start = time.perf_counter()
        _, inp, router = train_router(cfg, "concur", ["all"], log=quiet, progress=False)
        t_all = time.perf_counter() - start
        pool = inp.ds.strategies
        epochs = {s: router.states_[s].info["epochs_run"] for s in pool}
        per = []
        for s in pool[:3]:
            start = time.perf_counter()
            train_router(cfg, "concur", [s], force=True, log=quiet, progress=False)
            per.append(time.perf_counter() - start)
        print(f"train one strategy (incl. data load, {pool[0]}..{pool[2]}): "
              + ", ".join(f"{t:.1f}s" for t in per) + "   target <= 20 s")
        print(f"train all {len(pool)} strategies: {t_all:.1f}s   target <= 180 s   "
              f"(epochs run: {min(epochs.values())}-{max(epochs.values())})")

        env = {**os.environ, "TQDM_DISABLE": "1"}
        cmd = [sys.executable, str(REPO / "predictor.py"), "--config_path", str(cfg_path), "--strategy", "all",
               "--predict", "--no_progress"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        for label, extra in (("fresh", []), ("forced", ["--force"]), ("up to date", [])):
            start = time.perf_counter()
            proc = subprocess.run(cmd + extra, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode:
                sys.exit(proc.stderr)
            inner = proc.stdout.strip().splitlines()[-1]
            print(f"--predict {len(pool)} strategies ({label}): {wall:.2f}s wall incl. Python start; {inner}"
                  + ("   target <= 5 s" if label == "fresh" else ""))
        n_test = len(pd.read_csv(Path(cfg.output_path) / f"pred_{pool[0]}.csv"))
        print(f"test rows per strategy: {n_test}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
