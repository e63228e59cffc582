"""The prediction files: joining on question_id, errors naming file and row, new-task files."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from routing_helpers import write_preds

from concur.errors import ConcurError
from concur.pred_files import (NEW_TASK_COLUMNS, load_predictions, load_task_predictions, new_task_table,
                               prediction_path)

POOL = ["small_vanilla", "small_cot", "large_vanilla", "large_cot"]


def test_load_joins_on_question_id(tmp_path: Path):
    mats = write_preds(tmp_path, POOL, 25, seed=3)  # every file but the first is shuffled
    preds = load_predictions(tmp_path, POOL)
    assert preds.question_ids.tolist() == [str(i) for i in range(25)]
    np.testing.assert_allclose(preds.prob, mats["prob"])
    np.testing.assert_allclose(preds.pred_cost, mats["pred_cost"])
    np.testing.assert_allclose(preds.label, mats["label"])
    np.testing.assert_allclose(preds.cost, mats["cost"])


def test_missing_and_extra_task_named(tmp_path: Path):
    write_preds(tmp_path, POOL, 10)
    f = tmp_path / "pred_large_cot.csv"
    df = pd.read_csv(f)
    df[df.question_id != 7].to_csv(f, index=False)
    with pytest.raises(ConcurError, match=r"pred_large_cot.csv: task question_id '7' is missing"):
        load_predictions(tmp_path, POOL)
    extra = pd.concat([df, df.iloc[[0]].assign(question_id=99)])
    extra.to_csv(f, index=False)
    with pytest.raises(ConcurError, match=r"extra task question_id '99'"):
        load_predictions(tmp_path, POOL)


def test_missing_file_points_to_predictor(tmp_path: Path):
    write_preds(tmp_path, POOL[:3], 5)
    with pytest.raises(ConcurError, match=r"pred_large_cot.csv.*predictor.py --strategy all --predict"):
        load_predictions(tmp_path, POOL)
    with pytest.raises(ConcurError, match=r"pred_val_small_vanilla.csv"):
        load_predictions(tmp_path, POOL, "val")


def test_bad_values_and_wrong_strategy(tmp_path: Path):
    write_preds(tmp_path, POOL, 5)
    f = tmp_path / "pred_small_cot.csv"
    df = pd.read_csv(f, dtype=str)
    df.loc[2, "pred_flops"] = "abc"
    df.to_csv(f, index=False)
    with pytest.raises(ConcurError, match=r"pred_small_cot.csv: row 4: column 'pred_flops'"):
        load_predictions(tmp_path, POOL)
    write_preds(tmp_path, POOL, 5)
    df = pd.read_csv(f)
    df["model"] = "large"
    df.to_csv(f, index=False)
    with pytest.raises(ConcurError, match=r"does not match the file name"):
        load_predictions(tmp_path, POOL)


def test_new_task_files_have_no_ground_truth(tmp_path: Path):
    rng = np.random.default_rng(0)
    for s in POOL:
        df = new_task_table(s, ["a", "b", "c"], rng.random(3), rng.random(3) * 5)
        assert list(df.columns) == list(NEW_TASK_COLUMNS)
        df.sample(frac=1, random_state=1).to_csv(tmp_path / f"pred_{s}.csv", index=False)
    preds = load_task_predictions(tmp_path, POOL)
    assert sorted(preds.question_ids) == ["a", "b", "c"] and preds.prob.shape == (3, 4)
    assert np.isnan(preds.label).all() and np.isnan(preds.cost).all()
    # a labelled split's reader refuses a file without its ground-truth columns
    (tmp_path / "pred_small_vanilla.csv").rename(prediction_path(tmp_path, "small_vanilla"))
    with pytest.raises(ConcurError, match="missing column 'gt_label'"):
        load_predictions(tmp_path, ["small_vanilla"])
