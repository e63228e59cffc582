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
