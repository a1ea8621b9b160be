"""The ETL step on in-memory S3 and DynamoDB: what is written, what is rejected, what is left alone."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunStatus
from grocery_forecast.contract.schema import FileKind
from grocery_forecast.pipeline.etl import EtlConfig, run_etl

from .fakes import FakeDynamo, FakeS3

RAW, PROCESSED, OUTPUT = "raw", "processed", "output"
CONFIG = EtlConfig(PROCESSED, OUTPUT, horizon=16)
HEADER = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
SALES = HEADER + "2017-08-14,1,10,3,False\n2017-08-15,1,10,4,True\n2017-08-15,2,10,1.5,\n"


@pytest.fixture
def s3() -> FakeS3:
    fake = FakeS3(versioned=(RAW,))  # the raw bucket is versioned
    fake.put_object(
        Bucket=PROCESSED,
        Key="reference/stores.csv",
        Body="store_nbr,city,state,type,cluster\n1,Quito,P,D,13\n2,Quito,P,D,13\n",
    )
    fake.put_object(
        Bucket=PROCESSED, Key="reference/items.csv", Body="item_nbr,family,class,perishable\n10,DAIRY,1,1\n"
    )
    return fake


@pytest.fixture
def store() -> DynamoHistoryStore:
    return DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)


def _processed(run: dict) -> tuple[str, str]:
    """The (bucket, key) of a run's cleaned file, as its manifest names it."""
    bucket, key = run["processed"].removeprefix("s3://").split("/", 1)
    return bucket, key


def _upload(s3: FakeS3, store: DynamoHistoryStore, key: str, body: str | bytes) -> dict:
    """The run manifest as the JSON document it is stored as."""
    s3.put_object(Bucket=RAW, Key=key, Body=body)
    return run_etl(s3, store, RAW, key, CONFIG, request_id="req-1").to_dict()


def test_actuals_are_stored_cleaned_and_handed_to_the_forecast(s3, store) -> None:
    run = _upload(s3, store, "uploads/day 1.csv", SALES)
    assert run["status"] == "forecasting" and run["kind"] == "actuals"
    assert (run["rows_in"], run["series"], run["rows_rejected"]) == (3, 2, 0)
    panel = store.read_panel([1, 2], [10, 10], "2017-08-14", "2017-08-15")
    assert panel.sales[panel.index_of([1], [10])[0]].tolist() == [3.0, 4.0]
    assert _processed(run) == (
        PROCESSED,
        runs.processed_key(FileKind.ACTUALS, "uploads/day 1.csv", run["run_id"]),
    )
    processed = s3.objects[_processed(run)]
    assert processed["metadata"]["run-id"] == run["run_id"]
    assert pd.read_csv(pd.io.common.BytesIO(processed["data"]))["onpromotion"].tolist() == [
        False,
        True,
        False,
    ]
    manifest = json.loads(s3.text(OUTPUT, f"runs/{run['run_id']}.json"))
    assert (
        manifest["input"]["key"] == "uploads/day 1.csv" and manifest["steps"]["history_upsert_seconds"] >= 0
    )


def test_a_gzipped_upload_is_processed_as_csv(s3, store) -> None:
    run = _upload(s3, store, "uploads/day.csv.gz", gzip.compress(SALES.encode()))
    assert run["status"] == "forecasting"
    assert _processed(run) in s3.objects and _processed(run)[1].startswith("actuals/uploads/day.")


def test_a_bad_file_gets_a_report_and_writes_nothing_else(s3, store) -> None:
    run = _upload(s3, store, "uploads/bad.csv", SALES + "2017-08-16,1,10,lots,False\n")
    assert run["status"] == "rejected"
    assert run["report"] == f"s3://{OUTPUT}/{runs.rejected_key('uploads/bad.csv', run['run_id'])}"
    report = json.loads(s3.text(OUTPUT, f"rejected/uploads/bad.csv.{run['run_id'].rsplit('-', 1)[-1]}.json"))
    assert report["file"] == "uploads/bad.csv" and report["problems"][0]["line"] == 5
    assert report["problems"][0]["column"] == "unit_sales" and report["history_changed"] is False
    assert store.date_range() is None, "history must be untouched"
    assert not any(b == PROCESSED and k.startswith("actuals/") for b, k in s3.objects)
    assert (RAW, "uploads/bad.csv") in s3.objects, "the raw object stays where it was"


def test_unknown_stores_and_items_are_kept_with_a_warning(s3, store) -> None:
    run = _upload(s3, store, "u.csv", HEADER + "2017-08-15,99,10,1,False\n2017-08-15,1,777,2,False\n")
    assert run["status"] == "forecasting"
    assert any("store_nbr" in w and "99" in w for w in run["warnings"])
    assert any("item_nbr" in w and "777" in w for w in run["warnings"])


def test_a_request_needs_history_and_is_anchored_to_its_end(s3, store) -> None:
    request = "id,date,store_nbr,item_nbr,onpromotion\n1,2017-08-16,1,10,False\n2,2017-08-31,1,10,True\n"
    assert _upload(s3, store, "early.csv", request)["status"] == "rejected"
    _upload(s3, store, "sales.csv", SALES)
    run = _upload(s3, store, "request.csv", request)
    assert run["status"] == "forecasting" and run["request"]["origin"] == "2017-08-15"
    assert _processed(run)[1].startswith("requests/request.")
    assert s3.objects[_processed(run)]["metadata"]["origin"] == "2017-08-15"


def test_a_request_beyond_the_horizon_is_rejected_naming_the_row(s3, store) -> None:
    _upload(s3, store, "sales.csv", SALES)
    run = _upload(
        s3,
        store,
        "far.csv",
        "id,date,store_nbr,item_nbr,onpromotion\n1,2017-08-16,1,10,False\n2,2017-09-01,1,10,False\n",
    )
    assert run["status"] == "rejected"
    report = json.loads(s3.text(OUTPUT, runs.rejected_key("far.csv", run["run_id"])))
    assert report["problems"][0]["line"] == 3 and "2017-08-31" in report["problems"][0]["expected"]


def test_reference_tables_are_validated_and_stored_under_their_name(s3, store) -> None:
    run = _upload(
        s3, store, "reference/items.csv", "item_nbr,family,class,perishable\n10,DAIRY,1,1\n11,BREAD,2,0\n"
    )
    assert run["status"] == "succeeded" and run["kind"] == "reference"
    assert "BREAD" in s3.text(PROCESSED, "reference/items.csv")
    bad = _upload(s3, store, "reference/stores.csv", "store_nbr,city\n1,Quito\n")
    assert bad["status"] == "rejected"


def test_the_manifest_exists_before_the_processed_file_triggers_the_forecast(s3, store) -> None:
    run = _upload(s3, store, "uploads/order.csv", SALES)
    manifest_at = s3.puts.index((OUTPUT, f"runs/{run['run_id']}.json"))
    processed_at = s3.puts.index(_processed(run))
    assert manifest_at < processed_at, "the forecast must find the ETL's manifest, not race it"


def test_a_rejected_run_counts_its_rows_as_rejected(s3, store) -> None:
    run = _upload(s3, store, "uploads/bad2.csv", SALES + "2017-08-16,1,10,lots,False\n")
    assert (run["kind"], run["rows_in"], run["rows_rejected"], run["problem_count"]) == ("actuals", 4, 4, 1)


def test_an_unexpected_fault_marks_the_run_failed_and_propagates_for_a_retry(s3, store) -> None:
    class Broken(DynamoHistoryStore):
        def upsert(self, frame, **kwargs):  # e.g. the table was deleted under us
            raise RuntimeError("table is gone")

    s3.put_object(Bucket=RAW, Key="u.csv", Body=SALES)
    with pytest.raises(RuntimeError, match="table is gone"):
        run_etl(s3, Broken(store._db, "history"), RAW, "u.csv", CONFIG)
    docs = [json.loads(s3.text(OUTPUT, k)) for b, k in s3.objects if b == OUTPUT and k.startswith("runs/")]
    assert [d["status"] for d in docs] == ["failed"]
    assert "table is gone" in docs[0]["errors"][0]
    assert not any(b == PROCESSED and k.startswith("actuals/") for b, k in s3.objects)


# -- issue 13: nothing lost in production ---------------------------------------------------------


def _report(s3: FakeS3, run: dict) -> dict:  # the rejection report a manifest points to
    return json.loads(s3.text(OUTPUT, run["report"].removeprefix(f"s3://{OUTPUT}/")))


def test_a_truncated_gzip_upload_is_rejected_with_a_report_not_failed(s3, store) -> None:
    data = gzip.compress(
        (SALES * 1).encode()
        + b"".join(b"2017-08-%02d,3,%d,1,False\n" % (d, i) for d in range(1, 14) for i in range(1, 3000))
    )
    run = _upload(s3, store, "uploads/cut.csv.gz", data[: len(data) // 2])
    assert run["status"] == "rejected"
    assert "corrupt or cut off" in _report(s3, run)["problems"][0]["message"]
    assert store.date_range() is None, "nothing of the cut file may reach history"


def test_a_corrupt_gzip_upload_is_rejected_with_a_report(s3, store) -> None:
    data = bytearray(gzip.compress(SALES.encode() * 50))
    data[20:40] = b"\xff" * 20
    run = _upload(s3, store, "uploads/corrupt.csv.gz", bytes(data))
    assert run["status"] == "rejected" and "gzip" in run["errors"][0]


def test_a_file_over_the_row_limit_is_rejected_naming_the_limit_and_what_to_do(s3, store) -> None:
    from grocery_forecast.contract.bounds import InputLimits

    config = EtlConfig(PROCESSED, OUTPUT, limits=InputLimits(max_rows=2))
    s3.put_object(Bucket=RAW, Key="uploads/big.csv", Body=SALES)
    run = run_etl(s3, store, RAW, "uploads/big.csv", config).to_dict()
    assert run["status"] == "rejected"
    problem = _report(s3, run)["problems"][0]
    assert "more than 2 rows" in problem["message"] and "split the file" in problem["expected"]
    assert store.date_range() is None


def test_actuals_dated_after_the_day_of_upload_are_rejected(s3, store) -> None:
    run = _upload(s3, store, "uploads/typo.csv", SALES + "2071-08-01,1,10,3,False\n")
    assert run["status"] == "rejected"
    problem = _report(s3, run)["problems"][0]
    assert problem["message"] == "sales dated after the day of upload" and problem["line"] == 5
    assert store.date_range() is None, "a typo must not move the end of history"


def test_actuals_dated_tomorrow_are_accepted_for_time_zones(s3, store) -> None:
    tomorrow = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).date()
    run = _upload(s3, store, "uploads/tz.csv", HEADER + f"{tomorrow},1,10,3,False\n")
    assert run["status"] == "forecasting"


@pytest.mark.parametrize(
    ("key", "processed"),
    [
        ("uploads/SALES.CSV", "actuals/uploads/SALES.{hash}.csv"),
        ("uploads/Week 1.CSV.GZ", "actuals/uploads/Week 1.{hash}.csv"),
        ("uploads/ventas_año 2017.csv", "actuals/uploads/ventas_año 2017.{hash}.csv"),
    ],
)
def test_upper_case_spaced_and_non_ascii_keys_are_processed(s3, store, key, processed) -> None:
    body = gzip.compress(SALES.encode()) if key.lower().endswith(".gz") else SALES
    run = _upload(s3, store, key, body)
    assert run["status"] == "forecasting", run
    expected = processed.format(hash=run["run_id"].rsplit("-", 1)[-1])
    assert (PROCESSED, expected) in s3.objects, "the processed key must end in lower-case .csv"


def test_a_key_at_the_s3_limit_is_processed_under_keys_that_fit() -> None:
    key = "uploads/" + "é" * 500 + ".csv"  # 1012 bytes of UTF-8
    run_id = runs.run_id_for(key, "e1")
    processed, rejected = runs.processed_key(FileKind.ACTUALS, key, run_id), runs.rejected_key(key, run_id)
    assert len(processed.encode()) <= 1024 and processed.endswith(f".{run_id.rsplit('-', 1)[-1]}.csv")
    assert len(rejected.encode()) <= 1024 and rejected.endswith(".json")
    assert processed != runs.processed_key(FileKind.ACTUALS, key.replace("é", "è", 1), run_id), (
        "two long keys must not collide"
    )


def test_a_long_key_upload_runs_end_to_end(s3, store) -> None:
    key = "uploads/" + "x" * 1000 + ".csv"
    run = _upload(s3, store, key, SALES)
    assert run["status"] == "forecasting"
    assert all(len(k.encode()) <= 1024 for _, k in s3.objects)


def test_a_name_that_is_not_csv_gets_a_rejection_report(s3, store) -> None:
    run = _upload(s3, store, "uploads/notes.txt", SALES)
    assert run["status"] == "rejected" and ".csv or .csv.gz" in run["errors"][0]


def test_a_failure_with_retries_left_is_retrying_and_the_last_one_failed(s3, store) -> None:
    class Broken(DynamoHistoryStore):
        def upsert(self, frame, **kwargs):
            raise RuntimeError("throttled")

    config = EtlConfig(PROCESSED, OUTPUT, max_retries=2)
    s3.put_object(Bucket=RAW, Key="u.csv", Body=SALES)
    seen = []
    for _ in range(3):  # Lambda's first attempt and its two retries, with the same event
        with pytest.raises(RuntimeError):
            run_etl(s3, Broken(store._db, "history"), RAW, "u.csv", config, event_id="raw|u.csv|v1|seq1")
        (doc,) = [
            json.loads(s3.text(OUTPUT, k)) for b, k in s3.objects if b == OUTPUT and k.startswith("runs/")
        ]
        seen.append((doc["status"], doc["attempt"]))
    assert seen == [("retrying", 1), ("retrying", 2), ("failed", 3)]
    # A new upload of the same bytes is a new event: attempts start again.
    with pytest.raises(RuntimeError):
        run_etl(s3, Broken(store._db, "history"), RAW, "u.csv", config, event_id="raw|u.csv|v2|seq2")
    (doc,) = [json.loads(s3.text(OUTPUT, k)) for b, k in s3.objects if b == OUTPUT and k.startswith("runs/")]
    assert (doc["status"], doc["attempt"]) == ("retrying", 1)


def test_the_manifest_is_written_when_the_run_starts(s3, store) -> None:
    class Slow(DynamoHistoryStore):
        def upsert(self, frame, **kwargs):
            docs = [
                json.loads(s3.text(OUTPUT, k)) for b, k in s3.objects if b == OUTPUT and k.startswith("runs/")
            ]
            assert [(d["status"], d["attempt"]) for d in docs] == [("started", 1)]
            return super().upsert(frame, **kwargs)

    version = s3.put_object(Bucket=RAW, Key="s.csv", Body=SALES)["VersionId"]
    run = run_etl(s3, Slow(store._db, "history"), RAW, "s.csv", CONFIG, version_id=version)
    assert run.status is RunStatus.FORECASTING and run.input.version_id == version


@pytest.mark.parametrize("processing_order", ["as_uploaded", "reversed"])
def test_two_files_put_to_one_key_are_each_processed_as_uploaded(s3, store, processing_order) -> None:
    # GIVEN two different files put to one key of the versioned raw bucket, one right after the other
    # (the same second: the events' millisecond eventTimes and sequencers order them)
    first = HEADER + "2017-08-14,1,10,3,False\n2017-08-15,1,10,4,False\n"
    second = HEADER + "2017-08-15,1,10,40,False\n2017-08-16,1,10,50,False\n"
    v1 = s3.put_object(Bucket=RAW, Key="uploads/same.csv", Body=first)
    v2 = s3.put_object(Bucket=RAW, Key="uploads/same.csv", Body=second)
    events = {
        1: {"version_id": v1["VersionId"], "event_time": "2017-08-17T10:00:00.100Z", "sequencer": "0A"},
        2: {"version_id": v2["VersionId"], "event_time": "2017-08-17T10:00:00.250Z", "sequencer": "0B"},
    }
    # WHEN each event is processed, the first one only after the second file replaced it at the key,
    # or (a retry, a replay, a slower invocation) the second upload's event before the first's
    order = [1, 2] if processing_order == "as_uploaded" else [2, 1]
    done = {n: run_etl(s3, store, RAW, "uploads/same.csv", CONFIG, **events[n]) for n in order}
    run1, run2 = done[1], done[2]
    assert run1.input.upload_stamp is not None and run2.input.upload_stamp is not None
    assert run1.input.upload_stamp < run2.input.upload_stamp
    # THEN each run read its own version: two runs, two manifests, each with its upload's ETag
    assert run1.run_id == runs.run_id_for("uploads/same.csv", v1["ETag"])
    assert run2.run_id == runs.run_id_for("uploads/same.csv", v2["ETag"])
    for run, put in ((run1, v1), (run2, v2)):
        manifest = json.loads(s3.text(OUTPUT, runs.manifest_key(run.run_id)))
        assert manifest["input"]["version_id"] == put["VersionId"]
        assert manifest["input"]["etag"] == put["ETag"].strip('"')
        assert manifest["status"] == "forecasting" and manifest["date_range"][0] < manifest["date_range"][1]
    assert (run1.date_range, run2.date_range) == (["2017-08-14", "2017-08-15"], ["2017-08-15", "2017-08-16"])
    assert run1.processed != run2.processed, "each run hands its own cleaned file to predict"
    # AND history holds the first file's day it alone has, and the later upload's values where they
    # overlap, whichever was processed last
    panel = store.read_panel([1], [10], "2017-08-14", "2017-08-16")
    assert panel.sales[panel.index_of([1], [10])[0]].tolist() == [3.0, 40.0, 50.0]


def test_an_event_whose_version_is_gone_is_not_read_from_the_newest_object(s3, store) -> None:
    s3.put_object(Bucket=RAW, Key="uploads/same.csv", Body=SALES)
    with pytest.raises(Exception, match="NoSuchVersion"):
        run_etl(s3, store, RAW, "uploads/same.csv", CONFIG, version_id="deleted-version")
    assert store.date_range() is None


def test_csv_and_csv_gz_of_one_name_are_each_forecast_from_their_own_processed_file(s3, store) -> None:
    plain = _upload(s3, store, "uploads/x.csv", SALES)
    gz = _upload(s3, store, "uploads/x.csv.gz", gzip.compress((SALES + "2017-08-16,1,10,5,False\n").encode()))
    assert _processed(plain) != _processed(gz)
    for run in (plain, gz):  # each cleaned file hands over its own run
        assert s3.objects[_processed(run)]["metadata"]["run-id"] == run["run_id"]
