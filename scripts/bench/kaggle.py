"""(f) A Kaggle-size forecast request through the deployed stack: the sharded path at Favorita's size.

The project's own generator at Favorita's size (54 stores x 4,000 items: 216,000 series): three weeks of
history (about 1.9 M rows) uploaded first, then the Kaggle-size request (test.csv: 3,456,000 rows, 16 days).
Both forecasts are over the shard size, so both run as the Step Functions workflow. Then a daily file of
100,000 of the series, forecast in one invocation pooled over all 216,000. Prints the wall time
from PutObject of the request to the finished forecast CSV, the shard count, and each shard's peak memory
against the predict function's memory size. One run takes several minutes of both cores: run it alone
(`python -m scripts.bench.run --only kaggle`), not in a loop.
"""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import pandas as pd

from grocery_forecast.cli.aws_limits import function_limits, violations
from grocery_forecast.cli.client import upload_and_wait
from grocery_forecast.cli.stack import load_stack

from .common import ROOT, Results, timed

#: Three weeks ending on the sample data's last day, so the request follows the stored history.
GENERATE = ["--stores", "54", "--items", "4000", "--days", "21", "--start", "2017-07-26", "--seed", "5"]


def _upload(stack, s3, path: Path, key: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    _, manifest = upload_and_wait(
        s3, stack.raw_bucket_name, stack.output_bucket_name, path, key, timeout=1800
    )
    run = manifest.to_dict()
    if run.get("status") == "succeeded" and run.get("output"):
        bucket, out_key = run["output"][5:].split("/", 1)
        s3.head_object(Bucket=bucket, Key=out_key)
    return time.perf_counter() - t0, run


def _report(results: Results, label: str, seconds: float, run: dict, limits: dict) -> None:
    if run.get("status") != "succeeded":
        raise SystemExit(f"bench: {label} ended {run.get('status')}: {run.get('errors')}")
    over = violations(run, limits)
    if over:
        raise SystemExit("bench: over AWS Lambda's limits:\n" + "\n".join(over))
    memory = limits["predict_function_name"].memory_mb
    sharded = run.get("sharded") or {}
    shards = sharded.get("shards") or []
    steps = run["steps"]
    results.add(
        label,
        round(seconds, 1),
        "s",
        f"{run['rows_in']:,} rows in, {run['rows_forecast']:,} forecast, {run['series_forecast']:,} series; "
        f"ETL {steps.get('etl_seconds')} s, peak {run.get('peak_memory_mb_etl')} / "
        f"{limits['etl_function_name'].memory_mb} MB; {sharded.get('shard_count', 0)} shards, workflow "
        f"{steps.get('workflow_seconds')} s, longest predict invocation {steps.get('forecast_seconds')} s",
    )
    results.add(
        f"{label.removesuffix('_seconds')}_shards",
        len(shards),
        "",
        f"of at most {sharded.get('shard_rows')} rows",
    )
    for s in shards:
        results.add(
            f"{label.removesuffix('_seconds')}_shard_{s['index']}_peak_memory_mb",
            s["peak_memory_mb"],
            "MB",
            f"{s['rows']:,} rows, {s['series']:,} series, {s['seconds']} s, attempts {s['attempts']}; "
            f"{100 * s['peak_memory_mb'] / memory:.0f}% of the predict function's {memory} MB",
        )
    for step in ("plan", "pool", "combine"):
        info = sharded.get(step) or {}
        results.add(
            f"{label.removesuffix('_seconds')}_{step}_peak_memory_mb",
            info.get("peak_memory_mb", 0.0),
            "MB",
            f"{info.get('seconds')} s; {100 * float(info.get('peak_memory_mb', 0)) / memory:.0f}% of {memory} MB",
        )


def bench_kaggle_request(results: Results, work: Path) -> None:
    stack = load_stack("local", ROOT)
    s3 = stack.client("s3")
    limits = function_limits(stack)
    data = work / "kaggle-size"
    seconds, _ = timed(
        lambda: subprocess.run(
            [str(ROOT / ".venv" / "bin" / "grocery-forecast"), "generate", "--out", str(data), *GENERATE],
            check=True,
            capture_output=True,
        )
    )
    results.add("kaggle_generate_seconds", round(seconds, 1), "s", "generate " + " ".join(GENERATE))
    for table in ("items", "stores", "holidays_events"):
        _upload(stack, s3, data / f"{table}.csv", f"reference/{table}.csv")
    tag = time.time_ns()
    seconds, run = _upload(stack, s3, data / "train.csv", f"bench/{tag}/kaggle_history_3_weeks.csv")
    _report(results, "kaggle_history_3_weeks_seconds", seconds, run, limits)
    seconds, run = _upload(stack, s3, data / "test.csv", f"bench/{tag}/kaggle_test.csv")
    _report(results, "kaggle_request_seconds", seconds, run, limits)
    daily_file(results, "kaggle_daily", stack, s3, data / "train.csv", work, tag, limits)


#: Series in the daily file: a Favorita day holds about 100,000 of the store-items that sell.
DAILY_SERIES = 100_000


def _last_day(train_csv: Path, tail_bytes: int = 64 * 2**20) -> pd.DataFrame:
    """The rows of the last day of a date-ordered ``train.csv``, read from its tail (a year's file
    is gigabytes; a day of 216,000 series is about 9 MB)."""
    with open(train_csv, "rb") as f:
        header = f.readline()
        f.seek(max(f.tell(), train_csv.stat().st_size - tail_bytes))
        f.readline()  # a partial line, unless the seek hit a line start: either way one line less
        tail = pd.read_csv(io.BytesIO(header + f.read()), parse_dates=["date"])
    last = tail[tail["date"] == tail["date"].max()]
    if len(last) == len(tail):
        raise SystemExit(f"bench: {train_csv}'s last day is longer than its last {tail_bytes:,} bytes")
    return last


def daily_file(
    results: Results, label: str, stack, s3, train_csv: Path, work: Path, tag: int, limits: dict
) -> None:
    """A daily actuals file of 100,000 of the history's series (the day after ``train_csv`` ends, those
    series' last-day rows): forecast in one invocation, pooled over every series of the history, so
    the predict step reads the other series' buckets too (``steps.pool_history_seconds``)."""
    last = _last_day(train_csv)
    day = last.sample(n=min(DAILY_SERIES, len(last)), random_state=0).sort_values(["store_nbr", "item_nbr"])
    day = day.assign(date=day["date"] + pd.Timedelta(days=1)).drop(columns=["id"], errors="ignore")
    del last
    path = work / f"{label}.csv"
    day.to_csv(path, index=False, date_format="%Y-%m-%d")
    seconds, run = _upload(stack, s3, path, f"bench/{tag}/{label}.csv")
    if run.get("status") != "succeeded":
        raise SystemExit(f"bench: the daily file ended {run.get('status')}: {run.get('errors')}")
    over = violations(run, limits)
    if over:
        raise SystemExit("bench: over AWS Lambda's limits:\n" + "\n".join(over))
    steps = run["steps"]
    memory = limits["predict_function_name"].memory_mb
    results.add(
        f"{label}_file_seconds",
        round(seconds, 1),
        "s",
        f"{run['rows_in']:,} rows in on {day['date'].iloc[0].date()}, {run['rows_forecast']:,} forecast, "
        f"pooled over the {run.get('pooled_over')}; "
        f"ETL {steps.get('etl_seconds')} s; predict {steps.get('forecast_seconds')} s (history "
        f"{steps.get('read_history_seconds')} s, pool {steps.get('pool_history_seconds')} s), peak "
        f"{run.get('peak_memory_mb_predict')} / {memory} MB",
    )
    results.add(
        f"{label}_pool_history_seconds",
        steps.get("pool_history_seconds", 0.0),
        "s",
        "reading the series index and the buckets of the series the daily file does not hold, and their sums",
    )
