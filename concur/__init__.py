"""concur: continual constrained and unconstrained LLM routing (library behind the CLI scripts).

For a serving loop: `router = concur.load_router("config.yml")`, then
`router.route(["question", ...], weight=... | lam=... | budget=...)` (concur/serving.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .serving import ServingRouter


def load_router(config_path: str = "config.yml", router: str | None = None) -> "ServingRouter":
    """The config's trained router (or the registered router `router`), ready to route new tasks."""
    from .serving import load_router as _load

    return _load(config_path, router)
