"""What a store manager would do by hand: the forecasts a model has to beat to be worth running.

Each baseline reads only a :class:`~grocery_forecast.forecasting.panel.SalesPanel` up to the forecast origin,
exactly like the model, so a backtest compares like with like. Absent rows are zero sales.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.panel import SalesPanel

__all__ = ["BASELINES", "DOW_WEEKS", "baseline_forecast", "dow_mean", "last_value", "zeros"]

#: Weeks of same-weekday history averaged by :func:`dow_mean`.
DOW_WEEKS = 4


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


#: Baselines by report name, in report order.
BASELINES: dict[str, Callable[[SalesPanel, pd.Timestamp | str, pd.DataFrame], np.ndarray]] = {
    "zeros": zeros,
    "last_value": last_value,
    "dow_mean": dow_mean,
}


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
