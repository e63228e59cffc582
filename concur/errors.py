"""One error type for bad user input, so every CLI can print one line and exit 2."""
from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

EXIT_BAD_INPUT = 2


class ConcurError(Exception):
    """Bad input or usage: the message names the file, row or key and what is wrong."""


F = TypeVar("F", bound=Callable[..., object])


def one_line(text: str) -> str:
    """A message on one line: names taken from hostile input may carry line breaks."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def os_error_message(err: OSError) -> str:
    """'<file>: <reason>' for a failed read or write (disk full, permission, a file where a folder should be)."""
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    reason = err.strerror or str(err) or type(err).__name__
    return f"{where}: {reason}" if where else reason


def cli_main(func: F) -> F:
    """Wrap a script's main(): ConcurError or an OS error (a failed write) -> one line on stderr, exit 2."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConcurError as err:
            print(f"error: {one_line(str(err))}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as err:  # e.g. disk full or permissions changed mid-step; outputs are atomic, so no half files
            print(f"error: {one_line(os_error_message(err))}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
