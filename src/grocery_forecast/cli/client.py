"""What a user does with the deployed stack: upload files, follow their runs, fetch forecasts.

Shared by the CLI, the demo and the integration tests, so all three exercise the same path.
A run's id is computed from the uploaded key and the ETag S3 returns, so a client can wait for
its manifest without listing anything; the object version S3 returns (the raw bucket is
versioned) tells this upload's run from an earlier upload of the same bytes, with no clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grocery_forecast.aws.s3io import get_json
from grocery_forecast.pipeline import manifest as mf

__all__ = ["FINAL_STATUSES", "RunTimeout", "Upload", "list_runs", "upload_file", "wait_for_run"]

FINAL_STATUSES = ("succeeded", "rejected", "failed")


class RunTimeout(TimeoutError):
    """A run did not reach a final status in time."""


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    etag: str
    run_id: str
    #: The object version S3 gave this upload (None on an unversioned bucket).
    version_id: str | None = None


def upload_file(
    s3: Any, bucket: str, path: Path, key: str | None = None, progress: Callable[[int], None] | None = None
) -> Upload:
    """Put one file into the raw bucket (multipart above 8 MB, with a byte-count callback)."""
    path = Path(path)
    key = key or path.name
    if progress is None and path.stat().st_size < 8 * 1024 * 1024:
        resp = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    else:
        s3.upload_file(str(path), bucket, key, Callback=progress)
        resp = s3.head_object(Bucket=bucket, Key=key)
    etag = resp["ETag"].strip('"')
    return Upload(bucket, key, etag, mf.run_id_for(key, etag), resp.get("VersionId"))


def wait_for_run(
    s3: Any,
    output_bucket: str,
    run_id: str,
    *,
    timeout: float = 300.0,
    until: tuple[str, ...] = FINAL_STATUSES,
    poll: float = 0.5,
    since: float | None = None,
    on_status: Callable[[str], None] | None = None,
    version_id: str | None = None,
) -> dict[str, Any]:
    """Poll ``runs/<run_id>.json`` until its status is one of ``until``; return the manifest.

    Re-uploading the same bytes is the same run, and its previous manifest must not count as the
    new result. ``version_id`` (:attr:`Upload.version_id`) accepts only the manifest of that
    object version: exact, and no clock involved. ``since`` (epoch seconds) is the fallback for an
    unversioned bucket; it compares this machine's clock with the Lambda's, so allow for skew.
    A ``retrying`` run is not final: Lambda invokes it again.

    Raises:
        RunTimeout: naming the last status seen, after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last = "not started"
    while True:
        doc = get_json(s3, output_bucket, mf.manifest_key(run_id))
        if doc is not None and version_id is not None:
            if (doc.get("input") or {}).get("version_id") != version_id:
                doc = None
        elif doc is not None and since is not None and float(doc.get("updated_epoch", 0)) < since:
            doc = None
        if doc is not None:
            if doc.get("status") != last and on_status:
                on_status(str(doc.get("status")))
            last = str(doc.get("status"))
            if last in until:
                return doc
        if time.monotonic() > deadline:
            raise RunTimeout(
                f"run {run_id} did not finish within {timeout:.0f}s (last status: {last}); "
                "look at the Lambda logs (make logs) or the dead-letter queue"
            )
        time.sleep(poll)


def list_runs(s3: Any, output_bucket: str, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent run manifests, newest first."""
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=output_bucket, Prefix="runs/"):
        objects.extend(page.get("Contents", []))
    objects.sort(key=lambda o: o["LastModified"], reverse=True)
    runs = []
    for obj in objects[:limit]:
        doc = get_json(s3, output_bucket, obj["Key"])
        if doc is not None:
            doc["_last_modified"] = obj["LastModified"].isoformat()
            runs.append(doc)
    return runs


def default_timeout() -> float:
    return float(os.environ.get("GROCERY_FORECAST_TIMEOUT", "600"))
