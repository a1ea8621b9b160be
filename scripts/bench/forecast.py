"""(b) The prediction step for 10,000 and 100,000 request rows, history in the emulator's DynamoDB.

Runs the Lambda's own code path (``grocery_forecast.pipeline.forecast.run_forecast``) in-process against
scratch buckets and a scratch table on the emulator: read the processed request, load the model
and reference tables, read the history (BatchGetItem), build features, predict, write the CSV.
"""

from __future__ import annotations

import contextlib
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.aws.s3io import csv_bytes
from grocery_forecast.contract.runs import HandOff, processed_key, reference_key
from grocery_forecast.contract.schema import FileKind
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, run_forecast

from .common import Results, actuals, client, scratch_table, timed

ORIGIN = pd.Timestamp("2017-08-15")


def _bucket(s3, name: str) -> str:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    return name


def _empty(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def bench_forecast(
    results: Results,
    work: Path,
    model_dir: Path,
    reference_dir: Path,
    sizes: tuple[int, ...] = (10_000, 100_000),
    horizon: int = 16,
) -> None:
    s3, db = client("s3"), client("dynamodb")
    buckets = {k: _bucket(s3, f"bench-{k}") for k in ("processed", "models", "output")}
    for table in ("items", "stores", "holidays_events"):
        s3.upload_file(str(reference_dir / f"{table}.csv"), buckets["processed"], reference_key(table))
    model_store.publish_model(s3, buckets["models"], model_dir)
    lookback = ForecastModel.load(model_dir).spec.lookback_days
    config = ForecastConfig(
        buckets["processed"], buckets["models"], buckets["output"], horizon, model_dir=work / "model-cache"
    )
    try:
        with scratch_table(db, "bench-forecast-history") as table:
            store = DynamoHistoryStore(db, table, max_workers=8)
            n_series = max(sizes) // horizon
            days = pd.date_range(end=ORIGIN, periods=lookback, freq="D")
            history = actuals(n_series, days, seed=2, items_per_store=120)
            seconds, _ = timed(lambda: store.upsert(history))
            results.add(f"forecast_history_backfill_{len(history)}_rows", round(seconds, 1), "s")
            series = history[["store_nbr", "item_nbr"]].drop_duplicates()
            for rows in sizes:
                chosen = series.head(rows // horizon)
                dates = pd.date_range(ORIGIN + pd.Timedelta(days=1), periods=horizon, freq="D")
                request = chosen.merge(pd.DataFrame({"date": dates}), how="cross")
                request.insert(0, "id", np.arange(len(request)))
                request["onpromotion"] = False
                key = processed_key(FileKind.REQUEST, f"bench-{rows}.csv", f"bench-{rows}")
                hand_off = HandOff(f"bench-{rows}", FileKind.REQUEST, key, "", str(ORIGIN.date()))
                s3.put_object(
                    Bucket=buckets["processed"],
                    Key=key,
                    Body=csv_bytes(request),
                    Metadata=hand_off.to_metadata(),
                )
                models = ModelCache()
                models.get(s3, buckets["models"], config.model_dir)  # warm container: model already loaded
                seconds, manifest = timed(
                    partial(
                        run_forecast,
                        s3,
                        store,
                        buckets["processed"],
                        key,
                        config,
                        models=models,
                        references=ReferenceObjects(),
                    )
                )
                assert manifest.rows_forecast == len(request), manifest
                steps = manifest.steps
                results.add(
                    f"forecast_step_{len(request)}_rows_seconds",
                    round(seconds, 2),
                    "s",
                    f"{len(chosen)} series; history read {steps['read_history_seconds']}s, "
                    f"features+predict {steps['predict_seconds']}s, write {steps['write_forecast_seconds']}s"
                    + ("; target < 15 s" if rows >= 100_000 else ""),
                )
    finally:
        for bucket in buckets.values():
            _empty(s3, bucket)
        shutil.rmtree(config.model_dir, ignore_errors=True)
