from pathlib import Path

import pytest
import yaml

from concur.config import PATH_KEYS, load_config, parse_config
from concur.errors import ConcurError

BASE = {k: f"./x/{k}" for k in PATH_KEYS}


def test_paths_resolve_relative_to_config_file(tmp_path: Path):
    sub = tmp_path / "cfgdir"
    sub.mkdir()
    (sub / "c.yml").write_text(yaml.safe_dump(BASE))
    cfg = load_config(sub / "c.yml")
    assert cfg.task_path == (sub / "x" / "task_path").resolve()
    assert cfg.path == (sub / "c.yml").resolve()


def test_defaults_filled_and_sections_accessible():
    cfg = parse_config(dict(BASE), "/tmp")
    assert cfg.seed == 123
    assert cfg.embedding.model == "default"
    assert cfg.predictor.selection == "logloss"
    assert cfg.strategies is None


def test_reference_preset_restores_the_papers_schedule_unless_a_key_is_set():
    from concur.config import REFERENCE_PREDICTOR

    default = parse_config(dict(BASE), "/tmp").predictor
    reference = parse_config({**BASE, "predictor": {"preset": "reference"}}, "/tmp").predictor
    for key, value in REFERENCE_PREDICTOR.items():
        assert reference[key] == value, key
    # the paper stops after 5 evaluations without improvement (every 3 epochs); the default stops after 4 (every epoch)
    assert (reference["patience"], reference["eval_every"]) == (5, 3)
    assert (default["patience"], default["eval_every"]) == (4, 1)
    mixed = parse_config({**BASE, "predictor": {"preset": "reference", "patience": 2}}, "/tmp").predictor
    assert mixed["patience"] == 2 and mixed["batch_size"] == REFERENCE_PREDICTOR["batch_size"]


def test_overrides_kept():
    cfg = parse_config({**BASE, "seed": 5, "embedding": {"batch_size": 8}, "strategies": ["a_b"]}, "/tmp")
    assert cfg.seed == 5 and cfg.embedding.batch_size == 8 and cfg.embedding.device == "auto"
    assert cfg.strategies == ["a_b"]


@pytest.mark.parametrize("raw, key", [
    ({"sed": 1}, "sed"),
    ({"embedding": {"modle": "x"}}, "embedding.modle"),
])
def test_unknown_keys_rejected_with_name(raw, key):
    with pytest.raises(ConcurError, match=f"unknown config key '{key}'"):
        parse_config({**BASE, **raw}, "/tmp")


@pytest.mark.parametrize("raw, key", [
    ({"seed": "one"}, "seed"),
    ({"seed": True}, "seed"),
    ({"embedding": {"batch_size": 1.5}}, "embedding.batch_size"),
    ({"predictor": {"lr": "fast"}}, "predictor.lr"),
    ({"predictor": {"cost_lr": None}}, "predictor.cost_lr"),
    ({"embedding": "x"}, "embedding"),
    ({"predictor": {"selection": "auc"}}, "predictor.selection"),
    ({"strategies": ["no-underscore"]}, "strategies"),
    ({"task_path": 3}, "task_path"),
])
def test_wrong_types_rejected_with_name(raw, key):
    with pytest.raises(ConcurError, match=f"'{key}'"):
        parse_config({**BASE, **raw}, "/tmp")


def test_missing_required_key():
    raw = dict(BASE)
    del raw["val_data_path"]
    with pytest.raises(ConcurError, match="missing required config key 'val_data_path'"):
        parse_config(raw, "/tmp")


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConcurError, match="config file not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConcurError, match="invalid YAML"):
        load_config(bad)


def test_repo_default_config_is_valid():
    cfg = load_config(Path(__file__).resolve().parent.parent / "config.yml")
    assert cfg.task_path.name == "task.json"
