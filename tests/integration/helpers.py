"""Small helpers for the integration tests: write CSVs, upload them, wait for their runs."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd

from grocery_forecast.cli.client import upload_file, wait_for_run
from grocery_forecast.cli.stack import Stack

#: Upper bound for one upload to be validated, stored and forecast on the emulator.
RUN_TIMEOUT = 240.0


def write_csv(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def upload_and_wait(stack: Stack, s3, path: Path, key: str, timeout: float = RUN_TIMEOUT) -> dict:
    """Upload a file to the raw bucket and return its run manifest once final."""
    since = time.time() - 1.0
    up = upload_file(s3, stack.raw_bucket_name, path, key=key)
    return wait_for_run(
        s3,
        stack.output_bucket_name,
        up.run_id,
        timeout=timeout,
        since=None if up.version_id else since,
        version_id=up.version_id,
    )


def read_output_csv(s3, uri: str) -> pd.DataFrame:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
