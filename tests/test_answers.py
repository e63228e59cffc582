"""concur/answers.py: the answers files' validation and alignment to a split."""
from __future__ import annotations

import pandas as pd
import pytest

from concur.answers import ANSWER_COLUMNS, load_split_answers, read_answers_csv
from concur.config import load_config
from concur.data import load_dataset
from concur.errors import ConcurError
from conftest import write_tiny_dataset


def answers_for(split_csv, path, drop=0, mutate=None):
    """An answers file for every outcome row of `split_csv` (the answer 'A' when label is 1, else 'B')."""
    o = pd.read_csv(split_csv, dtype={"question_id": str})
    df = pd.DataFrame({"question_id": o.question_id, "model": o.model, "decoding": o.decoding,
                       "answer": ["A" if y == 1 else "B" for y in o.label], "response_tokens": 7, "parsed": 1})
    if drop:
        df = df.iloc[drop:]
    if mutate:
        mutate(df)
    df[list(ANSWER_COLUMNS)].to_csv(path, index=False)
    return df


@pytest.fixture
def tiny(tmp_path):
    cfg_path = write_tiny_dataset(tmp_path / "ds")
    for s in ("train", "val", "test"):
        answers_for(tmp_path / "ds" / f"{s}.csv", tmp_path / "ds" / f"answers_{s}.csv")
    with open(cfg_path, "a") as fh:
        fh.write("".join(f"{s}_answers_path: ./answers_{s}.csv\n" for s in ("train", "val", "test")))
    return cfg_path


def test_answers_align_with_the_split(tiny):
    cfg = load_config(tiny)
    ds = load_dataset(cfg)
    ans = load_split_answers(cfg, ds.train)
    assert ans.answer.shape == ds.train.label.shape and ans.observed.all() and ans.parsed.all()
    assert ((ans.answer == "A") == (ds.train.label == 1)).all()  # row and column order follow the split
    assert (ans.response_tokens == 7).all()


def test_answers_key_not_set_is_one_line(tmp_path):
    cfg = load_config(write_tiny_dataset(tmp_path / "ds"))
    with pytest.raises(ConcurError, match="train_answers_path' is not set"):
        load_split_answers(cfg, load_dataset(cfg).train)


def test_an_outcome_row_without_its_answer_is_named(tiny):
    answers_for(tiny.parent / "val.csv", tiny.parent / "answers_val.csv", drop=1)
    cfg = load_config(tiny)
    with pytest.raises(ConcurError, match="answers_val.csv: no answer for question_id"):
        load_split_answers(cfg, load_dataset(cfg).val)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.__setitem__("parsed", 2), "'parsed' must be 0 or 1"),
    (lambda d: d.__setitem__("response_tokens", -1), "'response_tokens' must be a whole number"),
    (lambda d: d.__setitem__("response_tokens", 1.5), "'response_tokens' must be a whole number"),
    (lambda d: d.loc.__setitem__((d.index[0], "answer"), ""), "'parsed' must be 1 exactly when"),
    (lambda d: d.loc.__setitem__((d.index[0], "model"), "../x"), "model name"),
])
def test_bad_answer_rows_are_one_line_naming_the_row(tiny, mutate, needle):
    path = tiny.parent / "answers_test.csv"
    answers_for(tiny.parent / "test.csv", path, mutate=mutate)
    with pytest.raises(ConcurError, match=needle) as err:
        read_answers_csv(path)
    assert "row 2" in str(err.value) and "\n" not in str(err.value)


def test_duplicate_answer_rows_are_refused(tiny):
    path = tiny.parent / "answers_test.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([df, df.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(ConcurError, match="a second row"):
        read_answers_csv(path)


def test_answer_text_is_kept_verbatim(tiny):
    path = tiny.parent / "answers_test.csv"
    answers_for(tiny.parent / "test.csv", path, mutate=lambda d: d.__setitem__("answer", "1.50"))
    assert (read_answers_csv(path).answer == "1.50").all()
    answers_for(tiny.parent / "test.csv", path, mutate=lambda d: d.__setitem__("answer", "NA"))
    assert (read_answers_csv(path).answer == "NA").all()
