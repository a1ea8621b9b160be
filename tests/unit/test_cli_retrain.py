"""``grocery-forecast train --remote``: following an execution and reporting its outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grocery_forecast.cli import CliError
from grocery_forecast.cli.retrain import describe_outcome, follow_execution, start_retraining


class _FakeSfn:
    """Step Functions with a scripted execution: each describe_execution call moves it on."""

    def __init__(self, statuses: list[str], states: list[str]) -> None:
        self.statuses, self.states = statuses, states
        self.started: list[dict] = []
        self.calls = 0
        self.done = False

    def start_execution(self, **kwargs: Any) -> dict:
        self.started.append(kwargs)
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:sm:{kwargs['name']}"}

    def get_paginator(self, name: str) -> Any:
        assert name == "get_execution_history"
        # What had happened by the last describe_execution: everything, once it reported the end.
        shown = self.states if self.done else self.states[: self.calls]
        events = [{"id": i, "stateEnteredEventDetails": {"name": n}} for i, n in enumerate(shown)]

        class _Pages:
            def paginate(self, executionArn: str) -> list[dict]:
                return [{"events": [*events, {"id": 99, "type": "ExecutionStarted"}]}]

        return _Pages()

    def describe_execution(self, executionArn: str) -> dict:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        self.done = status != "RUNNING"
        return {"status": status, "executionArn": executionArn}


class _Stack:
    training_state_machine_arn = "arn:aws:states:us-east-1:1:stateMachine:sm"
    training_schedule_input = '{"trigger": "schedule"}'

    def __init__(self, sfn: _FakeSfn) -> None:
        self.sfn = sfn

    def client(self, service: str) -> Any:
        return self.sfn


def test_remote_run_sends_the_schedules_input_with_its_own_trigger() -> None:
    sfn = _FakeSfn(["SUCCEEDED"], [])
    start_retraining(_Stack(sfn))
    assert json.loads(sfn.started[0]["input"]) == {"trigger": "cli"}
    assert sfn.started[0]["stateMachineArn"] == _Stack.training_state_machine_arn


def test_follow_reports_each_step_once_and_skips_map_iterations() -> None:
    sfn = _FakeSfn(
        ["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"], ["Plan", "ScanHistory", "Scan", "Train", "Gate"]
    )
    steps: list[str] = []
    described = follow_execution(sfn, "arn", timeout=60, on_step=steps.append, poll_seconds=0)
    assert described["status"] == "SUCCEEDED"
    assert steps == ["  step: Plan", "  step: ScanHistory", "  step: Train", "  step: Gate"]


def test_follow_gives_up_waiting_after_the_timeout() -> None:
    sfn = _FakeSfn(["RUNNING"], ["Plan"])
    with pytest.raises(CliError, match="still RUNNING"):
        follow_execution(sfn, "arn", timeout=0, on_step=lambda _: None, poll_seconds=0)


def _manifest(status: str, **extra: Any) -> dict:
    evaluation = {
        "data_window": {"start": "2017-01-01", "end": "2017-08-15", "series": 500},
        "training_end": "2017-07-30",
        "evaluation_window": {"start": "2017-07-31", "end": "2017-08-15", "days": 16},
        "challenger_nwrmsle": 0.55,
        "champion_version": "v1",
        "champion_nwrmsle": 0.52,
        "champion_saw_evaluation_days": 16,
        "best_baseline": {"name": "moving_median_dow", "nwrmsle": 0.58},
        "decision": "reject",
        "reason": "challenger NWRMSLE 0.5500 vs champion 0.5200: -5.77%",
    }
    return {"run_id": "r1", "status": status, "challenger_version": "v2", "evaluation": evaluation, **extra}


def test_outcome_of_a_rejection_says_why_and_how_to_use_the_challenger_anyway() -> None:
    text = describe_outcome(_manifest("rejected"))
    assert "rejected" in text and "-5.77%" in text and "models use v2" in text
    assert "in-sample" in text  # the champion saw the 16 evaluation days


def test_outcome_of_a_promotion_and_of_a_failure() -> None:
    assert "now in service: v2 (replaced v1)" in describe_outcome(
        _manifest("promoted", in_service="v2", replaced="v1")
    )
    assert "error: {'error': 'States.TaskFailed'}" in describe_outcome(
        {"run_id": "r1", "status": "failed", "error": {"error": "States.TaskFailed"}}
    )
    assert "failed before training" in describe_outcome(None)
