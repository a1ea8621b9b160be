"""Backtest: train up to a cutoff, forecast the days after it, score the model against baselines.

A forecast is only worth deploying if it beats what a store manager would do by hand on data it
has never seen, at every horizon. This module replays exactly that: the model and the baselines
see the same history (the panel cut at the cutoff, so later days cannot leak), forecast every
store-item of the sales file for each day after the cutoff (absent rows are zero sales), and are
scored with Favorita's NWRMSLE overall and per horizon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.baselines import BASELINES
from grocery_forecast.forecasting.features import FeatureSpec
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.model import ForecastModel, TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = ["BacktestResult", "plot_backtest", "run_backtest"]


@dataclass
class BacktestResult:
    """Everything a backtest produced: the JSON report plus the arrays behind the plot.

    Attributes:
        report: The JSON-ready report (see :func:`run_backtest`).
        targets: One row per (series, target day): store_nbr, item_nbr, date, onpromotion, horizon.
        actual: Unit sales of each target row (absent rows as 0).
        forecasts: ``{"model": ..., "zeros": ..., ...}`` aligned with ``targets``.
        history: The panel the forecasts were made from (cut at the cutoff).
        model: The trained model.
    """

    report: dict[str, Any]
    targets: pd.DataFrame
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    history: SalesPanel
    model: ForecastModel


def run_backtest(
    panel: SalesPanel,
    reference: Reference,
    cutoff: pd.Timestamp | str,
    horizon: int,
    *,
    spec: FeatureSpec | None = None,
    config: TrainConfig | None = None,
    params: dict[str, Any] | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Train on ``panel`` up to ``cutoff`` and score forecasts of the following ``horizon`` days.

    Days after the panel's last date are not scored (there is nothing to compare with); the
    report says how many horizons were (``horizon_evaluated``).

    Args:
        panel: Sales of every series to forecast, covering the cutoff and the days after it.
        reference: Attributes, holidays and perishable weights.
        cutoff: Last day of training history.
        horizon: Days after the cutoff to forecast (1..16).
        spec: Feature configuration. Defaults to :class:`FeatureSpec` defaults.
        config: Training configuration; its horizon is set to ``horizon``.
        params: LightGBM parameter overrides.
        progress: Show progress on stderr. Defaults to False.

    Returns:
        The report and the forecasts. Report keys: ``model`` ({"nwrmsle"}), ``baselines``
        (name -> NWRMSLE), ``per_horizon`` (model NWRMSLE by days ahead, as strings),
        ``per_horizon_baselines``, ``best_baseline``, ``improvement_vs_best_baseline``,
        ``rows``, ``series``, ``train_seconds``, ``predict_seconds`` and the settings.

    Raises:
        ValueError: If the cutoff leaves no history or no day to score.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    if cutoff < panel.start:
        raise ValueError(f"cutoff {cutoff.date()} is before the first sales day {panel.start.date()}")
    evaluated = min(int(horizon), (panel.end - cutoff).days)
    if evaluated < 1:
        raise ValueError(
            f"no sales after the cutoff {cutoff.date()} to score (the data ends {panel.end.date()})"
        )
    base = config or TrainConfig()
    cfg = TrainConfig(**{**base.__dict__, "horizon": int(horizon)})
    history = panel.window(panel.start, cutoff)

    started = time.perf_counter()
    model = ForecastModel(spec=spec, params=params, config=cfg).fit(
        history, reference, end=cutoff, progress=progress
    )
    train_seconds = time.perf_counter() - started

    days = pd.date_range(cutoff + pd.Timedelta(days=1), periods=evaluated, freq="D")
    n = panel.n_series
    cols = np.array([panel.day_index(d) for d in days])
    targets = pd.DataFrame(
        {
            "store_nbr": np.repeat(panel.stores.astype(np.int64), evaluated),
            "item_nbr": np.repeat(panel.items, evaluated),
            "date": np.tile(days.to_numpy(), n),
            "onpromotion": panel.promo[:, cols].reshape(-1).astype(bool),
        }
    )
    ahead = np.tile(np.arange(1, evaluated + 1), n)
    actual = panel.sales_filled()[:, cols].reshape(-1).astype(np.float64)
    weights = reference.perishable_weights(targets["item_nbr"].to_numpy())

    started = time.perf_counter()
    forecasts = {"model": model.predict(history, cutoff, targets, reference)}
    predict_seconds = time.perf_counter() - started
    for name, baseline in BASELINES.items():
        forecasts[name] = baseline(history, cutoff, targets)

    scores = {name: nwrmsle(actual, f, weights) for name, f in forecasts.items()}
    by_h = {name: nwrmsle_by_group(actual, f, weights, ahead) for name, f in forecasts.items()}
    baseline_scores = {name: scores[name] for name in BASELINES}
    best = min(baseline_scores, key=lambda k: baseline_scores[k])
    best_per_h = {h: min(by_h[b][h] for b in BASELINES) for h in by_h["model"]}
    report: dict[str, Any] = {
        "model": {"nwrmsle": scores["model"]},
        "baselines": baseline_scores,
        "per_horizon": {str(h): v for h, v in by_h["model"].items()},
        "per_horizon_baselines": {b: {str(h): v for h, v in by_h[b].items()} for b in BASELINES},
        "best_baseline": best,
        "improvement_vs_best_baseline": 1.0 - scores["model"] / baseline_scores[best],
        "beats_best_baseline_at_every_horizon": bool(
            all(by_h["model"][h] <= best_per_h[h] for h in best_per_h)
        ),
        "worst_horizon_ratio_to_best_baseline": max(by_h["model"][h] / best_per_h[h] for h in best_per_h),
        "rows": len(targets),
        "series": n,
        "train_seconds": round(train_seconds, 2),
        "predict_seconds": round(predict_seconds, 3),
        "cutoff": str(cutoff.date()),
        "horizon": int(horizon),
        "horizon_evaluated": evaluated,
        "history": {"start": str(panel.start.date()), "end": str(cutoff.date())},
        "model_info": {
            "version": model.metadata["version"],
            "best_iteration": model.metadata["best_iteration"],
            "num_boost_round": model.metadata["num_boost_round"],
            "training_rows": model.metadata["training_window"]["rows"],
            "validation_nwrmsle": model.metadata["validation"].get("nwrmsle"),
        },
    }
    model.metadata["backtest"] = {
        k: report[k]
        for k in ("model", "baselines", "per_horizon", "cutoff", "horizon_evaluated", "rows", "series")
    }
    targets["horizon"] = ahead
    return BacktestResult(report, targets, actual, forecasts, history, model)


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
        ax.plot(future_dates, result.forecasts["dow_mean"][sl], color="C0", lw=1, ls="--", label="dow_mean")
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
        curve = result.report["per_horizon_baselines"][name]
        ax.plot(hs, [curve[str(h)] for h in hs], lw=1, ls="--", marker=".", color=f"C{i + 2}", label=name)
    ax.set_xlabel("days after the cutoff (horizon)")
    ax.set_ylabel("NWRMSLE")
    overall = result.report["model"]["nwrmsle"]
    best = result.report["best_baseline"]
    ax.set_title(
        f"NWRMSLE by horizon: model {overall:.4f} vs best baseline {best} "
        f"{result.report['baselines'][best]:.4f} ({100 * result.report['improvement_vs_best_baseline']:.1f}% lower)",
        fontsize=9,
    )
    ax.legend(fontsize=8, ncol=4)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
