"""Backtest: train up to a cutoff, forecast the days after it, score the model against baselines.

A forecast is only worth deploying if it beats what a store manager would do by hand on data it
has never seen, at every horizon. This module replays exactly that: the model and the baselines
see the same history (the panel cut at the cutoff, so later days cannot leak), forecast every
store-item of the sales file for each day after the cutoff (absent rows are zero sales), and are
scored with Favorita's NWRMSLE overall and per horizon.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.baselines import BASELINES, FALLBACK_BASELINE, best_baseline
from grocery_forecast.forecasting.features import FeatureSpec
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.model import ForecastModel, TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = ["FALLBACK_BASELINE", "BacktestResult", "run_backtest"]


@dataclass
class BacktestResult:
    """Everything a backtest produced: the JSON report plus the arrays behind the plot.

    Attributes:
        report: The JSON-ready report (see :func:`run_backtest`).
        targets: One row per (series, target day): store_nbr, item_nbr, date, onpromotion, horizon.
        actual: Unit sales of each target row (absent rows as 0).
        forecasts: ``{"model": ..., "zeros": ..., ...}`` aligned with ``targets``.
        history: The panel the forecasts were made from (cut at the cutoff).
        model: The trained model, or None when the history was too short to train one (the
            report's ``fallback`` says so and ``forecasts["model"]`` is :data:`FALLBACK_BASELINE`).
    """

    report: dict[str, Any]
    targets: pd.DataFrame
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    history: SalesPanel
    model: ForecastModel | None


def _ratio(model: float, baseline: float) -> float:
    """``model / baseline``; a baseline that is exact (zeros on a day nothing sold) counts as 1e-9,
    so a model that is exact too scores 0 and one that is not a large finite ratio (JSON has no inf)."""
    return model / max(baseline, 1e-9)


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
    promo_known: bool = True,
    on_phase: Callable[[str], None] | None = None,
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
        promo_known: Give the model the target days' promotions, as a forecast request does.
            False forecasts like a sales upload, where future promotions are unknown. Defaults
            to True.
        on_phase: Called with a phase's name as it ends (``train``, ``baselines``, ``model
            forecast``, ``score``), so a caller can time each and read its peak memory: at
            Favorita's size they differ by gigabytes. Defaults to None.

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
    history = panel.window(panel.start, cutoff, share=True)  # read-only views: no second panel

    started = time.perf_counter()
    model: ForecastModel | None = None
    fallback: str | None = None
    try:
        model = ForecastModel(spec=spec, params=params, config=cfg).fit(
            history, reference, end=cutoff, progress=progress
        )
    except ValueError as exc:
        if "not enough history" not in str(exc):
            raise
        model = None
        fallback = f"{exc}: the model forecast is the {FALLBACK_BASELINE} baseline"
    train_seconds = time.perf_counter() - started
    phase = on_phase or (lambda name: None)
    phase("train")

    days = pd.date_range(cutoff + pd.Timedelta(days=1), periods=evaluated, freq="D")
    n = panel.n_series
    cols = np.array([panel.day_index(d) for d in days])
    targets = pd.DataFrame(
        {
            "store_nbr": np.repeat(panel.stores.astype(np.int64), evaluated),
            "item_nbr": np.repeat(panel.items, evaluated),
            "date": np.tile(days.to_numpy(), n),
            "onpromotion": panel.promo[:, cols].reshape(-1).astype(bool) & promo_known,
            "promo_known": promo_known,
        }
    )
    ahead = np.tile(np.arange(1, evaluated + 1), n)
    actual = np.nan_to_num(panel.sales[:, cols], nan=0.0).reshape(-1).astype(np.float64)
    weights = reference.perishable_weights(targets["item_nbr"].to_numpy())

    forecasts: dict[str, np.ndarray] = {}
    for name, baseline in BASELINES.items():
        forecasts[name] = baseline(history, cutoff, targets)
    phase("baselines")
    started = time.perf_counter()
    forecasts["model"] = (
        model.predict(history, cutoff, targets, reference)
        if model is not None
        else forecasts[FALLBACK_BASELINE]
    )
    predict_seconds = time.perf_counter() - started
    phase("model forecast")

    scores = {name: nwrmsle(actual, f, weights) for name, f in forecasts.items()}
    by_h = {name: nwrmsle_by_group(actual, f, weights, ahead) for name, f in forecasts.items()}
    baseline_scores = {name: scores[name] for name in BASELINES}
    best = best_baseline(baseline_scores)
    best_at = {h: best_baseline({b: by_h[b][h] for b in BASELINES}) for h in by_h["model"]}
    best_per_h = {h: by_h[best_at[h]][h] for h in best_at}
    report: dict[str, Any] = {
        "model": {"nwrmsle": scores["model"]},
        "baselines": baseline_scores,
        "per_horizon": {str(h): v for h, v in by_h["model"].items()},
        "per_horizon_baselines": {b: {str(h): v for h, v in by_h[b].items()} for b in BASELINES},
        "best_baseline": best,
        "best_baseline_per_horizon": {
            str(h): {"name": best_at[h], "nwrmsle": best_per_h[h]} for h in best_at
        },
        "improvement_vs_best_baseline": 1.0 - _ratio(scores["model"], baseline_scores[best]),
        "improvement_vs_best_baseline_per_horizon": {
            str(h): 1.0 - _ratio(by_h["model"][h], best_per_h[h]) for h in best_per_h
        },
        "beats_best_baseline_at_every_horizon": bool(
            all(by_h["model"][h] <= best_per_h[h] for h in best_per_h)
        ),
        "worst_horizon_ratio_to_best_baseline": max(
            _ratio(by_h["model"][h], best_per_h[h]) for h in best_per_h
        ),
        "fallback": fallback,
        "rows": len(targets),
        "series": n,
        "train_seconds": round(train_seconds, 2),
        "predict_seconds": round(predict_seconds, 3),
        "cutoff": str(cutoff.date()),
        "horizon": int(horizon),
        "horizon_evaluated": evaluated,
        "promo_known": promo_known,
        "history": {"start": str(panel.start.date()), "end": str(cutoff.date())},
        "model_info": None
        if model is None
        else {
            "version": model.metadata["version"],
            "best_iteration": model.metadata["best_iteration"],
            "num_boost_round": model.metadata["num_boost_round"],
            "training_rows": model.metadata["training_window"]["rows"],
            "training_origins": len(model.metadata["training_window"]["origins"]),
            "validation_nwrmsle": model.metadata["validation"].get("nwrmsle"),
            "num_leaves": model.metadata["params"]["num_leaves"],
            "min_data_in_leaf": model.metadata["params"]["min_data_in_leaf"],
            # What the forecast is made of: the booster's output and the anchors, by weight.
            "blend": None
            if not model.metadata.get("blend")
            else dict(
                zip(
                    model.metadata["blend"]["parts"],
                    model.metadata["blend"]["weights_all_horizons"],
                    strict=True,
                )
            ),
        },
    }
    if model is not None:
        model.metadata["backtest"] = {
            k: report[k]
            for k in (
                "model",
                "baselines",
                "best_baseline",
                "per_horizon",
                "cutoff",
                "horizon_evaluated",
                "rows",
                "series",
            )
        }
    targets["horizon"] = ahead
    phase("score")
    return BacktestResult(report, targets, actual, forecasts, history, model)
