"""The paper-table text (concur/paper_tables.py) on result dicts that lack some routers."""
from __future__ import annotations

from concur.paper_tables import reproduces


def test_claims_about_concur_are_left_out_when_concur_did_not_run():
    point = {"accuracy": 0.5, "cost": 1.0, "gain_vs_best_single": 0.0, "gain_ci": [-0.01, 0.01]}
    res = {"name": "set", "curves": {"routers": {"knn": {"operating_point": point}},
                                     "best_single_point": {"accuracy": 0.5, "cost": 1.0}}}
    text = "\n".join(reproduces([res], [dict(res, ood=True)]))
    assert "CONCUR above the best single" not in text and "Out of distribution" not in text
    with_concur = {**res, "curves": {**res["curves"], "routers": {"concur": {"operating_point": point}}}}
    text = "\n".join(reproduces([with_concur], []))
    assert "CONCUR above the best single strategy" in text and "set +0.0" in text
