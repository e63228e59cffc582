"""Synthetic prediction files for routing tests (pred_<strategy>.csv / pred_val_<strategy>.csv)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from concur.data import split_strategy


def write_preds(out_dir: Path, strategies: list[str], n_tasks: int, split: str = "test", seed: int = 0,
                qid_offset: int = 0, prob=None, pred_cost=None, label=None, cost=None) -> dict[str, np.ndarray]:
    """Write one pred file per strategy (rows shuffled differently per file); returns the matrices."""
    rng = np.random.default_rng(seed)
    S = len(strategies)
    mats = {
        "prob": rng.random((n_tasks, S)) if prob is None else np.asarray(prob, float),
        "pred_cost": rng.uniform(1, 10, (n_tasks, S)) if pred_cost is None else np.asarray(pred_cost, float),
        "label": (rng.random((n_tasks, S)) < 0.6).astype(float) if label is None else np.asarray(label, float),
        "cost": rng.uniform(1, 10, (n_tasks, S)) if cost is None else np.asarray(cost, float),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = "pred_" if split == "test" else f"pred_{split}_"
    qids = np.arange(n_tasks) + qid_offset
    for j, s in enumerate(strategies):
        m, d = split_strategy(s)
        df = pd.DataFrame({"question_id": qids, "model": m, "decoding": d, "gt_label": mats["label"][:, j],
                           "pred_label": (mats["prob"][:, j] >= 0.5).astype(int), "pred_cls_prob": mats["prob"][:, j],
                           "gt_flops": mats["cost"][:, j], "pred_flops": mats["pred_cost"][:, j]})
        if j:  # files are joined on question_id, never on row order
            df = df.sample(frac=1, random_state=j)
        df.to_csv(out_dir / f"{prefix}{s}.csv", index=False)
    return mats
