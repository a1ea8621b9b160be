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

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import send
from grocery_forecast.cli.stack import StackError, load_stack
from grocery_forecast.contract.runs import RunManifest, RunStatus


def _run(stack, s3, path: Path, key: str, timeout: float) -> RunManifest:
    """Upload one file, wait for its run, show the forecast it produced."""
    t0 = time.perf_counter()
    run = send(
        stack,
        path,
        key,
        wait=True,
        timeout=timeout,
        on_upload=lambda up: print(
            f"uploaded {path} -> s3://{up.bucket}/{up.key} (run {up.run_id})", flush=True
        ),
        on_status=lambda s: print(f"  status: {s}", flush=True),
    )
    assert run is not None  # wait=True always returns the final manifest
    if run.status is not RunStatus.SUCCEEDED or run.output is None:
        sys.exit(f"demo: {path.name} was {run.status}: {' '.join(run.errors)} (report: {run.report})")
    bucket, out_key = run.output[5:].split("/", 1)
    s3.head_object(Bucket=bucket, Key=out_key)  # the forecast object exists
    body = s3.get_object(Bucket=bucket, Key=out_key)["Body"].read()
    frame = pd.read_csv(io.BytesIO(body))
    print(f"  forecast: {run.output}")
    print(
        f"  {len(frame):,} rows for {run.series_forecast} series, model {run.model_version}, "
        f"origin {run.origin}, {time.perf_counter() - t0:.1f}s from upload to forecast"
    )
    print("  " + frame.head(5).to_string(index=False).replace("\n", "\n  "), flush=True)
    return run


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
    try:
        _run(stack, s3, args.data / "train.csv", "demo/sales.csv", args.timeout)
        print("\n== 2. forecast request (Kaggle test.csv format) ==")
        run = _run(stack, s3, args.data / "test.csv", "demo/forecast_request.csv", args.timeout)
    except CliError as exc:  # the run did not finish in time
        sys.exit(f"demo: {exc}")
    print(
        f"\nDone. The forecast for the request is at {run.output}\n"
        f"Next: `.venv/bin/grocery-forecast status`, `.venv/bin/grocery-forecast results --latest -o forecast.csv`"
    )


if __name__ == "__main__":
    main()
