"""Importers: fixture files written to tmp dirs (plus real shared data when present)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from concur.config import load_config
from concur.data import load_dataset, task_text
from concur.errors import ConcurError
from concur.importers import prepare, split_by_task
from concur.importers import mmlu_pro as mp
from concur.importers import routellm as rl
from concur.importers import routerbench as rb
from conftest import SHARED_DATA, run_script, write_tiny_dataset


def word_count(texts):
    """Injected token counter: whitespace words, so expected costs are computable by hand."""
    return np.array([len(t.split()) for t in texts], dtype=np.int64)


# ------------------------------------------------------------------ fixtures
MP_MODELS = ("Phi-3-mini-4k-instruct", "Mistral-7B-Instruct-v0.2", "DeepSeek-Coder-V2")
N_Q = 20


def _mp_records(model: str, rng: np.random.Generator) -> list:
    recs = []
    for q in range(N_Q):
        if model == "DeepSeek-Coder-V2" and q == N_Q - 1:
            continue  # this model lacks one question: only the shared ones are kept
        answer = "ABCD"[q % 4]
        pred = None if (model == "Phi-3-mini-4k-instruct" and q == 0) else ("ABCD"[(q + (q % 3 == 0)) % 4])
        rec = {"question_id": q + 100, "question": f"Question number {q} about topic {q % 2}?",
               "options": ["alpha", "beta gamma", "delta", "eps"], "answer": answer, "answer_index": q % 4,
               "cot_content": "", "category": ["math", "law"][q % 2], "src": "ori_mmlu-x", "pred": pred}
        text = " ".join(["step"] * int(rng.integers(1, 30)))
        rec["model_outputs" if model == "DeepSeek-Coder-V2" else "generated_text"] = text
        recs.append(rec)
    if model == "DeepSeek-Coder-V2":
        recs += ["other", "total"]  # non-record entries, as in the real file
    return recs


def write_mmlu_pro(folder: Path, models=MP_MODELS) -> dict[str, list]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for m in models:
        recs = _mp_records(m, rng)
        name = f"model_outputs_{m}_5shots"
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as zf:
            zf.writestr(f"{name}.json", json.dumps(recs))
        out[m] = recs
    return out


ARC_EXAMPLE = "Which is a metal?\nA) wood\nB) iron\nPrint only a single choice.\nAnswer:\nB\n\n"
RB_COLS = list(rb.MODELS)


def write_routerbench(folder: Path, n_train: int = 12, n_test: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        for task, ev in (("arc_challenge", "arc-challenge"), ("mbpp", "mbpp"), ("winograde", "winogrande")):
            rows = []
            for i in range(n):
                if task == "arc_challenge":
                    q = f"Real question {split} {i}?\nA) x\nB) y\nPrint only a single choice.\nAnswer:"
                    prompt = repr([ARC_EXAMPLE * 5 + q])
                else:
                    prompt = repr([f"Write a function number {i} for {task} {split}."])
                row = {"Unnamed: 0": i, "sample_id": f"{ev}.{split}.{i}", "prompt": prompt, "eval_name": ev}
                for j, m in enumerate(RB_COLS):
                    row[m] = float((i + j) % 2)
                    row[f"{m}|model_response"] = "A"
                    row[f"{m}|total_cost"] = (j + 1) * 1e-5 + i * 1e-7
                row["oracle_model_to_route_to"] = RB_COLS[0]
                rows.append(row)
            df = pd.DataFrame(rows)
            if task == "arc_challenge" and split == "train":
                df.loc[0, RB_COLS[3]] = np.nan  # a NaN correctness: the row is dropped
            df.to_csv(folder / f"{task}_{split}.csv", index=False)


RL_COLS = list(rl.MODELS)


def write_routellm(folder: Path, n: int = 15) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    prompts = []
    for subject in ("anatomy", "virology"):
        rows = []
        for i in range(n):
            p = f"Question {i} of {subject} with\ntwo lines?\nA. one\nB. two words\nC. three\nD. four\nAnswer:"
            rows.append({"prompt": p, RL_COLS[0]: i % 2 == 0, RL_COLS[1]: i % 3 != 0})
            prompts.append(p)
        pd.DataFrame(rows).to_csv(folder / f"mmlu_{subject}.csv", index=False)
    with open(folder / "contaminated_prompts.jsonl", "w") as fh:
        for p in prompts[:2]:
            fh.write(json.dumps({"train_prompt": "x", "eval_prompt": p, "train_idx": 1, "eval_idx": 2}) + "\n")
    return prompts


# ---------------------------------------------------------------- mmlu-pro
def test_short_names_have_no_underscore_and_are_unique():
    names = [mp.short_name(m) for m in [*mp.PARAMS, "gemini-1.5-pro-002"]]
    assert all("_" not in n for n in names)
    assert len(set(names)) == len(names)
    assert mp.short_name("Meta-Llama-3_1-70B-Instruct") == "llama31-70b-instruct"
    assert set(mp.DEFAULT_MODELS) <= set(mp.PARAMS) and len(mp.DEFAULT_MODELS) == 10


def test_mmlu_pro_labels_cost_and_shared_questions(tmp_path):
    recs = write_mmlu_pro(tmp_path / "mmlu_pro")
    data = mp.import_mmlu_pro(tmp_path / "mmlu_pro", list(MP_MODELS), word_count)
    assert len(data.tasks) == N_Q - 1  # one question missing from DeepSeek's file
    assert [t["question_id"] for t in data.tasks] == [str(q + 100) for q in range(N_Q - 1)]
    assert data.tasks[0]["subject"] == "math" and data.tasks[0]["options"][1] == "beta gamma"
    out = data.outcomes
    assert len(out) == 3 * (N_Q - 1)
    for m in MP_MODELS:
        by_q = {str(r["question_id"]): r for r in recs[m] if isinstance(r, dict)}
        rows = out[out.model == mp.short_name(m)].set_index("question_id")
        for qid, row in rows.iterrows():
            r = by_q[qid]
            assert row.label == int(r["pred"] is not None and r["pred"] == r["answer"])
            task = next(t for t in data.tasks if t["question_id"] == qid)
            text = r.get("generated_text", r.get("model_outputs"))
            tokens = len(task_text(task).split()) + len(text.split())
            assert row.flops == pytest.approx(2 * mp.PARAMS[m] * tokens / 1e11, rel=1e-6)
    phi = out[(out.model == "phi-3-mini-4k-instruct") & (out.question_id == "100")]
    assert phi.label.item() == 0  # null prediction counts as wrong
    assert data.strategies["model"]["mistral-7b-instruct-v0.2"]["params"] == mp.PARAMS["Mistral-7B-Instruct-v0.2"]
    assert set(data.strategies["decoding"]) == {"cot5shot"}


def test_mmlu_pro_params_override_and_unknown_params(tmp_path):
    write_mmlu_pro(tmp_path / "mmlu_pro", models=("Phi-3-mini-4k-instruct", "gemini-1.5-pro-002"))
    folder = tmp_path / "mmlu_pro"
    with pytest.raises(ConcurError, match="gemini-1.5-pro-002.*--params_json"):
        mp.import_mmlu_pro(folder, ["Phi-3-mini-4k-instruct", "gemini-1.5-pro-002"], word_count)
    base = mp.import_mmlu_pro(folder, ["Phi-3-mini-4k-instruct", "gemini-1.5-pro-002"], word_count,
                              {"gemini-1.5-pro-002": 1e11, "Phi-3-mini-4k-instruct": 2 * mp.PARAMS["Phi-3-mini-4k-instruct"]})
    ref = mp.import_mmlu_pro(folder, ["Phi-3-mini-4k-instruct"], word_count)
    phi_new = base.outcomes[base.outcomes.model == "phi-3-mini-4k-instruct"].flops.to_numpy()
    assert np.allclose(phi_new, 2 * ref.outcomes.flops.to_numpy(), rtol=1e-5)
    with pytest.raises(ConcurError, match="positive"):
        mp.import_mmlu_pro(folder, ["Phi-3-mini-4k-instruct"], word_count, {"Phi-3-mini-4k-instruct": -1})


def test_mmlu_pro_missing_zip_and_limit(tmp_path):
    write_mmlu_pro(tmp_path / "mmlu_pro")
    with pytest.raises(ConcurError, match="NoSuchModel"):
        mp.import_mmlu_pro(tmp_path / "mmlu_pro", ["Phi-3-mini-4k-instruct", "NoSuchModel"], word_count)
    data = mp.import_mmlu_pro(tmp_path / "mmlu_pro", list(MP_MODELS[:2]), word_count, limit=7)
    assert len(data.tasks) == 7 and data.outcomes.question_id.nunique() == 7


def test_real_tokenizer_counts_without_truncation():
    from concur.importers import load_token_counter

    count = load_token_counter()
    n = count(["hello world", "word " * 600])
    assert n[0] == 2 and n[1] == 600  # the shipped tokenizer.json truncates at 128 unless disabled


# ------------------------------------------------------------------- split
def test_split_by_task_disjoint_seeded_and_stratified():
    qids = [f"q{i}" for i in range(1000)]
    groups = ["a" if i % 4 else "b" for i in range(1000)]
    s1 = split_by_task(qids, 0.1, 0.2, seed=3, groups=groups)
    s2 = split_by_task(qids, 0.1, 0.2, seed=3, groups=groups)
    s3 = split_by_task(qids, 0.1, 0.2, seed=4, groups=groups)
    assert (s1 == s2).all() and (s1 != s3).any()
    assert set(s1) == {"train", "val", "test"}  # each task gets exactly one split
    counts = pd.Series(s1).value_counts()
    assert counts["test"] == 200 and counts["val"] == 100 and counts["train"] == 700
    b = np.array(groups) == "b"
    assert (s1[b] == "test").sum() == 50  # stratified: 20% of each group


def test_split_by_task_keeps_fixed_test():
    qids = [f"q{i}" for i in range(100)]
    fixed = {q: ("test" if i < 30 else "train") for i, q in enumerate(qids)}
    s = split_by_task(qids, 0.1, 0.2, seed=0, fixed=fixed)
    assert (s[:30] == "test").all() and not (s[30:] == "test").any()
    assert (s == "val").sum() == round(70 * 0.1 / 0.8)
    with pytest.raises(ConcurError, match="val_frac"):
        split_by_task(qids, 0.6, 0.5, seed=0)


# ------------------------------------------------------------- routerbench
def test_parse_prompt_strips_in_context_examples():
    q = "Real one?\nA) x\nB) y\nAnswer:"
    assert rb.parse_prompt(repr([ARC_EXAMPLE * 5 + q])) == q
    assert rb.parse_prompt(repr(["Write code."])) == "Write code."
    assert rb.parse_prompt(repr(["first turn", ARC_EXAMPLE + q])) == q
    assert rb.parse_prompt("not a list, __import__('os')") == "not a list, __import__('os')"  # never evaluated


def test_routerbench_import(tmp_path):
    write_routerbench(tmp_path / "routerbench_zs")
    data = rb.import_routerbench(tmp_path / "routerbench_zs")
    ids = [t["question_id"] for t in data.tasks]
    assert "arc-challenge.train.0" not in ids  # NaN correctness row dropped
    assert len(ids) == 3 * (12 + 5) - 1
    arc = next(t for t in data.tasks if t["question_id"] == "arc-challenge.train.1")
    assert arc["question"].startswith("Real question train 1?") and "Which is a metal" not in arc["question"]
    assert data.fixed_split["mbpp.test.3"] == "test" and data.fixed_split["mbpp.train.3"] == "train"
    out = data.outcomes.set_index(["question_id", "model"])
    j = 4
    short = rb.MODELS[RB_COLS[j]][0]
    assert out.loc[("mbpp.train.3", short), "flops"] == pytest.approx(((j + 1) * 1e-5 + 3e-7) * 1e6)
    assert out.loc[("mbpp.train.3", short), "label"] == (3 + j) % 2
    assert all("_" not in m for m in data.strategies["model"])
    sub = rb.import_routerbench(tmp_path / "routerbench_zs", tasks=["mbpp"], models=["gpt-4-turbo", "claude-v1"])
    assert set(sub.outcomes.model) == {"gpt-4-turbo", "claude-v1"} and len(sub.tasks) == 17
    with pytest.raises(ConcurError, match="unknown task"):
        rb.import_routerbench(tmp_path / "routerbench_zs", tasks=["gsm8k"])


def test_routerbench_prepare_keeps_source_test(tmp_path):
    write_routerbench(tmp_path / "routerbench_zs", n_train=30, n_test=10)
    _, ds = prepare("routerbench", tmp_path / "out", input_path=tmp_path, seed=1)
    test_ids = set(ds.test.question_ids)
    assert test_ids == {f"{ev}.test.{i}" for ev in ("arc-challenge", "mbpp", "winogrande") for i in range(10)}
    assert load_config(tmp_path / "out" / "config.yml").cost_unit == "1e-6 USD"


# --------------------------------------------------------------- routellm
def test_routellm_labels_cost_and_contamination(tmp_path):
    prompts = write_routellm(tmp_path / "routellm_mmlu")
    data = rl.import_routellm_mmlu(tmp_path / "routellm_mmlu", word_count, answer_tokens=2)
    assert len(data.tasks) == 30
    t = data.tasks[0]
    assert t["question"] == "Question 0 of anatomy with\ntwo lines?" and t["options"][1] == "two words"
    assert t["subject"] == "anatomy" and t["question_id"] == "anatomy.0"
    out = data.outcomes.set_index(["question_id", "model"])
    words = len(prompts[3].split())
    for col, (name, _, _) in rl.MODELS.items():
        price = rl.PRICES[col]
        expect = (words * price["input"] + 2 * price["output"]) / 1e6 * 1e6
        assert out.loc[("anatomy.3", name), "flops"] == pytest.approx(expect)
    assert out.loc[("anatomy.3", "mixtral-8x7b-instruct"), "label"] == 0
    assert out.loc[("anatomy.4", "mixtral-8x7b-instruct"), "label"] == 1
    assert out.loc[("anatomy.3", "gpt-4-turbo"), "label"] == 0
    clean = rl.import_routellm_mmlu(tmp_path / "routellm_mmlu", word_count, drop_contaminated=True)
    assert {"anatomy.0", "anatomy.1"}.isdisjoint(t["question_id"] for t in clean.tasks)
    cheap = rl.import_routellm_mmlu(tmp_path / "routellm_mmlu", word_count,
                                    {"gpt-4-turbo": {"input": 0.0, "output": 0.0}})
    assert (cheap.outcomes[cheap.outcomes.model == "gpt-4-turbo"].flops == 0).all()
    with pytest.raises(ConcurError, match="prices_json"):
        rl.import_routellm_mmlu(tmp_path / "routellm_mmlu", word_count, {"gpt-4-turbo": {"input": "cheap"}})


# ------------------------------------------------------------ writer / CLI
def test_prepare_writes_valid_folder_and_refuses_overwrite(tmp_path):
    write_mmlu_pro(tmp_path / "mmlu_pro")
    out = tmp_path / "ds"
    kw = dict(input_path=tmp_path, models=list(MP_MODELS), count_tokens=word_count, val_frac=0.2, test_frac=0.2)
    _, ds = prepare("mmlu-pro", out, seed=5, **kw)
    cfg = load_config(out / "config.yml")
    assert cfg.cost_unit == "1e11 FLOPs" and cfg.seed == 5
    again = load_dataset(cfg)
    assert again.strategies == ds.strategies
    splits = [set(s.question_ids) for s in again.splits.values()]
    assert sum(map(len, splits)) == N_Q - 1 and not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    before = (out / "train.csv").read_bytes()
    with pytest.raises(ConcurError, match="not empty"):
        prepare("mmlu-pro", out, seed=6, **kw)
    assert (out / "train.csv").read_bytes() == before
    prepare("mmlu-pro", out, seed=6, force=True, **kw)
    assert load_config(out / "config.yml").seed == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "mmlu_pro"]  # no temp folders left


def test_prepare_error_leaves_nothing(tmp_path):
    write_mmlu_pro(tmp_path / "mmlu_pro")
    with pytest.raises(ConcurError, match="val split is empty"):
        prepare("mmlu-pro", tmp_path / "ds", input_path=tmp_path, models=list(MP_MODELS),
                count_tokens=word_count, val_frac=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mmlu_pro"]


def test_cli_mmlu_pro_end_to_end(tmp_path):
    write_mmlu_pro(tmp_path / "mmlu_pro")
    out = tmp_path / "ds"
    res = run_script("prepare_data.py", "--source", "mmlu-pro", "--input", str(tmp_path), "--out", str(out),
                     "--models", *MP_MODELS, "--val_frac", "0.2", "--test_frac", "0.2", "--seed", "2")
    assert res.returncode == 0, res.stderr
    assert "phi-3-mini-4k-instruct_cot5shot" in res.stdout and "tasks: train" in res.stdout
    ds = load_dataset(load_config(out / "config.yml"))
    assert ds.strategies == [f"{mp.short_name(m)}_cot5shot" for m in MP_MODELS]
    assert np.isfinite(ds.train.cost).all() and (ds.train.cost > 0).all()


@pytest.mark.parametrize("models, needle", [
    (["Phi-3-mini-4k-instruct", "NoSuchModel"], "NoSuchModel"),
    (["Phi-3-mini-4k-instruct", "Yi-34B"], "model_outputs_Yi-34B_5shots.zip"),  # zip absent from the folder
])
def test_cli_bad_models_exit_2(tmp_path, models, needle):
    write_mmlu_pro(tmp_path / "mmlu_pro")
    res = run_script("prepare_data.py", "--source", "mmlu-pro", "--input", str(tmp_path / "mmlu_pro"),
                     "--out", str(tmp_path / "ds"), "--models", *models)
    assert res.returncode == 2 and needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "ds").exists()


def test_cli_refuses_nonempty_out_exit_2(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = run_script("prepare_data.py", "--source", "routerbench", "--input", str(tmp_path), "--out", str(out))
    assert res.returncode == 2 and "--force" in res.stderr
    assert (out / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------ concur / demo
def test_concur_source_checks_and_copies(tmp_path):
    write_tiny_dataset(tmp_path / "mmlu", n_tasks=30)
    _, ds = prepare("concur", tmp_path / "out", input_path=tmp_path / "mmlu")
    src = load_dataset(load_config(tmp_path / "mmlu" / "config.yml"))
    for name in ("train", "val", "test"):
        assert list(ds.splits[name].question_ids) == list(src.splits[name].question_ids)
        assert np.array_equal(ds.splits[name].label, src.splits[name].label)
    # bad input: a label outside [0, 1] -> error naming the file, nothing written
    df = pd.read_csv(tmp_path / "mmlu" / "train.csv")
    df.loc[0, "label"] = 3
    df.to_csv(tmp_path / "mmlu" / "train.csv", index=False)
    res = run_script("prepare_data.py", "--source", "concur", "--input", str(tmp_path / "mmlu"),
                     "--out", str(tmp_path / "out2"))
    assert res.returncode == 2 and "train.csv" in res.stderr and not (tmp_path / "out2").exists()


def test_demo_source(tmp_path):
    pytest.importorskip("concur.demo_data", reason="concur/demo_data.py not present yet")
    _, ds = prepare("demo", tmp_path / "demo", seed=0, n_tasks=200)
    assert len(ds.tasks) == 200 and len(ds.strategies) >= 6
    assert (tmp_path / "demo" / "strategies.json").is_file()


# ---------------------------------------------------------------- real data
def _need(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        pytest.skip(f"real data {path} absent (set CONCUR_SHARED_DATA)")
    return path


def test_real_mmlu_pro_subset(tmp_path):
    _need("mmlu_pro")
    models = ["Phi-3-mini-4k-instruct", "DeepSeek-Coder-V2", "Meta-Llama-3_1-70B-Instruct"]
    data, ds = prepare("mmlu-pro", tmp_path / "mp", input_path=SHARED_DATA, models=models, limit=400)
    assert len(ds.tasks) == 400
    acc = {s: np.nanmean(np.vstack([sp.label for sp in ds.splits.values()])[:, j]) for j, s in enumerate(ds.strategies)}
    assert acc["llama31-70b-instruct_cot5shot"] > acc["phi-3-mini-4k-instruct_cot5shot"]
    cost = np.vstack([sp.cost for sp in ds.splits.values()])
    assert (cost[:, 2] > cost[:, 0]).mean() > 0.9  # 70B dense costs more than 3.8B on almost every task


def test_real_routerbench(tmp_path):
    _need("routerbench_zs")
    data, ds = prepare("routerbench", tmp_path / "rb", input_path=SHARED_DATA)
    assert len(ds.test.question_ids) == 445 + 128 + 380 - 8  # minus the NaN ARC rows
    texts = [t["question"] for t in data.tasks if t["subject"] == "arc-challenge"]
    assert not any("George wants to warm his hands" in t for t in texts[:50])  # in-context examples stripped
    gpt4 = ds.strategies.index("gpt-4-turbo_zeroshot")
    mistral = ds.strategies.index("mistral-7b-chat_zeroshot")
    assert np.nanmean(ds.train.cost[:, gpt4]) > 10 * np.nanmean(ds.train.cost[:, mistral])


def test_real_routellm(tmp_path):
    _need("routellm_mmlu")
    data, ds = prepare("routellm-mmlu", tmp_path / "rl", input_path=SHARED_DATA, drop_contaminated=True)
    assert len(ds.tasks) == 14042 - 5
    assert data.info["unparsed_prompts"] < 100
    labels = np.vstack([sp.label for sp in ds.splits.values()])
    assert 0.6 < labels[:, 0].mean() < 0.75 and 0.75 < labels[:, 1].mean() < 0.86


# --------------------------------------------------------------- answers
def test_mmlu_pro_answers_are_the_extracted_letters(tmp_path):
    recs = write_mmlu_pro(tmp_path / "mmlu_pro")
    data = mp.import_mmlu_pro(tmp_path / "mmlu_pro", list(MP_MODELS), word_count)
    ans = data.answers.set_index(["question_id", "model"])
    assert len(ans) == len(data.outcomes)
    for m in MP_MODELS:
        for r in recs[m]:
            if not isinstance(r, dict) or str(r["question_id"]) not in ans.index.get_level_values(0):
                continue
            row = ans.loc[(str(r["question_id"]), mp.short_name(m))]
            assert row.answer == (r["pred"] or "") and row.parsed == int(r["pred"] is not None)
            assert row.response_tokens == len(r.get("generated_text", r.get("model_outputs")).split())


@pytest.mark.parametrize("response, task, expected", [
    ("['D']", "arc_challenge", "D"), ("['The answer is B.']", "arc_challenge", "B"), ("['']", "arc_challenge", ""),
    ("['C']", "winograde", ""), ("['A']", "winograde", "A"), ("not a list: E", "arc_challenge", "E"),
])
def test_routerbench_answer_extraction(response, task, expected):
    assert rb.extract_answer(rb.response_text(response), task) == expected


def test_routerbench_mbpp_answers_agree_only_on_the_same_code():
    a = rb.extract_answer(rb.response_text(repr(["Here:\n```python\ndef f(x):\n    return x  \n\n```"])), "mbpp")
    b = rb.extract_answer(rb.response_text(repr(["Sure!\n```python\ndef f(x):\n    return x\n```\nDone."])), "mbpp")
    c = rb.extract_answer(rb.response_text(repr(["```python\ndef f(x):\n    return x + 1\n```"])), "mbpp")
    assert a == b != c and len(a) == 16


def test_prepare_writes_answers_files_and_config_keys(tmp_path):
    write_routerbench(tmp_path / "routerbench_zs", n_train=30, n_test=10)
    _, ds = prepare("routerbench", tmp_path / "out", input_path=tmp_path, seed=1)
    cfg = load_config(tmp_path / "out" / "config.yml")
    from concur.answers import load_split_answers

    for name in ("train", "val", "test"):
        assert cfg[f"{name}_answers_path"] == (tmp_path / "out" / f"answers_{name}.csv").resolve()
        split = load_dataset(cfg).splits[name]
        ans = load_split_answers(cfg, split)
        assert ans.observed.all() and (ans.answer[:, 0] != "").all()
        assert list(ans.question_ids) == list(split.question_ids)


def test_sources_without_responses_write_no_answers(tmp_path):
    write_routellm(tmp_path / "routellm_mmlu")
    prepare("routellm-mmlu", tmp_path / "out", input_path=tmp_path, seed=0)
    assert not list((tmp_path / "out").glob("answers_*.csv"))
    assert load_config(tmp_path / "out" / "config.yml").train_answers_path is None
