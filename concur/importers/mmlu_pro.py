"""MMLU-Pro importer: per-model `model_outputs_<MODEL>_5shots.zip` files -> one dataset.

label = (extracted prediction == gold letter); a null prediction counts as wrong. The
extracted letter is also written as the strategy's answer (answers_<split>.csv).
cost (1e11 FLOPs) = 2 x params x (question+options tokens + output tokens) / 1e11, the
usual forward-pass estimate, with public parameter counts (active parameters for
mixture-of-experts models) and token counts from a proxy tokenizer. The five shared
few-shot examples of the prompt are not counted: they are the same for every question
of a category, so they shift all costs of a model by a near-constant.
"""
from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import task_text
from ..errors import ConcurError
from .common import Imported, TokenCounter

ZIP_PATTERN = "model_outputs_{}_5shots.zip"
DECODING = "cot5shot"
COST_UNIT = "1e11 FLOPs"

# The default pool: ten models from 3.8B to 70B (dense and one MoE), all answering the
# same ~12,000 questions (DeepSeek-Coder-V2 is left out: it answered only ~10,350).
DEFAULT_MODELS = (
    "Phi-3-mini-4k-instruct",
    "Yi-6b-Chat",
    "Mistral-7B-Instruct-v0.2",
    "Qwen1.5-7B-Chat",
    "Meta-Llama-3_1-8B-Instruct",
    "Mixtral-8x7B-Instruct-v0.1",
    "Yi-34B",
    "c4ai-command-r-v01",
    "Qwen1.5-72B-Chat",
    "Meta-Llama-3_1-70B-Instruct",
)

# Public parameter counts (model cards / papers); MoE models use ACTIVE parameters per
# token. The gemini models are not public: pass them with --params_json.
PARAMS: dict[str, float] = {
    "Phi-3-mini-4k-instruct": 3.82e9,
    "Yi-6B": 6.06e9,
    "Yi-6b-Chat": 6.06e9,
    "Yi-34B": 34.4e9,
    "Llama-2-7b-hf": 6.74e9,
    "Llama-2-13b-hf": 13.0e9,
    "Llama-2-70b-hf": 69.0e9,
    "Meta-Llama-3-8B": 8.03e9,
    "Meta-Llama-3-70B": 70.6e9,
    "Meta-Llama-3_1-8B": 8.03e9,
    "Meta-Llama-3_1-8B-Instruct": 8.03e9,
    "Meta-Llama-3_1-70B": 70.6e9,
    "Meta-Llama-3_1-70B-Instruct": 70.6e9,
    "Mistral-7B-v0.1": 7.24e9,
    "Mistral-7B-v0.2-hf": 7.24e9,
    "Mistral-7B-Instruct-v0.1": 7.24e9,
    "Mistral-7B-Instruct-v0.2": 7.24e9,
    "mathstral-7B": 7.25e9,
    "Mixtral-8x7B-v0.1": 12.9e9,  # 46.7B total, 2 of 8 experts active
    "Mixtral-8x7B-Instruct-v0.1": 12.9e9,
    "Qwen1.5-7B-Chat": 7.72e9,
    "Qwen1.5-72B-Chat": 72.3e9,
    "Qwen1.5-110B": 111.0e9,
    "gemma-7b": 8.54e9,
    "c4ai-command-r-v01": 35.0e9,
    "DeepSeek-Coder-V2": 21.0e9,  # 236B total, 21B active
    "jamba-1.5-large": 94.0e9,  # 398B total, 94B active
}

# Short factual descriptions (what strategies.json stores; the embedding model reads them).
DESCRIPTIONS: dict[str, str] = {
    "Phi-3-mini-4k-instruct": "Microsoft Phi-3-mini-4k-instruct, a small 3.8B-parameter dense instruction-tuned model trained on heavily filtered and synthetic data, with a 4k context.",
    "Yi-6B": "01.AI Yi-6B, a 6B-parameter dense base (pretrained, not instruction-tuned) bilingual English/Chinese model.",
    "Yi-6b-Chat": "01.AI Yi-6B-Chat, a 6B-parameter dense bilingual English/Chinese chat model.",
    "Yi-34B": "01.AI Yi-34B, a 34B-parameter dense base (pretrained, not instruction-tuned) bilingual English/Chinese model.",
    "Llama-2-7b-hf": "Meta Llama 2 7B, a 7B-parameter dense base model from 2023 with a 4k context.",
    "Llama-2-13b-hf": "Meta Llama 2 13B, a 13B-parameter dense base model from 2023 with a 4k context.",
    "Llama-2-70b-hf": "Meta Llama 2 70B, a 70B-parameter dense base model from 2023 with a 4k context.",
    "Meta-Llama-3-8B": "Meta Llama 3 8B, an 8B-parameter dense base model trained on 15T tokens.",
    "Meta-Llama-3-70B": "Meta Llama 3 70B, a 70B-parameter dense base model trained on 15T tokens.",
    "Meta-Llama-3_1-8B": "Meta Llama 3.1 8B, an 8B-parameter dense base model with a 128k context.",
    "Meta-Llama-3_1-8B-Instruct": "Meta Llama 3.1 8B Instruct, an 8B-parameter dense instruction-tuned model with a 128k context.",
    "Meta-Llama-3_1-70B": "Meta Llama 3.1 70B, a 70B-parameter dense base model with a 128k context.",
    "Meta-Llama-3_1-70B-Instruct": "Meta Llama 3.1 70B Instruct, a large 70B-parameter dense instruction-tuned model with a 128k context.",
    "Mistral-7B-v0.1": "Mistral 7B v0.1, a 7B-parameter dense base model.",
    "Mistral-7B-v0.2-hf": "Mistral 7B v0.2, a 7B-parameter dense base model with a 32k context.",
    "Mistral-7B-Instruct-v0.1": "Mistral 7B Instruct v0.1, a 7B-parameter dense instruction-tuned model.",
    "Mistral-7B-Instruct-v0.2": "Mistral 7B Instruct v0.2, a 7B-parameter dense instruction-tuned model with a 32k context.",
    "mathstral-7B": "Mistral Mathstral 7B, a 7B-parameter dense model specialised for mathematics and science reasoning.",
    "Mixtral-8x7B-v0.1": "Mistral Mixtral 8x7B, a sparse mixture-of-experts base model: 46.7B parameters in all, about 12.9B active per token.",
    "Mixtral-8x7B-Instruct-v0.1": "Mistral Mixtral 8x7B Instruct, a sparse mixture-of-experts instruction-tuned model: 46.7B parameters in all, about 12.9B active per token.",
    "Qwen1.5-7B-Chat": "Alibaba Qwen1.5-7B-Chat, a 7.7B-parameter dense multilingual chat model.",
    "Qwen1.5-72B-Chat": "Alibaba Qwen1.5-72B-Chat, a large 72B-parameter dense multilingual chat model.",
    "Qwen1.5-110B": "Alibaba Qwen1.5-110B, a 111B-parameter dense multilingual base model.",
    "gemma-7b": "Google Gemma 7B, an 8.5B-parameter dense base model (7B excluding embeddings).",
    "c4ai-command-r-v01": "Cohere Command R (c4ai-command-r-v01), a 35B-parameter dense model tuned for retrieval-augmented generation and tool use.",
    "DeepSeek-Coder-V2": "DeepSeek-Coder-V2, a mixture-of-experts model specialised for code and mathematics: 236B parameters in all, 21B active per token.",
    "jamba-1.5-large": "AI21 Jamba 1.5 Large, a hybrid Transformer-Mamba mixture-of-experts model: 398B parameters in all, 94B active per token.",
    "gemini-1.5-flash-002": "Google Gemini 1.5 Flash (002), a fast proprietary model served by API; size not public.",
    "gemini-1.5-pro-002": "Google Gemini 1.5 Pro (002), a large proprietary frontier model served by API; size not public.",
}

DECODING_DESCRIPTION = (
    "Five-shot chain-of-thought prompting (the MMLU-Pro evaluation setup): the model sees five worked "
    "examples from the same subject, reasons step by step, and ends with 'The answer is (X)'."
)


def short_name(model: str) -> str:
    """A short strategy-safe name (no '_'): 'Meta-Llama-3_1-70B-Instruct' -> 'llama31-70b-instruct'."""
    s = model.lower().removeprefix("meta-")
    s = s.replace("llama-3_1", "llama31").replace("llama-3", "llama3").replace("llama-2", "llama2")
    s = s.replace("-instruct-v0.1", "-instruct") if s.startswith("mixtral") else s
    s = re.sub(r"-hf$", "", s).replace("_", "-")
    return s


def available_models(folder: Path) -> list[str]:
    prefix, suffix = ZIP_PATTERN.split("{}")
    return sorted(p.name[len(prefix):-len(suffix)] for p in folder.glob(ZIP_PATTERN.format("*")))


def read_model_zip(path: Path) -> pd.DataFrame:
    """The records of one model's zip as a DataFrame (non-record entries skipped)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".json")]
            if len(names) != 1:
                raise ConcurError(f"{path}: expected one .json file inside, found {len(names)}")
            raw = json.loads(zf.read(names[0]))
    # a damaged archive fails in many ways: bad directory, corrupt deflate data (zlib.error), CRC mismatch,
    # truncated member (EOFError), unsupported or encrypted member, invalid JSON or text (ValueError)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
            RecursionError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise ConcurError(f"{path}: cannot read ({type(err).__name__}: {first}); the file is damaged, "
                          "download it again") from None
    if not isinstance(raw, list):
        raise ConcurError(f"{path}: expected a JSON list of records")
    # DeepSeek-Coder-V2's file holds a few bare strings (category names): skip them.
    recs = [r for r in raw if isinstance(r, dict) and "question_id" in r]
    if not recs:
        raise ConcurError(f"{path}: no records with a question_id")
    df = pd.DataFrame.from_records(recs)
    for col in ("question", "options", "answer", "pred"):
        if col not in df.columns:
            raise ConcurError(f"{path}: records lack the field '{col}'")
    out_col = "generated_text" if "generated_text" in df.columns else "model_outputs"
    if out_col not in df.columns:
        raise ConcurError(f"{path}: records have neither 'generated_text' nor 'model_outputs'")
    df["output"] = df[out_col].where(df[out_col].notna(), "").astype(str)
    df["question_id"] = df["question_id"].astype(str)
    df = df.drop_duplicates("question_id")
    return df


def import_mmlu_pro(folder: Path, models: Sequence[str] | None, count_tokens: TokenCounter,
                    params_override: dict[str, Any] | None = None, limit: int | None = None,
                    progress: bool = False) -> Imported:
    """Read the chosen models' zips and build tasks + outcomes over their shared questions."""
    models = list(models or DEFAULT_MODELS)
    have = available_models(folder)
    missing = [m for m in models if m not in have]
    if missing:
        raise ConcurError(f"{folder / ZIP_PATTERN.format(missing[0])}: no such file for --models "
                          f"'{missing[0]}' (available: {', '.join(have) or 'none'})")
    if len(set(models)) != len(models):
        raise ConcurError(f"--models: '{next(m for m in models if models.count(m) > 1)}' is listed twice")
    params = {**PARAMS}
    for name, value in (params_override or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConcurError(f"--params_json: '{name}' must be a positive number of parameters, got {value!r}")
        params[name] = float(value)
    no_params = [m for m in models if m not in params]
    if no_params:
        raise ConcurError(f"--models '{no_params[0]}': parameter count not public; give it with --params_json")
    names = {m: short_name(m) for m in models}
    if len(set(names.values())) != len(names):
        raise ConcurError(f"--models: two models map to the same short name ({sorted(names.values())})")

    from tqdm import tqdm

    frames = {m: read_model_zip(folder / ZIP_PATTERN.format(m))
              for m in tqdm(models, desc="reading zips", disable=not progress)}
    shared = set.intersection(*(set(f["question_id"]) for f in frames.values()))
    # Task order: numeric question_id of the first model's file (deterministic).
    base = frames[models[0]]
    base = base[base["question_id"].isin(shared)]
    base = base.iloc[np.argsort(pd.to_numeric(base["question_id"], errors="coerce").fillna(-1).to_numpy(), kind="stable")]
    if limit is not None:
        base = base.iloc[:limit]
    if base.empty:
        raise ConcurError(f"{folder}: the chosen models share no questions")
    qids = base["question_id"].to_numpy()
    tasks = []
    for rec in base[["question_id", "question", "options", "answer"]
                    + [c for c in ("category", "src") if c in base.columns]].to_dict("records"):
        task = {"question_id": rec["question_id"], "question": rec["question"], "options": list(rec["options"]),
                "answer": rec["answer"]}
        if "category" in rec:
            task["subject"] = rec["category"]
        if "src" in rec:
            task["src"] = rec["src"]
        tasks.append(task)
    prompt_tokens = count_tokens([task_text(t) for t in tasks])
    gold = base["answer"].astype(str).to_numpy()

    parts, answer_parts = [], []
    for m in tqdm(models, desc="tokenising outputs", disable=not progress):
        f = frames[m].set_index("question_id").loc[qids]
        out_tokens = count_tokens(f["output"].tolist())
        label = (f["pred"].astype(object).to_numpy() == gold).astype(np.int64)  # null pred -> wrong
        flops = 2.0 * params[m] * (prompt_tokens + out_tokens) / 1e11
        parts.append(pd.DataFrame({"question_id": qids, "model": names[m], "decoding": DECODING,
                                   "label": label, "flops": np.round(flops, 6),
                                   "prompt_tokens": prompt_tokens, "output_tokens": out_tokens}))
        pred = f["pred"].astype(object)
        answer = np.where(pred.notna(), pred.astype(str).str.strip(), "")
        answer_parts.append(pd.DataFrame({"question_id": qids, "model": names[m], "decoding": DECODING,
                                          "answer": answer, "response_tokens": out_tokens,
                                          "parsed": (answer != "").astype(np.int64)}))
    outcomes = pd.concat(parts, ignore_index=True)
    answers = pd.concat(answer_parts, ignore_index=True)
    strategies = {
        "model": {names[m]: {"description": DESCRIPTIONS.get(m, f"{m}, a language model with {params[m] / 1e9:.3g}B parameters."),
                             "params": params[m], "source_name": m} for m in models},
        "decoding": {DECODING: DECODING_DESCRIPTION},
    }
    info = {"input": str(folder), "models": {names[m]: m for m in models},
            "params": {m: params[m] for m in models}, "shared_questions": len(shared), "limit": limit,
            "cost_formula": "2 * params * (question+options tokens + output tokens) / 1e11"}
    info["answers"] = "the extracted option letter `pred` (empty when extraction failed); response_tokens = output tokens"
    return Imported("mmlu-pro", tasks, outcomes, strategies, COST_UNIT, None, info, answers)
