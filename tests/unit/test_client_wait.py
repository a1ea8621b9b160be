"""The CLI's waits tell this upload's run from an earlier one by object version, never by comparing clocks."""

from __future__ import annotations

import json

import pytest

from grocery_forecast.cli.client import RunTimeout, wait_for_run

from .fakes import FakeS3


def _manifest(s3: FakeS3, version: str, status: str, updated_epoch: float) -> None:
    doc = {"run_id": "r", "status": status, "updated_epoch": updated_epoch, "input": {"version_id": version}}
    s3.put_object(Bucket="out", Key="runs/r.json", Body=json.dumps(doc))


def test_waits_do_not_compare_the_clients_clock_with_the_lambdas() -> None:
    s3 = FakeS3()
    # The previous upload's manifest, stamped by a Lambda whose clock runs an hour ahead of ours
    _manifest(s3, "v1", "succeeded", updated_epoch=4_000_000_000.0)
    with pytest.raises(RunTimeout):
        wait_for_run(s3, "out", "r", version_id="v2", timeout=0.05, poll=0.01)
    # This upload's manifest counts, whatever its clock says
    _manifest(s3, "v2", "succeeded", updated_epoch=1.0)
    assert wait_for_run(s3, "out", "r", version_id="v2", timeout=1, poll=0.01).input.version_id == "v2"


def test_a_retrying_run_is_not_final() -> None:
    s3 = FakeS3()
    _manifest(s3, "v1", "retrying", updated_epoch=1.0)
    with pytest.raises(RunTimeout, match="last status: retrying"):
        wait_for_run(s3, "out", "r", version_id="v1", timeout=0.05, poll=0.01)
