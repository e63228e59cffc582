import json
from pathlib import Path

import pytest
import torch

from concur.config import load_config
from concur.data import load_strategies, load_tasks
from concur.embeddings import (EmbeddingMeta, is_current, load_strategy_embeddings, load_task_embeddings, meta_path,
                               save_strategy_embeddings, save_task_embeddings, strategy_texts, wanted_settings)
from concur.errors import ConcurError
from concur.io import sha256_of_texts

from conftest import run_script


def _write_fake_embeddings(cfg, dim=8):
    tasks, catalog = load_tasks(cfg.task_path), load_strategies(cfg.strategy_path)
    texts = tasks.texts()
    save_task_embeddings(cfg.task_emb_path, torch.randn(len(tasks), dim), tasks,
                         EmbeddingMeta("fake", sha256_of_texts(texts), dim, len(texts), False, {}))
    st = strategy_texts(catalog)
    save_strategy_embeddings(cfg.strategy_emb_path, torch.randn(len(st), dim), catalog,
                             EmbeddingMeta("fake", sha256_of_texts(st), dim, len(st), False, {}))
    return tasks, catalog


def test_loaders_roundtrip_and_detect_stale(tiny_config: Path):
    cfg = load_config(tiny_config)
    tasks, catalog = _write_fake_embeddings(cfg)
    emb, meta = load_task_embeddings(cfg, tasks)
    assert emb.shape == (len(tasks), 8) and meta["model"] == "fake"
    assert meta["question_ids"] == tasks.ids
    strat, _ = load_strategy_embeddings(cfg, catalog)
    assert set(strat["model"]) == {"small", "large"} and strat["decoding"]["cot"].shape == (8,)
    # edit one task text -> stale
    recs = json.loads(Path(cfg.task_path).read_text())
    recs[0]["question"] += " (edited)"
    Path(cfg.task_path).write_text(json.dumps(recs))
    with pytest.raises(ConcurError, match="task embeddings are missing or stale"):
        load_task_embeddings(cfg, load_tasks(cfg.task_path))


def test_staleness_covers_model_and_settings(tiny_config: Path):
    cfg = load_config(tiny_config)
    tasks, _ = _write_fake_embeddings(cfg)
    settings = {"model": "fake", "normalize": False, "dtype": "float32", "max_seq_length": None}
    assert is_current(cfg.task_emb_path, settings, tasks.texts())
    for key, value in (("model", "other"), ("normalize", True), ("dtype", "bfloat16"), ("max_seq_length", 128)):
        assert not is_current(cfg.task_emb_path, {**settings, key: value}, tasks.texts()), key
    assert not is_current(cfg.task_emb_path, settings, tasks.texts()[::-1])
    assert wanted_settings(cfg.embedding)["model"].startswith("sentence-transformers/all-MiniLM-L6-v2")


def test_missing_embeddings_error(tiny_config: Path):
    cfg = load_config(tiny_config)
    with pytest.raises(ConcurError, match=r"task_embeddings\.pt: task embeddings are missing or stale"):
        load_task_embeddings(cfg, load_tasks(cfg.task_path))


def test_embed_dataset_end_to_end_real_model(tiny_config: Path):
    """Real default model (offline): shapes, reuse of an up-to-date file, rebuild of a stale one."""
    root = tiny_config.parent
    r = run_script("embed_dataset.py", "--config_path", str(tiny_config))
    assert r.returncode == 0, r.stderr
    emb = torch.load(root / "task_embeddings.pt", weights_only=True)
    assert emb.shape == (30, 384) and emb.dtype == torch.float32 and emb.device.type == "cpu"
    strat = torch.load(root / "strategy_embeddings.pt", weights_only=True)
    assert strat["model"]["large"].shape == (384,)
    meta = json.loads(meta_path(root / "task_embeddings.pt").read_text())
    assert "all-MiniLM-L6-v2" in meta["model"] and meta["dim"] == 384
    # identical texts embed to (nearly) identical vectors; different texts differ
    assert not torch.allclose(emb[0], emb[1])

    before = (root / "task_embeddings.pt").stat().st_mtime_ns
    r = run_script("embed_dataset.py", "--config_path", str(tiny_config))
    assert r.returncode == 0 and "up to date" in r.stdout
    assert (root / "task_embeddings.pt").stat().st_mtime_ns == before

    # a stale task file is rebuilt; the unchanged strategy file is reused
    recs = json.loads((root / "task.json").read_text())
    recs[3]["question"] = "A completely different question about the French revolution?"
    (root / "task.json").write_text(json.dumps(recs))
    sbefore = (root / "strategy_embeddings.pt").stat().st_mtime_ns
    r = run_script("embed_dataset.py", "--config_path", str(tiny_config))
    assert r.returncode == 0, r.stderr
    emb2 = torch.load(root / "task_embeddings.pt", weights_only=True)
    assert not torch.allclose(emb2[3], emb[3]) and torch.allclose(emb2[0], emb[0], atol=1e-5)
    assert (root / "strategy_embeddings.pt").stat().st_mtime_ns == sbefore
    cfg = load_config(tiny_config)
    load_task_embeddings(cfg, load_tasks(cfg.task_path))  # now current

    r = run_script("embed_dataset.py", "--config_path", str(tiny_config), "--force")
    assert r.returncode == 0 and "30 task texts embedded" in r.stdout


def test_embed_dataset_bad_input_exit_2(tmp_path: Path, tiny_config: Path):
    r = run_script("embed_dataset.py", "--config_path", str(tmp_path / "missing.yml"))
    assert r.returncode == 2 and "config file not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_script("embed_dataset.py", "--config_path", str(tiny_config), "--model", "/nonexistent/model")
    assert r.returncode == 2 and "embedding.model" in r.stderr.strip().splitlines()[-1]
    (tiny_config.parent / "task.json").write_text('[{"options": []}]')
    r = run_script("embed_dataset.py", "--config_path", str(tiny_config))
    assert r.returncode == 2 and "task 0: field 'question'" in r.stderr
    assert not (tiny_config.parent / "task_embeddings.pt").exists()
