"""The run contract: run ids, keys, the hand-off metadata and the manifest's JSON form."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunManifest, RunStatus
from grocery_forecast.contract.schema import FileKind


def test_the_same_bytes_at_the_same_key_are_the_same_run() -> None:
    assert runs.run_id_for("uploads/a.csv", '"abc"') == runs.run_id_for("uploads/a.csv", "abc")
    assert runs.run_id_for("uploads/a.csv", "abc") != runs.run_id_for("uploads/a.csv", "abd")
    assert runs.run_id_for("uploads/a.csv", "abc") != runs.run_id_for("other/a.csv", "abc")


def test_run_ids_are_readable_and_safe_as_keys() -> None:
    run_id = runs.run_id_for("uploads/Store Sales (Aug).csv.gz", "e1")
    assert run_id.startswith("Store-Sales-Aug-") and "/" not in run_id and " " not in run_id


def test_keys_follow_the_layout() -> None:
    run_id = runs.run_id_for("uploads/day.csv.gz", "e1")
    digest = run_id.rsplit("-", 1)[-1]
    assert (
        runs.processed_key(FileKind.ACTUALS, "uploads/day.csv.gz", run_id)
        == f"actuals/uploads/day.{digest}.csv"
    )
    assert (
        runs.processed_key(FileKind.REQUEST, "test.csv", "test-0123456789ab")
        == "requests/test.0123456789ab.csv"
    )
    assert runs.rejected_key("uploads/x.csv", "x-0123456789ab") == "rejected/uploads/x.csv.0123456789ab.json"
    assert runs.manifest_key("r-1") == "runs/r-1.json"
    assert runs.forecast_key("r-1") == "forecasts/r-1/forecast.csv"
    assert runs.model_key("v1", "model.txt") == "models/v1/model.txt"
    assert runs.CURRENT_MODEL_KEY == "models/current.json"


def test_reference_uploads_are_told_by_their_prefix_and_named_by_their_file() -> None:
    assert runs.is_reference_upload("reference/Items.csv.gz")
    assert not runs.is_reference_upload("uploads/reference/items.csv")
    assert runs.reference_table_name("reference/sub/Items.csv.gz") == "items"
    assert runs.reference_key("items") == "reference/items.csv"


def test_a_request_is_forecast_from_the_end_of_history_or_the_day_before_it_starts() -> None:
    first = pd.Timestamp("2017-08-16")
    assert runs.request_origin(first, pd.Timestamp("2017-08-15")) == pd.Timestamp("2017-08-15")
    assert runs.request_origin(first, pd.Timestamp("2017-08-20")) == pd.Timestamp("2017-08-15")
    assert runs.request_origin(first, pd.Timestamp("2017-08-10")) == pd.Timestamp("2017-08-10")
    assert runs.request_origin(first, None) == pd.Timestamp("2017-08-15")


def test_hand_off_metadata_is_ascii_and_round_trips_non_ascii_keys() -> None:
    hand_off = HandOff("ventas-a-1", FileKind.REQUEST, "subidas/ventas_año 100%.csv", "e1", "2017-08-15")
    metadata = hand_off.to_metadata()
    assert all(value.isascii() for value in metadata.values()), metadata
    # S3 returns user metadata names lower-cased; the values come back as they were sent
    returned = {name.title(): value for name, value in metadata.items()}
    assert HandOff.from_object("requests/x.csv", '"e2"', returned) == hand_off


def test_hand_off_metadata_fits_s3s_2_kb_for_the_longest_non_ascii_name() -> None:
    """S3 keys reach 1,024 bytes; percent-encoded, non-ASCII ones triple, past S3's 2 KB of metadata."""
    key = "subidas/" + "ñ" * 506 + ".csv"  # 1,024 bytes of UTF-8, 3,044 once percent-encoded
    assert len(key.encode()) == 1024
    run_id = runs.run_id_for(key, "e1")
    hand_off = HandOff(run_id, FileKind.REQUEST, key, "e1", "2017-08-15")
    metadata = hand_off.to_metadata()
    assert runs.metadata_bytes({**metadata, "content": "series"}) <= 2048
    # The source key is left out (the run's manifest holds it); what predict reads survives.
    back = HandOff.from_object("requests/x.csv", '"e2"', metadata)
    assert (back.run_id, back.kind, back.source_etag, back.origin) == (
        run_id,
        FileKind.REQUEST,
        "e1",
        "2017-08-15",
    )
    assert back.source_key is None  # not the processed object's key: the manifest has the real one
    # A short name keeps its source key.
    assert "source-key" in HandOff(run_id, FileKind.REQUEST, "subidas/año.csv", "e1").to_metadata()


def test_execution_names_are_what_step_functions_accepts_with_logging_on() -> None:
    name = runs.execution_name("ventas.año-2017.08.15-" + "x" * 90 + "-0123456789ab", "f" * 20)
    assert len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name) and name.endswith("-" + "f" * 20)
    assert runs.execution_name("...", "abc") == "abc"
    with pytest.raises(ValueError, match="not a Step Functions execution name"):
        runs.execution_name("run", "x" * 80)


def test_a_processed_object_without_hand_off_falls_back_to_its_key() -> None:
    hand_off = HandOff.from_object("actuals/uploads/a.csv", '"e9"', {})
    assert hand_off.kind is FileKind.ACTUALS and hand_off.origin is None
    assert hand_off.run_id == runs.run_id_for("actuals/uploads/a.csv", "e9")
    assert HandOff.from_object("requests/r.csv", "e9", None).kind is FileKind.REQUEST
    assert hand_off.source_key == "actuals/uploads/a.csv"


def test_final_statuses_are_the_ones_nothing_follows() -> None:
    assert {s for s in RunStatus if s.final} == {RunStatus.SUCCEEDED, RunStatus.REJECTED, RunStatus.FAILED}
    assert {RunStatus.SUCCEEDED, RunStatus.REJECTED, RunStatus.FAILED} == runs.FINAL_STATUSES


def test_the_manifest_keeps_its_json_keys_and_round_trips_unknown_ones() -> None:
    manifest = RunManifest.new("r-1", "raw", "uploads/a.csv", '"etag"', 10, "req-1")
    manifest.kind = "actuals"
    manifest.fail("etl: boom")
    doc = json.loads(json.dumps(manifest.to_dict()))
    assert doc["input"] == {"bucket": "raw", "key": "uploads/a.csv", "etag": "etag", "size_bytes": 10}
    assert doc["status"] == "failed" and doc["errors"] == ["etl: boom"] and doc["request_ids"] == ["req-1"]
    assert "output" not in doc  # fields never set are not written
    doc["written_by_a_newer_version"] = {"x": 1}
    again = RunManifest.from_dict(doc)
    assert again.status is RunStatus.FAILED and again.final
    assert again.to_dict() == doc


def test_an_old_manifest_without_optional_keys_still_reads() -> None:
    old = {
        "run_id": "r",
        "input": {"bucket": "b", "key": "k", "etag": "e", "size_bytes": 1},
        "status": "forecasting",
    }
    manifest = RunManifest.from_dict(old)
    assert manifest.status is RunStatus.FORECASTING and not manifest.final
    assert manifest.steps == {} and manifest.errors == []


@pytest.mark.parametrize("status", ["succeeded", "rejected", "failed"])
def test_status_values_compare_as_their_json_strings(status: str) -> None:
    assert RunStatus(status) == status


def test_processed_keys_end_in_lower_case_csv_and_derived_keys_fit_s3() -> None:
    assert runs.processed_key(FileKind.ACTUALS, "uploads/SALES.CSV.GZ", "SALES-0123456789ab") == (
        "actuals/uploads/SALES.0123456789ab.csv"
    )
    long_key = "uploads/" + "ñ" * 508 + ".CSV"  # 1028 bytes: S3 would refuse the prefixed keys
    for derived, suffix in (
        (runs.processed_key(FileKind.REQUEST, long_key, "n-0123456789ab"), ".0123456789ab.csv"),
        (runs.rejected_key(long_key, "n-0123456789ab"), ".0123456789ab.json"),
    ):
        assert len(derived.encode()) <= 1024 and derived.endswith(suffix)


def test_a_failure_with_retries_left_is_retrying_which_is_not_final() -> None:
    manifest = RunManifest.new("r-1", "raw", "a.csv", "e", 1)
    manifest.retries_left = 1
    manifest.fail("etl: throttled")
    assert manifest.status is RunStatus.RETRYING and not manifest.final
    manifest.retries_left = 0
    manifest.fail("etl: throttled")
    assert manifest.status is RunStatus.FAILED and manifest.final


def test_attempts_and_the_object_version_round_trip() -> None:
    manifest = RunManifest.new("r-1", "raw", "a.csv", "e", 1, version_id="v7")
    manifest.attempts["etl"] = runs.StepAttempt("raw|a.csv|v7|01", 2)
    manifest.attempt, manifest.attempts_allowed, manifest.retries_left = 2, 3, 1
    doc = json.loads(json.dumps(manifest.to_dict()))
    assert doc["input"]["version_id"] == "v7"
    assert doc["attempts"] == {"etl": {"event": "raw|a.csv|v7|01", "number": 2}}
    assert RunManifest.from_dict(doc) == manifest
    assert "attempts" not in RunManifest.new("r-2", "raw", "b.csv", "e", 1).to_dict()


def test_csv_and_csv_gz_of_one_name_get_different_processed_keys() -> None:
    # x.csv and x.csv.gz (or two files put to one key) are two runs: each needs its own cleaned
    # file, or the second overwrites the first before predict reads it and the first never finishes
    plain, gz = runs.run_id_for("uploads/x.csv", "e1"), runs.run_id_for("uploads/x.csv.gz", "e1")
    keys = {
        runs.processed_key(FileKind.ACTUALS, "uploads/x.csv", plain),
        runs.processed_key(FileKind.ACTUALS, "uploads/x.csv.gz", gz),
        runs.processed_key(FileKind.ACTUALS, "uploads/x.csv", runs.run_id_for("uploads/x.csv", "e2")),
    }
    assert len(keys) == 3
    assert all(k.startswith(runs.ACTUALS_PREFIX) and k.endswith(runs.PROCESSED_SUFFIX) for k in keys)
    # the same bytes at the same key stay one run with one processed key (a re-upload changes nothing)
    assert runs.processed_key(FileKind.ACTUALS, "uploads/x.csv", plain) == runs.processed_key(
        FileKind.ACTUALS, "uploads/x.csv", runs.run_id_for("uploads/x.csv", '"e1"')
    )
    # long keys, cut to fit S3's 1024 bytes, keep the run's hash and stay apart
    long_key = "uploads/" + "ñ" * 508 + ".csv"
    cut = {runs.processed_key(FileKind.ACTUALS, long_key, runs.run_id_for(long_key, e)) for e in ("e1", "e2")}
    assert len(cut) == 2 and all(len(k.encode()) <= 1024 for k in cut)


def test_a_plan_of_more_shards_than_a_map_result_holds_is_refused_naming_the_setting() -> None:
    runs.check_shard_count(runs.MAX_SHARDS, "x", "FORECAST_SHARD_ROWS")
    with pytest.raises(ValueError, match=r"10,001 shards.*raise FORECAST_SHARD_ROWS"):
        runs.check_shard_count(runs.MAX_SHARDS + 1, "2,000,000 target rows", "FORECAST_SHARD_ROWS")
