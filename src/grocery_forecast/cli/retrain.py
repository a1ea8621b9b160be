"""``grocery-forecast train --remote``: run the stack's retraining workflow now and follow it.

It starts the same state machine, with the same input, that the weekly EventBridge schedule
starts (only ``trigger`` says who asked), prints each step as the execution enters it, and ends
with the outcome the workflow recorded in its training manifest: the challenger's and the
champion's scores on the last 16 days, and whether the challenger was promoted and why.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import say
from grocery_forecast.pipeline.training import read_manifest

__all__ = ["describe_outcome", "follow_execution", "start_retraining"]

_FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def start_retraining(stack: Any, trigger: str = "cli") -> str:
    """Start a run with the schedule's input (``trigger`` replaced); returns the execution ARN."""
    arn = getattr(stack, "training_state_machine_arn", None)
    if not arn:
        raise CliError(
            "the deployed stack has no retraining workflow (training_state_machine_arn); redeploy it"
        )
    payload = json.loads(getattr(stack, "training_schedule_input", None) or '{"trigger": "schedule"}')
    payload["trigger"] = trigger
    name = f"{trigger}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    sfn = stack.client("stepfunctions")
    return str(sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"])


def follow_execution(
    sfn: Any,
    execution_arn: str,
    timeout: float,
    on_step: Callable[[str], None] = say,
    poll_seconds: float = 2.0,
) -> dict[str, Any]:
    """Poll the execution until it ends (or ``timeout`` seconds pass), reporting each state entered.

    Returns:
        DescribeExecution's answer at the end.

    Raises:
        CliError: If the execution has not ended within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while True:
        # Describe first, then read the history: the states entered before the end are all shown.
        described = sfn.describe_execution(executionArn=execution_arn)
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            for event in page.get("events", []):
                details = event.get("stateEnteredEventDetails")
                if event["id"] in seen or not details:
                    continue
                seen.add(event["id"])
                if details.get("name") not in ("Scan",):  # one line per Map iteration is noise
                    on_step(f"  step: {details['name']}")
        if described["status"] in _FINAL:
            return dict(described)
        if time.monotonic() > deadline:
            raise CliError(
                f"retraining {execution_arn} still {described['status']} after {timeout:.0f} s; "
                "it goes on in the stack: follow it with `grocery-forecast models runs`"
            )
        time.sleep(poll_seconds)


def describe_outcome(manifest: dict[str, Any] | None) -> str:
    """One paragraph a person reads: status, scores, window and the reason of the decision."""
    if not manifest:
        return "no training manifest was written (the run failed before training)"
    status = manifest.get("status", "?")
    ev = manifest.get("evaluation") or {}
    lines = [f"retraining {manifest.get('run_id')}: {status}"]
    if manifest.get("challenger_version"):
        lines.append(f"  challenger {manifest['challenger_version']}")
    if ev:
        window, evw = ev.get("data_window", {}), ev.get("evaluation_window", {})
        champion = ev.get("champion_nwrmsle")
        lines.append(
            f"  history {window.get('start')}..{window.get('end')} ({window.get('series')} series); "
            f"trained to {ev.get('training_end')}, scored on {evw.get('start')}..{evw.get('end')}"
        )
        lines.append(
            f"  NWRMSLE challenger {ev.get('challenger_nwrmsle'):.4f}, "
            + (
                f"champion {ev.get('champion_version')} {champion:.4f}"
                if champion is not None
                else "no champion scored"
            )
            + f", best baseline {ev.get('best_baseline', {}).get('name')} "
            f"{ev.get('best_baseline', {}).get('nwrmsle', float('nan')):.4f}"
        )
        lines.append(f"  decision: {ev.get('decision')} ({ev.get('reason')})")
        if ev.get("champion_saw_evaluation_days"):
            lines.append(
                f"  note: the champion was trained on {ev['champion_saw_evaluation_days']} of the "
                f"{evw.get('days')} evaluation days, so its score there is in-sample and flatters it"
            )
    if status == "promoted":
        lines.append(
            f"  now in service: {manifest.get('in_service')} (replaced {manifest.get('replaced') or 'none'})"
        )
    elif status == "rejected":
        lines.append(
            f"  the model in service is unchanged; put the challenger in service by hand with "
            f"`grocery-forecast models use {manifest.get('challenger_version')}`"
        )
    elif status == "failed":
        lines.append(f"  error: {manifest.get('error')}")
    return "\n".join(lines)


def remote_train(stack: Any, timeout: float) -> int:
    """Start, follow and report one retraining run; 0 when it ended promoted or rejected."""
    arn = start_retraining(stack)
    run_id = arn.rsplit(":", 1)[-1]
    say(f"started retraining {run_id} ({stack.training_state_machine_arn})")
    described = follow_execution(stack.client("stepfunctions"), arn, timeout)
    manifest = read_manifest(stack.client("s3"), stack.models_bucket_name, run_id)
    print(describe_outcome(manifest))
    if described["status"] != "SUCCEEDED":
        say(f"retraining {described['status']}: {described.get('cause') or described.get('error') or ''}")
        return 1
    return 0
