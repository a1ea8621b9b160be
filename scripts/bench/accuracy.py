#!/usr/bin/env python3
"""The monitor's work on a Favorita-size day, in process: what one arrival of actuals costs it.

A daily upload of 100,000 series is covered by the 16 forecasts of the 16 days before it (origins
D-1 .. D-16), each a 1.6 M-row CSV. The monitor reads each, keeps the arrived day's 100,000 rows,
and scores them with the baselines as of each origin on one history panel (128 days: the 112-day
lookback plus the 16 days). This times the CSV reading and the scoring (not the S3 transfer, nor
the history read from DynamoDB, which is the predict step's figure for the same series).

    .venv/bin/python -m scripts.bench.accuracy [--series 100000] [--runs 16]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.accuracy import lookback_days, score_forecast, summarize
from grocery_forecast.forecasting.panel import SalesPanel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, horizon = args.series, 16
    day = pd.Timestamp("2017-08-01")
    start = day - pd.Timedelta(days=args.runs + lookback_days() - 1)
    n_days = (day - start).days + 1
    stores = np.repeat(np.arange(1, 55, dtype=np.int32), -(-n // 54))[:n]
    items = np.tile(np.arange(100_000, 100_000 + -(-n // 54), dtype=np.int64), 54)[:n]
    sales = rng.poisson(3.0, size=(n, n_days)).astype(np.float32)
    sales[rng.random((n, n_days)) < 0.3] = np.nan
    panel = SalesPanel(start, stores, items, sales, np.zeros((n, n_days), dtype=np.int8))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for r in range(args.runs):
            origin = day - pd.Timedelta(days=r + 1)
            dates = pd.date_range(origin + pd.Timedelta(days=1), periods=horizon, freq="D")
            frame = pd.DataFrame(
                {
                    "date": np.tile(dates.strftime("%Y-%m-%d").to_numpy(), n),
                    "store_nbr": np.repeat(stores, horizon),
                    "item_nbr": np.repeat(items, horizon),
                    "onpromotion": False,
                    "unit_sales": rng.uniform(0, 8, n * horizon).round(4),
                }
            )
            path = Path(tmp) / f"forecast-{r}.csv"
            frame.to_csv(path, index=False)
            paths.append((origin, path))
        t0 = time.perf_counter()
        frames = []
        for origin, path in paths:
            frame = pd.read_csv(
                path, usecols=["date", "store_nbr", "item_nbr", "unit_sales"], parse_dates=["date"]
            )
            frames.append((origin, frame[frame["date"] == day].reset_index(drop=True)))
        read_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = []
        for r, (origin, frame) in enumerate(frames):
            scores += score_forecast(
                frame,
                origin,
                panel,
                np.ones(len(frame)),
                forecast_run=f"run-{r}",
                model_version="v",
                days=[day],
            )
        score_seconds = time.perf_counter() - t0
    table = summarize(scores, ["horizon"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"accuracy: {args.runs} forecasts x {n * horizon:,} rows read and cut to the day: {read_seconds:.1f} s"
    )
    print(
        f"accuracy: {len(scores)} run-days scored ({table['rows'].sum():,} rows, baselines included): {score_seconds:.1f} s"
    )
    print(f"accuracy: peak memory {peak:,.0f} MB (panel {panel.sales.nbytes / 1e6:,.0f} MB)")


if __name__ == "__main__":
    main()
