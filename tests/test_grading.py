"""Grader: answer extraction from real-looking model outputs."""
from __future__ import annotations

import pytest

from concur.collect.grading import Gold, extract_choice, extract_number, extract_text, gold_of, grade, normalize_text
from concur.errors import ConcurError

OPTS = ("Berlin", "Madrid", "Paris", "Rome")

CHOICE_CASES = [
    ("The answer is (C).", "C"),
    ("The answer is C", "C"),
    ("C.", "C"),
    ("C", "C"),
    ("(C)", "C"),
    ("**C**", "C"),
    ("Answer: C", "C"),
    ("Answer: (c)", "C"),
    ("**Answer:** C) Paris", "C"),
    ("The correct answer is: B. Madrid", "B"),
    ("Final Answer: $\\boxed{D}$", "D"),
    ("Let's think. Berlin is in Germany, so (A) is wrong. Madrid is Spain's. "
     "Paris is the capital of France.\nThe answer is (C).", "C"),
    ("At first the answer is (A)... wait, no. Re-checking: the answer is (C).", "C"),
    ("Step 1: consider each option.\nStep 2: eliminate.\n\nC. Paris", "C"),
    ("The answer is Paris.", "C"),
    ("The answer is a city in Europe.", None),  # article, not option A
    ("I think it's Paris or Rome, hard to say.", None),
    ("", None),
    ("The answer is (F).", None),  # only four options
    ("A) Berlin\nB) Madrid\nThe capital is not listed", None),
]


@pytest.mark.parametrize("text,expected", CHOICE_CASES)
def test_extract_choice(text, expected):
    assert extract_choice(text, OPTS) == expected


NUMBER_CASES = [
    ("Natalia sold 48/2 = 24 clips in May. 48 + 24 = 72.\n#### 72", 72.0),
    ("She has 3 apples and buys 5 more, so 8 apples. The answer is 8.", 8.0),
    ("The total is $1,234.50.", 1234.5),
    ("So the answer is 18 dollars", 18.0),
    ("He ran 3 times a week for 60 meters: 3 * 60 = 180 meters per sprint session. Total 540 meters.", 540.0),
    ("The answer is -5 degrees.", -5.0),
    ("Answer: 25%", 25.0),
    ("\\boxed{42} is what we get after 7 steps", 42.0),
    ("The answer is 1,000,000.", 1e6),
    ("I don't know.", None),
]


@pytest.mark.parametrize("text,expected", NUMBER_CASES)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


def test_extract_text_and_normalisation():
    assert extract_text("Thinking...\nThe answer is the Pacific Ocean.") == "the Pacific Ocean"
    assert normalize_text("The  Pacific Ocean!") == "pacific ocean"
    assert extract_text("Blue") == "Blue"
    assert extract_text("   \n ") is None


GRADE_CASES = [
    (Gold("choice", "C", OPTS), "The answer is (C).", True, "C"),
    (Gold("choice", "C", OPTS), "The answer is (B).", False, "B"),
    (Gold("choice", "C", OPTS), "Hmm.", False, None),
    (Gold("number", 72.0), "#### 72", True, "72"),
    (Gold("number", 72.0), "#### 72.0", True, "72"),
    (Gold("number", 72.0), "The answer is 73.", False, "73"),
    (Gold("number", 1234.5), "Total: $1,234.50", True, "1234.5"),
    (Gold("number", 72.0), "no idea", False, None),
    (Gold("text", ("pacific ocean",)), "The answer is the Pacific Ocean.", True, "the Pacific Ocean"),
    (Gold("text", ("blue", "light blue")), "Light blue", True, "Light blue"),
    (Gold("text", ("blue",)), "The answer is green.", False, "green"),
    (Gold("text", ("blue",)), "", False, None),
]


@pytest.mark.parametrize("gold,text,ok,parsed", GRADE_CASES)
def test_grade(gold, text, ok, parsed):
    assert grade(text, gold) == (ok, parsed)


def test_gold_of_kinds():
    mc = {"question": "q", "options": list(OPTS)}
    assert gold_of({**mc, "answer": "C"}, "t") == Gold("choice", "C", OPTS)
    assert gold_of({**mc, "answer": "(c)"}, "t").value == "C"
    assert gold_of({**mc, "answer": 2}, "t").value == "C"
    assert gold_of({**mc, "answer": "Paris"}, "t").value == "C"
    assert gold_of({**mc, "answer_index": 1}, "t").value == "B"
    assert gold_of({"question": "q", "answer": 6}, "t") == Gold("number", 6.0)
    assert gold_of({"question": "q", "answer": "1,200"}, "t") == Gold("number", 1200.0)
    assert gold_of({"question": "q", "answer": "The Pacific"}, "t") == Gold("text", ("pacific",))
    assert gold_of({"question": "q", "answer": ["blue", "azure"]}, "t").value == ("blue", "azure")


@pytest.mark.parametrize("record,needle", [
    ({"question": "q"}, "no gold answer"),
    ({"question": "q", "answer": "  "}, "no gold answer"),
    ({"question": "q", "options": list(OPTS), "answer": "E"}, "not a letter A-D"),
    ({"question": "q", "options": list(OPTS), "answer": 7}, "out of range"),
    ({"question": "q", "answer": {"x": 1}}, "must be a string"),
])
def test_gold_of_errors(record, needle):
    with pytest.raises(ConcurError, match=needle) as exc:
        gold_of(record, "task.json: task 3")
    assert str(exc.value).startswith("task.json: task 3")
