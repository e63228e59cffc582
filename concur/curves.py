"""Accuracy-cost curve metrics: hull, AIQ, interpolation, gap recovered, bootstrap.

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
- Two-strategy pools (weak/strong): APGR, CPT, LPM, MPM, HCR live in concur/two_model_metrics.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def _trapz(x: np.ndarray, y: np.ndarray) -> float:
    """Integral of the piecewise-linear curve through (x, y)."""
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


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
