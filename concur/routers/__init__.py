"""The router registry: name -> router class (one module per router, imported on first use).

Adding a router = one module under concur/routers/ with a `Router` subclass, plus one line here.
Routers are built from the config: CONCUR from the `predictor:` section (the reference keys),
every other router from `routers.<name>:` (its settings, validated against the class defaults).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import ConcurError

if TYPE_CHECKING:  # the routers import torch; the registry itself stays light for the config loader
    from ..config import Config
    from .base import Router

REGISTRY: dict[str, str] = {
    "concur": "concur.routers.concur:ConcurRouter",
    "knn": "concur.routers.knn:KnnRouter",
    "shared": "concur.routers.shared:SharedRouter",
    "ensemble": "concur.routers.ensemble:EnsembleRouter",
    "subject-best": "concur.routers.subject_best:SubjectBestRouter",
    "routellm-mf": "concur.routers.routellm_mf:MatrixFactorizationRouter",
    "embedllm": "concur.routers.embedllm:EmbedLLMRouter",
    "rtr": "concur.routers.rtr:RouteToReasonRouter",
    "cascal": "concur.routers.cascal:CascalRouter",
}
DEFAULT_ROUTER = "concur"


def router_names() -> list[str]:
    return list(REGISTRY)


def router_class(name: str) -> "type[Router]":
    if name not in REGISTRY:
        raise ConcurError(f"unknown router '{name}' (registered: {', '.join(REGISTRY)})")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def router_settings(name: str, config: "Config") -> dict[str, Any]:
    """The settings a router is built with: `predictor:` for CONCUR, `routers.<name>:` otherwise."""
    if name == "concur":
        return dict(config.predictor)
    return dict((config.get("routers") or {}).get(name) or {})


def make_router(name: str, config: "Config", seed: int | None = None) -> "Router":
    """Build a registered router from a config (seed: the config's unless given)."""
    cls = router_class(name)
    seed = int(config.seed if seed is None else seed)
    source = "config section 'predictor'" if name == "concur" else f"config key 'routers.{name}'"
    if getattr(cls, "composite", False):  # an ensemble is built from other registered routers
        return cls(router_settings(name, config), seed, source=source, config=config)
    return cls(router_settings(name, config), seed, source=source)
