"""A sharded forecast (or ingest) whose workflow execution ended without finishing ends ``failed``,
never stays ``forecasting`` (or ``started``).

The state machine catches its tasks' errors itself (RecordFailure writes the run's failure with
every shard's errors), but a Catch cannot see an execution that times out, is stopped (aborted), or
fails in RecordFailure itself. Step Functions publishes every status change of a Standard
execution to EventBridge ("Step Functions Execution Status Change", source ``aws.states``); a rule
on FAILED, TIMED_OUT and ABORTED sends it to the monitor function, which records it here. AWS
delivers these events at least once: recording is idempotent (a run already final is left alone).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunManifest
from grocery_forecast.pipeline import manifest as mf

__all__ = ["ENDED_WITHOUT_FORECAST", "record_execution_end"]

log = logging.getLogger(__name__)

#: Execution statuses after which no forecast will come: the run must end ``failed``.
ENDED_WITHOUT_FORECAST: frozenset[str] = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def record_execution_end(s3: Any, output_bucket: str, detail: Mapping[str, Any]) -> RunManifest | None:
    """Mark the run of a forecast workflow execution that ended without a forecast ``failed``.

    ``detail`` is the EventBridge event's ``detail``. Returns the manifest written, or None when
    there was nothing to do: the execution succeeded, its input names no run, the run is already
    final (RecordFailure recorded the failure with its shards' errors, or it succeeded), or the run
    has since been given to a newer execution (the same upload redelivered after a failure).
    """
    status = str(detail.get("status", ""))
    arn = str(detail.get("executionArn", ""))
    if status not in ENDED_WITHOUT_FORECAST:
        return None
    try:
        run_id = json.loads(detail.get("input") or "{}").get("run_id")
    except (TypeError, ValueError, AttributeError):
        run_id = None
    if not run_id:
        log.warning("workflow execution without a run id", extra={"execution_arn": arn, "status": status})
        return None
    manifest = mf.load(s3, output_bucket, str(run_id))
    if manifest is None or manifest.final:
        return None
    ingest_arn = (manifest.ingest or {}).get("execution_arn")
    # A sharded ingest's execution, or the sharded forecast's that follows it.
    current = ingest_arn if ingest_arn == arn else (manifest.sharded or {}).get("execution_arn") or ingest_arn
    if current and current != arn:
        log.info("an older execution of the run ended", extra={"run_id": run_id, "execution_arn": arn})
        return None
    step = "etl: sharded ingest" if arn == ingest_arn else "forecast: sharded"
    reason = f"{step} workflow execution {detail.get('name') or arn} ended {status}"
    error, cause = detail.get("error"), detail.get("cause")
    if error or cause:
        reason += f" ({error or 'error'}: {str(cause or '')[:500]})"
    if status == "ABORTED":
        reason += ": it was stopped before the forecast was written; upload the file again to redo it"
    elif status == "TIMED_OUT":
        reason += ": it ran past the state machine's timeout; upload the file again, or use larger shards"
    # The workflow retried its own tasks; the execution is over, so nothing will retry this.
    manifest.retries_left = 0
    manifest.fail(reason)
    manifest.finished_at = runs.utc_now()
    mf.save(s3, output_bucket, manifest)
    log.warning("sharded forecast ended without a forecast", extra={"run_id": run_id, "status": status})
    return manifest
