"""Outcome collection with a tiny randomly initialised causal LM (CPU, no downloads)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from concur.collect import backends as backends_mod  # noqa: E402
from concur.collect.cost import flops_scale  # noqa: E402
from concur.collect.prompts import DEFAULT_TEMPLATES, decoding_spec, encode_prompt  # noqa: E402
from concur.collect.runner import collect, hash_split, make_plan, read_side_file  # noqa: E402
from concur.config import load_config  # noqa: E402
from concur.data import load_dataset, load_strategies  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "collect_outcomes.py"
MAX_NEW = 8
BATCH = 2

TASKS = [
    {"question": "What is the capital of France?", "options": ["Berlin", "Madrid", "Paris", "Rome"], "answer": "C"},
    {"question": "Which planet is largest?", "options": ["Mars", "Jupiter", "Venus"], "answer": "B"},
    {"question": "What is 2 + 2?", "answer": "4"},
    {"question": "A shop sells 3 pens at $2 each. Total cost?", "answer": 6},
    {"question": "What colour is the sky on a clear day?", "answer": "blue"},
    {"question": "Which is a mammal?", "options": ["Shark", "Whale", "Trout", "Eel"], "answer": 1},
    {"question": "What is 10 times 12?", "answer": "120"},
    {"question": "Which gas do plants absorb?", "options": ["Oxygen", "Nitrogen", "Carbon dioxide"], "answer": "C"},
    {"question": "What is the opposite of hot?", "answer": "cold"},
    {"question": "How many legs does a spider have?", "options": ["6", "8", "10", "12"], "answer": "B"},
]


def _build_tiny(path: Path, seed: int, hidden: int = 16) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [t["question"] + " " + " ".join(map(str, t.get("options", []))) for t in TASKS]
    corpus += ["The answer is (C).", "Think step by step.", "Answer with the letter of the correct choice."]
    tok.train_from_iterator(corpus * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(path)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.3)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(path)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    out = {}
    for name, seed in (("tinya", 0), ("tinyb", 1)):
        _build_tiny(root / name, seed)
        out[name] = root / name
    return out


def _make_project(tmp: Path, tiny_models: dict[str, Path], *, tasks=TASKS, decodings=None, models=None,
                  cost_unit: str = "1e3 FLOPs", max_new_tokens=MAX_NEW) -> Path:
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "task.json").write_text(json.dumps(tasks))
    models = models or {
        "tinya": {"description": "tiny model a", "checkpoint": str(tiny_models["tinya"])},
        "tinyb": {"description": "tiny model b", "checkpoint": str(tiny_models["tinyb"]), "params": 12345},
    }
    decodings = decodings or {"vanilla": "answer directly", "cot": "think step by step"}
    (tmp / "strategies.json").write_text(json.dumps({"model": models, "decoding": decodings}))
    cfg = f"""
strategy_path: ./strategies.json
strategy_emb_path: ./data/strategy_embeddings.pt
task_path: ./data/task.json
task_emb_path: ./data/task_embeddings.pt
train_data_path: ./data/train.csv
val_data_path: ./data/val.csv
test_data_path: ./data/test.csv
predictor_path: ./data/predictors
output_path: ./data/output
seed: 7
cost_unit: {cost_unit}
collect:
  backend: transformers
  batch_size: {BATCH}
  device: cpu
  max_new_tokens: {json.dumps(max_new_tokens)}
"""
    (tmp / "config.yml").write_text(cfg)
    return tmp / "config.yml"


def _run(config: Path, *args: str) -> subprocess.CompletedProcess:
    # one thread: tiny matrices, and the suite may share two cores with other jobs
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--config_path", str(config), "--no_progress", *args],
                          capture_output=True, text=True, env=env, cwd=config.parent, timeout=300)


def _all_rows(data: Path) -> pd.DataFrame:
    frames = [pd.read_csv(data / f"{s}.csv", dtype={"question_id": str}).assign(split=s)
              for s in ("train", "val", "test") if (data / f"{s}.csv").exists()]
    return pd.concat(frames, ignore_index=True)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------- end to end
def test_end_to_end_rows_costs_tokens(tmp_path, tiny_models):
    config = _make_project(tmp_path, tiny_models)
    res = _run(config, "--strategy", "tinya_cot", "tinyb_vanilla")
    assert res.returncode == 0, res.stderr
    assert "strategy: tinya_cot | number of tasks: 10" in res.stdout
    data = tmp_path / "data"
    rows = _all_rows(data)
    assert len(rows) == 2 * len(TASKS)
    assert not rows.duplicated(["question_id", "model", "decoding"]).any()
    # every task sits in exactly one split
    assert (rows.groupby("question_id")["split"].nunique() == 1).all()
    assert set(rows["label"].unique()) <= {0, 1}
    assert rows["generated_tokens"].between(1, MAX_NEW).all()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_a = AutoModelForCausalLM.from_pretrained(tiny_models["tinya"])
    n_a = sum(p.numel() for p in model_a.parameters())
    params = np.where(rows["model"] == "tinya", n_a, 12345)
    expected = 2 * params * (rows["prompt_tokens"] + rows["generated_tokens"]) / 1e3
    np.testing.assert_allclose(rows["flops"], expected, rtol=1e-9)

    # token counts come from the model's own tokenizer, and agree with the side file
    tok = AutoTokenizer.from_pretrained(tiny_models["tinya"])
    cfg = load_config(config)
    spec = decoding_spec(load_strategies(cfg.strategy_path), "cot", cfg)
    side = {r["question_id"]: r for r in read_side_file(data / "generations" / "tinya_cot.jsonl")}
    assert len(side) == len(TASKS)
    cot = rows[(rows["model"] == "tinya") & (rows["decoding"] == "cot")].set_index("question_id")
    for qid, rec in side.items():
        i = int(qid)
        from concur.collect.grading import gold_of

        msg = spec.render(TASKS[i], gold_of(TASKS[i], "t").kind)
        ids = tok(msg)["input_ids"]
        assert rec["prompt_tokens"] == len(ids) == cot.loc[qid, "prompt_tokens"]
        assert rec["generated_tokens"] == cot.loc[qid, "generated_tokens"]
    # batched left-padded generation equals unbatched greedy generation, task by task
    for qid, rec in side.items():
        task = TASKS[int(qid)]
        from concur.collect.grading import gold_of

        ids = torch.tensor([tok(spec.render(task, gold_of(task, "t").kind))["input_ids"]])
        out = model_a.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW,
                               do_sample=False, pad_token_id=0, eos_token_id=2)[0, ids.shape[1]:].tolist()
        n_gen = out.index(2) + 1 if 2 in out else len(out)
        assert rec["generated_tokens"] == n_gen
        assert rec["text"] == tok.decode(out[: out.index(2)] if 2 in out else out, skip_special_tokens=True)

    # the written tables load through the data layer
    present = tuple(s for s in ("train", "val", "test") if (data / f"{s}.csv").exists())
    assert "train" in present
    ds = load_dataset(cfg, splits=present)
    assert set(ds.strategies) == {"tinya_cot", "tinyb_vanilla"}
    report = json.loads((data / "generations" / "report.json").read_text())
    assert report["tinyb_vanilla"]["params"] == 12345
    assert report["tinya_cot"]["params"] == n_a


def test_generated_tokens_stop_at_eos(tiny_models):
    """Tokens after the first EOS are padding: not counted, not decoded."""
    backend = backends_mod.TransformersBackend(str(tiny_models["tinya"]), device="cpu")
    prompts = [backend.tokenizer("What is 2 + 2?")["input_ids"], backend.tokenizer("Which planet is largest? Mars")["input_ids"]]
    free = backend.generate(prompts, 6)
    assert [g.generated_tokens for g in free] == [6, 6]
    assert [g.prompt_tokens for g in free] == [len(p) for p in prompts]
    # make the second token the first prompt would produce an EOS: it stops after 2 tokens
    first_ids = backend.tokenizer(free[0].text, add_special_tokens=False)["input_ids"]
    unbatched = backend.model.generate(input_ids=torch.tensor([prompts[0]]), max_new_tokens=6, do_sample=False,
                                       pad_token_id=0, eos_token_id=2)[0, len(prompts[0]):].tolist()
    assert len(first_ids) > 0
    backend.eos_ids = {2, unbatched[1]}
    stopped = backend.generate(prompts[:1], 6)[0]
    assert stopped.generated_tokens == 2
    assert stopped.text == backend.tokenizer.decode(unbatched[:1], skip_special_tokens=True)
    backend.close()


def test_labels_follow_the_grader(tmp_path, tiny_models, monkeypatch):
    """A scripted backend answers correctly on even tasks: labels and parsed answers follow."""
    from concur.collect import runner as runner_mod
    from concur.collect.backends import Generation
    from concur.collect.grading import gold_of

    config = _make_project(tmp_path, tiny_models)
    real = backends_mod.TransformersBackend(str(tiny_models["tinya"]), device="cpu")
    right = {"choice": "**{v}**", "number": "... so the total is ${v:,.0f} dollars.", "text": "The answer is {v}."}

    class Scripted:
        name = "scripted"
        tokenizer = real.tokenizer

        def num_params(self):
            return 1000

        def generate(self, prompts, max_new_tokens):
            out = []
            for p in prompts:
                text = self.tokenizer.decode(p)
                i = next(k for k, t in enumerate(TASKS) if t["question"] in text)
                gold = gold_of(TASKS[i], "t")
                value = gold.value[0] if gold.kind == "text" else gold.value
                ans = right[gold.kind].format(v=value) if i % 2 == 0 else "I am not sure."
                out.append(Generation(ans, len(p), 3))
            return out

        def close(self):
            pass

    monkeypatch.setattr(runner_mod, "make_backend", lambda *a, **k: Scripted())
    _, report = collect(load_config(config), ["tinya_vanilla"], progress=False)
    rows = _all_rows(tmp_path / "data").sort_values("question_id", key=lambda c: c.astype(int))
    assert rows["label"].tolist() == [1 - i % 2 for i in range(len(TASKS))]
    assert report["tinya_vanilla"]["accuracy"] == 0.5
    # odd tasks: "I am not sure." has no letter / number; free-text tasks parse it (and are wrong)
    n_unparseable = sum(1 for i, t in enumerate(TASKS) if i % 2 and gold_of(t, "t").kind != "text")
    assert report["tinya_vanilla"]["unparseable"] == n_unparseable
    np.testing.assert_allclose(rows["flops"], 2 * 1000 * (rows["prompt_tokens"] + 3) / 1e3)
    real.close()


# ----------------------------------------------------------------- resumption
class _Interrupt(Exception):
    pass


def _count_generate(monkeypatch) -> list[int]:
    calls: list[int] = []
    orig = backends_mod.TransformersBackend.generate

    def spy(self, prompts, max_new_tokens):
        calls.append(len(prompts))
        return orig(self, prompts, max_new_tokens)

    monkeypatch.setattr(backends_mod.TransformersBackend, "generate", spy)
    return calls


def test_resume_after_interruption(tmp_path, tiny_models, monkeypatch):
    config = _make_project(tmp_path, tiny_models)
    cfg = load_config(config)
    data = tmp_path / "data"

    def boom(strategy, batch):
        if batch == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        collect(cfg, ["tinya_cot"], after_batch=boom, progress=False)
    # two batches finished and were kept; no CSV was written
    assert len(read_side_file(data / "generations" / "tinya_cot.jsonl")) == 2 * BATCH
    assert not any((data / f"{s}.csv").exists() for s in ("train", "val", "test"))

    # a torn line from a killed write is dropped and that task redone
    with open(data / "generations" / "tinya_cot.jsonl", "a") as fh:
        fh.write('{"question_id": "9", "key": "abc", "te')
    calls = _count_generate(monkeypatch)
    collect(cfg, ["tinya_cot"], progress=False)
    assert sum(calls) == len(TASKS) - 2 * BATCH
    recs = read_side_file(data / "generations" / "tinya_cot.jsonl")
    assert sorted(r["question_id"] for r in recs) == sorted(str(i) for i in range(len(TASKS)))
    assert len(_all_rows(data)) == len(TASKS)

    # a rerun with nothing left to do generates nothing and rewrites the same tables
    before = _files(data)
    calls.clear()
    collect(cfg, ["tinya_cot"], progress=False)
    assert calls == []
    after = _files(data)
    assert {k: v for k, v in after.items() if k.endswith(".csv")} == {k: v for k, v in before.items() if k.endswith(".csv")}


def test_changed_template_is_regenerated(tmp_path, tiny_models, monkeypatch):
    config = _make_project(tmp_path, tiny_models)
    collect(load_config(config), ["tinyb_vanilla"], progress=False)
    strategies = json.loads((tmp_path / "strategies.json").read_text())
    strategies["decoding"]["vanilla"] = {"description": "answer directly", "template": "Q: {question}\nA:"}
    (tmp_path / "strategies.json").write_text(json.dumps(strategies))
    calls = _count_generate(monkeypatch)
    collect(load_config(config), ["tinyb_vanilla"], progress=False)
    assert sum(calls) == len(TASKS)


# ---------------------------------------------------------------------- merge
def test_add_strategy_merges_and_keeps_other_rows(tmp_path, tiny_models, monkeypatch):
    config = _make_project(tmp_path, tiny_models)
    data = tmp_path / "data"
    collect(load_config(config), ["tinya_vanilla"], progress=False)
    before = {s: (data / f"{s}.csv").read_text().splitlines() for s in ("train", "val", "test") if (data / f"{s}.csv").exists()}
    side_before = (data / "generations" / "tinya_vanilla.jsonl").read_bytes()

    calls = _count_generate(monkeypatch)
    collect(load_config(config), ["tinyb_cot"], progress=False)
    assert sum(calls) == len(TASKS)  # only the new strategy ran
    assert (data / "generations" / "tinya_vanilla.jsonl").read_bytes() == side_before
    for split, lines in before.items():
        now = (data / f"{split}.csv").read_text().splitlines()
        assert now[: len(lines)] == lines  # header and old rows byte-identical, in place
        added = [ln for ln in now[len(lines):]]
        assert added and all(",tinyb,cot," in ln for ln in added)
    rows = _all_rows(data)
    assert len(rows) == 2 * len(TASKS)
    assert (rows.groupby("question_id")["split"].nunique() == 1).all()


def test_existing_csv_assigns_splits_and_foreign_rows_survive(tmp_path, tiny_models):
    config = _make_project(tmp_path, tiny_models)
    data = tmp_path / "data"
    # a hand-made table with another strategy, odd number formatting and an extra column
    train = "question_id,model,decoding,label,flops,note\n0,tinyb,vanilla,1,1.50,kept as is\n3,tinyb,vanilla,0,2.0e1,x\n"
    test = "question_id,model,decoding,label,flops,note\n1,tinyb,vanilla,1,0.25,\n"
    (data / "train.csv").write_text(train)
    (data / "test.csv").write_text(test)
    collect(load_config(config), ["tinya_vanilla"], splits=["train", "test"], progress=False)
    new_train = (data / "train.csv").read_text().splitlines()
    assert new_train[:3] == train.splitlines()
    new_test = (data / "test.csv").read_text().splitlines()
    assert new_test[:2] == test.splitlines()
    tr = pd.read_csv(data / "train.csv", dtype={"question_id": str})
    te = pd.read_csv(data / "test.csv", dtype={"question_id": str})
    assert {"0", "3"} <= set(tr.loc[tr["model"] == "tinya", "question_id"])
    assert "1" in set(te.loc[te["model"] == "tinya", "question_id"])
    assert not (data / "val.csv").exists()  # val was not asked for
    assert list(tr.columns) == ["question_id", "model", "decoding", "label", "flops", "note"]


def test_hash_split_is_stable_and_roughly_proportional():
    ids = [str(i) for i in range(2000)]
    a = hash_split(ids, 3, [0.7, 0.1, 0.2])
    b = hash_split(ids[::-1] + ["x", "y"], 3, [0.7, 0.1, 0.2])
    assert dict(zip(ids, a)) == {q: s for q, s in zip(ids[::-1], b)}
    share = pd.Series(a).value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.05 and abs(share["test"] - 0.2) < 0.05
    assert hash_split(ids, 4, [0.7, 0.1, 0.2]) != a  # the seed matters
    assert set(hash_split(ids, 3, [1, 0, 0])) == {"train"}


# ------------------------------------------------------------------- prompts
def test_prompt_defaults_overrides_and_chat_template(tmp_path, tiny_models):
    config = _make_project(tmp_path, tiny_models, max_new_tokens={"cot": 5},
                           decodings={"vanilla": "plain", "cot": "steps",
                                      "brief": {"description": "short", "template": "{{x}} {question}", "max_new_tokens": 3}})
    cfg = load_config(config)
    cat = load_strategies(cfg.strategy_path)
    assert decoding_spec(cat, "vanilla", cfg).template == DEFAULT_TEMPLATES["vanilla"]
    assert decoding_spec(cat, "cot", cfg).max_new_tokens == 5
    brief = decoding_spec(cat, "brief", cfg)
    assert brief.max_new_tokens == 3 and brief.render({"question": "Why?"}, "text") == "{x} Why?"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_models["tinya"])
    plain = encode_prompt(tok, "hello")
    tok.chat_template = "{% for m in messages %}<s>user: {{ m['content'] }}\n{% endfor %}assistant:"
    chat = encode_prompt(tok, "hello")
    assert chat != plain and tok.decode(chat).startswith("<s>user: hello") and tok.decode(chat).endswith("assistant:")


def test_cost_unit_parsing():
    assert flops_scale("1e11 FLOPs") == 1e11
    assert flops_scale("FLOPs") == 1.0
    assert flops_scale("GFLOPs") == 1e9
    for bad in ("USD", "1e11", "tokens", ""):
        with pytest.raises(Exception, match="cost_unit"):
            flops_scale(bad)


# ----------------------------------------------------------------- bad input
def _expect_bad(tmp_path: Path, config: Path, argv: list[str], needle: str, capsys) -> None:
    import collect_outcomes

    before = _files(tmp_path)
    with pytest.raises(SystemExit) as exc:
        collect_outcomes.main(["--config_path", str(config), "--no_progress", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert _files(tmp_path) == before  # nothing written


@pytest.fixture()
def _import_script(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))


def test_bad_unknown_strategy(tmp_path, tiny_models, capsys, _import_script):
    config = _make_project(tmp_path, tiny_models)
    _expect_bad(tmp_path, config, ["--strategy", "tinyc_vanilla"], "model 'tinyc' is not described", capsys)
    _expect_bad(tmp_path, config, ["--strategy", "tinya_fancy"], "decoding 'fancy' is not described", capsys)


def test_bad_checkpoint(tmp_path, tiny_models, capsys, _import_script):
    config = _make_project(tmp_path, tiny_models, models={
        "tinya": {"description": "a", "checkpoint": "./models/does-not-exist"},
        "tinyb": {"description": "b", "params": 10}})
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "checkpoint path './models/does-not-exist' does not exist", capsys)
    _expect_bad(tmp_path, config, ["--strategy", "tinyb_vanilla"], "model 'tinyb' has no 'checkpoint'", capsys)
    (tmp_path / "models" / "empty").mkdir(parents=True)
    config = _make_project(tmp_path, tiny_models, models={"tinya": {"description": "a", "checkpoint": "models/empty"}})
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "cannot load model/tokenizer", capsys)


def test_bad_task_without_answer(tmp_path, tiny_models, capsys, _import_script):
    tasks = [dict(t) for t in TASKS]
    del tasks[4]["answer"]
    config = _make_project(tmp_path, tiny_models, tasks=tasks)
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "task 4 (question_id 4): no gold answer", capsys)


def test_bad_template_and_cost_unit(tmp_path, tiny_models, capsys, _import_script):
    config = _make_project(tmp_path, tiny_models, decodings={"vanilla": {"description": "d", "template": "Answer: {query}"}})
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "template slot '{query}' is unknown", capsys)
    config = _make_project(tmp_path, tiny_models, decodings={"vanilla": {"description": "d", "template": "Just answer."}})
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "template has no '{question}' slot", capsys)
    config = _make_project(tmp_path, tiny_models, cost_unit="USD")
    _expect_bad(tmp_path, config, ["--strategy", "tinya_vanilla"], "'cost_unit'", capsys)


def test_bad_input_subprocess_exit_2(tmp_path, tiny_models):
    config = _make_project(tmp_path, tiny_models)
    before = _files(tmp_path)
    res = _run(config, "--strategy", "nope_vanilla")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "nope" in res.stderr
    assert _files(tmp_path) == before


def test_make_plan_writes_nothing_and_limits(tmp_path, tiny_models):
    config = _make_project(tmp_path, tiny_models)
    before = _files(tmp_path)
    plan = make_plan(load_config(config), ["all"], ["train"], limit=2)
    assert plan.strategies == ["tinya_vanilla", "tinya_cot", "tinyb_vanilla", "tinyb_cot"]
    assert len(plan.split_rows["train"]) == 2 and list(plan.split_rows) == ["train"]
    assert _files(tmp_path) == before


# ---------------------------------------------------------------------- vllm
def _gpu_and_vllm() -> bool:
    return backends_mod.vllm_available() and torch.cuda.is_available()


@pytest.mark.skipif(not _gpu_and_vllm(), reason="needs vllm and a CUDA GPU (pip install -r requirements-gpu.txt)")
def test_vllm_backend_matches_transformers_token_counts(tmp_path, tiny_models):
    """The vllm backend on the same tiny model: same prompt tokens, rows and costs by the formula."""
    # GPU attention kernels want a usual head size (64), so a slightly wider tiny model
    _build_tiny(tmp_path / "tinyv", 0, hidden=128)
    config = _make_project(tmp_path, {**tiny_models, "tinyb": tmp_path / "tinyv"})
    text = config.read_text().replace("backend: transformers", "backend: vllm").replace("device: cpu", "dtype: float16")
    config.write_text(text)
    _, report = collect(load_config(config), ["tinyb_vanilla"], batch_size=4, progress=False)
    rows = _all_rows(tmp_path / "data")
    assert len(rows) == len(TASKS) and rows["generated_tokens"].between(1, MAX_NEW).all()
    np.testing.assert_allclose(rows["flops"], 2 * 12345 * (rows["prompt_tokens"] + rows["generated_tokens"]) / 1e3)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "tinyv")
    side = read_side_file(tmp_path / "data" / "generations" / "tinyb_vanilla.jsonl")
    assert all(r["backend"] == "vllm" for r in side)
    plan = make_plan(load_config(config), ["tinyb_vanilla"])
    spec = plan.decodings["vanilla"]
    for r in side:
        i = plan.tasks.index[r["question_id"]]
        assert r["prompt_tokens"] == len(encode_prompt(tok, spec.render(TASKS[i], plan.golds[i].kind)))
