"""Fingerprints and cached artifacts: the one mechanism behind every reusable derived file.

An *artifact* is one or more files plus a JSON *record* written last. The record holds the
fingerprint of what produced the files (inputs and settings) and the SHA-256 of each file, so
an artifact is reused only when both still match: a changed input makes it *stale*, a replaced,
truncated or missing file makes it *damaged*. A record that cannot be parsed is damaged too,
and the caller says so (rebuild in the step that owns the artifact, an error in later steps):
nothing is silently trusted or silently thrown away.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io import sha256_of_file, write_json_atomic


def fingerprint(parts: Any) -> str:
    """SHA-256 of a JSON-able structure in canonical form (sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Check:
    """What a record says about its artifact: 'current', 'missing', 'stale' or 'damaged'."""

    status: str
    reason: str
    record: dict[str, Any] | None = None

    @property
    def current(self) -> bool:
        return self.status == "current"


# The record's own checksum: an edited record (still valid JSON) is damaged too, not trusted with
# whatever keys it lost. Records written before this key existed are read as they are.
SEAL_KEY = "record_sha256"


def seal(record: dict[str, Any]) -> str:
    """The checksum of a record's content (every key but SEAL_KEY, canonical JSON)."""
    body = {k: v for k, v in record.items() if k != SEAL_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_record(record_path: str | os.PathLike) -> tuple[dict[str, Any] | None, str]:
    """(record, '') or (None, why it cannot be used)."""
    path = Path(record_path)
    if not path.is_file():
        return None, "missing"
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, f"{path}: unreadable record ({type(err).__name__})"
    if not isinstance(rec, dict) or not isinstance(rec.get("files"), dict) or "fingerprint" not in rec:
        return None, f"{path}: record lacks 'fingerprint' or 'files'"
    if SEAL_KEY in rec and rec[SEAL_KEY] != seal(rec):
        return None, f"{path}: record was edited after it was written (its checksum differs)"
    return rec, ""


def check(record_path: str | os.PathLike, fp: str | None) -> Check:
    """Is the artifact behind `record_path` intact and (when `fp` is given) produced by `fp`?"""
    rec, why = read_record(record_path)
    if rec is None:
        return Check("missing" if why == "missing" else "damaged", why)
    folder = Path(record_path).parent
    for name, sha in rec["files"].items():
        f = folder / name
        if not f.is_file():
            return Check("damaged", f"{f}: file listed in {Path(record_path).name} is missing", rec)
        if sha256_of_file(f) != sha:
            return Check("damaged", f"{f}: contents differ from those recorded in {Path(record_path).name}", rec)
    if fp is not None and rec["fingerprint"] != fp:
        return Check("stale", "inputs or settings changed", rec)
    return Check("current", "", rec)


def commit(record_path: str | os.PathLike, fp: str, files: list[str | os.PathLike], **extra: Any) -> dict[str, Any]:
    """Write the record of an artifact whose files are already written (atomically) beside it."""
    folder = Path(record_path).parent
    shas = {}
    for f in files:
        f = Path(f)
        if f.parent.resolve() != folder.resolve():
            raise ValueError(f"{f}: artifact files must lie beside their record {record_path}")
        shas[f.name] = sha256_of_file(f)
    record = json.loads(json.dumps({**extra, "fingerprint": fp, "files": shas}))  # as it will read back
    record[SEAL_KEY] = seal(record)
    write_json_atomic(record_path, record)
    return record
