"""Pictures of a run's forecast: recent history and the forecast of its biggest series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.panel import SalesPanel

__all__ = ["plot_forecast", "top_series"]


def top_series(forecast: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` store-items with the largest total forecast: the ones a person checks first."""
    totals = forecast.groupby(["store_nbr", "item_nbr"], as_index=False)["unit_sales"].sum()
    return totals.nlargest(n, "unit_sales")[["store_nbr", "item_nbr"]].reset_index(drop=True)


def plot_forecast(
    history: SalesPanel,
    forecast: pd.DataFrame,
    origin: pd.Timestamp,
    path: Path,
    title: str = "",
    series: int = 6,
) -> Path:
    """Small multiples: each series' recent daily sales (absent rows as zero) and its forecast.

    Args:
        history: Recent history of (at least) the plotted series, ending at ``origin``.
        forecast: The run's forecast rows (date, store_nbr, item_nbr, unit_sales).
        origin: Last day of history the forecast started from.
        path: PNG to write.
        title: Figure title (e.g. the run id).
        series: How many of the biggest series to draw. Defaults to 6.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = top_series(forecast, series)
    cols = 2 if len(picks) > 1 else 1
    rows = max(1, -(-len(picks) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 2.6 * rows), squeeze=False, sharex=True)
    days = history.dates
    for ax, pick in zip(axes.flat, picks.itertuples(index=False), strict=False):
        row = history.index_of([pick.store_nbr], [pick.item_nbr])[0]
        actual = np.nan_to_num(history.sales[row], nan=0.0) if row >= 0 else np.zeros(len(days))
        ahead = forecast[(forecast["store_nbr"] == pick.store_nbr) & (forecast["item_nbr"] == pick.item_nbr)]
        ahead = ahead.assign(date=pd.to_datetime(ahead["date"])).sort_values("date")
        ax.plot(days, actual, color="#555555", lw=1.2, label="history")
        ax.plot(
            ahead["date"], ahead["unit_sales"], color="#d62728", lw=1.8, marker="o", ms=2.5, label="forecast"
        )
        ax.axvline(origin, color="#999999", ls="--", lw=0.8)
        ax.set_title(f"store {pick.store_nbr}, item {pick.item_nbr}", fontsize=9)
        ax.set_ylabel("unit sales", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(picks) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title or f"forecast from {origin.date()}", fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
