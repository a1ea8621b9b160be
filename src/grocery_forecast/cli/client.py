"""What a user does with the deployed stack: upload files, follow their runs, fetch forecasts.

Shared by the CLI, the demo, the benchmarks and the integration tests, so all of them exercise the
same path. A run's id is computed from the uploaded key and the ETag S3 returns, so a client can
wait for its manifest without listing anything; the object version S3 returns (the raw bucket is
versioned) tells this upload's run from an earlier upload of the same bytes, with no clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import FINAL_STATUSES, RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf

__all__ = ["RunTimeout", "Upload", "list_runs", "upload_and_wait", "upload_file", "wait_for_run"]

#: Files at least this big go up in parts, with a progress callback.
MULTIPART_BYTES = 8 * 1024 * 1024
#: Slack for the difference between this machine's clock and the one that stamps the manifest.
_CLOCK_SLACK_SECONDS = 1.0


class RunTimeout(TimeoutError):
    """A run did not reach a final status in time."""


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    etag: str
    run_id: str
    #: The object version S3 gave this upload (None on an unversioned bucket): only the manifest
    #: of this version is this upload's result.
    version_id: str | None = None
    #: When the upload started (epoch seconds, minus clock slack), the fallback without a version:
    #: a manifest written before it belongs to an earlier upload of the same bytes.
    started: float = 0.0


def upload_file(
    s3: Any, bucket: str, path: Path, key: str | None = None, progress: Callable[[int], None] | None = None
) -> Upload:
    """Put one file into the raw bucket (multipart above 8 MB, with a byte-count callback)."""
    path = Path(path)
    key = key or path.name
    started = time.time() - _CLOCK_SLACK_SECONDS
    if progress is None and path.stat().st_size < MULTIPART_BYTES:
        resp = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    else:
        s3.upload_file(str(path), bucket, key, Callback=progress)
        resp = s3.head_object(Bucket=bucket, Key=key)
    etag = str(resp["ETag"]).strip('"')
    return Upload(bucket, key, etag, runs.run_id_for(key, etag), resp.get("VersionId") or None, started)


def wait_for_run(
    s3: Any,
    output_bucket: str,
    run_id: str,
    *,
    timeout: float = 300.0,
    until: frozenset[RunStatus] = FINAL_STATUSES,
    poll: float = 0.5,
    since: float | None = None,
    on_status: Callable[[RunStatus], None] | None = None,
    version_id: str | None = None,
) -> RunManifest:
    """Poll ``runs/<run_id>.json`` until its status is one of ``until``; return the manifest.

    Re-uploading the same bytes is the same run, and its previous manifest must not count as the
    new result. ``version_id`` (:attr:`Upload.version_id`) accepts only the manifest of that
    object version: exact, and no clock involved. ``since`` (epoch seconds) is the fallback for an
    unversioned bucket: it ignores manifests last written before it, comparing this machine's clock
    with the Lambda's, so allow for skew. :func:`upload_and_wait` passes both for you. A
    ``retrying`` run is not final: Lambda invokes it again.

    Raises:
        RunTimeout: naming the last status seen, after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last: RunStatus | None = None
    while True:
        manifest = mf.load(s3, output_bucket, run_id)
        if manifest is not None and version_id is not None:
            if manifest.input.version_id != version_id:
                manifest = None
        elif manifest is not None and since is not None and (manifest.updated_epoch or 0.0) < since:
            manifest = None
        if manifest is not None:
            if manifest.status != last and on_status:
                on_status(manifest.status)
            last = manifest.status
            if last in until:
                return manifest
        if time.monotonic() > deadline:
            raise RunTimeout(
                f"run {run_id} did not finish within {timeout:.0f}s (last status: {last or 'not started'}); "
                "look at the Lambda logs (make logs) or the dead-letter queue"
            )
        time.sleep(poll)


def upload_and_wait(
    s3: Any,
    raw_bucket: str,
    output_bucket: str,
    path: Path,
    key: str | None = None,
    *,
    timeout: float = 300.0,
    poll: float = 0.5,
    progress: Callable[[int], None] | None = None,
    on_upload: Callable[[Upload], None] | None = None,
    on_status: Callable[[RunStatus], None] | None = None,
) -> tuple[Upload, RunManifest]:
    """Upload one file and wait for the final manifest of *this* upload.

    The same bytes uploaded again are the same run, whose manifest already says ``succeeded``:
    only the manifest of this upload's object version counts (on an unversioned bucket, one written
    after the upload started). ``on_upload`` is called once the object is in the bucket, before the
    wait.
    """
    up = upload_file(s3, raw_bucket, path, key=key, progress=progress)
    if on_upload:
        on_upload(up)
    return up, wait_for_run(
        s3,
        output_bucket,
        up.run_id,
        timeout=timeout,
        poll=poll,
        since=up.started,
        version_id=up.version_id,
        on_status=on_status,
    )


@dataclass(frozen=True)
class ListedRun:
    manifest: RunManifest
    last_modified: str


def list_runs(s3: Any, output_bucket: str, limit: int = 20) -> list[ListedRun]:
    """The most recent run manifests, newest first."""
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=output_bucket, Prefix=runs.RUNS_PREFIX):
        objects.extend(page.get("Contents", []))
    objects.sort(key=lambda o: o["LastModified"], reverse=True)
    listed = []
    for obj in objects[:limit]:
        run_id = obj["Key"][len(runs.RUNS_PREFIX) :].removesuffix(".json")
        manifest = mf.load(s3, output_bucket, run_id)
        if manifest is not None:
            listed.append(ListedRun(manifest, obj["LastModified"].isoformat()))
    return listed
