"""Inference cost: FLOPs = 2 x N_params x (prompt tokens + generated tokens) (Kaplan et al. 2020).

The forward pass costs about 2 FLOPs per parameter per token; the attention term is left
out (small at these context lengths). Costs are stored in the config's `cost_unit`.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import ConcurError

_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_UNIT = re.compile(r"^\s*(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)?\s*\*?\s*(?P<prefix>[kKMGTP]?)(?i:flops?)\s*$")


def flops_scale(cost_unit: str) -> float:
    """'1e11 FLOPs' -> 1e11, 'FLOPs' -> 1, 'GFLOPs' -> 1e9; anything not FLOPs-based is an error."""
    m = _UNIT.match(cost_unit or "")
    if not m:
        raise ConcurError(f"config key 'cost_unit': {cost_unit!r} is not a FLOPs unit (e.g. '1e11 FLOPs'); "
                          "collected costs are measured in FLOPs")
    scale = float(m.group("num") or 1.0) * _PREFIX[m.group("prefix")]
    if scale <= 0:
        raise ConcurError(f"config key 'cost_unit': {cost_unit!r} must be a positive multiple of FLOPs")
    return scale


def flops_cost(n_params: float, prompt_tokens, generated_tokens, scale: float) -> np.ndarray:
    """Cost per query in units of `scale` FLOPs (vectorised over queries)."""
    tokens = np.asarray(prompt_tokens, dtype=np.float64) + np.asarray(generated_tokens, dtype=np.float64)
    return 2.0 * float(n_params) * tokens / scale
