"""Accuracy-cost curve metrics: hull, AIQ, interpolation, gap recovered, weak/strong metrics, bootstrap.

Definitions (the report quotes them):

- Hull. From a router's operating points (mean realised cost, accuracy) -- one per weight of a
  dense sweep -- plus the pool's *anchor* (the cheapest single strategy's point: any deployment
  can always send every task to the cheapest strategy), keep the Pareto points (strictly higher
  accuracy at higher cost) and take their upper convex hull. The result is non-decreasing and
  concave; points between two vertices are reachable by mixing the two operating points at random
  (a share of tasks routed with one weight, the rest with the other).
- The hull H(c) is linear between vertices, flat to the right of its last vertex (a router may
  always spend less than it is allowed) and, because every hull starts at the anchor, defined from
  the cheapest single strategy's cost upwards. Below the anchor cost H is undefined (NaN).
- AIQ = (1 / (c_max - c_min)) * integral_{c_min}^{c_max} H(c) dc over the single strategies'
  cost range [c_min, c_max] (cheapest and most expensive single strategy): the mean accuracy of
  the hull over that range (RouterBench's AIQ, normalised by the range).
- Gap recovered = (AIQ_router - AIQ_singles) / (AIQ_ceiling - AIQ_singles), where AIQ_singles is
  the AIQ of the single strategies' hull and AIQ_ceiling that of the oracle-probability router
  (the weighted router fed the true labels and costs).
- accuracy_at(c) = H(c); cost_at(a) = the least c with H(c) >= a (NaN if the hull never reaches a).
- Two-strategy pools (weak = cheaper, strong = dearer): the router's escalation order is the
  score (p_strong - p_weak) / (c_strong - c_weak) of its predictions, which is exactly the order
  in which a weight sweep of W*p - (1-W)*c moves tasks to the strong model. The call-rate curve
  acc(x) sends the top share x of tasks to the strong model. PGR(x) = (acc(x) - acc_weak) /
  (acc_strong - acc_weak); APGR = mean of PGR over call rates 0..1 (trapezoid over every k/n);
  CPT(q) = the least call rate with PGR >= q (RouteLLM). Call-rate bands: the mean accuracy of
  acc(x) over x in [0, 1/3], [1/3, 2/3] and [2/3, 1] (our explicit stand-in for RouterXBench's
  low/middle/high call-rate bands; see the report).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import auroc

CALL_BANDS = {"low (0-1/3)": (0.0, 1 / 3), "middle (1/3-2/3)": (1 / 3, 2 / 3), "high (2/3-1)": (2 / 3, 1.0)}


@dataclass
class Hull:
    """Vertices of a non-decreasing concave accuracy-cost hull, costs strictly increasing."""

    cost: np.ndarray
    acc: np.ndarray

    def at(self, c) -> np.ndarray:
        """H(c): linear between vertices, flat right of the last, NaN left of the first."""
        c = np.asarray(c, dtype=np.float64)
        out = np.interp(c, self.cost, self.acc)  # np.interp is flat beyond both ends
        return np.where(c < self.cost[0] - 1e-12 * max(1.0, abs(self.cost[0])), np.nan, out)

    def cost_at(self, a: float) -> float:
        """Least cost at which the hull reaches accuracy `a` (NaN if never)."""
        if a > self.acc[-1] + 1e-12:
            return float("nan")
        if a <= self.acc[0]:
            return float(self.cost[0])
        j = int(np.searchsorted(self.acc, a))  # acc strictly increasing on the hull
        c0, c1, a0, a1 = self.cost[j - 1], self.cost[j], self.acc[j - 1], self.acc[j]
        return float(c0 + (a - a0) / (a1 - a0) * (c1 - c0))

    def area(self, lo: float, hi: float) -> float:
        """Integral of H over [lo, hi] (lo must not be left of the first vertex)."""
        if hi <= lo:
            return 0.0
        xs = np.concatenate([[lo], self.cost[(self.cost > lo) & (self.cost < hi)], [hi]])
        return _trapz(xs, self.at(xs))


def hull(cost, acc, anchor: tuple[float, float] | None = None) -> Hull:
    """Non-decreasing upper convex hull of the points (cost, acc), plus the optional anchor point."""
    c = np.asarray(cost, dtype=np.float64).ravel()
    a = np.asarray(acc, dtype=np.float64).ravel()
    if anchor is not None:
        c, a = np.append(c, anchor[0]), np.append(a, anchor[1])
    ok = np.isfinite(c) & np.isfinite(a)
    c, a = c[ok], a[ok]
    if c.size == 0:
        raise ValueError("hull of no points")
    order = np.lexsort((-a, c))  # by cost, then best accuracy first
    c, a = c[order], a[order]
    # Pareto: keep a point only if it beats every cheaper-or-equal point's accuracy
    prev_best = np.concatenate([[-np.inf], np.maximum.accumulate(a)[:-1]])
    keep = a > prev_best
    c, a = c[keep], a[keep]
    hc: list[float] = []
    ha: list[float] = []
    for x, y in zip(c, a):  # monotone chain over the (few hundred) Pareto points
        while len(hc) >= 2 and (hc[-1] - hc[-2]) * (y - ha[-2]) - (ha[-1] - ha[-2]) * (x - hc[-2]) >= 0:
            hc.pop()
            ha.pop()
        hc.append(float(x))
        ha.append(float(y))
    return Hull(np.array(hc), np.array(ha))


def aiq(h: Hull, c_min: float, c_max: float) -> float:
    """Area under the hull over [c_min, c_max] divided by the range (NaN if the range is empty)."""
    if not c_max > c_min:
        return float("nan")
    if h.cost[0] > c_min + 1e-9 * max(1.0, abs(c_min)):
        raise ValueError(f"hull starts at cost {h.cost[0]:g}, right of the range start {c_min:g}; add the anchor")
    return h.area(c_min, c_max) / (c_max - c_min)


def gap_recovered(aiq_router: float, aiq_singles: float, aiq_ceiling: float) -> float:
    """Share of the singles-hull-to-ceiling AIQ gap the router recovers (NaN if no gap)."""
    gap = aiq_ceiling - aiq_singles
    return float((aiq_router - aiq_singles) / gap) if gap > 1e-12 else float("nan")


# ------------------------------------------------------------------ two-strategy pools
def escalation_order(p_weak, p_strong, c_weak, c_strong) -> np.ndarray:
    """Task indices in the order a weight sweep moves them to the strong model (first = first escalated)."""
    dp = np.asarray(p_strong, dtype=np.float64) - np.asarray(p_weak, dtype=np.float64)
    dc = np.asarray(c_strong, dtype=np.float64) - np.asarray(c_weak, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(dc > 0, dp / dc, np.where(dp >= 0, np.inf, -np.inf))
    return np.argsort(-score, kind="stable")


def call_rate_curve(order: np.ndarray, y_weak, y_strong) -> tuple[np.ndarray, np.ndarray]:
    """(call rates k/n, accuracy) for k = 0..n tasks escalated in `order`."""
    yw = np.asarray(y_weak, dtype=np.float64)
    ys = np.asarray(y_strong, dtype=np.float64)
    n = len(yw)
    gain = np.concatenate([[0.0], np.cumsum((ys - yw)[order])])
    return np.arange(n + 1) / n, (yw.sum() + gain) / n


def _trapz(x: np.ndarray, y: np.ndarray) -> float:
    """Integral of the piecewise-linear curve through (x, y)."""
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def _trapz_mean(x: np.ndarray, y: np.ndarray) -> float:
    return _trapz(x, y) / (x[-1] - x[0])


def band_means(rate: np.ndarray, acc: np.ndarray, bands: dict[str, tuple[float, float]] = CALL_BANDS) -> dict[str, float]:
    """Mean accuracy of the call-rate curve within each band (linear interpolation, exact integral)."""
    out = {}
    for name, (lo, hi) in bands.items():
        xs = np.concatenate([[lo], rate[(rate > lo) & (rate < hi)], [hi]])
        out[name] = _trapz_mean(xs, np.interp(xs, rate, acc))
    return out


def weak_strong_metrics(p_weak, p_strong, c_weak, c_strong, y_weak, y_strong) -> dict[str, float]:
    """APGR, CPT(50%), CPT(80%), AUROC of 'weak model is right' (on p_weak) and call-rate band means."""
    order = escalation_order(p_weak, p_strong, c_weak, c_strong)
    rate, acc = call_rate_curve(order, y_weak, y_strong)
    a_w, a_s = float(np.mean(y_weak)), float(np.mean(y_strong))
    out: dict[str, float] = {}
    if a_s - a_w > 1e-12:
        pgr = (acc - a_w) / (a_s - a_w)
        out["apgr"] = _trapz_mean(rate, pgr)
        for q in (0.5, 0.8):
            hit = np.flatnonzero(pgr >= q - 1e-12)
            out[f"cpt{int(q * 100)}"] = float(rate[hit[0]]) if hit.size else float("nan")
    else:
        out.update(apgr=float("nan"), cpt50=float("nan"), cpt80=float("nan"))
    out["auroc_weak_right"] = auroc(y_weak, p_weak)
    out.update({f"band {k}": v for k, v in band_means(rate, acc).items()})
    return out


# ------------------------------------------------------------------ bootstrap
def bootstrap_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampling counts of n test tasks (multinomial = sampling with replacement)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def resampled_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Means of per-task values (..., n) under each resample: (n_boot, ...)."""
    v = np.asarray(values, dtype=np.float64)
    flat = v.reshape(-1, v.shape[-1])
    return (counts @ flat.T / counts.shape[1]).reshape((counts.shape[0],) + v.shape[:-1])


def interval(samples, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaNs ignored)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
