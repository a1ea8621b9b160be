"""(c) End to end on the deployed local stack, (d) training, (e) bundles and cold start."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.cli.aws_limits import function_limits, violations
from grocery_forecast.cli.client import upload_and_wait
from grocery_forecast.cli.stack import load_stack
from grocery_forecast.contract.runs import RunManifest

from .common import BENCH_STORE_BASE, ROOT, Results, actuals, timed, write_actuals_csv


def _e2e(results: Results, stack, s3, path: Path, key: str, label: str, note: str = "") -> RunManifest:
    t0 = time.perf_counter()
    _, run = upload_and_wait(
        s3, stack.raw_bucket_name, stack.output_bucket_name, path, key, timeout=900, poll=0.2
    )
    bucket, out_key = str(run.output)[5:].split("/", 1)
    s3.head_object(Bucket=bucket, Key=out_key)
    seconds = time.perf_counter() - t0
    steps = run.steps
    # The emulator enforces no memory limit: hold each run to its function's size, as AWS would.
    limits = function_limits(stack)
    over = violations(run.to_dict(), limits)
    if over:
        raise SystemExit("bench: over AWS Lambda's limits:\n" + "\n".join(over))
    memory = {name: limit.memory_mb for name, limit in limits.items()}
    results.add(
        label,
        round(seconds, 2),
        "s",
        f"{run.rows_in or 0:,} rows in, {run.rows_forecast or 0:,} forecast; etl {steps.get('etl_seconds')}s "
        f"(history {steps.get('history_upsert_seconds')}s), forecast {steps.get('forecast_seconds')}s; "
        f"peak memory etl {run.peak_memory_mb_etl} / {memory['etl_function_name']} MB, "
        f"predict {run.peak_memory_mb_predict} / {memory['predict_function_name']} MB"
        + (f"; {note}" if note else ""),
    )
    return run


def bench_end_to_end(results: Results, work: Path, sample: Path, big_series: int = 100_000) -> None:
    """PutObject -> forecast object exists, through the real notifications and Lambdas."""
    stack = load_stack("local", ROOT)
    s3 = stack.client("s3")
    # The first upload may meet cold Lambdas (imports, model load); the second shows the warm path.
    _e2e(
        results,
        stack,
        s3,
        sample,
        f"bench/{time.time_ns()}/sample_sales.csv",
        "e2e_sample_upload_first_seconds",
        "the first upload of this run: Lambdas may be cold",
    )
    run = _e2e(
        results,
        stack,
        s3,
        sample,
        f"bench/{time.time_ns()}/sample_sales.csv",
        "e2e_sample_upload_seconds",
        "PutObject of the demo sales file to the forecast object existing, warm Lambdas",
    )
    results.add(
        "e2e_sample_peak_memory_mb",
        run.peak_memory_mb_predict or 0.0,
        "MB",
        "predict worker high-water mark",
    )
    # A Favorita-sized day: 100,000 series, each with four weeks of stored history.
    history = actuals(big_series, pd.date_range("2017-07-18", "2017-08-14"), seed=3)
    store = DynamoHistoryStore(stack.client("dynamodb"), stack.history_table_name, max_workers=8)
    seconds, _ = timed(lambda: store.upsert(history))
    results.add(
        f"e2e_setup_history_{len(history)}_rows_seconds",
        round(seconds, 1),
        "s",
        "backfill before the daily upload",
    )
    day = write_actuals_csv(
        actuals(big_series, pd.date_range("2017-08-15", periods=1), seed=4), work / "daily_100k.csv"
    )
    run = _e2e(
        results,
        stack,
        s3,
        day,
        f"bench/{time.time_ns()}/daily_100k.csv",
        f"e2e_daily_{big_series}_series_seconds",
        "target < 90 s",
    )
    results.add("e2e_daily_peak_memory_mb_etl", run.peak_memory_mb_etl or 0.0, "MB")
    results.add("e2e_daily_peak_memory_mb_predict", run.peak_memory_mb_predict or 0.0, "MB")
    # A large file: 1,000,000 rows (10,000 series x 100 days) through the Lambdas, memory bounded by chunks.
    big = write_actuals_csv(
        actuals(10_000, pd.date_range("2017-05-08", periods=100), seed=5, store_base=BENCH_STORE_BASE + 200),
        work / "actuals_1m.csv",
    )
    run = _e2e(
        results,
        stack,
        s3,
        big,
        f"bench/{time.time_ns()}/actuals_1m.csv",
        "e2e_1m_rows_seconds",
        "ETL function: 2048 MB, 300 s",
    )
    results.add(
        "e2e_1m_rows_peak_memory_mb_etl",
        run.peak_memory_mb_etl or 0.0,
        "MB",
        "ETL worker high-water mark (its memory size: 2048 MB)",
    )


def bench_training(results: Results, work: Path, stores: int = 54, items: int = 100, days: int = 365) -> None:
    """Training time and peak memory on about a million rows of generated data (a subprocess)."""
    data = work / "train-1m"
    cli = [str(ROOT / ".venv" / "bin" / "grocery-forecast")]
    subprocess.run(
        [
            *cli,
            "generate",
            "--out",
            str(data),
            "--stores",
            str(stores),
            "--items",
            str(items),
            "--days",
            str(days),
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    rows = sum(1 for _ in (data / "train.csv").open()) - 1
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds, _ = timed(
        lambda: subprocess.run(
            [
                *cli,
                "train",
                "--sales",
                str(data / "train.csv"),
                "--reference",
                str(data),
                "--out",
                str(work / "model-1m"),
            ],
            check=True,
            capture_output=True,
        )
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    results.add(
        f"train_{rows}_rows_seconds", round(seconds, 1), "s", f"{stores} stores x {items} items x {days} days"
    )
    results.add(f"train_{rows}_rows_peak_memory_mb", round(max(peak, before) / 1024), "MB")


def bench_bundles(results: Results, model_dir: Path) -> None:
    """Unzipped size of each bundle, and the predict bundle's cold start: imports + model load."""
    for report in sorted((ROOT / "build" / "lambdas").glob("*.build.json")):
        info = json.loads(report.read_text())
        results.add(
            f"bundle_{info['function']}_unzipped_mb",
            round(info["unzipped_bytes"] / 1e6, 1),
            "MB",
            "limit 250 MB",
        )
    emulator_python = ROOT / ".venv-emulator" / "bin" / "python"  # the interpreter the local Lambdas run on
    for fn in ("etl", "predict"):
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(ROOT / "build" / "lambdas" / f"{fn}.zip") as zf:
                zf.extractall(tmp)
            probe = (
                "import json, sys, time\n"
                f"sys.path.insert(0, {tmp!r})\n"
                "t0 = time.perf_counter()\n"
                "import handler\n"
                "t1 = time.perf_counter()\n"
                "load = 0.0\n"
                f"if {fn == 'predict'}:\n"
                "    from grocery_forecast.forecasting.model import ForecastModel\n"
                f"    ForecastModel.load({str(model_dir)!r})\n"
                "    load = time.perf_counter() - t1\n"
                "print(json.dumps({'imports': t1 - t0, 'model': load}))\n"
            )
            env = {
                **os.environ,
                "AWS_DEFAULT_REGION": "us-east-1",
                "HISTORY_TABLE": "t",
                "PROCESSED_BUCKET": "p",
                "OUTPUT_BUCKET": "o",
                "MODELS_BUCKET": "m",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            out = subprocess.run(
                [str(emulator_python), "-c", probe],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
            )
            timing = json.loads(out.stdout.strip().splitlines()[-1])
        total = timing["imports"] + timing["model"]
        results.add(
            f"cold_start_{fn}_seconds",
            round(total, 2),
            "s",
            f"imports {timing['imports']:.2f}s"
            + (f" + model load {timing['model']:.2f}s; target < 3 s" if fn == "predict" else ""),
        )
