"""``status`` flags runs that will never finish by themselves."""

from __future__ import annotations

from grocery_forecast.cli.status import STALLED_AFTER_SECONDS, _status

NOW = 1_800_000_000.0


def test_a_run_in_progress_is_reported_as_such_until_no_retry_could_still_finish_it() -> None:
    recent = {"status": "forecasting", "updated_epoch": NOW - 60}
    old = {"status": "forecasting", "updated_epoch": NOW - STALLED_AFTER_SECONDS - 1}
    assert _status(recent, NOW) == "forecasting"
    assert _status(old, NOW) == "stalled"


def test_finished_runs_keep_their_status_however_old() -> None:
    for status in ("succeeded", "rejected", "failed"):
        assert _status({"status": status, "updated_epoch": 0}, NOW) == status
    assert _status({"status": "started"}, NOW) == "started"  # no timestamp: nothing to judge by


def test_failed_is_not_shown_final_while_lambda_will_retry() -> None:
    retrying = {"status": "retrying", "attempt": 1, "attempts_allowed": 3, "updated_epoch": NOW - 5}
    last = {"status": "failed", "attempt": 3, "attempts_allowed": 3, "updated_epoch": NOW - 5}
    assert _status(retrying, NOW) == "retrying 1/3"
    assert _status(last, NOW) == "failed 3/3"
    assert _status({"status": "succeeded", "attempt": 1, "attempts_allowed": 3}, NOW) == "succeeded"
