"""What a store manager would do by hand: the forecasts a model has to beat to be worth running.

Each baseline reads only a :class:`~grocery_forecast.forecasting.panel.SalesPanel` up to the forecast origin,
exactly like the model, so a backtest compares like with like. Absent rows are zero sales.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "BASELINES",
    "DOW_WEEKS",
    "FALLBACK_BASELINE",
    "MEDIAN_DOW_WEEKS",
    "MEDIAN_WINDOWS",
    "baseline_forecast",
    "best_baseline",
    "dow_mean",
    "last_value",
    "moving_median",
    "moving_median_dow",
    "zeros",
]

#: Weeks of same-weekday history averaged by :func:`dow_mean`.
DOW_WEEKS = 4
#: Windows (days) whose log-space means :func:`moving_median` takes the median of.
MEDIAN_WINDOWS: tuple[int, ...] = (7, 14, 28, 56, 112)
#: Weeks of history behind the weekday profile of :func:`moving_median_dow`.
MEDIAN_DOW_WEEKS = 8


def _target_arrays(
    panel: SalesPanel, origin: pd.Timestamp, targets: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Panel row (-1 if unknown) and days ahead of each target row."""
    rows = panel.index_of(targets["store_nbr"].to_numpy(), targets["item_nbr"].to_numpy())
    ahead = (pd.to_datetime(targets["date"]).dt.normalize() - origin).dt.days.to_numpy(dtype=np.int64)
    if len(ahead) and ahead.min() < 1:
        raise ValueError("baseline targets must be after the forecast origin")
    return rows, ahead


def zeros(panel: SalesPanel, origin: pd.Timestamp | str, targets: pd.DataFrame) -> np.ndarray:
    """Nothing sells: the right answer for the many Favorita series that are mostly empty."""
    return np.zeros(len(targets), dtype=np.float64)


def last_value(panel: SalesPanel, origin: pd.Timestamp | str, targets: pd.DataFrame) -> np.ndarray:
    """The origin day's sales repeated for every target day (0 if no row, returns clipped to 0)."""
    origin = pd.Timestamp(origin).normalize()
    rows, _ = _target_arrays(panel, origin, targets)
    col = panel.day_index(origin)
    out = np.zeros(len(targets), dtype=np.float64)
    if 0 <= col < panel.n_days:
        known = rows >= 0
        out[known] = np.nan_to_num(panel.sales[rows[known], col], nan=0.0)
    return np.clip(out, 0.0, None)


def dow_mean(
    panel: SalesPanel, origin: pd.Timestamp | str, targets: pd.DataFrame, weeks: int = DOW_WEEKS
) -> np.ndarray:
    """Mean sales of the target's weekday over its last ``weeks`` occurrences up to the origin.

    Zeros (absent rows) count; days before the panel starts do not. Returns are clipped to 0
    before averaging. Defaults to :data:`DOW_WEEKS` weeks.
    """
    origin = pd.Timestamp(origin).normalize()
    rows, ahead = _target_arrays(panel, origin, targets)
    end = panel.day_index(origin)
    out = np.zeros(len(targets), dtype=np.float64)
    known = rows >= 0
    if not known.any():
        return out
    # The most recent day on or before the origin that shares the target's weekday.
    first = end + ahead - 7 * ((ahead + 6) // 7)
    total = np.zeros(len(targets), dtype=np.float64)
    count = np.zeros(len(targets), dtype=np.float64)
    for k in range(weeks):
        col = first - 7 * k
        inside = known & (col >= 0) & (col < panel.n_days) & (col <= end)
        vals = panel.sales[rows[inside], col[inside]]
        total[inside] += np.clip(np.nan_to_num(vals, nan=0.0), 0.0, None)
        count[inside] += 1
        # Days after the panel's end but not after the origin are absent rows: zeros that count.
        count[known & (col >= panel.n_days) & (col <= end)] += 1
    np.divide(total, count, out=out, where=count > 0)
    return out


def _log_history(panel: SalesPanel, origin: pd.Timestamp, rows: np.ndarray, days: int) -> np.ndarray:
    """``log1p`` of clipped sales of ``rows`` over the known days of the last ``days``, newest first.

    Absent rows are zeros (also days after the panel's end up to the origin); days before the
    panel starts are unknown and left out, so the result has ``min(days, known days)`` columns.
    Unknown series (row ``-1``) get all zeros.
    """
    end = panel.day_index(origin)
    n_known = min(days, max(end + 1, 0))
    out = np.zeros((len(rows), n_known), dtype=np.float64)
    first = end - n_known + 1
    hi = min(end, panel.n_days - 1)
    known = rows >= 0
    if n_known and hi >= first and known.any():
        block = panel.sales[rows[known], first : hi + 1]
        out[known, : hi - first + 1] = np.log1p(np.clip(np.nan_to_num(block, nan=0.0), 0.0, None))
    return out[:, ::-1]


def _median_level(x: np.ndarray, windows: tuple[int, ...]) -> np.ndarray:
    """Median over the windows that fit in ``x``'s columns of each row's window mean (all columns if none fit)."""
    n_known = x.shape[1]
    if n_known == 0:
        return np.zeros(x.shape[0], dtype=np.float64)
    fit = [w for w in windows if w <= n_known] or [n_known]
    cum = np.cumsum(x, axis=1)
    means = np.stack([cum[:, w - 1] / w for w in fit], axis=1)
    return np.median(means, axis=1)


def moving_median(
    panel: SalesPanel,
    origin: pd.Timestamp | str,
    targets: pd.DataFrame,
    windows: tuple[int, ...] = MEDIAN_WINDOWS,
) -> np.ndarray:
    """Per store-item, the median over the windows that exist of the mean ``log1p`` sales, back in units.

    The public Favorita kernels' baseline, within a few percent of the winners: windows of
    7, 14, 28, 56 and 112 days (those longer than the known history are left out; with less
    than a week, the mean over what exists). Absent rows are zeros, returns clip to 0, the
    same value for every horizon. Defaults to :data:`MEDIAN_WINDOWS`.
    """
    origin = pd.Timestamp(origin).normalize()
    rows, _ = _target_arrays(panel, origin, targets)
    pairs, inverse = np.unique(rows, return_inverse=True)
    x = _log_history(panel, origin, pairs, max(windows))
    return np.expm1(_median_level(x, windows))[inverse.reshape(-1)]


def moving_median_dow(
    panel: SalesPanel,
    origin: pd.Timestamp | str,
    targets: pd.DataFrame,
    windows: tuple[int, ...] = MEDIAN_WINDOWS,
    weeks: int = MEDIAN_DOW_WEEKS,
) -> np.ndarray:
    """:func:`moving_median` shifted in log space by its store's weekday profile.

    The profile is the mean ``log1p`` sales on the target's weekday over the last ``weeks``
    weeks (as many whole weeks as exist) minus the mean over those days, averaged over every
    series of the store in ``panel``: one series' profile is noise (used alone it scores worse
    than no profile), a store's is not. With less than one whole week, or a level of zero, it
    is left out. Defaults to :data:`MEDIAN_WINDOWS` and :data:`MEDIAN_DOW_WEEKS`.
    """
    origin = pd.Timestamp(origin).normalize()
    _, ahead = _target_arrays(panel, origin, targets)
    level = np.log1p(moving_median(panel, origin, targets, windows))
    end = panel.day_index(origin)
    k = min(weeks, max(end + 1, 0) // 7)
    if k == 0 or panel.n_series == 0:
        return np.expm1(level)
    recent = _log_history(panel, origin, np.arange(panel.n_series), 7 * k)
    # Column j0: days j0, j0 + 7, ... back from the origin, minus the mean over all 7k days.
    profile = recent.reshape(panel.n_series, k, 7).mean(axis=1) - recent.mean(axis=1, keepdims=True)
    store_keys, store_codes = np.unique(panel.stores.astype(np.int64), return_inverse=True)
    counts = np.bincount(store_codes, minlength=len(store_keys)).astype(np.float64)
    by_store = np.stack(
        [
            np.bincount(store_codes, weights=profile[:, j], minlength=len(store_keys)) / counts
            for j in range(7)
        ],
        axis=1,
    )
    pos = pd.Index(store_keys).get_indexer(targets["store_nbr"].to_numpy(dtype=np.int64))
    shift = np.where(pos >= 0, by_store[np.clip(pos, 0, None), (-ahead) % 7], 0.0)
    return np.where(level > 0, np.expm1(np.clip(level + shift, 0.0, None)), 0.0)


#: Baselines by report name, in report order.
BASELINES: dict[str, Callable[[SalesPanel, pd.Timestamp | str, pd.DataFrame], np.ndarray]] = {
    "zeros": zeros,
    "last_value": last_value,
    "dow_mean": dow_mean,
    "moving_median": moving_median,
    "moving_median_dow": moving_median_dow,
}


#: What a history too short to train on is forecast with (backtest and predict step): the strongest
#: baseline a priori, the public Favorita kernels' median of window means (on the issue-14 real
#: slice it beat the model; moving_median_dow needs a week and a store profile, and ties it there).
FALLBACK_BASELINE = "moving_median"


def best_baseline(scores: dict[str, float]) -> str:
    """The baseline with the lowest score (the first in report order on a tie)."""
    return min(scores, key=lambda name: (scores[name], list(BASELINES).index(name)))


def baseline_forecast(
    name: str, panel: SalesPanel, origin: pd.Timestamp | str, targets: pd.DataFrame
) -> np.ndarray:
    """Run one baseline by name.

    Raises:
        KeyError: If ``name`` is not in :data:`BASELINES`.
    """
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name](panel, origin, targets)
