"""Helpers for the predictor tests: random embedding files whose sidecars match the texts.

Each strategy vector is drawn from a generator seeded by its own name, so adding a model
or decoding to strategies.json leaves the other vectors bit-identical (like real re-embedding).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from concur.config import load_config
from concur.data import load_strategies, load_tasks
from concur.embeddings import EmbeddingMeta, save_strategy_embeddings, save_task_embeddings, strategy_texts
from concur.io import sha256_of_texts


def _vector(name: str, dim: int) -> torch.Tensor:
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


def write_random_embeddings(config_path: Path, dim: int = 16, label: str = "test-random", seed: int = 0) -> None:
    cfg = load_config(config_path)
    tasks = load_tasks(cfg.task_path)
    catalog = load_strategies(cfg.strategy_path)
    emb = torch.randn(len(tasks), dim, generator=torch.Generator().manual_seed(seed))
    texts = tasks.texts()
    save_task_embeddings(cfg.task_emb_path, emb, tasks,
                         EmbeddingMeta(label, sha256_of_texts(texts), dim, len(texts), False, {}))
    stexts = strategy_texts(catalog)
    vecs = torch.stack([_vector(f"model:{n}:{label}", dim) for n in catalog.models]
                       + [_vector(f"decoding:{n}:{label}", dim) for n in catalog.decodings])
    save_strategy_embeddings(cfg.strategy_emb_path, vecs, catalog,
                             EmbeddingMeta(label, sha256_of_texts(stexts), dim, len(stexts), False, {}))
