"""Side by side on one backtest split: this project's model and baselines, statsforecast and mlforecast.

Runs in its own venv (``make compare``: statsforecast and mlforecast are not project dependencies)
and prints one table of Favorita's NWRMSLE, overall and per horizon, with wall times:

* the model and the baselines, through :func:`grocery_forecast.forecasting.backtest.run_backtest`;
* statsforecast AutoETS (weekly season), TSB, ADIDA, IMAPA and WindowAverage(14) on the zero-filled
  daily series from the first day of data to the cutoff;
* an mlforecast LightGBM recipe, direct multi-horizon (one model per horizon): lags 1/7/14, rolling
  means, the weekday and the promotion as exogenous columns (mlforecast 1.1.0's direct mode takes
  ``date_features`` from the origin day in training and the target day in prediction, so the weekday
  goes in as data), target ``log1p``. The direct recipe needs 45 days (a 28-day rolling mean, then
  16 days to the target): on a shorter history it cannot train at all, so there the recipe is the one
  a data scientist would fall back to, recursive (one model, its own forecasts fed back) with lags 1
  and 7 and a 7-day rolling mean, which needs 9 days.

Usage: ``.venv-compare/bin/python scripts/compare.py --data build/sample-data --cutoff 2017-07-30``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.panel import SalesPanel, read_panel


def _long_history(history: SalesPanel) -> pd.DataFrame:
    """The zero-filled daily series (returns clipped to 0) in Nixtla's unique_id / ds / y layout."""
    n, days = history.n_series, history.n_days
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n), days),
            "ds": np.tile(history.dates.to_numpy(), n),
            "y": np.clip(history.sales_filled(), 0.0, None).reshape(-1).astype(np.float64),
            "onpromotion": history.promo.reshape(-1).astype(np.float64),
        }
    )


def _statsforecast(
    history: SalesPanel, horizon: int, skip: frozenset[str] = frozenset()
) -> dict[str, tuple[np.ndarray, float]]:
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, WindowAverage

    frame = _long_history(history)[["unique_id", "ds", "y"]]
    out = {}
    models = (
        AutoETS(season_length=7),
        TSB(alpha_d=0.2, alpha_p=0.2),
        ADIDA(),
        IMAPA(),
        WindowAverage(window_size=14),
    )
    for model in (m for m in models if type(m).__name__ not in skip):
        started = time.perf_counter()
        try:
            fc = StatsForecast(models=[model], freq="D", n_jobs=1).forecast(df=frame, h=horizon)
        except Exception as exc:  # AutoETS refuses a history of a few days ("tiny datasets")
            print(f"statsforecast {type(model).__name__} left out: {exc!r}")
            continue
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        fc = fc.sort_values(["unique_id", "ds"])
        name = next(c for c in fc.columns if c not in ("unique_id", "ds"))
        out[f"statsforecast {name}"] = (
            np.clip(fc[name].to_numpy(dtype=np.float64), 0.0, None),
            time.perf_counter() - started,
        )
    return out


DIRECT_RECIPE_DAYS = 28 + 1 + 16
"""Days the direct recipe needs: a 28-day rolling mean of lag 1, then 16 days to the last target."""
RECURSIVE_RECIPE_DAYS = 7 + 1 + 1
"""Days the recursive recipe needs: a 7-day rolling mean of lag 1, then one day to the target."""


def _mlforecast(
    history: SalesPanel, future_promo: np.ndarray, horizon: int, seed: int
) -> tuple[str, np.ndarray, float]:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    started = time.perf_counter()
    frame = _long_history(history)
    frame["y"] = np.log1p(frame["y"])
    frame["weekday"] = frame["ds"].dt.dayofweek.astype(np.float64)
    direct = history.n_days >= DIRECT_RECIPE_DAYS
    fcst = MLForecast(
        models={
            "lgbm": lgb.LGBMRegressor(
                n_estimators=300, learning_rate=0.05, num_leaves=63, verbose=-1, random_state=seed
            )
        },
        freq="D",
        lags=[1, 7, 14] if direct else [1, 7],
        lag_transforms=(
            {1: [RollingMean(window_size=7), RollingMean(window_size=28)], 7: [RollingMean(window_size=4)]}
            if direct
            else {1: [RollingMean(window_size=7)]}
        ),
    )
    fcst.fit(frame, static_features=[], max_horizon=horizon if direct else None)
    days = pd.date_range(history.end + pd.Timedelta(days=1), periods=horizon, freq="D")
    future = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(history.n_series), horizon),
            "ds": np.tile(days.to_numpy(), history.n_series),
            "onpromotion": future_promo.reshape(-1).astype(np.float64),
            "weekday": np.tile(days.dayofweek.to_numpy(dtype=np.float64), history.n_series),
        }
    )
    fc = fcst.predict(h=horizon, X_df=future).sort_values(["unique_id", "ds"])
    name = "mlforecast LightGBM (direct)" if direct else "mlforecast LightGBM (recursive)"
    return (
        name,
        np.clip(np.expm1(fc["lgbm"].to_numpy(dtype=np.float64)), 0.0, None),
        time.perf_counter() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("build/sample-data"), help="train.csv + reference tables"
    )
    parser.add_argument("--cutoff", default="2017-07-30", help="last day of history (default: 2017-07-30)")
    parser.add_argument("--since", default=None, help="first day of history to read")
    parser.add_argument("--horizon", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/compare.json"))
    parser.add_argument("--save-model", type=Path, default=None, help="also save the backtested model here")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        help="peers to leave out by class name (AutoETS takes 26 min on 21,500 series; mlforecast: MLForecast)",
    )
    args = parser.parse_args()

    cutoff = pd.Timestamp(args.cutoff)
    reference = Reference.from_dir(args.data)
    until = str((cutoff + pd.Timedelta(days=args.horizon)).date())
    panel = read_panel(args.data / "train.csv", args.since, until)
    started = time.perf_counter()
    result = run_backtest(panel, reference, cutoff, args.horizon, params={"seed": args.seed})
    ours_seconds = time.perf_counter() - started
    if args.save_model and result.model is not None:
        result.model.save(args.save_model)
    h = result.report["horizon_evaluated"]
    ahead = result.targets["horizon"].to_numpy()
    weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())
    rows: dict[str, tuple[np.ndarray, float | None]] = {
        "model (this project)": (result.forecasts["model"], ours_seconds)
    }
    rows.update({f"baseline {name}": (f, None) for name, f in result.forecasts.items() if name != "model"})
    history = result.history
    cols = np.array([panel.day_index(cutoff + pd.Timedelta(days=d)) for d in range(1, h + 1)])
    rows.update(_statsforecast(history, h, frozenset(args.skip)))
    if "MLForecast" not in args.skip and history.n_days < RECURSIVE_RECIPE_DAYS:
        print(
            f"mlforecast left out: {history.n_days} days of history, its recipes need {RECURSIVE_RECIPE_DAYS}"
        )
    elif "MLForecast" not in args.skip:
        recipe, ml_forecast, ml_seconds = _mlforecast(history, panel.promo[:, cols], h, args.seed)
        rows[recipe] = (ml_forecast, ml_seconds)

    table: dict[str, dict[str, Any]] = {}
    for name, (forecast, seconds) in rows.items():
        if not np.isfinite(forecast).all():  # e.g. WindowAverage(14) on fewer than 14 days
            print(f"{name} left out: it forecasts NaN on {history.n_days} days of history")
            continue
        table[name] = {
            "nwrmsle": nwrmsle(result.actual, forecast, weights),
            "per_horizon": {
                str(k): v for k, v in nwrmsle_by_group(result.actual, forecast, weights, ahead).items()
            },
            "seconds": None if seconds is None else round(seconds, 1),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"cutoff": args.cutoff, "series": panel.n_series, "table": table}, indent=2) + "\n"
    )
    hs = [str(k) for k in range(1, h + 1)]
    print(f"NWRMSLE, {panel.n_series:,} series, cutoff {args.cutoff}, horizons 1..{h} ({args.data})")
    print(f"{'':32} {'all':>6} {'secs':>6} " + " ".join(f"{k:>5}" for k in hs))
    for name, row in sorted(table.items(), key=lambda kv: kv[1]["nwrmsle"]):
        secs = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
        print(
            f"{name:32} {row['nwrmsle']:6.4f} {secs:>6} "
            + " ".join(f"{row['per_horizon'][k]:5.3f}" for k in hs)
        )
    print(f"(model seconds: train + predict + baselines; table in {args.out})")


if __name__ == "__main__":
    main()
