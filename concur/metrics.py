"""Quality metrics for P(correct) and cost predictions (vectorised, NaN where undefined).

Labels may be scores in [0, 1]; AUROC needs classes, so it thresholds them at 0.5.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-7


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"shape mismatch: {y.shape} targets vs {p.shape} predictions")
    return y, p


def base_rate(y) -> float:
    y = np.asarray(y, dtype=np.float64)
    return float(y.mean()) if y.size else float("nan")


def auroc(y, p) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y, p = _arrays(y, p)
    cls = y >= 0.5
    if y.size == 0 or cls.all() or not cls.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score  # lazy: sklearn costs ~1 s to import, --predict needs none

    return float(roc_auc_score(cls, p))


def brier(y, p) -> float:
    """Mean squared error of the probability (works for soft labels, unlike sklearn's)."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


def log_loss(y, p) -> float:
    """Binary cross-entropy with probabilities clipped away from 0 and 1."""
    y, p = _arrays(y, p)
    if y.size == 0:
        return float("nan")
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def accuracy(y, p) -> float:
    y, p = _arrays(y, p)
    return float(np.mean((p >= 0.5) == (y >= 0.5))) if y.size else float("nan")


def ece(y, p, n_bins: int = 10) -> float:
    """Expected calibration error: equal-width bins, |mean label - mean prob| weighted by bin size."""
    y, p = _arrays(y, p)
    if y.size == 0:
        return float("nan")
    # bin i holds [i/n, (i+1)/n); p == 1 goes to the last bin
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    gap = np.abs(np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins))
    return float(gap.sum() / y.size)


def mae(y, pred) -> float:
    from sklearn.metrics import mean_absolute_error

    y, pred = _arrays(y, pred)
    return float(mean_absolute_error(y, pred)) if y.size else float("nan")


def median_ape(y, pred) -> float:
    """Median of |pred - y| / y over targets > 0 (zero costs have no relative error)."""
    y, pred = _arrays(y, pred)
    pos = y > 0
    if not pos.any():
        return float("nan")
    return float(np.median(np.abs(pred[pos] - y[pos]) / y[pos]))


def total_bias(y, pred) -> float:
    """sum(pred) / sum(y) - 1: how far a budget computed from predictions is off."""
    y, pred = _arrays(y, pred)
    total = y.sum()
    return float(pred.sum() / total - 1) if y.size and total > 0 else float("nan")


def classification_metrics(y, p) -> dict[str, float]:
    return {"base_rate": base_rate(y), "auroc": auroc(y, p), "brier": brier(y, p), "ece": ece(y, p),
            "logloss": log_loss(y, p), "accuracy": accuracy(y, p)}


def cost_metrics(y, pred) -> dict[str, float]:
    return {"cost_mae": mae(y, pred), "cost_mdape": median_ape(y, pred), "cost_bias": total_bias(y, pred)}
