"""The run manifest in S3: read it, write it, record a failure in it.

The manifest itself (fields, statuses, keys) is the run contract, ``grocery_forecast.contract.runs``;
this module only moves it in and out of the output bucket.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grocery_forecast.aws.s3io import get_json, put_json
from grocery_forecast.contract.runs import RunManifest, manifest_key

__all__ = [
    "invocation_peak_memory_mb",
    "load",
    "peak_memory_mb",
    "recording_failure",
    "reset_peak_memory",
    "save",
]


def save(s3: Any, bucket: str, manifest: RunManifest) -> str:
    """Write the manifest to ``runs/<run_id>.json``, stamped so clients can tell a rewrite (the same
    file uploaded again is the same run) from the previous result."""
    manifest.updated_epoch = round(time.time(), 3)
    key = manifest_key(manifest.run_id)
    put_json(s3, bucket, key, manifest.to_dict())
    return key


def load(s3: Any, bucket: str, run_id: str) -> RunManifest | None:
    """The run's manifest, or None when it has none (yet)."""
    doc = get_json(s3, bucket, manifest_key(run_id))
    return None if doc is None else RunManifest.from_dict(doc)


def peak_memory_mb() -> float:
    """High-water mark of this process's resident memory (since the last :func:`reset_peak_memory`, on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak_memory() -> None:
    """Start this invocation's peak-memory count afresh (a warm container carries the previous one's).

    Linux resets the resident high-water mark (VmHWM) on ``echo 5 > /proc/self/clear_refs``;
    elsewhere the process-lifetime peak stands (an upper bound).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def invocation_peak_memory_mb() -> float:
    """Peak resident memory since :func:`reset_peak_memory` (VmHWM), else the process's peak: the
    figure a Lambda memory size must cover for this invocation."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return peak_memory_mb()


@contextmanager
def recording_failure(s3: Any, bucket: str, manifest: RunManifest, step: str) -> Iterator[None]:
    """Mark the run failed (and save that) if the block raises, then let the error propagate.

    Propagating keeps AWS's retry and dead-letter queue in charge of faults; the manifest tells
    the user what happened without reading logs. While Lambda will invoke the step again (the
    manifest's ``retries_left``, see ``grocery_forecast.pipeline.attempts``) the run is
    ``retrying``, not ``failed``: only the last attempt's failure is final.
    """
    try:
        yield
    except Exception as exc:
        manifest.fail(f"{step}: {type(exc).__name__}: {exc}")
        try:
            save(s3, bucket, manifest)
        except Exception:  # the original fault matters more than a failed status write
            logging.getLogger(__name__).exception("could not record the failure of run %s", manifest.run_id)
        raise
