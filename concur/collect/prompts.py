"""Decoding prompts: templates from strategies.json, built-in defaults, chat formatting.

A decoding entry in strategies.json may be a plain description (then `vanilla` and `cot`
use the built-in templates below) or an object
`{"description": ..., "template": "... {question} ...", "max_new_tokens": N}`.
Template slots: `{question}` (required; the task text with lettered choices) and
`{instruction}` (optional; how to state the answer, chosen by the kind of gold answer).
Literal braces are written `{{` and `}}`.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..data import StrategyCatalog, task_text
from ..errors import ConcurError

DEFAULT_TEMPLATES = {
    "vanilla": "{question}\n\n{instruction} Reply with the final answer only, without explanation.",
    "cot": "{question}\n\n{instruction} Think step by step first, then give the final answer on the last line.",
}
DEFAULT_MAX_NEW_TOKENS = {"vanilla": 32, "cot": 512}
FALLBACK_MAX_NEW_TOKENS = 512

INSTRUCTIONS = {
    "choice": 'Answer with the letter of the correct choice, in the form "The answer is (X)".',
    "number": 'Give the final answer as a number, in the form "The answer is N".',
    "text": 'Give a short final answer, in the form "The answer is ...".',
}
SLOTS = ("question", "instruction")


@dataclass(frozen=True)
class DecodingSpec:
    name: str
    template: str
    max_new_tokens: int

    def render(self, record: dict[str, Any], gold_kind: str) -> str:
        """The user message for one task."""
        return self.template.format(question=task_text(record), instruction=INSTRUCTIONS[gold_kind])


def check_template(template: Any, where: str) -> str:
    if not isinstance(template, str) or not template.strip():
        raise ConcurError(f"{where}: 'template' must be a non-empty string")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise ConcurError(f"{where}: bad template ({err}; write literal braces as '{{{{' and '}}}}')") from None
    unknown = sorted(f for f in fields if f not in SLOTS)
    if unknown:
        raise ConcurError(f"{where}: template slot '{{{unknown[0]}}}' is unknown (allowed: {{question}}, {{instruction}})")
    if "question" not in fields:
        raise ConcurError(f"{where}: template has no '{{question}}' slot")
    return template


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConcurError(f"{where}: max_new_tokens must be a positive integer, got {value!r}")
    return value


def decoding_spec(catalog: StrategyCatalog, name: str, config: Config) -> DecodingSpec:
    """Template and token budget of decoding `name`.

    max_new_tokens: config `collect.max_new_tokens` (an int, or a mapping decoding -> int)
    wins over the decoding entry's `max_new_tokens`, which wins over the built-in default.
    """
    where = f"{catalog.path}: decoding '{name}'"
    info = catalog.decoding_info.get(name, {})
    if "template" in info:
        template = check_template(info["template"], where)
    elif name in DEFAULT_TEMPLATES:
        template = DEFAULT_TEMPLATES[name]
    else:
        raise ConcurError(f"{where}: no 'template' given (built-in templates exist only for {', '.join(DEFAULT_TEMPLATES)})")
    cfg_tokens = config.collect.max_new_tokens
    if isinstance(cfg_tokens, dict) and name in cfg_tokens:
        tokens = _positive_int(cfg_tokens[name], f"config key 'collect.max_new_tokens.{name}'")
    elif isinstance(cfg_tokens, int):
        tokens = _positive_int(cfg_tokens, "config key 'collect.max_new_tokens'")
    elif "max_new_tokens" in info:
        tokens = _positive_int(info["max_new_tokens"], where)
    else:
        tokens = DEFAULT_MAX_NEW_TOKENS.get(name, FALLBACK_MAX_NEW_TOKENS)
    return DecodingSpec(name, template, tokens)


def encode_prompt(tokenizer: Any, message: str) -> list[int]:
    """Token ids of the model input: the chat template when the tokenizer has one.

    Both backends generate from these ids, so prompt token counts are exact and equal
    across backends.
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True)
        # the template already carries BOS etc.
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(message, add_special_tokens=True)["input_ids"])
