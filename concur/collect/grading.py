"""Grade generated answers against gold answers.

Three kinds of gold answer, decided from the task record (`gold_of`):
- "choice": multiple choice (the task has `options`); the gold is a letter.
- "number": GSM8K style; the last number (or the one after "The answer is" / "####").
- "text":   short free-form answers; normalised exact match (SQuAD-style normalisation).

`grade` returns (correct, parsed); parsed is None when nothing could be extracted, which
counts as wrong and is reported by the runner as "unparseable".
"""
from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Any

from ..data import LETTERS
from ..errors import ConcurError


@dataclass(frozen=True)
class Gold:
    kind: str  # "choice" | "number" | "text"
    value: Any  # letter (str) | float | tuple of normalised aliases
    options: tuple[str, ...] = ()


# ------------------------------------------------------------------ gold
_NUM_TEXT = re.compile(r"^\s*[-+]?\$?\s*(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*%?\s*$")


def _parse_number_string(s: str) -> float | None:
    if not _NUM_TEXT.match(s):
        return None
    return float(re.sub(r"[\s$,%]", "", s))


def gold_of(record: dict[str, Any], where: str) -> Gold:
    """The gold answer of a task record; ConcurError (naming `where`) if absent or unusable."""
    answer = record.get("answer")
    options = record.get("options")
    if answer is None and options and isinstance(record.get("answer_index"), int):
        answer = record["answer_index"]
    if answer is None or (isinstance(answer, str) and not answer.strip()) or answer == []:
        raise ConcurError(f"{where}: no gold answer (field 'answer' is missing or empty)")
    if options:
        opts = tuple(str(o) for o in options)
        letters = LETTERS[: len(opts)]
        if isinstance(answer, bool):
            raise ConcurError(f"{where}: field 'answer' must be a letter, an option index or an option text")
        if isinstance(answer, int):
            if 0 <= answer < len(opts):
                return Gold("choice", letters[answer], opts)
            raise ConcurError(f"{where}: answer index {answer} is out of range for {len(opts)} options")
        if isinstance(answer, str):
            a = answer.strip().strip("()").strip()
            if len(a) == 1 and a.upper() in letters:
                return Gold("choice", a.upper(), opts)
            norm = [normalize_text(o) for o in opts]
            if normalize_text(answer) in norm and norm.count(normalize_text(answer)) == 1:
                return Gold("choice", letters[norm.index(normalize_text(answer))], opts)
        raise ConcurError(f"{where}: answer {answer!r} is not a letter {letters[0]}-{letters[-1]}, an option index or an option text")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        if not math.isfinite(answer):
            raise ConcurError(f"{where}: answer {answer!r} is not a finite number")
        return Gold("number", float(answer))
    if isinstance(answer, str):
        num = _parse_number_string(answer)
        if num is not None:
            return Gold("number", num)
        return Gold("text", (normalize_text(answer),))
    if isinstance(answer, list) and all(isinstance(a, str) for a in answer):
        return Gold("text", tuple(normalize_text(a) for a in answer))
    raise ConcurError(f"{where}: field 'answer' must be a string, a number or a list of strings")


# ---------------------------------------------------------- normalisation
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_text(s: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style)."""
    s = str(s).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


# ------------------------------------------------------------- extraction
# "The answer is", "Answer:", "final answer is", "correct option is", …
_CUE_RE = re.compile(r"(?:final\s+answer|answer|correct\s+(?:answer|option|choice))\s*(?:is|:|=|would be|should be)\s*:?\s*", re.I)
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*([^{}]*?)\s*\}?\s*\}")
_MARKUP = re.compile(r"[*_`]")


def _strip_markup(text: str) -> str:
    return _MARKUP.sub("", text)


def _letter_after(s: str, letters: str) -> str | None:
    """A choice letter at the start of `s`: 'C', '(C)', '(c)', 'C.', 'C)', '[C]'."""
    m = re.match(r"\s*[\(\[]\s*([A-Za-z])\s*[\)\]]", s)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    # bare letter must be upper case ("the answer is a …" is an article) and stand alone
    m = re.match(r"\s*([A-Z])(?![A-Za-z0-9'])", s)
    if m and m.group(1) in letters:
        return m.group(1)
    return None


def extract_choice(text: str, options: tuple[str, ...] | int) -> str | None:
    """The chosen letter, or None. The last explicit cue ("answer is …") wins."""
    n = options if isinstance(options, int) else len(options)
    letters = LETTERS[:n]
    clean = _strip_markup(text)
    found = None
    for m in _BOXED.finditer(clean):
        letter = _letter_after(m.group(1), letters)
        found = letter or found
    for m in _CUE_RE.finditer(clean):
        letter = _letter_after(clean[m.end():], letters)
        if letter:
            found = letter
    if found:
        return found
    # a line that is just the letter, or starts with "C." / "C)" / "(C)"
    for line in reversed([ln.strip() for ln in clean.splitlines() if ln.strip()]):
        m = re.fullmatch(r"[\(\[]?([A-Z])[\)\]]?[.:]?", line) or re.match(r"(?:[\(\[]([A-Za-z])[\)\]]|([A-Z])[.)])(?:\s|$)", line)
        if m:
            letter = next(g for g in m.groups() if g).upper()
            if letter in letters:
                return letter
        break  # only the last non-empty line counts
    # the answer given as the option's text ("The answer is Paris")
    if not isinstance(options, int):
        norm = [normalize_text(o) for o in options]
        for cand in reversed(_answer_phrases(clean)):
            c = normalize_text(cand)
            if c and norm.count(c) == 1:
                return letters[norm.index(c)]
    return None


def _answer_phrases(text: str) -> list[str]:
    """Phrases after each answer cue, up to the end of the line or sentence."""
    out = []
    for m in _CUE_RE.finditer(text):
        rest = text[m.end():].split("\n", 1)[0]
        out.append(re.split(r"(?<=[^\d])\.(?:\s|$)", rest, maxsplit=1)[0].strip())
    return out


_NUMBER = re.compile(r"[-+]?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _to_float(token: str) -> float:
    return float(re.sub(r"[\s$,+]", "", token))


def extract_number(text: str) -> float | None:
    """GSM8K style: the number after the last '####' / answer cue / \\boxed, else the last number."""
    clean = _strip_markup(text)
    spans = [m.end() for m in re.finditer(r"####", clean)]
    if not spans:
        spans = [m.start(1) for m in _BOXED.finditer(clean)]
    if not spans:
        spans = [m.end() for m in _CUE_RE.finditer(clean)]
    if spans:
        m = _NUMBER.search(clean, spans[-1])
        if m:
            return _to_float(m.group(0))
    numbers = _NUMBER.findall(clean)
    return _to_float(numbers[-1]) if numbers else None


def extract_text(text: str) -> str | None:
    """The short answer: after the last answer cue, else the last non-empty line."""
    clean = _strip_markup(text)
    boxed = [m.group(1) for m in _BOXED.finditer(clean)]
    if boxed:
        return boxed[-1].strip()
    phrases = [p for p in _answer_phrases(clean) if p]
    if phrases:
        return phrases[-1]
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def grade(text: str, gold: Gold) -> tuple[bool, str | None]:
    """(correct, parsed answer as a string or None when unparseable)."""
    if gold.kind == "choice":
        letter = extract_choice(text, gold.options)
        return letter == gold.value, letter
    if gold.kind == "number":
        num = extract_number(text)
        if num is None:
            return False, None
        ok = math.isclose(num, gold.value, rel_tol=1e-6, abs_tol=1e-9)
        return ok, f"{num:g}"
    ans = extract_text(text)
    if ans is None or not normalize_text(ans):
        return False, None
    return normalize_text(ans) in gold.value, ans
