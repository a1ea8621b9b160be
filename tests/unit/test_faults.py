"""Test-only ETL faults: off without a marker, parsed from the key, injected into the first attempts only."""

from __future__ import annotations

import dataclasses

import pytest

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.contract.runs import RunStatus
from grocery_forecast.pipeline import faults
from grocery_forecast.pipeline.etl import EtlConfig, run_etl

from .fakes import FakeDynamo, FakeS3
from .test_etl import CONFIG, RAW, SALES


@pytest.mark.parametrize(
    ("key", "marker", "expected"),
    [
        ("it/chaos-kill-1/a.csv", "chaos", faults.EtlFault("kill", 1)),
        ("it/x/chaos-timeout-2.csv.gz", "chaos", faults.EtlFault("timeout", 2)),
        ("chaos-lostack-1.csv", "chaos", faults.EtlFault("lostack", 1)),
        ("it/chaos-kill-1/a.csv", "", None),  # production: no marker, no fault, whatever the key says
        ("it/chaos-melt-1/a.csv", "chaos", None),
        ("it/other-kill-1/a.csv", "chaos", None),
    ],
)
def test_a_fault_is_asked_for_by_the_key_and_only_with_a_marker(key, marker, expected) -> None:
    assert faults.EtlFault.for_key(key, marker) == expected


def test_the_config_reads_the_marker_and_defaults_to_none() -> None:
    env = {"PROCESSED_BUCKET": "p", "OUTPUT_BUCKET": "o"}
    assert EtlConfig.from_env(env).fault_marker == ""
    assert EtlConfig.from_env({**env, faults.FAULT_ENV: "chaos"}).fault_marker == "chaos"


def test_only_the_first_attempts_are_faulted() -> None:
    fault = faults.EtlFault("kill", 1)
    assert fault.applies(1) and not fault.applies(2)


def test_a_short_invocation_is_simulated_for_kill_and_timeout_only() -> None:
    assert faults.EtlFault("lostack", 1).deadline(123.0) == 123.0
    assert faults.EtlFault("kill", 1).deadline(None) is not None


def test_an_upload_with_a_lost_lease_response_is_stored_once_and_leaves_no_lease() -> None:
    # GIVEN an ETL with faults on and an upload asking for a lost lease-acquire response
    s3, client = FakeS3(versioned=(RAW,)), FakeDynamo()
    store = DynamoHistoryStore(client, "history", max_workers=1, sleep=lambda s: None)
    s3.put_object(Bucket=RAW, Key="chaos-lostack-1.csv", Body=SALES)
    config = dataclasses.replace(CONFIG, fault_marker="chaos")
    # WHEN it runs
    run = run_etl(s3, store, RAW, "chaos-lostack-1.csv", config, request_id="r1")
    # THEN the PutItem was sent twice (the second found its own lease), history is stored, no lease is left
    assert run.status is RunStatus.FORECASTING, run.errors
    assert client.calls["PutItem"] == 2
    assert store.read_panel([1], [10], "2017-08-14", "2017-08-15").sales[0].tolist() == [3.0, 4.0]
    assert store.leases() == []
