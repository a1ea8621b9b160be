"""Pictures: a run's forecast (recent history and its biggest series) and a backtest's scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.baselines import BASELINES
from grocery_forecast.forecasting.panel import SalesPanel

if TYPE_CHECKING:
    from grocery_forecast.forecasting.backtest import BacktestResult

__all__ = ["plot_accuracy", "plot_backtest", "plot_forecast", "top_series"]


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


def _pick_series(result: BacktestResult, count: int) -> list[int]:
    """A spread of series by volume (busiest, and a few quantiles of those that sold)."""
    n_days = result.report["horizon_evaluated"]
    volume = result.actual.reshape(-1, n_days).sum(axis=1) + result.history.sales_filled()[:, -28:].clip(
        0
    ).sum(axis=1)
    order = np.argsort(-volume, kind="stable")
    sold = order[volume[order] > 0]
    if len(sold) == 0:
        return list(order[:count])
    picks = [sold[int(q * (len(sold) - 1))] for q in np.linspace(0.0, 0.7, count)]
    return list(dict.fromkeys(int(p) for p in picks))


def plot_backtest(result: BacktestResult, path: str | Path, series: int = 4) -> Path:
    """Save a figure: forecast vs actual for a few series, and NWRMSLE by horizon.

    Args:
        result: What :func:`run_backtest` returned.
        path: Where to write the image (PNG by extension).
        series: How many series to draw. Defaults to 4.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = _pick_series(result, series)
    best = result.report["best_baseline"]
    n_days = result.report["horizon_evaluated"]
    cutoff = pd.Timestamp(result.report["cutoff"])
    fig, axes = plt.subplots(len(picks) + 1, 1, figsize=(11, 2.6 * (len(picks) + 1)), constrained_layout=True)
    history = result.history
    days_back = min(42, history.n_days)
    past_dates = pd.date_range(cutoff - pd.Timedelta(days=days_back - 1), cutoff, freq="D")
    future_dates = pd.date_range(cutoff + pd.Timedelta(days=1), periods=n_days, freq="D")
    recent = np.nan_to_num(history.sales[:, -days_back:], nan=0.0)
    for ax, row in zip(axes[:-1], picks, strict=False):
        past = recent[row]
        sl = slice(row * n_days, (row + 1) * n_days)
        ax.plot(past_dates, past, color="0.4", lw=1, label="history")
        ax.plot(future_dates, result.actual[sl], color="k", lw=1.5, marker="o", ms=3, label="actual")
        ax.plot(future_dates, result.forecasts["model"][sl], color="C1", lw=2, label="model")
        ax.plot(future_dates, result.forecasts[best][sl], color="C0", lw=1, ls="--", label=best)
        promo = result.targets["onpromotion"].to_numpy()[sl]
        if promo.any():
            ax.scatter(
                future_dates[promo], np.zeros(int(promo.sum())), marker="^", color="C3", label="on promotion"
            )
        ax.axvline(cutoff, color="0.7", lw=1)
        ax.set_title(f"store {history.stores[row]}, item {history.items[row]}", fontsize=9)
        ax.set_ylabel("unit sales")
    axes[0].legend(loc="upper left", fontsize=8, ncol=5)
    ax = axes[-1]
    hs = np.arange(1, n_days + 1)
    ax.plot(
        hs, [result.report["per_horizon"][str(h)] for h in hs], color="C1", lw=2, marker="o", label="model"
    )
    for i, name in enumerate(BASELINES):
        if name == "zeros":  # far above the rest; it would flatten the curves that matter
            continue
        curve = result.report["per_horizon_baselines"][name]
        strong = name == best
        ax.plot(
            hs,
            [curve[str(h)] for h in hs],
            lw=2 if strong else 1,
            ls="-" if strong else "--",
            marker=".",
            color=f"C{i + 2}",
            label=f"{name} (best baseline)" if strong else name,
        )
    # Which baseline is best at each horizon, under the horizon's tick.
    per_h = result.report["best_baseline_per_horizon"]
    short = {name: "".join(part[0] for part in name.split("_")) for name in BASELINES}
    ax.set_xticks(hs, [f"{h}\n{short[per_h[str(h)]['name']]}" for h in hs], fontsize=7)
    ax.set_xlabel(
        "days after the cutoff (horizon); below it the best baseline there: "
        + ", ".join(f"{v} = {k}" for k, v in short.items() if k != "zeros"),
        fontsize=8,
    )
    ax.set_ylabel("NWRMSLE")
    overall = result.report["model"]["nwrmsle"]
    title = (
        f"NWRMSLE by horizon: model {overall:.4f} vs best baseline {best} "
        f"{result.report['baselines'][best]:.4f} ({100 * result.report['improvement_vs_best_baseline']:.1f}% lower)"
    )
    if result.report.get("fallback"):
        title += f"\nFALLBACK: {result.report['fallback']}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, ncol=4)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_accuracy(by_horizon: pd.DataFrame, by_day: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Save a figure of realized accuracy: NWRMSLE by horizon per model version, and by day, each
    next to the baselines (``grocery_forecast.forecasting.accuracy.summarize`` tables).

    Args:
        by_horizon: ``summarize(scores, ["model_version", "horizon"])``.
        by_day: ``summarize(scores, ["date"])``.
        path: Where to write the image (PNG by extension).
        title: Figure title. Defaults to none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grocery_forecast.forecasting.accuracy import BASELINES_SCORED

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.5), constrained_layout=True)
    for i, (version, rows) in enumerate(by_horizon.groupby("model_version", sort=True)):
        rows = rows.sort_values("horizon")
        top.plot(
            rows["horizon"], rows["model"], lw=2, marker="o", color=f"C{i + 1}", label=f"model {version}"
        )
        for j, name in enumerate(BASELINES_SCORED):
            top.plot(
                rows["horizon"],
                rows[name],
                lw=1,
                ls="--" if j == 0 else ":",
                marker=".",
                color=f"C{i + 1}",
                alpha=0.7,
                label=f"{name} (as of the same origins)" if i == 0 else None,
            )
    top.set_xlabel("days after the forecast's origin (horizon)")
    top.set_ylabel("NWRMSLE")
    top.set_title("Realized accuracy by horizon, per model version (lower is better)", fontsize=9)
    top.legend(fontsize=8, ncol=3)
    days = pd.to_datetime(by_day["date"])
    bottom.plot(days, by_day["model"], lw=2, marker="o", color="C1", label="served forecasts")
    for j, name in enumerate(BASELINES_SCORED):
        bottom.plot(days, by_day[name], lw=1, ls="--" if j == 0 else ":", marker=".", color="C0", label=name)
    worse = by_day["ratio"].to_numpy() > 1.0
    if worse.any():
        bottom.scatter(
            days[worse],
            by_day["model"][worse],
            s=80,
            facecolors="none",
            edgecolors="C3",
            label="worse than the best baseline",
        )
    bottom.set_ylabel("NWRMSLE")
    bottom.set_title("Realized accuracy by day (every run and horizon of the day pooled)", fontsize=9)
    bottom.legend(fontsize=8, ncol=4)
    fig.autofmt_xdate()
    if title:
        fig.suptitle(title, fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
