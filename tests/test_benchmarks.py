"""The benchmark scripts stay importable, and their predictor variants are valid CONCUR settings.

Benchmarks measure and print (they are run by hand or by `make bench`); nothing here runs them. This
catches a script left behind by a refactor of the modules it imports, and a variant whose settings
the router would refuse.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from concur.config import SCHEMA
from concur.routers import router_class

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py"))


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # bench_predictor_switches imports bench_predictor
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_imports(name):
    module = load(name)
    assert callable(getattr(module, "main", None)), f"{name}.py has no main()"


def test_switch_variants_are_valid_settings():
    sw = load("bench_predictor_switches")
    for name, overrides in sw.VARIANTS.items():
        router_class("concur")(overrides, 0, source=f"variant {name}")  # raises on an unknown key or bad type


def test_lever_variants_are_valid_and_one_is_todays_defaults():
    lv = load("bench_predictor_levers")
    for name, (_folder, overrides) in lv.VARIANTS.items():
        settings = {k: v for k, v in overrides.items() if k != lv.SEED}
        router_class("concur")(settings, 0, source=f"variant {name}")
    defaults = {k: v[1] for k, v in SCHEMA["predictor"].items()}
    at_defaults = [n for n, (f, o) in lv.VARIANTS.items() if f == lv.BF16 and o.get(lv.SEED, 0) == 0
                   and all(defaults[k] == v for k, v in o.items() if k != lv.SEED)]
    assert at_defaults == ["bf16_adopted_smearing_cost_lr1e-3"]
