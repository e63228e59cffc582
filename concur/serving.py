"""Route new questions from Python: a trained router, an embedder and the routing rules in one object.

    import concur
    router = concur.load_router("config.yml")            # the config's router (or router="knn", ...)
    router.route(["What is 2 + 2?", ...], weight=0.999)  # -> ["qwen2b_vanilla", ...]
    router.route(questions, lam=0.01)                     # P(correct) - lam * cost
    router.route(questions, budget=20.0)                  # mean cost per task <= 20, realised-spend guard
    router.route(questions, budget=20.0, risk=None)       # the guard without its margin (mean spend = 20)

A task is a question string or a task.json-style object ({question, options?, subject?}). The texts
are embedded with the data set's embedding model and settings, the saved router (checked to be
current) predicts P(correct) and expected cost, and the same routing code as the scripts chooses.
With a budget, the realised-spend guard (concur/guard.py) calibrates the solver's budget on the
router's validation predictions, once per (budget, mode, risk), with the scripts' default margin
(risk 0.1: realised spend <= budget with probability about 0.9).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config, load_config
from .data import task_text
from .errors import ConcurError
from .guard import DEFAULT_RISK, GUARDS, GuardResult, ValidationSpend, calibrate_budget, parse_risk, solver_budget
from .inputs import Inputs, TaskBatch, load_inputs
from .router_jobs import load_router_for
from .routers.base import Estimates, Router
from .pred_files import Predictions
from .routing import check_budget, check_lambdas, check_mode, check_weights, route_budget, route_lambda, \
    route_weighted


def _records(tasks: Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(tasks):
        rec = {"question": t} if isinstance(t, str) else t
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str) or not rec["question"].strip():
            raise ConcurError(f"task {i}: expected a non-empty question string or an object with a 'question' string")
        opts = rec.get("options")
        if opts is not None and not isinstance(opts, list):
            raise ConcurError(f"task {i}: 'options' must be a list")
        out.append(rec)
    return out


class ServingRouter:
    """A saved router ready to route new tasks (see the module docstring)."""

    def __init__(self, config: Config, router: Router, inp: Inputs) -> None:
        self.config, self.router, self.inputs = config, router, inp
        self._embedder = None
        self._val: Predictions | None = None
        self._guards: dict[tuple[float, str, int, float | None], GuardResult] = {}

    @property
    def strategies(self) -> list[str]:
        return list(self.router.strategies)

    def embed(self, tasks: Sequence[str | dict[str, Any]]) -> TaskBatch:
        """The tasks as a batch in the router's input space (embedding model loaded on first use)."""
        records = _records(tasks)
        if self._embedder is None:
            from .embeddings import dataset_embedder

            self._embedder = dataset_embedder(self.config)
        emb = self._embedder.encode([task_text(r) for r in records])
        if self.config.predictor.task_features:
            emb = torch.cat([emb, torch.from_numpy(self.inputs.new_task_features(records))], dim=1)
        ids = np.array([str(r.get("question_id", i)) for i, r in enumerate(records)], dtype=object)
        return TaskBatch(ids, emb, records)

    def estimates(self, tasks: Sequence[str | dict[str, Any]]) -> Estimates:
        """P(correct) and expected cost of every task for every strategy."""
        return self.router.predict(self.embed(tasks))

    def validation_predictions(self) -> Predictions:
        """The router's predictions for the validation split, with its realised outcomes (for the guard)."""
        if self._val is None:
            val = self.inputs.ds.val
            est = self.router.predict(self.inputs.batch(val))
            if not val.observed.all():
                raise ConcurError(f"{self.config.val_data_path}: the guard needs every strategy's outcome on every "
                                  "validation task; pass guard='none'")
            self._val = Predictions("val", val.question_ids, est.strategies, est.prob, est.cost, val.label, val.cost)
        return self._val

    def guard(self, budget: float, mode: str = "global", num_batches: int = 1,
              risk: float | None = DEFAULT_RISK) -> GuardResult:
        """The calibrated internal budget (cached per budget, mode, batches and risk). The margin for `risk`
        is sized for a stream of tasks as large as the validation split (the number routed per call is not
        known in advance), so it bounds the long-run spend, not that of a single small call."""
        risk = parse_risk(risk)
        key = (float(budget), mode, int(num_batches), risk)
        if key not in self._guards:
            spend = ValidationSpend(self.validation_predictions(), mode, num_batches)
            self._guards[key] = calibrate_budget(spend, float(budget), risk, seed=int(self.config.seed))
        return self._guards[key]

    def route(self, tasks: Sequence[str | dict[str, Any]], *, weight: float | None = None, lam: float | None = None,
              budget: float | None = None, mode: str = "global", guard: str = "realised",
              risk: float | None = DEFAULT_RISK, num_batches: int = 1) -> list[str]:
        """One strategy name per task: by weight W (W*p - (1-W)*cost), by lam (p - lam*cost) or under a budget
        (mean cost per task; global or local mode; with the realised-spend guard unless guard='none', and its
        margin `risk`: realised spend <= budget with probability about 1 - risk; None calibrates the mean only)."""
        given = [k for k, v in (("weight", weight), ("lam", lam), ("budget", budget)) if v is not None]
        if len(given) != 1:
            raise ConcurError("route: give exactly one of weight=, lam= or budget=")
        if guard not in GUARDS:
            raise ConcurError(f"route: guard must be one of {', '.join(GUARDS)}, got {guard!r}")
        est = self.estimates(tasks)
        if weight is not None:
            choice = route_weighted(est.prob, est.cost, check_weights([weight], "weight"))[0]
        elif lam is not None:
            choice = route_lambda(est.prob, est.cost, check_lambdas([lam]))[0]
        else:
            b = check_budget(budget, "budget")
            check_mode(mode)
            rc = self.config.routing
            internal = b
            if guard == "realised":
                internal, _ = solver_budget(self.guard(b, mode, num_batches, risk), est.cost, mode, num_batches)
            choice = route_budget(est.prob, est.cost, internal, mode, num_batches, rc.solver, float(rc.milp_time_limit),
                                  int(rc.exact_max_tasks)).choice
        return [est.strategies[j] for j in choice]


def load_router(config_path: str | Path = "config.yml", router: str | None = None) -> ServingRouter:
    """The config's trained router (or `router`), checked to be current, ready to route new tasks."""
    config = load_config(config_path)
    inp = load_inputs(config, ("train", "val"))
    name = router or config.router
    return ServingRouter(config, load_router_for(config, name, inp), inp)
