"""Run identity and the run manifest: one JSON document per upload describing what it did.

A run is identified by the uploaded object's key and ETag, so uploading the same bytes to the
same key twice is the same run (same manifest, same forecast key), which is what makes
re-uploads change nothing. The ETL writes the manifest; the prediction step completes it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grocery_forecast.aws.s3io import put_json
from grocery_forecast.pipeline.keys import fit_key

__all__ = [
    "forecast_key",
    "manifest_key",
    "new_manifest",
    "peak_memory_mb",
    "processed_key",
    "recording_failure",
    "rejected_key",
    "run_id_for",
    "save",
    "utc_now",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _stem(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    for ext in (".csv.gz", ".csv"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return _UNSAFE.sub("-", name).strip("-")[:60] or "upload"


def run_id_for(key: str, etag: str) -> str:
    """``<file stem>-<12 hex>``: readable, and the same for the same bytes at the same key."""
    digest = hashlib.sha256(f"{key}\n{etag.strip(chr(34))}".encode()).hexdigest()[:12]
    return f"{_stem(key)}-{digest}"


def processed_key(kind: str, key: str) -> str:
    """Where the ETL writes a cleaned file: ``actuals/…`` or ``requests/…``, always ending in
    lower-case ``.csv`` (the predict trigger's case-sensitive filter), at most 1024 bytes."""
    name = key[:-3] if key.lower().endswith(".csv.gz") else key
    name = name[:-4] if name.lower().endswith(".csv") else name
    return fit_key(f"{'actuals' if kind == 'actuals' else 'requests'}/{name}.csv", keep_suffix=".csv")


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}.json"


def forecast_key(run_id: str) -> str:
    return f"forecasts/{run_id}/forecast.csv"


def rejected_key(key: str) -> str:
    return fit_key(f"rejected/{key}.json", keep_suffix=".json")


def save(s3: Any, bucket: str, manifest: dict[str, Any]) -> str:
    """Write the manifest to ``runs/<run_id>.json``, stamped so clients can tell a rewrite (the same
    file uploaded again is the same run) from the previous result."""
    manifest["updated_epoch"] = round(time.time(), 3)
    key = manifest_key(manifest["run_id"])
    put_json(s3, bucket, key, manifest)
    return key


def peak_memory_mb() -> float:
    """High-water mark of this process's resident memory: the figure a Lambda memory size must cover."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextmanager
def recording_failure(s3: Any, bucket: str, manifest: dict[str, Any], step: str) -> Iterator[None]:
    """Mark the run failed (and save that) if the block raises, then let the error propagate.

    Propagating keeps AWS's retry and dead-letter queue in charge of faults; the manifest tells
    the user what happened without reading logs.
    """
    try:
        yield
    except Exception as exc:
        # Not final while Lambda will invoke again (see grocery_forecast.pipeline.attempts).
        manifest["status"] = "retrying" if manifest.get("retries_left") else "failed"
        manifest.setdefault("errors", []).append(f"{step}: {type(exc).__name__}: {exc}")
        try:
            save(s3, bucket, manifest)
        except Exception:  # the original fault matters more than a failed status write
            logging.getLogger(__name__).exception(
                "could not record the failure of run %s", manifest.get("run_id")
            )
        raise


def new_manifest(
    run_id: str,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    request_id: str | None,
    version_id: str | None = None,
) -> dict[str, Any]:
    source = {"bucket": bucket, "key": key, "etag": etag.strip('"'), "size_bytes": size}
    if version_id:
        source["version_id"] = version_id
    return {
        "run_id": run_id,
        "input": source,
        "status": "started",
        "started_at": utc_now(),
        "steps": {},
        "errors": [],
        "warnings": [],
        "request_ids": [r for r in [request_id] if r],
    }
