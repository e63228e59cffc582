"""Atomic file writes (temp file in the same folder + rename), output-folder checks and small readers.

A temp file is named `.<target name>.tmp<writer pid>.<8 random chars><suffix>`, so the step that owns a
folder can tell a killed run's leftovers (writer gone) from a live writer's file (clean_stale_temps).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ConcurError

# temp names written by atomic_path (and the dataset writer's temp folders): name, pid, random part, suffix
TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)\.[a-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9]{1,8})$")
# the pattern before the pid was added (no way to tell a live writer: removed only when old)
LEGACY_TEMP_PATTERN = re.compile(
    r"^\.(?P<name>.+\.(?:csv|pt|json|png|txt|md))\.[a-z0-9_]{8}(?P<suffix>\.(?:tmp|csv|pt|png))$")
LEGACY_MAX_AGE_S = 3600.0  # no single write takes an hour
PID_REUSE_AGE_S = 7 * 86400.0  # a temp this old is stale even if its writer's pid now names another process


def temp_prefix(name: str) -> str:
    """The start of a temp name for target `name` written by this process."""
    return f".{name}.tmp{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # cannot tell: keep the file
    return True


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """A temp of this project's own pattern whose writer is gone (or, for the old pattern, that is old)."""
    now = time.time() if now is None else now
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return False
    m = TEMP_PATTERN.match(path.name)
    if m:
        return not _pid_alive(int(m["pid"])) or age > PID_REUSE_AGE_S
    return bool(LEGACY_TEMP_PATTERN.match(path.name)) and age > LEGACY_MAX_AGE_S


def clean_stale_temps(folder: str | os.PathLike, names: Iterable[str] | None = None,
                      log=None) -> list[Path]:
    """Remove leftovers of killed runs in `folder` (not recursive): temp files of this project's pattern
    whose writer process is gone, or old ones of the pattern without a pid. With `names`, only temps of
    those target file names (a folder shared with the user's own files). Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    wanted = None if names is None else {str(n) for n in names}
    removed = []
    now = time.time()
    for entry in sorted(folder.iterdir()):
        m = TEMP_PATTERN.match(entry.name) or LEGACY_TEMP_PATTERN.match(entry.name)
        if not m or (wanted is not None and m["name"] not in wanted) or not is_stale_temp(entry, now):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                import shutil

                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # another process cleaned it first
        removed.append(entry)
    if removed and log is not None:
        log(f"{folder}: removed {len(removed)} temp file(s) left by an interrupted run")
    return removed


def check_inside(path: str | os.PathLike, folder: str | os.PathLike, what: str) -> Path:
    """`path`, checked to lie inside `folder` (the configured `what`) without climbing out of it with '..'.
    Writers call this on every path built from names found in the data."""
    path, folder = Path(path), Path(folder)
    absolute = path if path.is_absolute() else Path.cwd() / path
    root = folder if folder.is_absolute() else Path.cwd() / folder
    rest = absolute.parts[len(root.parts):]
    if absolute.parts[:len(root.parts)] != root.parts or not rest or ".." in rest:
        raise ConcurError(f"{path}: refusing to write outside {what} ({folder}); names used in file names "
                          "must not contain path separators or '..'")
    return path


# file flags (Linux FS_IOC_GETFLAGS): an immutable or append-only file cannot be replaced, even by root
_FS_IOC_GETFLAGS = 0x80086601
_IMMUTABLE_FLAGS = 0x00000010 | 0x00000020


def _locked(path: Path) -> bool:
    """True when `path` is marked immutable or append-only (chattr +i / +a); False where unknown."""
    try:
        import array
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        buf = array.array("l", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
        return bool(buf[0] & _IMMUTABLE_FLAGS)
    except OSError:
        return False
    finally:
        os.close(fd)


def check_output_dir(folder: str | os.PathLike, what: str, replaces: Iterable[str | os.PathLike] = ()) -> Path:
    """Refuse, before any work, an output folder this step could not write: a file where the folder (or one
    of its parents) should be, a read-only or immutable folder, or an existing output in `replaces` that
    cannot be replaced (immutable, or a folder). A missing folder is fine when its nearest existing parent
    is writable (the writers create it). Writes nothing."""
    folder = Path(folder)
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        if probe == folder:
            raise ConcurError(f"{folder}: {what} is not a folder (a file of that name is in the way)")
        raise ConcurError(f"{folder}: {what} cannot be created: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or _locked(probe):
        where = "" if probe == folder else f" (creating {what} {folder} needs it)"
        name = f"{what} " if probe == folder else ""
        raise ConcurError(f"{probe}: {name}folder is not writable (read-only, immutable or not yours){where}")
    for target in replaces:
        target = Path(target)
        if not os.path.lexists(target):
            continue
        if target.is_dir() and not target.is_symlink():
            raise ConcurError(f"{target}: an output of this step cannot be written: a folder is in the way")
        if _locked(target):
            raise ConcurError(f"{target}: an output of this step cannot be replaced (the file is immutable or "
                              "append-only: chattr -i/-a it, or remove it)")
    return folder


def prepare_output_dir(folder: str | os.PathLike, what: str, replaces: Iterable[str | os.PathLike] = (),
                       temp_names: Iterable[str] | None = None, log=None) -> Path:
    """At the start of a step: refuse an output folder it could not write (check_output_dir), then remove
    the temp files that killed runs left there (of `temp_names` only, in a folder shared with other files)."""
    folder = check_output_dir(folder, what, replaces)
    clean_stale_temps(folder, temp_names, log)
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_csv_atomic(path: str | os.PathLike, df, **kwargs) -> None:
    """Write a pandas DataFrame to CSV atomically (index off unless asked)."""
    kwargs.setdefault("index", False)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, **kwargs)


def save_torch_atomic(path: str | os.PathLike, obj: Any) -> None:
    """torch.save via memory: saving to the temp path would embed its random name in the archive,
    so the same object would give different bytes each time."""
    import io as _io

    import torch

    buf = _io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path, suffix=".pt") as tmp:
        tmp.write_bytes(buf.getvalue())


def load_torch_file(path: str | os.PathLike, hint: str) -> Any:
    """torch.load(weights_only=True) with every failure as one line naming the file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConcurError(f"{path}: file not found; {hint}") from None
    except Exception as err:  # corrupt archive, refused pickle, truncated file: all mean "unusable"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConcurError(f"{path}: cannot load ({type(err).__name__}: {first}); {hint}") from None


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise ConcurError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise ConcurError(f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise ConcurError(f"{path}: not UTF-8 text ({err.reason})") from None


def sha256_of_texts(texts: list[str]) -> str:
    """Order-sensitive hash of a list of texts (used to detect stale embeddings)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def sha256_of_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
