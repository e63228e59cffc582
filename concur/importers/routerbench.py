"""RouterBench importer: wide `<task>_{train,test}.csv` files -> one dataset.

Cost is RouterBench's measured `<model>|total_cost` (USD per query, prompt + response
at the provider's price), stored in micro-dollars (1e-6 USD) so typical costs are
50-10,000 rather than 1e-4-1e-2. Correctness is the 0/1 column per model.
A row where any chosen model's correctness or cost is NaN is dropped (RouterBench has 28
such ARC rows, all of them sample_ids that occur twice with two prompt variants);
a sample_id still repeated after that is dropped too, since a task must be in one split.
"""
from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConcurError
from .common import Imported, read_source_csv

TASKS = ("arc_challenge", "mbpp", "winograde")
DECODING = "zeroshot"
COST_UNIT = "1e-6 USD"
USD_SCALE = 1e6  # stored cost = USD * USD_SCALE

# RouterBench column -> (short name, description). Parameter counts where public.
MODELS: dict[str, tuple[str, str, float | None]] = {
    "WizardLM/WizardLM-13B-V1.2": ("wizardlm-13b", "WizardLM-13B-V1.2, a 13B-parameter open model fine-tuned from Llama 2 13B on evolved instructions.", 13.0e9),
    "claude-instant-v1": ("claude-instant-v1", "Anthropic Claude Instant v1, a fast low-cost proprietary chat model served by API; size not public.", None),
    "claude-v1": ("claude-v1", "Anthropic Claude v1, a large proprietary chat model served by API; size not public.", None),
    "claude-v2": ("claude-v2", "Anthropic Claude 2, a large proprietary chat model served by API with a 100k context; size not public.", None),
    "gpt-3.5-turbo-1106": ("gpt-3.5-turbo", "OpenAI GPT-3.5 Turbo (1106), a fast low-cost proprietary chat model served by API; size not public.", None),
    "gpt-4-1106-preview": ("gpt-4-turbo", "OpenAI GPT-4 Turbo (gpt-4-1106-preview), a frontier proprietary model served by API, strong at reasoning and code; size not public; the most expensive model here.", None),
    "meta/code-llama-instruct-34b-chat": ("codellama-34b-instruct", "Meta Code Llama 34B Instruct, a 34B-parameter open model specialised for code.", 34.0e9),
    "meta/llama-2-70b-chat": ("llama2-70b-chat", "Meta Llama 2 70B Chat, a 70B-parameter open dense chat model from 2023.", 69.0e9),
    "mistralai/mistral-7b-chat": ("mistral-7b-chat", "Mistral 7B Instruct, a 7B-parameter open dense chat model; the cheapest model here.", 7.24e9),
    "mistralai/mixtral-8x7b-chat": ("mixtral-8x7b-chat", "Mistral Mixtral 8x7B Instruct, an open sparse mixture-of-experts chat model: 46.7B parameters in all, about 12.9B active per token.", 12.9e9),
    "zero-one-ai/Yi-34B-Chat": ("yi-34b-chat", "01.AI Yi-34B-Chat, a 34B-parameter open dense bilingual English/Chinese chat model.", 34.4e9),
}

DECODING_DESCRIPTION = (
    "Direct answering as in RouterBench: no chain of thought; the model answers with the choice letter "
    "(ARC, Winogrande; their prompts carried five solved examples, paid for in the cost) or with code (MBPP)."
)

# An in-context example ends with "Answer:" + its gold letter + a blank line; the real
# question is whatever follows the last such example.
_EXAMPLE_END = re.compile(r"Answer:[ \t]*\n?[ \t]*[A-Z][ \t]*\n\n")


def parse_prompt(raw: str, where: str = "prompt") -> str:
    """The real question of a RouterBench prompt: parse the stringified list, strip examples."""
    try:
        value = ast.literal_eval(raw)  # literal_eval only builds literals: safe on untrusted text
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = raw
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, str) for v in value):
            raise ConcurError(f"{where}: prompt list is empty or holds non-strings")
        value = value[-1]  # multi-turn prompts: the last turn carries the question
    if not isinstance(value, str):
        raise ConcurError(f"{where}: prompt is not a string or list of strings")
    return _EXAMPLE_END.split(value)[-1].strip()


_LETTER = re.compile(r"\b([A-E])\b")
_CODE_BLOCK = re.compile(r"```(?:[A-Za-z0-9_+-]*)\n(.*?)```", re.S)


def response_text(raw: Any) -> str:
    """A RouterBench `<model>|model_response` cell as text (a stringified list of turns: the last)."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return ""
    text = str(raw)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return value if isinstance(value, str) else str(value)


def extract_answer(response: str, task: str) -> str:
    """The answer of one response: the option letter (ARC: A-E; Winogrande: A or B), or for MBPP, which has
    no canonical answer, the first 16 hex digits of the SHA-256 of the code with blank lines and trailing
    spaces removed (two answers agree only when the programs are the same text); '' when none is found."""
    if task == "mbpp":
        block = _CODE_BLOCK.search(response)
        code = block.group(1) if block else response
        lines = [ln.rstrip() for ln in code.splitlines() if ln.strip()]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] if lines else ""
    found = _LETTER.search(response.strip())
    letter = found.group(1) if found else ""
    return letter if task != "winograde" or letter in ("A", "B") else ""


def import_routerbench(folder: Path, tasks: Sequence[str] | None = None, models: Sequence[str] | None = None) -> Imported:
    tasks = list(tasks or TASKS)
    chosen = _choose_models(models)
    frames, fixed = [], {}
    dropped_nan = 0
    for task in tasks:
        if task not in TASKS:
            raise ConcurError(f"--tasks: unknown task '{task}' (choose from {', '.join(TASKS)})")
        for split in ("train", "test"):
            path = folder / f"{task}_{split}.csv"
            if not path.is_file():
                raise ConcurError(f"{path}: RouterBench file not found")
            df = read_source_csv(path)
            need = ["sample_id", "prompt", "eval_name"] + [c for m in chosen for c in (m, f"{m}|total_cost")]
            miss = [c for c in need if c not in df.columns]
            if miss:
                raise ConcurError(f"{path}: missing column '{miss[0]}'")
            for col in chosen + [f"{m}|total_cost" for m in chosen]:
                num = pd.to_numeric(df[col], errors="coerce")
                wrong = (num.isna() & df[col].notna()).to_numpy()
                if wrong.any():
                    i = int(np.flatnonzero(wrong)[0])
                    raise ConcurError(f"{path}: row {i + 2}: column '{col}' is not a number: {df[col].iloc[i]!r}")
                df[col] = num
            bad = df[chosen].isna().any(axis=1) | df[[f"{m}|total_cost" for m in chosen]].isna().any(axis=1)
            dropped_nan += int(bad.sum())
            df = df[~bad].copy()
            vals = df[chosen].to_numpy(dtype=float)
            if ((vals != 0) & (vals != 1)).any():
                r, c = np.argwhere((vals != 0) & (vals != 1))[0]
                raise ConcurError(f"{path}: row {df.index[r] + 2}: column '{chosen[c]}' must be 0 or 1, got {vals[r, c]}")
            df["split"] = split
            df["file"] = path.name
            frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["sample_id"] = df["sample_id"].astype(str)
    dup = df["sample_id"].duplicated(keep=False)
    dropped_dup = int(dup.sum())
    df = df[~dup].reset_index(drop=True)
    if df.empty:
        raise ConcurError(f"{folder}: no usable rows for tasks {tasks}")
    questions = [parse_prompt(p, f"{f}: sample {s}") for p, f, s in zip(df["prompt"], df["file"], df["sample_id"])]
    records = [{"question_id": q, "question": text, "subject": s}
               for q, text, s in zip(df["sample_id"], questions, df["eval_name"].astype(str))]
    empty = [r["question_id"] for r in records if not r["question"]]
    if empty:
        raise ConcurError(f"{folder}: sample {empty[0]}: prompt is empty after stripping in-context examples")
    fixed = dict(zip(df["sample_id"], df["split"]))
    n = len(df)
    label = df[chosen].to_numpy(dtype=float).astype(np.int64)
    cost = df[[f"{m}|total_cost" for m in chosen]].to_numpy(dtype=float) * USD_SCALE
    if (cost < 0).any():
        raise ConcurError(f"{folder}: negative total_cost in the input")
    names = [MODELS[m][0] for m in chosen]
    outcomes = pd.DataFrame({
        "question_id": np.repeat(df["sample_id"].to_numpy(), len(chosen)),
        "model": np.tile(names, n),
        "decoding": DECODING,
        "label": label.reshape(-1),
        "flops": np.round(cost.reshape(-1), 6),
        "cost_usd": (cost / USD_SCALE).reshape(-1),
    })
    answers = None
    if all(f"{m}|model_response" in df.columns for m in chosen):
        texts = [[response_text(v) for v in df[f"{m}|model_response"]] for m in chosen]  # (models, n)
        task_of = df["file"].str.rsplit("_", n=1).str[0].to_numpy()
        ans = np.array([[extract_answer(t, k) for t, k in zip(col, task_of)] for col in texts], dtype=object)
        answers = pd.DataFrame({
            "question_id": np.repeat(df["sample_id"].to_numpy(), len(chosen)),
            "model": np.tile(names, n),
            "decoding": DECODING,
            "answer": ans.T.reshape(-1),
            "response_tokens": np.array([[len(t.split()) for t in col] for col in texts]).T.reshape(-1),
            "parsed": (ans.T.reshape(-1) != "").astype(np.int64),
        })
    strategies = {
        "model": {MODELS[m][0]: ({"description": MODELS[m][1], "params": MODELS[m][2], "source_name": m}
                                 if MODELS[m][2] else {"description": MODELS[m][1], "source_name": m})
                  for m in chosen},
        "decoding": {DECODING: DECODING_DESCRIPTION},
    }
    info = {"input": str(folder), "tasks_imported": tasks, "models": {MODELS[m][0]: m for m in chosen},
            "dropped_rows_nan": dropped_nan, "dropped_rows_duplicate_sample_id": dropped_dup,
            "cost": "RouterBench <model>|total_cost (USD per query) x 1e6"}
    if answers is not None:
        info["answers"] = ("ARC/Winogrande: the option letter in <model>|model_response; MBPP: a hash of the "
                           "normalised code; response_tokens = whitespace-separated words of the response")
    return Imported("routerbench", records, outcomes, strategies, COST_UNIT, fixed, info, answers)


def _choose_models(models: Sequence[str] | None) -> list[str]:
    if not models:
        return list(MODELS)
    by_short = {v[0]: k for k, v in MODELS.items()}
    out = []
    for m in models:
        if m in MODELS:
            out.append(m)
        elif m in by_short:
            out.append(by_short[m])
        else:
            raise ConcurError(f"--models: unknown RouterBench model '{m}' (choose from {', '.join(by_short)})")
    return list(dict.fromkeys(out))
