"""RouteLLM MMLU importer: `mmlu_<subject>.csv` (prompt + one boolean per model) -> dataset.

The files carry no cost, so each query is priced from a per-token price table (USD per
million tokens, provider list prices of early 2024): prompt tokens (proxy tokenizer) at
the input price plus an assumed answer length (default 1 token: the answer is one
letter) at the output price. Stored in micro-dollars (1e-6 USD).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConcurError
from .common import Imported, TokenCounter, read_source_csv

DECODING = "zeroshot"
COST_UNIT = "1e-6 USD"
USD_SCALE = 1e6
DEFAULT_ANSWER_TOKENS = 1

# column -> short name, description, params (active) or None
MODELS: dict[str, tuple[str, str, float | None]] = {
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (
        "mixtral-8x7b-instruct",
        "Mistral Mixtral 8x7B Instruct, an open sparse mixture-of-experts instruction-tuned model: 46.7B "
        "parameters in all, about 12.9B active per token; the cheap, weaker model of this pair.", 12.9e9),
    "gpt-4-1106-preview": (
        "gpt-4-turbo",
        "OpenAI GPT-4 Turbo (gpt-4-1106-preview), a frontier proprietary model served by API; size not "
        "public; the expensive, stronger model of this pair.", None),
}

# USD per 1M tokens {input, output}: OpenAI list price for gpt-4-1106-preview; Together AI
# serverless price for Mixtral-8x7B-Instruct (early 2024). Override with --prices_json.
PRICES: dict[str, dict[str, float]] = {
    "mistralai/Mixtral-8x7B-Instruct-v0.1": {"input": 0.60, "output": 0.60},
    "gpt-4-1106-preview": {"input": 10.0, "output": 30.0},
}

DECODING_DESCRIPTION = ("Zero-shot multiple-choice answering as in RouteLLM's MMLU evaluation: the question and "
                        "lettered choices followed by 'Answer:', answered directly with one letter.")

_PARSE = r"^(?P<q>.*?)\nA\. (?P<a>.*?)\nB\. (?P<b>.*?)\nC\. (?P<c>.*?)\nD\. (?P<d>.*?)\nAnswer:\s*$"


def _prices(override: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    prices = {k: dict(v) for k, v in PRICES.items()}
    for name, entry in (override or {}).items():
        col = name if name in MODELS else {v[0]: k for k, v in MODELS.items()}.get(name)
        if col is None:
            raise ConcurError(f"--prices_json: unknown model '{name}' (choose from {', '.join(MODELS)})")
        ok = isinstance(entry, dict) and set(entry) <= {"input", "output"} and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in entry.values())
        if not ok:
            raise ConcurError(f"--prices_json: '{name}' must be {{\"input\": USD per 1M tokens, \"output\": ...}}, got {entry!r}")
        prices[col].update({k: float(v) for k, v in entry.items()})
    return prices


def read_contaminated(path: Path) -> set[str]:
    """The `eval_prompt` texts of contaminated_prompts.jsonl (one JSON object per line)."""
    out = set()
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ConcurError(f"{path}: line {i}: invalid JSON: {err.msg}") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("eval_prompt"), str):
                raise ConcurError(f"{path}: line {i}: expected an object with an 'eval_prompt' string")
            out.add(rec["eval_prompt"])
    return out


def import_routellm_mmlu(folder: Path, count_tokens: TokenCounter, prices_override: dict[str, Any] | None = None,
                         answer_tokens: int = DEFAULT_ANSWER_TOKENS, drop_contaminated: bool = False) -> Imported:
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise ConcurError(f"{folder}: no mmlu_<subject>.csv files")
    if answer_tokens < 0:
        raise ConcurError(f"--answer_tokens must be >= 0, got {answer_tokens}")
    prices = _prices(prices_override)
    frames = []
    for path in files:
        df = read_source_csv(path, dtype={"prompt": str})
        miss = [c for c in ("prompt", *MODELS) if c not in df.columns]
        if miss:
            raise ConcurError(f"{path}: missing column '{miss[0]}'")
        for col in MODELS:
            val = df[col].map({True: 1, False: 0, "True": 1, "False": 0, 1: 1, 0: 0})
            if val.isna().any():
                i = int(np.flatnonzero(val.isna().to_numpy())[0])
                raise ConcurError(f"{path}: row {i + 2}: column '{col}' must be True/False, got {df[col].iloc[i]!r}")
            df[col] = val.astype(np.int64)
        if df["prompt"].isna().any():
            raise ConcurError(f"{path}: row {int(np.flatnonzero(df['prompt'].isna().to_numpy())[0]) + 2}: empty prompt")
        subject = path.stem.removeprefix("mmlu_")
        df["subject"] = subject
        df["question_id"] = [f"{subject}.{i}" for i in range(len(df))]  # row within the subject file
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    n_contaminated = 0
    cont_path = folder / "contaminated_prompts.jsonl"
    if drop_contaminated:
        if not cont_path.is_file():
            raise ConcurError(f"{cont_path}: not found (needed by --drop_contaminated)")
        bad = df["prompt"].isin(read_contaminated(cont_path))
        n_contaminated = int(bad.sum())
        df = df[~bad].reset_index(drop=True)
    parsed = df["prompt"].str.extract(_PARSE, flags=re.DOTALL)
    ok = parsed["q"].notna().to_numpy()
    records = []
    for i, (qid, prompt, subject) in enumerate(zip(df["question_id"], df["prompt"], df["subject"])):
        if ok[i]:
            records.append({"question_id": qid, "question": parsed.at[i, "q"],
                            "options": [parsed.at[i, k] for k in "abcd"], "subject": subject})
        else:  # unusual layout: keep the prompt whole as the question
            records.append({"question_id": qid, "question": prompt, "subject": subject})
    prompt_tokens = count_tokens(df["prompt"].tolist())
    parts = []
    for col, (name, _, _) in MODELS.items():
        usd = (prompt_tokens * prices[col]["input"] + answer_tokens * prices[col]["output"]) / 1e6
        parts.append(pd.DataFrame({"question_id": df["question_id"], "model": name, "decoding": DECODING,
                                   "label": df[col].to_numpy(), "flops": np.round(usd * USD_SCALE, 6),
                                   "prompt_tokens": prompt_tokens}))
    outcomes = pd.concat(parts, ignore_index=True)
    strategies = {
        "model": {name: ({"description": desc, "params": p, "source_name": col} if p else
                         {"description": desc, "source_name": col}) for col, (name, desc, p) in MODELS.items()},
        "decoding": {DECODING: DECODING_DESCRIPTION},
    }
    info = {"input": str(folder), "prices_usd_per_1M_tokens": prices, "answer_tokens": answer_tokens,
            "dropped_contaminated": n_contaminated, "unparsed_prompts": int((~ok).sum()),
            "cost": "(prompt tokens x input price + answer_tokens x output price) / 1e6 USD, x 1e6"}
    return Imported("routellm-mmlu", records, outcomes, strategies, COST_UNIT, None, info)
