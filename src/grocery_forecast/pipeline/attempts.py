"""Attempt numbers of a run across Lambda's asynchronous retries, so ``failed`` is only ever final.

Lambda retries a failed asynchronous (S3-triggered) invocation ``MAX_RETRY_ATTEMPTS`` times with
the same event. An event is identified by its S3 record (object version or ETag, and the
sequencer, which differs between two uploads of the same bytes), so the attempt number counts the
tries of one event: a re-upload starts again at 1, a retry or a dead-letter replay goes on
counting (a replay gets Lambda's retries again). A failure with retries left is recorded as
``retrying`` (:attr:`RunStatus.RETRYING`, not final), the last one as ``failed``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from grocery_forecast.contract.runs import RunManifest, StepAttempt

__all__ = ["begin_attempt", "event_id", "max_retry_attempts"]


def max_retry_attempts(environ: Mapping[str, str] = os.environ) -> int:
    """Retries after a failed attempt (Terraform's maximum_retry_attempts), 0 when not set."""
    try:
        return max(0, int(environ.get("MAX_RETRY_ATTEMPTS", "0")))
    except ValueError:
        return 0


def event_id(record: Mapping[str, Any]) -> str:
    """Identity of one S3 event record: the same on every retry and replay of it."""
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    parts = [
        (s3.get("bucket") or {}).get("name", ""),
        obj.get("key", ""),
        obj.get("versionId") or obj.get("eTag") or "",
        obj.get("sequencer") or record.get("eventTime", ""),
    ]
    return "|".join(str(p) for p in parts)


def begin_attempt(
    manifest: RunManifest, previous: RunManifest | None, step: str, event: str | None, retries: int
) -> int:
    """Number this attempt of ``step`` and mark whether a failure now would be retried.

    ``previous`` is the run's manifest as it was before this attempt (None when there was none).
    Sets ``attempt`` (this step's attempt number), ``attempts[step]`` and ``retries_left``, which
    :meth:`RunManifest.fail` reads to choose between ``retrying`` and ``failed``.
    """
    number = 1
    if event and previous is not None:
        before = previous.attempts.get(step)
        if before is not None and before.event == event:
            number = before.number + 1
    manifest.attempts[step] = StepAttempt(event, number)
    # Each delivery (the upload's, then each dead-letter replay) gets Lambda's 1 + retries attempts.
    per_delivery = retries + 1
    deliveries = (number - 1) // per_delivery + 1
    manifest.attempt = number
    manifest.attempts_allowed = deliveries * per_delivery
    manifest.retries_left = deliveries * per_delivery - number
    return number
