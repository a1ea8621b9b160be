"""Realized accuracy: how good the forecasts already made were, once the actuals of their days arrive.

A backtest says how good a model *would* have been; this module scores the forecasts the stack
actually served, with the same metric (Favorita's NWRMSLE) next to the same baselines computed the
same way the backtest does: ``moving_median`` and ``dow_mean`` as of the forecast's origin, from the
history up to that origin only.

A score is kept as sums, not as a ratio: ``sum(w * (log1p(forecast) - log1p(actual))**2)`` per
method and ``sum(w)``, per forecast run and target day (one day of one run is one horizon). Sums add
up, so any table (per model version x horizon, per day, overall) is exact however the records are
grouped, and a day scored again when more of its actuals arrive simply replaces its record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.baselines import baseline_forecast
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "BASELINES_SCORED",
    "METHODS",
    "DayScore",
    "lookback_days",
    "score_forecast",
    "summarize",
    "worse_than_baseline_streak",
]

#: The baselines every served forecast is compared with: the strong one (the public Favorita
#: kernels' median of window means) and the classic weekday mean.
BASELINES_SCORED: tuple[str, ...] = ("moving_median", "dow_mean")
#: Every method a score holds sums for: the served forecast first.
METHODS: tuple[str, ...] = ("model", *BASELINES_SCORED)


def lookback_days() -> int:
    """Days of history before the origin the scored baselines read (the longest of their windows)."""
    from grocery_forecast.forecasting.baselines import DOW_WEEKS, MEDIAN_WINDOWS

    return max(max(MEDIAN_WINDOWS), 7 * DOW_WEEKS)


@dataclass(frozen=True)
class DayScore:
    """The realized accuracy of one forecast run on one target day (so at one horizon).

    Attributes:
        forecast_run: The run that made the forecast (``runs/<run>.json``).
        model_version: The model that served it (the manifest's ``model_version``).
        origin: The forecast's origin (last day of history it saw), ``YYYY-MM-DD``.
        date: The target day scored, ``YYYY-MM-DD``.
        horizon: Days from the origin to ``date`` (1 = the day after the origin).
        rows: Forecast rows scored.
        weight: ``sum(w)`` of those rows (perishables weigh 1.25).
        sq_error: Per method of :data:`METHODS`, ``sum(w * (log1p(forecast) - log1p(actual))**2)``.
        fallback: True when the served forecast was the fallback baseline's (history too short).
    """

    forecast_run: str
    model_version: str
    origin: str
    date: str
    horizon: int
    rows: int
    weight: float
    sq_error: dict[str, float] = field(default_factory=dict)
    fallback: bool = False

    def nwrmsle(self, method: str = "model") -> float:
        """This day's NWRMSLE of ``method``."""
        return float(np.sqrt(self.sq_error[method] / self.weight))

    def to_dict(self) -> dict[str, Any]:
        return {
            "forecast_run": self.forecast_run,
            "model_version": self.model_version,
            "origin": self.origin,
            "date": self.date,
            "horizon": self.horizon,
            "rows": self.rows,
            "weight": self.weight,
            "sq_error": dict(self.sq_error),
            "nwrmsle": {m: round(self.nwrmsle(m), 6) for m in self.sq_error},
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DayScore:
        return cls(
            forecast_run=str(doc["forecast_run"]),
            model_version=str(doc["model_version"]),
            origin=str(doc["origin"]),
            date=str(doc["date"]),
            horizon=int(doc["horizon"]),
            rows=int(doc["rows"]),
            weight=float(doc["weight"]),
            sq_error={str(k): float(v) for k, v in dict(doc["sq_error"]).items()},
            fallback=bool(doc.get("fallback", False)),
        )


def score_forecast(
    forecast: pd.DataFrame,
    origin: pd.Timestamp | str,
    panel: SalesPanel,
    weights: np.ndarray,
    *,
    forecast_run: str,
    model_version: str,
    days: Iterable[pd.Timestamp | str] | None = None,
    fallback: bool = False,
) -> list[DayScore]:
    """Score the rows of one served forecast whose day has actuals, one :class:`DayScore` per day.

    Args:
        forecast: The forecast CSV's rows: ``date``, ``store_nbr``, ``item_nbr``, ``unit_sales``
            (a request's extra columns are ignored).
        origin: The forecast's origin; the baselines are computed as of it, from ``panel`` up to it.
        panel: History holding every series of ``forecast`` from before the origin through the last
            day scored (absent rows are zero sales, as in Favorita).
        weights: Per forecast row, Favorita's weight (1.25 for perishables).
        forecast_run: The run that made the forecast.
        model_version: The model that served it.
        days: The days to score (those whose actuals arrived). Defaults to every forecast day the
            panel covers.
        fallback: Whether the served forecast was the fallback baseline's.

    Raises:
        ValueError: When ``panel`` does not reach back to the origin (the baselines would see no
            history) or ``weights`` does not match ``forecast``.
    """
    origin = pd.Timestamp(origin).normalize()
    if len(weights) != len(forecast):
        raise ValueError(f"{len(weights)} weights for {len(forecast)} forecast rows")
    if panel.start > origin:
        raise ValueError(f"the history panel starts {panel.start.date()}, after the origin {origin.date()}")
    dates = pd.to_datetime(forecast["date"]).dt.normalize()
    wanted = dates.between(origin + pd.Timedelta(days=1), panel.end).to_numpy()
    if days is not None:
        wanted = wanted & dates.isin(pd.DatetimeIndex([pd.Timestamp(d).normalize() for d in days])).to_numpy()
    if not wanted.any():
        return []
    rows = forecast.loc[wanted, ["date", "store_nbr", "item_nbr", "unit_sales"]].reset_index(drop=True)
    rows["date"] = dates[wanted].to_numpy()
    w = np.asarray(weights, dtype=np.float64)[wanted]

    series = panel.index_of(rows["store_nbr"].to_numpy(), rows["item_nbr"].to_numpy())
    cols = ((rows["date"] - panel.start).dt.days).to_numpy(dtype=np.int64)
    filled = panel.sales_filled()
    actual = np.where(series >= 0, filled[np.maximum(series, 0), cols], 0.0).astype(np.float64)

    history = panel.window(panel.start, origin)
    predictions = {"model": rows["unit_sales"].to_numpy(dtype=np.float64)}
    for name in BASELINES_SCORED:
        predictions[name] = baseline_forecast(name, history, origin, rows)
    log_actual = np.log1p(np.clip(actual, 0.0, None))
    errors = {
        name: w * (np.log1p(np.clip(np.nan_to_num(p, nan=0.0), 0.0, None)) - log_actual) ** 2
        for name, p in predictions.items()
    }

    out = []
    day_codes, day_values = pd.factorize(rows["date"], sort=True)
    for code, day in enumerate(day_values):
        mask = day_codes == code
        out.append(
            DayScore(
                forecast_run=forecast_run,
                model_version=model_version,
                origin=str(origin.date()),
                date=str(pd.Timestamp(day).date()),
                horizon=int((pd.Timestamp(day) - origin).days),
                rows=int(mask.sum()),
                weight=float(w[mask].sum()),
                sq_error={name: float(e[mask].sum()) for name, e in errors.items()},
                fallback=fallback,
            )
        )
    return out


def summarize(scores: Sequence[DayScore], by: Sequence[str]) -> pd.DataFrame:
    """NWRMSLE of the model and each baseline per group of ``by`` (fields of :class:`DayScore`).

    Columns: the ``by`` fields, ``runs``, ``rows``, one ``<method>`` NWRMSLE column per method,
    ``best_baseline`` and ``ratio`` (model / best baseline: above 1 the served forecasts did worse
    than the best baseline would have). Sorted by the group.
    """
    columns = [*by, "runs", "rows", *METHODS, "best_baseline", "ratio"]
    if not scores:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        [
            {
                **{key: getattr(s, key) for key in by},
                "forecast_run": s.forecast_run,
                "rows": s.rows,
                "weight": s.weight,
                **{f"sq_{m}": s.sq_error.get(m, np.nan) for m in METHODS},
            }
            for s in scores
        ]
    )
    grouped = frame.groupby(list(by), sort=True) if by else frame.assign(_all=0).groupby("_all")
    sums = grouped.agg(
        runs=("forecast_run", "nunique"),
        rows=("rows", "sum"),
        weight=("weight", "sum"),
        **{f"sq_{m}": (f"sq_{m}", "sum") for m in METHODS},
    )
    table = sums[["runs", "rows"]].copy()
    for m in METHODS:
        table[m] = np.sqrt(sums[f"sq_{m}"] / sums["weight"])
    baseline_scores = table[list(BASELINES_SCORED)]
    table["best_baseline"] = baseline_scores.idxmin(axis=1)
    table["ratio"] = table["model"] / baseline_scores.min(axis=1)
    table = table.reset_index()
    return table.drop(columns="_all") if not by else table[columns]


def worse_than_baseline_streak(scores: Sequence[DayScore], last_day: str | None = None) -> int:
    """How many days in a row, up to ``last_day`` (defaults to the latest scored), the served
    forecasts scored worse than the best baseline (every run and horizon of a day pooled).

    Days are the data's days, not the clock's: a backfill of a month of actuals counts a month.
    A day without scores breaks the streak, as nothing says the model did worse on it.
    """
    daily = summarize(scores, ["date"])
    if daily.empty:
        return 0
    daily = daily.set_index("date").sort_index()
    if last_day is not None:
        daily = daily.loc[daily.index <= last_day]
    streak = 0
    expected: pd.Timestamp | None = None
    for day, ratio in zip(reversed(daily.index), reversed(daily["ratio"].to_numpy()), strict=True):
        current = pd.Timestamp(day)
        if expected is not None and current != expected:
            break
        if not ratio > 1.0:
            break
        streak += 1
        expected = current - pd.Timedelta(days=1)
    return streak
