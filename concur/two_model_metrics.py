"""Weak/strong (two-model) routing metrics, each in the definition of the work that introduced it.

RouteLLM (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data", arXiv 2406.18665, Sec. 3.2;
evaluation code `routellm/evals/evaluate.py` and `routellm/evals/benchmarks.py` of github.com/lm-sys/RouteLLM):

- A router scores every task; a task goes to the strong model when its score is >= a threshold. Sweeping
  the threshold traces the call-performance curve acc(x), x = the share of tasks sent to the strong model.
- PGR(x) = (acc(x) - acc_weak) / (acc_strong - acc_weak).
- APGR = the integral of PGR over x (trapezoid rule over the curve's points, divided by the x range, which is
  [0, 1] for every curve here).
- CPT(q) = the least call share at which the curve, linear between its points, reaches PGR q. RouteLLM reads
  it with np.interp(target accuracy, accuracies, call shares), which is the same number whenever accuracy
  increases with the call share (np.interp assumes increasing points; here a non-monotone curve gives its
  first crossing). RouteLLM prints CPT in percent; the functions here return shares in [0, 1].
- RouteLLM's evaluation puts the thresholds at the num_results + 1 = 11 quantile edges of the score
  (pd.qcut, 10 bins by default): `score >= edge` for every edge but the last, `score > max` (no strong call)
  for the last. `quantile_curve` gives exactly those points (pd.qcut refuses duplicate edges; here they are
  kept). `exact_curve` uses every distinct score as a threshold, so its points sit at every tie-group
  boundary; with distinct scores it equals the quantile curve with n bins, the limit of the quantile curve.
- The score. RouteLLM's routers score P(strong model wins). A router that predicts P(correct) for both
  models scores the estimated gain from escalating, p_strong - p_weak (`gain_score`). Our cost-aware
  variant (`cost_order_score`, reported as `*_cost_order`) orders by that gain per unit of extra predicted
  cost instead, the order in which a weight sweep of W*p - (1-W)*c escalates tasks; it is NOT RouteLLM's metric.

RouterXBench (github.com/zhuchichi56/RouterXBench, `src/metric.py`: `AdaptiveMetrics`, `ReliableMetrics`):

- The router scores "the weak model is right"; tasks are escalated in ascending order of that score.
- Call-rate grid r_i = i / 100, i = 0..100; at r_i the first floor(r_i * n) tasks go to the strong model
  and acc_i is the resulting mean accuracy.
- LPM = the mean of acc_i over the grid points with r_i in the LPM band (default [0, 0.1], both ends in).
- HCR = 1 - the mean of r_i over the points whose acc_i lies in the recovery band
  [w + a (s - w), w + b (s - w)] (default a, b = 0.7, 0.9; both ends in; w, s = weak and strong accuracy);
  0 when no point lies in the band.
- MPM = the mean of acc_i over the points with acc(LPM band's upper edge) < acc_i < the recovery band's
  lower edge (both strict); 0 when none.
- AUROC of the score for the label "the weak model is right": the weak model's label when labels are 0/1,
  else weak score >= strong score (its 'general' rule); 0.5 when only one class is present.
- The band defaults are `AdaptiveMetrics.calculate`'s; the repository's `config.yaml` and `PipelineConfig`
  carry other values ([0.85, 0.95] / [0.25, 0.3] and (0.91, 0.92) / (0, 0.1)), so pass the bands explicitly
  when comparing with a run that used them. Ties in the score are broken by input order (RouterXBench's
  np.argsort leaves them unspecified).
"""
from __future__ import annotations

import numpy as np

ROUTELLM_BINS = 10  # evaluate.py --num-results default
CPT_LEVELS = (0.5, 0.8)  # the levels RouteLLM's paper reports
RECOVERY_BAND = (0.7, 0.9)  # AdaptiveMetrics.calculate defaults
LPM_BAND = (0.0, 0.1)
GRID_POINTS = 101


def _vec(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


def _check(score: np.ndarray, y_weak: np.ndarray, y_strong: np.ndarray) -> int:
    n = score.size
    if n == 0 or y_weak.size != n or y_strong.size != n:
        raise ValueError(f"need equal, non-zero lengths: {n} scores, {y_weak.size} weak, {y_strong.size} strong labels")
    if np.isnan(score).any():
        raise ValueError("scores must not be NaN (the escalation order needs a total order)")
    return n


def _area(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid integral of the piecewise-linear curve through (x, y)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


# ------------------------------------------------------------------ scores (which task is escalated first)
def gain_score(p_weak, p_strong) -> np.ndarray:
    """Estimated gain in P(correct) from escalating: the RouteLLM-order score (higher = escalate first)."""
    return _vec(p_strong) - _vec(p_weak)


def cost_order_score(p_weak, p_strong, c_weak, c_strong) -> np.ndarray:
    """Gain in P(correct) per unit of extra predicted cost (higher = escalate first): the order in which a
    weight sweep of W*p - (1-W)*c moves tasks to the strong model. A strong model that is not dearer goes
    first when it is no worse, last when it is worse."""
    dp = gain_score(p_weak, p_strong)
    dc = _vec(c_strong) - _vec(c_weak)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dc > 0, dp / dc, np.where(dp >= 0, np.inf, -np.inf))


# ------------------------------------------------------------------ RouteLLM
def _threshold_points(score: np.ndarray, y_weak: np.ndarray, y_strong: np.ndarray, k: np.ndarray):
    """(call shares, accuracies) when the k highest-scoring tasks go to the strong model, sorted by share."""
    n = score.size
    order = np.argsort(-score, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((y_strong - y_weak)[order])])
    k = np.sort(k)
    return k / n, (y_weak.sum() + gain[k]) / n


def exact_curve(score, y_weak, y_strong) -> tuple[np.ndarray, np.ndarray]:
    """Call-performance curve with every distinct score as a threshold (`score >= t` goes to the strong
    model), plus the no-escalation point. Tied tasks move together, so the curve between two points is the
    expected curve under random tie-breaking."""
    s, yw, ys = _vec(score), _vec(y_weak), _vec(y_strong)
    n = _check(s, yw, ys)
    asc = np.sort(s)
    k = n - np.searchsorted(asc, np.unique(s), side="left")  # tasks with score >= each distinct value
    return _threshold_points(s, yw, ys, np.concatenate([[0], k]))


def quantile_curve(score, y_weak, y_strong, n_bins: int = ROUTELLM_BINS) -> tuple[np.ndarray, np.ndarray]:
    """RouteLLM's evaluation points: thresholds at the n_bins + 1 quantile edges of the score (pd.qcut's,
    linear interpolation); `score >= edge` for all but the last edge, `score > edge` for the last."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    s, yw, ys = _vec(score), _vec(y_weak), _vec(y_strong)
    n = _check(s, yw, ys)
    if not np.isfinite(s).all():
        raise ValueError("quantile thresholds need finite scores")
    edges = np.quantile(s, np.linspace(0, 1, n_bins + 1))
    asc = np.sort(s)
    k = n - np.searchsorted(asc, edges[:-1], side="left")
    k_last = n - np.searchsorted(asc, edges[-1:], side="right")
    return _threshold_points(s, yw, ys, np.concatenate([k, k_last]))


def pgr(acc, acc_weak: float, acc_strong: float) -> np.ndarray:
    """Performance gap recovered; NaN everywhere when the strong model is not more accurate than the weak."""
    a = _vec(acc)
    gap = acc_strong - acc_weak
    return (a - acc_weak) / gap if gap > 1e-12 else np.full_like(a, np.nan)


def apgr(rate, acc, acc_weak: float, acc_strong: float) -> float:
    """RouteLLM's APGR of a curve sorted by call share: (AUC - weak AUC) / (strong AUC - weak AUC)."""
    x, p = _vec(rate), pgr(acc, acc_weak, acc_strong)
    if x.size < 2 or not x[-1] > x[0] or np.isnan(p).any():
        return float("nan")
    return float(_area(x, p) / (x[-1] - x[0]))


def cpt(rate, acc, acc_weak: float, acc_strong: float, q: float) -> float:
    """RouteLLM's CPT(q): the least call share at which the linearly interpolated curve reaches PGR q
    (NaN if it never does)."""
    x, p = _vec(rate), pgr(acc, acc_weak, acc_strong)
    hit = np.flatnonzero(p >= q - 1e-12)
    if hit.size == 0:
        return float("nan")
    j = int(hit[0])
    if j == 0:
        return float(x[0])
    return float(x[j - 1] + (q - p[j - 1]) / (p[j] - p[j - 1]) * (x[j] - x[j - 1]))


def routellm_metrics(score, y_weak, y_strong, n_bins: int | None = None,
                     levels: tuple[float, ...] = CPT_LEVELS) -> dict[str, float]:
    """APGR and CPT(q) for q in `levels` ('cpt50', 'cpt80') of the exact curve (n_bins None) or of
    RouteLLM's quantile curve with n_bins bins."""
    rate, acc = exact_curve(score, y_weak, y_strong) if n_bins is None else quantile_curve(score, y_weak, y_strong, n_bins)
    a_w, a_s = float(np.mean(y_weak)), float(np.mean(y_strong))
    out = {"apgr": apgr(rate, acc, a_w, a_s)}
    for q in levels:
        out[f"cpt{round(q * 100)}"] = cpt(rate, acc, a_w, a_s, q)
    return out


# ------------------------------------------------------------------ RouterXBench
def grid_curve(weak_right_score, y_weak, y_strong, n_points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """RouterXBench's call-rate curve: rates linspace(0, 1, n_points); at rate r the floor(r * n) tasks with
    the lowest 'weak model is right' score go to the strong model."""
    s, yw, ys = _vec(weak_right_score), _vec(y_weak), _vec(y_strong)
    n = _check(s, yw, ys)
    rates = np.linspace(0.0, 1.0, n_points)
    order = np.argsort(s, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((ys - yw)[order])])
    k = np.floor(rates * n).astype(np.int64)
    return rates, (yw.sum() + gain[k]) / n


def weak_right_auroc(weak_right_score, y_weak, y_strong) -> float:
    """RouterXBench's AUROC: the score against 'the weak model is right' (0.5 when one class only)."""
    s, yw, ys = _vec(weak_right_score), _vec(y_weak), _vec(y_strong)
    _check(s, yw, ys)
    binary = np.all((yw == 0) | (yw == 1))
    labels = yw.astype(bool) if binary else yw >= ys
    if labels.all() or not labels.any():
        return 0.5
    from sklearn.metrics import roc_auc_score  # lazy: sklearn costs ~1 s to import

    return float(roc_auc_score(labels, s))


def routerxbench_metrics(weak_right_score, y_weak, y_strong, recovery_band: tuple[float, float] = RECOVERY_BAND,
                         lpm_band: tuple[float, float] = LPM_BAND, n_points: int = GRID_POINTS) -> dict[str, float]:
    """LPM, MPM, HCR (AdaptiveMetrics) and AUROC (ReliableMetrics) of a 'weak model is right' score."""
    lo, hi = lpm_band
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"lpm_band must satisfy 0 <= low <= high <= 1, got {lpm_band}")
    if not recovery_band[0] <= recovery_band[1]:
        raise ValueError(f"recovery_band must be (low, high) with low <= high, got {recovery_band}")
    rates, acc = grid_curve(weak_right_score, y_weak, y_strong, n_points)
    w, s = float(np.mean(y_weak)), float(np.mean(y_strong))
    start, end = np.searchsorted(rates, lo, side="left"), np.searchsorted(rates, hi, side="right")
    lpm = float(np.mean(acc[start:end])) if end > start else float("nan")
    acc_at_lpm_edge = acc[min(end - 1, acc.size - 1)]
    band_lo, band_hi = w + (s - w) * recovery_band[0], w + (s - w) * recovery_band[1]
    in_band = (acc >= band_lo) & (acc <= band_hi)
    hcr = float(1.0 - rates[in_band].mean()) if in_band.any() else 0.0
    mid = (acc > acc_at_lpm_edge) & (acc < band_lo)
    mpm = float(acc[mid].mean()) if mid.any() else 0.0
    return {"lpm": lpm, "mpm": mpm, "hcr": hcr, "auroc_weak_right": weak_right_auroc(weak_right_score, y_weak, y_strong)}


# ------------------------------------------------------------------ all of them for one router
def weak_strong_metrics(p_weak, p_strong, c_weak, c_strong, y_weak, y_strong, weak_right_score=None,
                        n_bins: int = ROUTELLM_BINS, recovery_band: tuple[float, float] = RECOVERY_BAND,
                        lpm_band: tuple[float, float] = LPM_BAND) -> dict[str, float]:
    """Every two-model metric of a router's predictions (p_*: predicted P(correct), c_*: predicted cost,
    y_*: realised labels).

    RouteLLM on the gain score p_strong - p_weak: 'apgr', 'cpt50', 'cpt80' (exact curve) and '*_qbins'
    (RouteLLM's n_bins quantile thresholds, the number its paper reports); the cost-aware order: '*_cost_order'
    (exact curve). RouterXBench on `weak_right_score` (default p_weak): 'lpm', 'mpm', 'hcr', 'auroc_weak_right'.
    """
    yw, ys = _vec(y_weak), _vec(y_strong)
    gain = gain_score(p_weak, p_strong)
    out = routellm_metrics(gain, yw, ys)
    out.update({f"{k}_qbins": v for k, v in routellm_metrics(gain, yw, ys, n_bins=n_bins).items()})
    out.update({f"{k}_cost_order": v for k, v in
                routellm_metrics(cost_order_score(p_weak, p_strong, c_weak, c_strong), yw, ys).items()})
    out.update(routerxbench_metrics(p_weak if weak_right_score is None else weak_right_score, yw, ys,
                                    recovery_band, lpm_band))
    return out
