import os
from pathlib import Path

import pytest

from concur.io import atomic_path, sha256_of_texts, write_json_atomic, write_text_atomic


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path):
    p = tmp_path / "sub" / "out.txt"
    old = os.umask(0o022)
    try:
        write_text_atomic(p, "one")
        write_text_atomic(p, "two")
    finally:
        os.umask(old)
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["out.txt"]
    assert p.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_failed_write_keeps_old_file_and_no_temp(tmp_path: Path):
    p = tmp_path / "out.json"
    write_json_atomic(p, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text().strip().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]


def test_text_hash_is_order_and_boundary_sensitive():
    assert sha256_of_texts(["ab", "c"]) != sha256_of_texts(["a", "bc"])
    assert sha256_of_texts(["a", "b"]) != sha256_of_texts(["b", "a"])
    assert sha256_of_texts(["a"]) == sha256_of_texts(["a"])


def test_torch_save_is_byte_reproducible(tmp_path: Path):
    import torch

    from concur.io import save_torch_atomic

    obj = {"w": torch.arange(6.0).reshape(2, 3)}
    save_torch_atomic(tmp_path / "a.pt", obj)
    save_torch_atomic(tmp_path / "b.pt", obj)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], obj["w"])
