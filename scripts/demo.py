#!/usr/bin/env python3
"""The demo: upload sample sales, then a forecast request, and show the forecasts they produce.

Runs against the stack `make up` deployed; every name comes from the Terraform outputs.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import pandas as pd

from grocery_forecast.cli.client import upload_file, wait_for_run
from grocery_forecast.cli.stack import StackError, load_stack


def _run(stack, s3, path: Path, key: str, timeout: float) -> dict:
    t0 = time.perf_counter()
    since = time.time() - 1.0  # the same file uploaded again is the same run: wait for the new result
    up = upload_file(s3, stack.raw_bucket_name, path, key=key)
    print(f"uploaded {path} -> s3://{up.bucket}/{up.key} (run {up.run_id})", flush=True)
    doc = wait_for_run(
        s3,
        stack.output_bucket_name,
        up.run_id,
        timeout=timeout,
        since=since,
        version_id=up.version_id,
        on_status=lambda s: print(f"  status: {s}", flush=True),
    )
    if doc["status"] != "succeeded":
        sys.exit(
            f"demo: {path.name} was {doc['status']}: {' '.join(doc.get('errors', []))} "
            f"(report: {doc.get('report')})"
        )
    bucket, out_key = doc["output"][5:].split("/", 1)
    s3.head_object(Bucket=bucket, Key=out_key)  # the forecast object exists
    body = s3.get_object(Bucket=bucket, Key=out_key)["Body"].read()
    frame = pd.read_csv(io.BytesIO(body))
    print(f"  forecast: {doc['output']}")
    print(
        f"  {len(frame):,} rows for {doc.get('series_forecast')} series, model {doc.get('model_version')}, "
        f"origin {doc.get('origin')}, {time.perf_counter() - t0:.1f}s from upload to forecast"
    )
    print("  " + frame.head(5).to_string(index=False).replace("\n", "\n  "), flush=True)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("build/sample-data"))
    parser.add_argument("--env", default="local")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    try:
        stack = load_stack(args.env)
    except StackError as exc:
        sys.exit(f"demo: {exc}")
    s3 = stack.client("s3")
    print("== 1. sales history (Kaggle train.csv format) ==")
    _run(stack, s3, args.data / "train.csv", "demo/sales.csv", args.timeout)
    print("\n== 2. forecast request (Kaggle test.csv format) ==")
    doc = _run(stack, s3, args.data / "test.csv", "demo/forecast_request.csv", args.timeout)
    print(
        f"\nDone. The forecast for the request is at {doc['output']}\n"
        f"Next: `.venv/bin/grocery-forecast status`, `.venv/bin/grocery-forecast results --latest -o forecast.csv`"
    )


if __name__ == "__main__":
    main()
