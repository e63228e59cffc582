import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from concur.config import load_config
from concur.data import load_dataset, load_strategies, load_tasks, split_strategy, task_text
from concur.errors import ConcurError


def _edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str)
    df = fn(df)
    df.to_csv(path, index=False)


def test_loads_matrices_joined_on_question_id(tiny_config: Path):
    ds = load_dataset(load_config(tiny_config))
    assert ds.strategies == ["small_vanilla", "small_cot", "large_vanilla", "large_cot"]
    raw = pd.read_csv(tiny_config.parent / "train.csv")
    # shuffle row order in the file: matrices must not change (join on question_id)
    raw.sample(frac=1, random_state=1).to_csv(tiny_config.parent / "train.csv", index=False)
    ds2 = load_dataset(load_config(tiny_config))
    np.testing.assert_array_equal(ds.train.label, ds2.train.label)
    np.testing.assert_array_equal(ds.train.cost, ds2.train.cost)
    r = raw[(raw.question_id == 5) & (raw.model == "large") & (raw.decoding == "cot")].iloc[0]
    i = list(ds.train.question_ids).index("5")
    j = ds.train.column("large_cot")
    assert ds.train.label[i, j] == r.label and ds.train.cost[i, j] == r.flops
    assert ds.train.task_rows[i] == 5


def test_missing_rows_are_nan(tiny_config: Path):
    _edit_csv(tiny_config.parent / "train.csv", lambda d: d[~((d.question_id == "0") & (d.model == "small") & (d.decoding == "cot"))])
    ds = load_dataset(load_config(tiny_config))
    i = list(ds.train.question_ids).index("0")
    assert np.isnan(ds.train.label[i, ds.train.column("small_cot")])
    qids, rows, labels, costs = ds.train.rows_of("small_cot")
    assert "0" not in set(qids) and len(qids) == len(ds.train.question_ids) - 1


def test_explicit_question_ids(tmp_path: Path, tiny_config: Path):
    tasks = json.loads((tiny_config.parent / "task.json").read_text())
    for i, t in enumerate(tasks):
        t["question_id"] = 1000 + i
    (tiny_config.parent / "task.json").write_text(json.dumps(tasks))
    for split in ("train", "val", "test"):
        _edit_csv(tiny_config.parent / f"{split}.csv", lambda d: d.assign(question_id=(d.question_id.astype(int) + 1000).astype(str)))
    ds = load_dataset(load_config(tiny_config))
    assert ds.tasks.index["1003"] == 3


def test_task_text_format():
    assert task_text({"question": "Q?", "options": ["x", "y"]}) == "Question: Q?\n\nChoices:\n(A) x\n(B) y"
    assert task_text({"question": "Q?"}) == "Q?"


def test_pool_from_config_list(tiny_config: Path):
    with open(tiny_config, "a") as fh:
        fh.write("strategies: [large_cot, small_vanilla]\n")
    ds = load_dataset(load_config(tiny_config))
    assert ds.strategies == ["large_cot", "small_vanilla"]
    assert ds.test.label.shape[1] == 2


def test_split_strategy():
    assert split_strategy("qwen7b_cot") == ("qwen7b", "cot")
    with pytest.raises(ConcurError):
        split_strategy("a_b_c")


# ---- one test per validation error class: each names the file, row and column/key
CSV_ERRORS = [
    ("missing column", lambda d: d.drop(columns="flops"), r"train\.csv: missing column 'flops'"),
    ("non-numeric cost", lambda d: d.assign(flops=d.flops.where(d.index != 3, "abc")), r"train\.csv: row 5: column 'flops' is not a number"),
    ("negative cost", lambda d: d.assign(flops=d.flops.where(d.index != 2, "-1")), r"train\.csv: row 4: column 'flops' must be a finite cost >= 0"),
    ("label outside", lambda d: d.assign(label=d.label.where(d.index != 0, "2")), r"train\.csv: row 2: column 'label' must be in \[0, 1\]"),
    ("nan", lambda d: d.assign(label=d.label.where(d.index != 1, None)), r"train\.csv: row 3: column 'label' is empty or NaN"),
    ("duplicate", lambda d: pd.concat([d, d.iloc[[4]]], ignore_index=True), r"train\.csv: row \d+: duplicate row for \(question_id=\d+, model=\w+, decoding=\w+\)"),
    ("unknown id", lambda d: d.assign(question_id=d.question_id.where(d.index != 6, "999")), r"train\.csv: row 8: question_id '999' is not in .*task\.json"),
    ("underscore", lambda d: d.assign(model=d.model.where(d.index != 0, "big_model")), r"train\.csv: row 2: model name 'big_model' contains '_'"),
    ("undescribed model", lambda d: d.assign(model=d.model.where(d.index != 0, "mystery")), r"train\.csv: row 2: model 'mystery' is not described in .*strategies\.json"),
]


@pytest.mark.parametrize("name, edit, pattern", CSV_ERRORS, ids=[c[0] for c in CSV_ERRORS])
def test_csv_validation_errors(tiny_config: Path, name, edit, pattern):
    _edit_csv(tiny_config.parent / "train.csv", edit)
    with pytest.raises(ConcurError, match=pattern):
        load_dataset(load_config(tiny_config))


def test_task_in_two_splits(tiny_config: Path):
    val = pd.read_csv(tiny_config.parent / "val.csv", dtype=str)
    train = pd.read_csv(tiny_config.parent / "train.csv", dtype=str)
    pd.concat([train, val.iloc[:4]]).to_csv(tiny_config.parent / "train.csv", index=False)
    with pytest.raises(ConcurError, match=r"question_id '\d+' is also in the (train|val) split"):
        load_dataset(load_config(tiny_config))


def test_strategy_without_training_rows(tiny_config: Path):
    _edit_csv(tiny_config.parent / "train.csv", lambda d: d[~((d.model == "large") & (d.decoding == "cot"))])
    with pytest.raises(ConcurError, match=r"val\.csv: strategy 'large_cot' has no training rows"):
        load_dataset(load_config(tiny_config))
    with open(tiny_config, "a") as fh:
        fh.write("strategies: [large_cot]\n")
    with pytest.raises(ConcurError, match=r"train\.csv: strategy 'large_cot' .* has no training rows"):
        load_dataset(load_config(tiny_config))


def test_strategy_names_with_underscore_in_strategies_json(tmp_path: Path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"model": {"big_model": "x"}, "decoding": {"cot": "y"}}))
    with pytest.raises(ConcurError, match=r"s\.json: model name 'big_model' .* no '_'"):
        load_strategies(p)


@pytest.mark.parametrize("content, pattern", [
    ("[]", "non-empty JSON list"),
    ('[{"options": ["a"]}]', r"task 0: field 'question'"),
    ('[{"question": "q", "question_id": 1}, {"question": "r"}]', r"task 1: field 'question_id' is missing"),
    ('[{"question": "q", "question_id": 1}, {"question": "r", "question_id": 1}]', r"task 1: duplicate question_id '1'"),
    ('[{"question": "q"', "invalid JSON at line 1"),
])
def test_task_json_errors(tmp_path: Path, content, pattern):
    p = tmp_path / "task.json"
    p.write_text(content)
    with pytest.raises(ConcurError, match=pattern):
        load_tasks(p)


def test_missing_files(tiny_config: Path):
    (tiny_config.parent / "test.csv").unlink()
    with pytest.raises(ConcurError, match=r"test\.csv: test outcome CSV not found"):
        load_dataset(load_config(tiny_config))
    # reading only train+val does not need it
    load_dataset(load_config(tiny_config), splits=("train", "val"))


def test_pred_table_clips_and_keeps_columns():
    from concur.pred_files import PRED_COLUMNS, pred_table

    df = pred_table("m_d", ["1", "2"], [1, 0], [3.0, 4.0], [1.2, -0.1], [-1.0, 2.0])
    assert list(df.columns) == list(PRED_COLUMNS)
    assert df["pred_cls_prob"].tolist() == [1.0, 0.0]
    assert df["pred_flops"].tolist() == [0.0, 2.0]
    assert df["pred_label"].tolist() == [1, 0]


def test_task_files_may_be_json_lines(tmp_path):
    from concur.data import load_tasks

    path = tmp_path / "new.jsonl"
    path.write_text('{"question": "a?", "options": ["x", "y"]}\n\n{"question": "b?", "question_id": "q2"}\n')
    with pytest.raises(ConcurError, match="question_id"):  # one task carries an id, so all must
        load_tasks(path)
    path.write_text('{"question": "a?", "options": ["x", "y"]}\n{"question": "b?"}\n')
    tasks = load_tasks(path)
    assert tasks.ids == ["0", "1"] and tasks.texts()[0].startswith("Question: a?")
    path.write_text('{"question": "a?"}\n{"question": \n')
    with pytest.raises(ConcurError, match=r"new\.jsonl: line 2: invalid JSON"):
        load_tasks(path)
