"""Favorita's scoring rule, so every model and baseline is judged on the competition's terms.

NWRMSLE (normalised weighted root mean squared logarithmic error) compares ``log1p`` of forecast
and actual, so a unit of error on a slow item counts as much as a proportional error on a fast
one; perishable items weigh :data:`~grocery_forecast.contract.schema.PERISHABLE_WEIGHT` because spoilage
makes their errors costlier.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nwrmsle", "nwrmsle_by_group"]


def _prepare(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, ...]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not (len(t) == len(p) == len(w)):
        raise ValueError(f"length mismatch: {len(t)} actuals, {len(p)} forecasts, {len(w)} weights")
    if len(t) == 0:
        raise ValueError("cannot score an empty forecast")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p)) and np.all(np.isfinite(w))):
        raise ValueError("actuals, forecasts and weights must be finite (absent sales are 0, not NaN)")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    # Returns (negative sales) and negative forecasts are scored as zero, as on Kaggle, where
    # log1p of a value at or below -1 would be undefined.
    return np.log1p(np.clip(t, 0.0, None)), np.log1p(np.clip(p, 0.0, None)), w


def nwrmsle(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Normalised weighted RMSLE: ``sqrt(sum(w * (log1p(pred) - log1p(true))**2) / sum(w))``.

    Args:
        y_true: Actual unit sales (absent rows as 0; negatives are clipped to 0).
        y_pred: Forecast unit sales (negatives are clipped to 0).
        weights: Per-row weights, e.g. 1.25 for perishables. Defaults to all 1.0.

    Raises:
        ValueError: On mismatched lengths, empty input, non-finite values or bad weights.
    """
    t, p, w = _prepare(y_true, y_pred, weights)
    return float(np.sqrt(np.sum(w * (p - t) ** 2) / np.sum(w)))


def nwrmsle_by_group(
    y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None, groups: np.ndarray
) -> dict[int, float]:
    """NWRMSLE within each group (e.g. horizon), keyed by the group's value in ascending order."""
    t, p, w = _prepare(y_true, y_pred, weights)
    g = np.asarray(groups).ravel()
    if len(g) != len(t):
        raise ValueError(f"length mismatch: {len(t)} rows, {len(g)} group labels")
    uniques, codes = np.unique(g, return_inverse=True)
    num = np.bincount(codes, weights=w * (p - t) ** 2, minlength=len(uniques))
    den = np.bincount(codes, weights=w, minlength=len(uniques))
    return {int(u): float(np.sqrt(n / d)) for u, n, d in zip(uniques, num, den, strict=True)}
