"""The router interface every registered router implements.

A router is fitted on the train split (validation available for its own model selection) and
predicts, for any batch of tasks, a tasks x strategies matrix of P(correct) and one of expected
cost (the mean, not the median). Its fitted state is made of *parts*: one per strategy for a
modular router (a strategy can be added without touching the others), one for the whole pool
otherwise. Each part is fingerprinted (router, settings, seed, embedding model, and a hash of
exactly the rows and vectors it learns from) and saved as an artifact (concur/cache.py), so a
part is reused only while it is current and a stale one is retrained or refused.

A subclass sets `name`, `modular`, `defaults` and implements `fit_part` / `predict_part` and,
when it has learned weights, `save_part` / `load_part`.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .. import cache
from ..errors import ConcurError
from ..inputs import Inputs, TaskBatch, split_rows
from ..io import check_inside, load_torch_file, save_torch_atomic

Log = Callable[[str], None]
FORMAT_VERSION = 2
WHOLE_POOL = "router"  # the part name of a non-modular router


@dataclass
class Estimates:
    """A router's predictions for a batch: (n_tasks, n_strategies) matrices in `strategies` order."""

    strategies: list[str]
    prob: np.ndarray  # P(correct)
    cost: np.ndarray  # expected cost, in the data set's cost unit


def strategy_seed(global_seed: int, name: str) -> int:
    """A seed from (global seed, strategy or router name), stable across runs and processes."""
    digest = hashlib.sha256(f"{global_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def rows_hash(question_ids: np.ndarray, labels: np.ndarray, costs: np.ndarray) -> str:
    """Hash of one strategy's (question_id, label, cost) rows, independent of row order."""
    qids = np.asarray(question_ids).astype(str)
    order = np.argsort(qids, kind="stable")
    h = hashlib.sha256()
    h.update("\n".join(qids[order]).encode())
    h.update(np.asarray(labels, dtype="<f8")[order].tobytes())
    h.update(np.asarray(costs, dtype="<f8")[order].tobytes())
    return h.hexdigest()


def tensor_hash(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _type_ok(value: Any, default: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and (isinstance(value, int) or isinstance(default, float))
    return isinstance(value, type(default))


class Router(ABC):
    """Base class: fitting with reuse of current parts, loading with staleness checks, predicting."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for listings
    modular: bool = False  # class default; a router may set it per instance (an ensemble of routers)
    stochastic: ClassVar[bool] = True  # the seed changes what is learned
    needs_answers: ClassVar[bool] = False  # reads the models' answers (answers_<split>.csv), not only outcomes
    defaults: ClassVar[dict[str, Any]] = {}
    choices: ClassVar[dict[str, tuple]] = {}
    # settings that do not change what is learned (left out of fingerprints)
    unlearned: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Mapping[str, Any] | None = None, seed: int = 0, source: str | None = None) -> None:
        self.source = source or f"config key 'routers.{self.name}'"
        self.settings = self.validate(dict(settings or {}))
        self.seed = int(seed)
        self.strategies: list[str] = []
        self.states_: dict[str, Any] = {}
        self.fingerprints_: dict[str, str] = {}
        self.new_parts_: set[str] = set()  # parts the last fit trained with nothing saved before (not rebuilt)
        self.store_: Path | None = None  # the predictor folder of the last fit
        # description vectors (g_model, g_decoding) of the fitted strategies, fingerprinted with the parts
        self.vectors_: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------ settings
    def validate(self, settings: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.defaults)
        for key, value in settings.items():
            if key not in self.defaults:
                raise ConcurError(f"{self.source}: unknown setting '{key}' for router '{self.name}' "
                                  f"(allowed: {', '.join(sorted(self.defaults)) or 'none'})")
            if not _type_ok(value, self.defaults[key]):
                raise ConcurError(f"{self.source}: setting '{key}' of router '{self.name}' must be a "
                                  f"{type(self.defaults[key]).__name__}, got {value!r}")
            if key in self.choices and value not in self.choices[key]:
                raise ConcurError(f"{self.source}: setting '{key}' of router '{self.name}' must be one of "
                                  f"{', '.join(map(str, self.choices[key]))}, got {value!r}")
            out[key] = value
        return out

    def learned_settings(self) -> dict[str, Any]:
        return {k: v for k, v in sorted(self.settings.items()) if k not in self.unlearned}

    # ------------------------------------------------------------ parts and fingerprints
    def parts(self, strategies: list[str]) -> dict[str, list[str]]:
        return {s: [s] for s in strategies} if self.modular else {WHOLE_POOL: list(strategies)}

    def part_of(self, strategy: str) -> str:
        return strategy if self.modular else WHOLE_POOL

    def part_seed(self, part: str) -> int:
        return strategy_seed(self.seed, part) if self.modular else self.seed

    def data_fingerprint(self, inp: Inputs, strategies: list[str]) -> dict[str, Any]:
        """Hashes of exactly what a part learns from: each strategy's train/val rows, their task
        embeddings, and the strategy's description vectors."""
        out = {}
        for s in strategies:
            tr_q, tr_rows, tr_y, tr_c = split_rows(inp.ds.train, s)
            va_q, va_rows, va_y, va_c = split_rows(inp.ds.val, s)
            if len(tr_y) == 0:
                raise ConcurError(f"{inp.ds.config.train_data_path}: strategy '{s}' has no training rows")
            out[s] = {"train_rows": rows_hash(tr_q, tr_y, tr_c), "val_rows": rows_hash(va_q, va_y, va_c),
                      "task_embeddings": tensor_hash(inp.task_emb[tr_rows], inp.task_emb[va_rows]),
                      "strategy_embeddings": tensor_hash(*inp.strategy_vectors(s))}
        return out

    def fingerprint_parts(self, inp: Inputs, part: str, strategies: list[str]) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "router": self.name, "part": part, "settings": self.learned_settings(),
                "seed": self.part_seed(part) if self.stochastic else None, "embedding_model": inp.emb_model,
                "text_dim": inp.text_dim, "data": self.data_fingerprint(inp, strategies)}

    # ------------------------------------------------------------ what subclasses implement
    @abstractmethod
    def fit_part(self, inp: Inputs, part: str, strategies: list[str], log: Log) -> Any:
        """Fit one part on the train split (validation for model selection); return its state."""

    @abstractmethod
    def predict_part(self, state: Any, batch: TaskBatch, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n, len(strategies)) P(correct) and expected cost of the batch under one part's state."""

    def fit_parts(self, inp: Inputs, todo: dict[str, list[str]], log: Log) -> Iterator[tuple[str, Any]]:
        """Fit several parts ({part: its strategies}); yields (part, state) as each is ready, in any order.

        The default fits them one by one with fit_part. A router whose parts are independent may
        train them together (CONCUR: one vectorised loop), provided every state is exactly what
        fit_part gives for that part alone."""
        for part, strategies in todo.items():
            yield part, self.fit_part(inp, part, strategies, log)

    def save_part(self, state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """({file key: torch-saveable object}, JSON-able meta) describing a part's state."""
        return {}, {"state": state}

    def load_part(self, tensors: dict[str, Any], meta: dict[str, Any], inp: Inputs, part: str,
                  strategies: list[str]) -> Any:
        """The state saved by save_part (tensors already loaded), rebuilt against `inp`."""
        return meta["state"]

    def part_summary(self, state: Any) -> str:
        """A short line logged after a part is trained."""
        return ""

    # ------------------------------------------------------------ file layout
    def store_dir(self, root: Path) -> Path:
        """Where this router's parts live under the predictor folder."""
        return Path(root) / self.name

    def record_path(self, root: Path, part: str) -> Path:
        return self.store_dir(root) / f"{part}.json"

    def file_path(self, root: Path, part: str, key: str) -> Path:
        return self.store_dir(root) / f"{part}.{key}.pt"

    # ------------------------------------------------------------ fit / load / predict
    def fit(self, inp: Inputs, strategies: list[str], store: Path | None = None, force: bool = False,
            log: Log = print, progress: bool = False) -> dict[str, str]:
        """Fit every part on `inp`; with a `store` (the predictor folder), reuse current parts and
        save the others. Returns part -> 'trained' | 'up to date'."""
        from tqdm import tqdm

        self.strategies = list(strategies)
        self.vectors_ = {s: inp.strategy_vectors(s) for s in self.strategies}
        parts = self.parts(self.strategies)
        status: dict[str, str] = {}
        todo: dict[str, tuple[list[str], str, dict[str, Any]]] = {}  # part -> (strategies, fingerprint, inputs)
        self.new_parts_ = set()
        self.store_ = None if store is None else Path(store)
        for part, names in parts.items():
            parts_fp = self.fingerprint_parts(inp, part, names)
            fp = cache.fingerprint(parts_fp)
            why = "new"
            if store is not None:
                chk = cache.check(self.record_path(store, part), fp)
                if chk.current and not force:
                    self.states_[part] = self._load_files(store, part, chk.record, inp, names)
                    self.fingerprints_[part] = fp
                    log(f"{self._label(part)}: predictor up to date, skipped ({self.record_path(store, part)})")
                    status[part] = "up to date"
                    continue
                why = {"missing": "new", "stale": "stale (data, embeddings or config changed)",
                       "damaged": f"saved state damaged: {chk.reason}", "current": "forced"}[chk.status]
                if force and chk.status == "stale":
                    why = "forced"
            n_train = sum(len(split_rows(inp.ds.train, s)[0]) for s in names)
            n_val = sum(len(split_rows(inp.ds.val, s)[0]) for s in names)
            log(f"{self._label(part)}: training ({why}) on {n_train} train / {n_val} val rows")
            todo[part] = (names, fp, parts_fp)
            if why == "new":
                self.new_parts_.add(part)
        fitted = self.fit_parts(inp, {part: names for part, (names, _, _) in todo.items()}, log)
        for part, state in tqdm(fitted, total=len(todo), desc=f"{self.name} parts",
                                disable=not progress or len(todo) < 2):
            _, fp, parts_fp = todo[part]
            self.states_[part] = state
            self.fingerprints_[part] = fp
            if store is not None:
                self._save_files(store, part, state, fp, parts_fp)
            summary = self.part_summary(state)
            log(f"{self._label(part)}: saved" + (f" ({summary})" if summary else ""))
            status[part] = "trained"
        return {part: status[part] for part in parts}

    def saved_part(self, inp: Inputs, part: str, names: list[str]) -> Any | None:
        """The state of `part` saved in the last fit's predictor folder if it is current there, else None
        (missing, stale or damaged: the caller only wanted it if it was usable)."""
        if self.store_ is None:
            return None
        chk = cache.check(self.record_path(self.store_, part), cache.fingerprint(self.fingerprint_parts(inp, part, names)))
        return self._load_files(self.store_, part, chk.record, inp, names) if chk.current else None

    def load(self, inp: Inputs, strategies: list[str], store: Path) -> "Router":
        """Load every part from `store`, refusing missing, damaged or stale ones (one-line errors)."""
        self.strategies = list(strategies)
        self.vectors_ = {s: inp.strategy_vectors(s) for s in self.strategies}
        for part, names in self.parts(self.strategies).items():
            parts_fp = self.fingerprint_parts(inp, part, names)
            fp = cache.fingerprint(parts_fp)
            path = self.record_path(store, part)
            chk = cache.check(path, fp)
            retrain = (f"`python predictor.py --router {self.name} --strategy "
                       f"{part if self.modular else 'all'}`")
            if chk.status == "missing":
                raise ConcurError(f"{path}: no complete trained predictor for '{self._label(part)}'; run {retrain}")
            if chk.status == "damaged":
                raise ConcurError(f"{chk.reason}; retrain with {retrain} --force")
            if chk.status == "stale":
                raise ConcurError(f"{path}: predictor for '{self._label(part)}' is stale "
                                  f"({describe_change(chk.record.get('inputs'), parts_fp)}); retrain with {retrain}")
            self.states_[part] = self._load_files(store, part, chk.record, inp, names)
            self.fingerprints_[part] = fp
        return self

    def predict(self, batch: TaskBatch, strategies: list[str] | None = None) -> Estimates:
        """P(correct) and expected cost of every task in `batch` for the fitted strategies (or a subset:
        only the parts that cover them are evaluated)."""
        if not self.strategies:
            raise RuntimeError(f"router '{self.name}' is not fitted")
        wanted = list(self.strategies if strategies is None else strategies)
        unknown = [s for s in wanted if s not in self.strategies]
        if unknown:
            raise ConcurError(f"router '{self.name}' was not fitted for strategy '{unknown[0]}'")
        cols = {s: j for j, s in enumerate(wanted)}
        prob = np.empty((len(batch), len(wanted)))
        cost = np.empty_like(prob)
        for part, names in self.parts(self.strategies).items():
            if not any(s in cols for s in names):
                continue
            p, c = self.predict_part(self.states_[part], batch, names)
            keep = [i for i, s in enumerate(names) if s in cols]
            idx = [cols[names[i]] for i in keep]
            prob[:, idx], cost[:, idx] = p[:, keep], c[:, keep]
        return Estimates(wanted, np.clip(prob, 0.0, 1.0), np.maximum(cost, 0.0))

    def prediction_fingerprint(self, strategy: str) -> str:
        """The fingerprint of the fitted part that predicts `strategy` (prediction files record it)."""
        return self.fingerprints_[self.part_of(strategy)]

    # ------------------------------------------------------------ helpers
    def _label(self, part: str) -> str:
        return part if self.modular else f"{self.name} ({len(self.strategies)} strategies)"

    def _save_files(self, store: Path, part: str, state: Any, fp: str, parts_fp: dict[str, Any]) -> None:
        tensors, meta = self.save_part(state)
        for path in [self.file_path(store, part, k) for k in tensors] + [self.record_path(store, part)]:
            check_inside(path, store, "predictor_path")  # a part name never writes outside the predictor folder
        files = []
        for key, obj in tensors.items():
            path = self.file_path(store, part, key)
            save_torch_atomic(path, obj)  # byte-reproducible: identical weights give identical files
            files.append(path)
        self.record_path(store, part).parent.mkdir(parents=True, exist_ok=True)
        cache.commit(self.record_path(store, part), fp, files, router=self.name, part=part, inputs=parts_fp,
                     keys={k: self.file_path(store, part, k).name for k in tensors}, meta=meta)

    def _load_files(self, store: Path, part: str, record: dict[str, Any], inp: Inputs, names: list[str]) -> Any:
        tensors = {}
        for key, fname in (record.get("keys") or {}).items():
            path = self.store_dir(store) / fname
            tensors[key] = load_torch_file(path, f"retrain with `python predictor.py --router {self.name} --force`")
        try:
            return self.load_part(tensors, record.get("meta") or {}, inp, part, names)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:  # a record that lost its keys
            raise ConcurError(f"{self.record_path(store, part)}: saved state of '{self._label(part)}' cannot be read "
                              f"({type(err).__name__}: {err}); retrain with `python predictor.py --router {self.name} "
                              "--force`") from None


def describe_change(saved: dict[str, Any] | None, expected: dict[str, Any]) -> str:
    """Which fingerprinted input differs between a saved part and the current inputs."""
    if not isinstance(saved, dict):
        return "saved with an older format"
    if saved.get("embedding_model") != expected["embedding_model"] or saved.get("text_dim") != expected["text_dim"]:
        return (f"trained under embedding model '{saved.get('embedding_model')}' (dim {saved.get('text_dim')}), "
                f"the embeddings are from '{expected['embedding_model']}' (dim {expected['text_dim']})")
    if saved.get("settings") != expected["settings"]:
        old, new = saved.get("settings") or {}, expected["settings"]
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return "settings changed: " + ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys)
    if saved.get("format") != expected["format"]:
        return f"saved with format {saved.get('format')}, this version writes {expected['format']}"
    if saved.get("seed") != expected["seed"]:
        return f"seed changed ({saved.get('seed')} -> {expected['seed']})"
    return "training data, embeddings or strategy pool changed"
