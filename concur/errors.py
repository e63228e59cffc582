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


def cli_main(func: F) -> F:
    """Wrap a script's main(): ConcurError -> one line on stderr, exit status 2."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConcurError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
