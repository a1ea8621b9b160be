"""``status`` flags runs that will never finish by themselves."""

from __future__ import annotations

from grocery_forecast.cli.status import STALLED_AFTER_SECONDS, _status
from grocery_forecast.contract.runs import RunManifest

NOW = 1_800_000_000.0


def _run(status: str, updated_epoch: float | None = None, **fields: int) -> RunManifest:
    doc = {"run_id": "r", "input": {"bucket": "raw", "key": "k", "etag": "e"}, "status": status, **fields}
    return RunManifest.from_dict(
        {**doc, **({"updated_epoch": updated_epoch} if updated_epoch is not None else {})}
    )


def test_a_run_in_progress_is_reported_as_such_until_no_retry_could_still_finish_it() -> None:
    recent = _run("forecasting", NOW - 60)
    old = _run("forecasting", NOW - STALLED_AFTER_SECONDS - 1)
    assert _status(recent, NOW) == "forecasting"
    assert _status(old, NOW) == "stalled"


def test_finished_runs_keep_their_status_however_old() -> None:
    for status in ("succeeded", "rejected", "failed"):
        assert _status(_run(status, 0), NOW) == status
    assert _status(_run("started"), NOW) == "started"  # no timestamp: nothing to judge by


def test_failed_is_not_shown_final_while_lambda_will_retry() -> None:
    retrying = _run("retrying", NOW - 5, attempt=1, attempts_allowed=3)
    last = _run("failed", NOW - 5, attempt=3, attempts_allowed=3)
    assert _status(retrying, NOW) == "retrying 1/3"
    assert _status(last, NOW) == "failed 3/3"
    assert _status(_run("succeeded", attempt=1, attempts_allowed=3), NOW) == "succeeded"
