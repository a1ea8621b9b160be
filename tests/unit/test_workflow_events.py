"""A forecast workflow execution that ends without a forecast (failed, timed out, aborted) ends the
run ``failed`` with the reason, once, and never overrides a final run or a newer execution."""

from __future__ import annotations

import json

import pytest

from grocery_forecast.contract.runs import RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.workflow_events import record_execution_end

from .fakes import FakeS3

ARN = "arn:aws:states:us-east-1:000000000000:execution:gf-forecast-shards:big-0123-abc"


def _forecasting(
    s3: FakeS3, execution_arn: str = ARN, status: RunStatus = RunStatus.FORECASTING
) -> RunManifest:
    manifest = RunManifest.new("big-0123456789ab", "processed", "actuals/big.csv", "etag", 10)
    manifest.status = status
    manifest.sharded = {"shard_count": 3, "execution_arn": execution_arn}
    mf.save(s3, "output", manifest)
    return manifest


def _detail(status: str, arn: str = ARN, **extra) -> dict:
    return {
        "executionArn": arn,
        "name": arn.rsplit(":", 1)[-1],
        "status": status,
        "input": json.dumps({"run_id": "big-0123456789ab", "bucket": "processed"}),
        **extra,
    }


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_an_execution_ending_without_a_forecast_fails_the_run_with_the_reason(status: str) -> None:
    s3 = FakeS3()
    _forecasting(s3)
    written = record_execution_end(s3, "output", _detail(status, error="States.Runtime", cause="boom"))
    stored = mf.load(s3, "output", "big-0123456789ab")
    assert written is not None and stored is not None
    assert stored.status is RunStatus.FAILED and stored.finished_at
    assert status in stored.errors[-1] and "big-0123-abc" in stored.errors[-1] and "boom" in stored.errors[-1]
    # delivered again (EventBridge is at least once): nothing more is written
    assert record_execution_end(s3, "output", _detail(status)) is None
    assert len(mf.load(s3, "output", "big-0123456789ab").errors) == 1  # type: ignore[union-attr]


def test_a_run_already_final_or_given_to_a_newer_execution_is_left_alone() -> None:
    s3 = FakeS3()
    _forecasting(s3, status=RunStatus.SUCCEEDED)
    assert record_execution_end(s3, "output", _detail("ABORTED")) is None
    _forecasting(s3, execution_arn=ARN + "-newer")
    assert record_execution_end(s3, "output", _detail("ABORTED")) is None
    assert mf.load(s3, "output", "big-0123456789ab").status is RunStatus.FORECASTING  # type: ignore[union-attr]


def test_a_succeeded_execution_or_one_without_a_run_changes_nothing() -> None:
    s3 = FakeS3()
    _forecasting(s3)
    assert record_execution_end(s3, "output", _detail("SUCCEEDED")) is None
    assert record_execution_end(s3, "output", {**_detail("FAILED"), "input": None}) is None
    assert mf.load(s3, "output", "big-0123456789ab").status is RunStatus.FORECASTING  # type: ignore[union-attr]


def test_an_aborted_sharded_ingest_fails_its_run_naming_the_ingest() -> None:
    s3 = FakeS3()
    ingest_arn = "arn:aws:states:us-east-1:000000000000:execution:gf-ingest-shards:big-0123-def"
    manifest = RunManifest.new("big-0123456789ab", "raw", "uploads/big.csv", "etag", 10)
    manifest.ingest = {"shard_count": 4, "execution_arn": ingest_arn}
    mf.save(s3, "output", manifest)
    assert record_execution_end(s3, "output", _detail("ABORTED", arn=ARN)) is None, "not the run's execution"
    assert record_execution_end(s3, "output", _detail("ABORTED", arn=ingest_arn)) is not None
    stored = mf.load(s3, "output", "big-0123456789ab")
    assert stored is not None and stored.status is RunStatus.FAILED
    assert stored.errors[-1].startswith("etl: sharded ingest workflow execution big-0123-def ended ABORTED")
