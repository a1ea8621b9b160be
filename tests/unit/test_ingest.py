"""The sharded ingest on in-memory S3 and DynamoDB, its workflow driven state by state as Step Functions would.

The deployed workflow is exercised by tests/integration/test_sharded_ingest.py; here every task runs
in-process, so the equality with the single path, the file-wide line numbers and the retries are
checked in seconds on many shard sizes.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws.history import META_KEY, DynamoHistoryStore, PartitionCountMismatch, lease_key
from grocery_forecast.contract import runs
from grocery_forecast.contract.bounds import InputLimits
from grocery_forecast.contract.ingest_plan import series_partition
from grocery_forecast.contract.runs import RunManifest
from grocery_forecast.pipeline import ingest
from grocery_forecast.pipeline.attempts import event_id
from grocery_forecast.pipeline.etl import EtlConfig, run_etl
from grocery_forecast.pipeline.ingest import IngestFault, IngestSettings, TaskContext
from grocery_forecast.pipeline.replay import parse_dead_letter, replay_dead_letters

from .fakes import FakeDynamo, FakeS3, _client_error

RAW, PROCESSED, OUTPUT = "raw", "processed", "output"
HEADER = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"


class FakeSfn:
    """Step Functions as the ETL sees it: start an execution (a name is used once, as on AWS), describe it."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.arns: list[str] = []
        self.status = "RUNNING"

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name
        arn = f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"
        if arn in self.arns:
            raise _client_error("ExecutionAlreadyExists", "StartExecution")
        self.started.append(json.loads(input))
        self.arns.append(arn)
        return {"executionArn": arn}

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        if executionArn not in self.arns:
            raise _client_error("ExecutionDoesNotExist", "DescribeExecution")
        return {"status": self.status}


def _sales(days: int = 6, stores: int = 3, items: int = 7, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    rows = [
        f"2017-08-{d:02d},{s},{100 + i},{rng.integers(-1, 9)}.{rng.integers(0, 9)},{'True' if rng.random() < 0.3 else ''}"
        for d in range(1, days + 1)
        for s in range(1, stores + 1)
        for i in range(items)
    ]
    return HEADER + "\n".join(rows) + "\n"


def _store() -> DynamoHistoryStore:
    return DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)


def _config(shard_bytes: int, partitions: int = 4, bucket_rows: int = 10**7) -> EtlConfig:
    return EtlConfig(
        PROCESSED,
        OUTPUT,
        horizon=16,
        ingest=IngestSettings(
            shard_bytes,
            partitions,
            "arn:aws:states:us-east-1:000000000000:stateMachine:ingest",
            bucket_rows,
        ),
        fault_marker="fault",
    )


class FakeQueue:
    """The dead-letter queue (SQS): send, receive (hiding what it hands out), delete."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self.hidden: set[str] = set()

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        assert QueueUrl == QUEUE
        handle = f"m{len(self.messages) + len(self.hidden)}"
        self.messages[handle] = MessageBody
        return {"MessageId": handle}

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **_: Any) -> dict:
        ready = [h for h in self.messages if h not in self.hidden][:MaxNumberOfMessages]
        self.hidden.update(ready)
        return {"Messages": [{"Body": self.messages[h], "ReceiptHandle": h, "MessageId": h} for h in ready]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        del self.messages[ReceiptHandle]


QUEUE = "https://sqs.us-east-1.amazonaws.com/000000000000/dlq"
ETL_ARN = "arn:aws:lambda:us-east-1:000000000000:function:etl"


def _drive(
    s3: FakeS3,
    store: DynamoHistoryStore,
    sfn: FakeSfn,
    faults: int = 0,
    execution: int = -1,
    sqs: FakeQueue | None = None,
) -> dict[str, Any]:
    """Run the workflow of the last started execution (or number ``execution``), retrying a failed
    task as the state machine's Retry does (``faults`` bounds the retries), a task failing every
    attempt going to the fail task as the Catch does. Returns the final state's name. The tasks
    that write the run's outcome get ``$$.Execution.Id``, as the definition passes it."""
    doc = {**sfn.started[execution], "execution": sfn.arns[execution]}
    ctx = TaskContext(s3, store, None, "req", "fault", None, sqs, QUEUE if sqs else "", ETL_ARN)

    def task(name: str, retries: int = 2, **extra: Any) -> dict[str, Any]:
        for attempt in range(retries + 1):
            try:
                return ingest.run_task({"task": name, **doc, **extra, "attempt": attempt}, ctx)
            except IngestFault:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    shards = json.loads(s3.objects[(PROCESSED, doc["shard_list_key"])]["data"])
    partitions = json.loads(s3.objects[(PROCESSED, doc["partition_list_key"])]["data"])

    def fail(exc: Exception) -> dict[str, Any]:
        error = {"Error": "IngestFault", "Cause": str(exc)}
        return {"state": "Failed", **ingest.run_task({"task": "fail", **doc, "error": error}, ctx)}

    try:
        for item in shards:
            task("validate_shard", index=item["index"])
    except IngestFault as exc:
        return fail(exc)
    for item in partitions:
        task("check_partition", partition=item["partition"])
    if not task("verdict")["accepted"]:
        return {"state": "Rejected"}
    failed = None
    for item in partitions:  # a Distributed Map: one item failing does not stop the others here
        try:
            task("merge_partition", partition=item["partition"])
        except IngestFault as exc:
            failed = exc
    if failed is not None:
        return fail(failed)
    task("finish")
    return {"state": "Finished"}


def _upload(
    s3: FakeS3, store: DynamoHistoryStore, key: str, body: bytes, config: EtlConfig, sfn: Any
) -> dict:
    s3.put_object(Bucket=RAW, Key=key, Body=body)
    return run_etl(s3, store, RAW, key, config, request_id="req-1", sfn=sfn).to_dict()


def _history(store: DynamoHistoryStore, frame: pd.DataFrame) -> pd.DataFrame:
    series = frame[["store_nbr", "item_nbr"]].drop_duplicates()
    panel = store.read_panel(
        series["store_nbr"].to_numpy(), series["item_nbr"].to_numpy(), "2017-08-01", "2017-08-31"
    )
    return pd.DataFrame(panel.sales).fillna(-999)


@pytest.mark.parametrize(("shard_bytes", "bucket_rows"), [(97, 10**7), (400, 10**7), (1500, 10**7), (400, 5)])
@pytest.mark.parametrize("gz", [False, True])
def test_a_sharded_upload_stores_exactly_what_the_single_path_stores(
    shard_bytes: int, bucket_rows: int, gz: bool
) -> None:
    text = _sales()
    body = gzip.compress(text.encode()) if gz else text.encode()
    key = "uploads/big.csv.gz" if gz else "uploads/big.csv"

    single_s3, single_store = FakeS3(versioned=(RAW,)), _store()
    single = _upload(single_s3, single_store, key, body, _config(0), FakeSfn())
    assert single["status"] == "forecasting" and "ingest" not in single

    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, key, body, _config(shard_bytes, bucket_rows=bucket_rows), sfn)
    assert planned["status"] == "started" and planned["ingest"]["shard_count"] > 1
    assert (planned["ingest"]["buckets"] > 1) == (bucket_rows == 5)
    assert _drive(s3, store, sfn)["state"] == "Finished"

    run = json.loads(s3.objects[(OUTPUT, f"runs/{planned['run_id']}.json")]["data"])
    assert run["status"] == "forecasting"
    assert (run["rows_in"], run["series"], run["date_range"]) == (
        single["rows_in"],
        single["series"],
        single["date_range"],
    )
    frame = pd.read_csv(pd.io.common.StringIO(text))
    pd.testing.assert_frame_equal(_history(store, frame), _history(single_store, frame))
    assert store.date_range() == single_store.date_range()
    # every shard and partition listed, with its attempts and peak memory
    assert len(run["ingest"]["shards"]) == run["ingest"]["shard_count"]
    assert sum(s["rows"] for s in run["ingest"]["shards"]) == run["rows_in"]
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in run["ingest"]["shards"])
    assert sum(p["rows"] for p in run["ingest"]["partition_runs"]) == run["rows_in"]
    assert run["peak_memory_mb_etl"] > 0
    # the hand-off: one row per series on the file's last day, which is all the forecast reads
    hand_off = pd.read_csv(
        pd.io.common.BytesIO(s3.objects[(PROCESSED, run["processed"].split("/", 3)[3])]["data"])
    )
    assert len(hand_off) == run["series"] and set(hand_off["date"]) == {run["date_range"][1]}


def test_a_store_that_ignores_range_on_versioned_gets_gives_the_same_history() -> None:
    # MiniStack 1.5.33 answers a ranged GET by VersionId with the whole object (no Content-Range)
    text = _sales()
    frame = pd.read_csv(pd.io.common.StringIO(text))
    results = []
    for ranges in (True, False):
        s3, store, sfn = FakeS3(versioned=(RAW,), ranges_by_version=ranges), _store(), FakeSfn()
        planned = _upload(s3, store, "uploads/big.csv", text.encode(), _config(500), sfn)
        assert planned["ingest"]["shard_count"] > 3
        assert _drive(s3, store, sfn)["state"] == "Finished"
        results.append(_history(store, frame))
    pd.testing.assert_frame_equal(results[0], results[1])


def test_a_bad_row_in_a_later_shard_rejects_the_file_with_its_file_wide_line() -> None:
    lines = _sales().splitlines(keepends=True)
    bad_line = 100  # file line 100 (the header is line 1)
    lines[bad_line - 1] = "2017-08-05,1,100,lots,False\n"
    body = "".join(lines).encode()
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/bad.csv", body, _config(600), sfn)
    assert planned["ingest"]["shard_count"] >= 4
    assert _drive(s3, store, sfn)["state"] == "Rejected"
    run = json.loads(s3.objects[(OUTPUT, f"runs/{planned['run_id']}.json")]["data"])
    assert run["status"] == "rejected"
    report = json.loads(s3.objects[(OUTPUT, run["report"].split("/", 3)[3])]["data"])
    assert report["problems"][0]["line"] == bad_line and report["problems"][0]["column"] == "unit_sales"
    assert report["history_changed"] is False
    assert store.date_range() is None, "nothing written to history"


def test_a_duplicate_day_across_shards_is_rejected_naming_both_lines() -> None:
    text = _sales()
    first = text.splitlines()[5]
    body = (text + first + "\n").encode()
    last_line = body.decode().count("\n")
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/dup.csv", body, _config(300), sfn)
    assert _drive(s3, store, sfn)["state"] == "Rejected"
    run = json.loads(s3.objects[(OUTPUT, f"runs/{sfn.started[-1]['run_id']}.json")]["data"])
    report = json.loads(s3.objects[(OUTPUT, run["report"].split("/", 3)[3])]["data"])
    assert report["problems"][0]["line"] == last_line
    assert "first seen on line 6" in report["problems"][0]["expected"]
    assert store.date_range() is None


def test_a_failed_shard_is_retried_and_its_attempts_listed() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/fault-shard-1.csv", _sales().encode(), _config(500), sfn)
    assert _drive(s3, store, sfn)["state"] == "Finished"
    run = json.loads(s3.objects[(OUTPUT, f"runs/{planned['run_id']}.json")]["data"])
    shard = run["ingest"]["shards"][1]
    assert shard["status"] == "succeeded" and shard["attempts"] == 2
    assert shard["errors"] and "injected fault" in shard["errors"][0]


def test_a_shard_failing_every_attempt_fails_the_run_naming_it() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/fault-shard-9.csv", _sales().encode(), _config(500), sfn)
    assert _drive(s3, store, sfn)["state"] == "Failed"
    run = json.loads(s3.objects[(OUTPUT, f"runs/{planned['run_id']}.json")]["data"])
    assert run["status"] == "failed" and "shard 1: attempt 3" in run["errors"][-1]
    assert store.date_range() is None


def test_a_re_upload_of_the_same_bytes_changes_nothing() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    text = _sales()
    frame = pd.read_csv(pd.io.common.StringIO(text))
    _upload(s3, store, "uploads/again.csv", text.encode(), _config(400), sfn)
    _drive(s3, store, sfn)
    before = _history(store, frame)
    sfn.status = "SUCCEEDED"
    _upload(s3, store, "uploads/again.csv", text.encode(), _config(400), sfn)
    assert len(sfn.started) == 2, "a new upload (a newer stamp) is ingested again"
    assert sfn.started[0]["base"] != sfn.started[1]["base"]
    _drive(s3, store, sfn)
    pd.testing.assert_frame_equal(_history(store, frame), before)


def test_a_request_over_the_shard_size_stays_on_the_single_path() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/sales.csv", _sales().encode(), _config(0), sfn)
    request = "id,date,store_nbr,item_nbr,onpromotion\n" + "".join(
        f"{i},2017-08-07,1,{100 + i % 7},False\n" for i in range(7)
    )
    run = _upload(s3, store, "uploads/request.csv", request.encode(), _config(50), sfn)
    assert run["status"] == "forecasting" and run["kind"] == "request" and not sfn.started


def test_the_single_path_merges_partition_by_partition_with_a_lease_each(monkeypatch) -> None:
    s3, store = FakeS3(versioned=(RAW,)), _store()
    partitions: list[int] = []
    upsert = store.upsert

    def recording(frame: pd.DataFrame, **kwargs: Any) -> Any:
        partitions.append(kwargs["partition"])
        return upsert(frame, **kwargs)

    monkeypatch.setattr(store, "upsert", recording)
    run = _upload(s3, store, "uploads/small.csv", _sales().encode(), _config(10**9, partitions=4), FakeSfn())
    assert run["status"] == "forecasting" and run["rows_in"] == 6 * 3 * 7
    assert sorted(partitions) == [0, 1, 2, 3]


def _run(s3: FakeS3, run_id: str) -> dict[str, Any]:
    return json.loads(s3.objects[(OUTPUT, f"runs/{run_id}.json")]["data"])


def test_a_redelivered_event_starts_no_second_execution_and_leaves_the_manifest() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/twice.csv", _sales().encode(), _config(400), sfn)
    # S3 delivers the same event again (same object, same stamp): while the workflow runs ...
    again = run_etl(s3, store, RAW, "uploads/twice.csv", _config(400), request_id="req-2", sfn=sfn)
    assert len(sfn.started) == 1
    assert again.ingest is not None and again.ingest["execution_arn"] == sfn.arns[0]
    assert _run(s3, planned["run_id"])["ingest"]["execution_arn"] == sfn.arns[0]
    # ... and after it has finished: the run stays finished
    assert _drive(s3, store, sfn)["state"] == "Finished"
    sfn.status = "SUCCEEDED"
    run_etl(s3, store, RAW, "uploads/twice.csv", _config(400), request_id="req-3", sfn=sfn)
    assert len(sfn.started) == 1
    assert _run(s3, planned["run_id"])["status"] == "forecasting"


def test_a_delivery_that_lost_the_race_finds_the_execution_by_its_name() -> None:
    # Two deliveries at once: the second saved its fresh manifest (no ingest) after the first started.
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/race.csv", _sales().encode(), _config(400), sfn)
    doc = _run(s3, planned["run_id"])
    doc.pop("ingest")
    s3.put_object(Bucket=OUTPUT, Key=f"runs/{planned['run_id']}.json", Body=json.dumps(doc))
    run_etl(s3, store, RAW, "uploads/race.csv", _config(400), request_id="req-2", sfn=sfn)
    assert len(sfn.started) == 1
    assert _run(s3, planned["run_id"])["ingest"]["execution_arn"] == sfn.arns[0]


def test_the_execution_name_is_per_upload_and_within_step_functions_rules() -> None:
    run_id = "a" * 120 + ".x y-0123456789ab"
    names = {ingest.execution_name(run_id, stamp) for stamp in (1, 2)}
    assert len(names) == 2 and ingest.execution_name(run_id, 1) in names
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", n) for n in names)


def test_a_stale_execution_cannot_change_the_runs_outcome() -> None:
    # The same bytes uploaded twice to one key: one run, two executions (two stamps, two bases).
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    text = _sales()
    for n in range(2):  # two uploads: two object versions (two stamps even within one millisecond)
        version = s3.put_object(Bucket=RAW, Key="uploads/same.csv", Body=text.encode())["VersionId"]
        planned = run_etl(
            s3, store, RAW, "uploads/same.csv", _config(400), request_id=f"r{n}", version_id=version, sfn=sfn
        ).to_dict()
    assert len(sfn.started) == 2 and sfn.started[0]["base"] != sfn.started[1]["base"]
    assert _drive(s3, store, sfn, execution=1)["state"] == "Finished"
    assert _run(s3, planned["run_id"])["status"] == "forecasting"
    puts = len(s3.puts)
    first = {**sfn.started[0], "execution": sfn.arns[0]}
    ctx = TaskContext(s3, store, None, "req", "", None)
    # the older execution fails late, or reaches its verdict and finish: none of it is written
    ingest.run_task({"task": "fail", **first, "error": {"Error": "States.Timeout", "Cause": "late"}}, ctx)
    assert ingest.run_task({"task": "verdict", **first}, ctx)["accepted"] is False
    assert ingest.run_task({"task": "finish", **first}, ctx)["status"] == "stale"
    run = _run(s3, planned["run_id"])
    assert run["status"] == "forecasting" and run["ingest"]["execution_arn"] == sfn.arns[1]
    assert len(s3.puts) == puts, "a stale execution writes neither the manifest nor a hand-off"


def test_a_late_failure_of_the_current_execution_does_not_reopen_a_final_run() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    lines = _sales().splitlines(keepends=True)
    lines[50] = "2017-08-05,1,100,lots,False\n"
    planned = _upload(s3, store, "uploads/bad2.csv", "".join(lines).encode(), _config(600), sfn)
    assert _drive(s3, store, sfn)["state"] == "Rejected"
    doc = {**sfn.started[0], "execution": sfn.arns[0]}
    ingest.run_task({"task": "fail", **doc, "error": {"Error": "X"}}, TaskContext(s3, store))
    assert _run(s3, planned["run_id"])["status"] == "rejected"


def _limited(shard_bytes: int, arn: bool = True) -> EtlConfig:
    """The single path's row bound at 50 rows (a _sales() file holds 126), the shard threshold above the file."""
    return EtlConfig(
        PROCESSED,
        OUTPUT,
        horizon=16,
        limits=InputLimits(max_rows=50),
        ingest=IngestSettings(
            shard_bytes, 4, "arn:aws:states:us-east-1:000000000000:stateMachine:ingest" if arn else ""
        ),
    )


@pytest.mark.parametrize("gz", [False, True])
def test_actuals_past_the_single_paths_bounds_but_under_the_shard_size_are_sharded(gz: bool) -> None:
    text = _sales()
    body = gzip.compress(text.encode()) if gz else text.encode()
    key = "uploads/dense.csv.gz" if gz else "uploads/dense.csv"
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    shard_bytes = len(text) + 1  # larger than the file even decompressed: should_shard says no
    assert not ingest.should_shard(key, len(body), _limited(shard_bytes).ingest)
    planned = _upload(s3, store, key, body, _limited(shard_bytes), sfn)
    assert planned["status"] == "started" and len(sfn.started) == 1, planned.get("errors")
    assert _drive(s3, store, sfn)["state"] == "Finished"
    run = _run(s3, planned["run_id"])
    assert run["status"] == "forecasting" and run["rows_in"] == 126


def test_past_the_single_paths_bounds_without_a_workflow_is_still_rejected() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    run = _upload(s3, store, "uploads/dense.csv", _sales().encode(), _limited(10**9, arn=False), sfn)
    assert run["status"] == "rejected" and "more than 50 rows" in run["errors"][0] and not sfn.started


def test_past_the_sharded_size_bound_is_still_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_SHARDED_BYTES", 1000)
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    run = _upload(s3, store, "uploads/dense.csv", _sales().encode(), _limited(10**9), sfn)
    assert run["status"] == "rejected" and "larger than 1,000 bytes" in run["errors"][0]
    assert not sfn.started and store.date_range() is None


# -- a partition's check and merge in sub-buckets ------------------------------------------------


def _parts(s3: FakeS3, base: str) -> dict[tuple[int, int], pd.DataFrame]:
    """Every part the shards wrote, by (partition, sub-bucket), the shards' rows concatenated."""
    found: dict[tuple[int, int], list[pd.DataFrame]] = {}
    for bucket, key in s3.objects:
        hit = re.fullmatch(re.escape(base) + r"parts/p-(\d+)/b-(\d+)/s-\d+\.npz", key)
        if bucket == PROCESSED and hit:
            found.setdefault((int(hit[1]), int(hit[2])), []).append(ingest._get_rows(s3, bucket, key))
    return {k: pd.concat(v, ignore_index=True) for k, v in found.items()}


def test_a_big_file_is_checked_and_merged_in_sub_buckets_each_series_in_one() -> None:
    text = _sales(days=2, stores=20, items=50)  # 2,000 rows, 1,000 series
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    leases: list[int] = []
    lock = store.writer_lock

    def recording(*args: Any, **kwargs: Any) -> Any:
        leases.append(kwargs["partition"])
        return lock(*args, **kwargs)

    store.writer_lock = recording  # type: ignore[method-assign]
    planned = _upload(s3, store, "uploads/big.csv", text.encode(), _config(8000, 2, bucket_rows=200), sfn)
    buckets = planned["ingest"]["buckets"]
    # 2,000 rows, 200 a sub-bucket, 2 partitions: the plan's bound (bytes / 18 rows) asks for more
    assert buckets >= 6, buckets
    assert _drive(s3, store, sfn)["state"] == "Finished"
    parts = _parts(s3, sfn.started[-1]["base"])
    assert len({b for _, b in parts}) > 1
    # every sub-bucket within its limit, every series in exactly one (partition, sub-bucket)
    assert max(len(f) for f in parts.values()) <= 200
    owner: dict[tuple[int, int], tuple[int, int]] = {}
    for where, frame in parts.items():
        for series in frame[["store_nbr", "item_nbr"]].drop_duplicates().itertuples(index=False):
            assert owner.setdefault(tuple(series), where) == where, (
                f"{series} in {owner[tuple(series)]} and {where}"
            )
    assert len(owner) == 1000
    run = _run(s3, planned["run_id"])
    assert run["rows_in"] == 2000 and run["series"] == 1000
    # the merge of a partition takes its lease once for all its sub-buckets
    assert sorted(leases) == [0, 1]
    frame = pd.read_csv(pd.io.common.StringIO(text))
    single_store = _store()
    _upload(FakeS3(versioned=(RAW,)), single_store, "uploads/big.csv", text.encode(), _config(0), FakeSfn())
    pd.testing.assert_frame_equal(_history(store, frame), _history(single_store, frame))


def test_a_duplicate_in_two_shards_of_one_sub_bucket_is_found_naming_both_lines() -> None:
    text = _sales(days=2, stores=20, items=50)
    lines = text.splitlines(keepends=True)
    copied = 3  # file line 3, copied to the end: another shard
    body = "".join([*lines, lines[copied - 1]]).encode()
    last_line = len(lines) + 1
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/dup.csv", body, _config(8000, 2, bucket_rows=200), sfn)
    assert planned["ingest"]["buckets"] > 1 and planned["ingest"]["shard_count"] > 2
    assert _drive(s3, store, sfn)["state"] == "Rejected"
    run = _run(s3, planned["run_id"])
    report = json.loads(s3.objects[(OUTPUT, run["report"].split("/", 3)[3])]["data"])
    assert report["problem_count"] == 1
    assert report["problems"][0]["line"] == last_line
    assert f"first seen on line {copied}" in report["problems"][0]["expected"]
    assert store.date_range() is None


def test_duplicates_in_several_sub_buckets_are_all_counted_and_listed_in_line_order() -> None:
    lines = _sales(days=2, stores=20, items=50).splitlines(keepends=True)
    copies = [2, 50, 300, 700]
    body = "".join([*lines, *(lines[c - 1] for c in reversed(copies))]).encode()
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(s3, store, "uploads/dups.csv", body, _config(8000, 2, bucket_rows=200), sfn)
    assert _drive(s3, store, sfn)["state"] == "Rejected"
    report = json.loads(s3.objects[(OUTPUT, _run(s3, planned["run_id"])["report"].split("/", 3)[3])]["data"])
    assert report["problem_count"] == 4
    assert [p["line"] for p in report["problems"]] == list(range(len(lines) + 1, len(lines) + 5))
    firsts = [int(re.search(r"line (\d+)", p["expected"])[1]) for p in report["problems"]]
    assert firsts == list(reversed(copies))


def _dense(days: int, stores: int, items: int) -> str:
    """Every store-item on every day from 2017-01-01 (``_sales`` stays within one month)."""
    dates = pd.date_range("2017-01-01", periods=days).strftime("%Y-%m-%d")
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates, stores * items),
            "store_nbr": np.tile(np.repeat(np.arange(1, stores + 1), items), days),
            "item_nbr": np.tile(np.arange(100, 100 + items), stores * days),
            "unit_sales": 1.5,
            "onpromotion": "False",
        }
    )
    return frame.to_csv(index=False)


def _check_peak(days: int, bucket_rows: int) -> tuple[int, int, int]:
    """Upload ``days`` days of 2,000 series through the shards and measure the check task of
    partition 0 with tracemalloc: (rows in the partition, its sub-buckets, peak bytes)."""
    import tracemalloc

    text = _dense(days, 20, 100)
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    planned = _upload(
        s3, store, "uploads/m.csv", text.encode(), _config(1 << 20, 2, bucket_rows=bucket_rows), sfn
    )
    assert planned["status"] == "started", planned
    doc = sfn.started[-1]
    ctx = TaskContext(s3, store, None, "req")
    for item in json.loads(s3.objects[(PROCESSED, doc["shard_list_key"])]["data"]):
        ingest.run_task({"task": "validate_shard", **doc, "index": item["index"]}, ctx)
    before = set(s3.objects)
    tracemalloc.start()
    try:
        ingest.run_task({"task": "check_partition", **doc, "partition": 0}, ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The in-memory S3 keeps what the task uploaded (on AWS it leaves the process): not the task's.
    peak -= sum(len(s3.objects[k]["data"]) for k in set(s3.objects) - before)
    status = json.loads(s3.objects[(PROCESSED, f"{doc['base']}status/check-00000.json")]["data"])
    assert status["status"] == "succeeded" and not status["problem_count"]
    return status["rows"], len(status["buckets"]), peak


def test_the_check_tasks_memory_stays_flat_as_the_file_grows_at_a_fixed_row_limit() -> None:
    small_rows, small_buckets, small_peak = _check_peak(30, 30_000)
    big_rows, big_buckets, big_peak = _check_peak(240, 30_000)
    assert big_rows >= 7 * small_rows and big_buckets > small_buckets
    # eight times the rows, about the same peak: one sub-bucket at a time
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)
    # without sub-buckets (a limit above the file) the peak grows with the rows: the test can fail
    _, one_bucket, whole_peak = _check_peak(240, 10**7)
    assert one_bucket == 1 and whole_peak > 3 * big_peak, (whole_peak, big_peak)
    print(
        f"check peak: {small_rows:,} rows {small_peak:,} B; {big_rows:,} rows {big_peak:,} B; unsplit {whole_peak:,} B"
    )


# -- a .csv.gz the planning invocation could not split before its timeout -------------------------


@pytest.mark.parametrize("ranges_by_version", [True, False])
def test_a_gzip_too_large_to_split_in_time_is_refused_from_its_trailer(
    monkeypatch: pytest.MonkeyPatch, ranges_by_version: bool
) -> None:
    import time

    text = _sales()
    body = gzip.compress(text.encode())
    # 10 s left: 8 s for the split; at 100 bytes a second, 800 bytes, and the file is 3.8 KB plain
    monkeypatch.setattr(ingest, "GZIP_SPLIT_BYTES_PER_SECOND", 100)
    s3 = FakeS3(versioned=(RAW,), ranges_by_version=ranges_by_version)
    store, sfn = _store(), FakeSfn()
    s3.put_object(Bucket=RAW, Key="uploads/big.csv.gz", Body=body)
    run = run_etl(
        s3, store, RAW, "uploads/big.csv.gz", _config(400), request_id="r", sfn=sfn, deadline=time.time() + 10
    ).to_dict()
    assert run["status"] == "rejected" and not sfn.started
    assert f"decompresses to about {len(text) / 1e9:.2f} GB" in run["errors"][0]
    assert "upload the plain .csv" in run["errors"][0] and "etl_timeout_seconds" in run["errors"][0]
    assert not any("/split/" in k for _, k in s3.objects), "refused before splitting anything"
    # with the time it needs, the same file is split and sharded
    monkeypatch.setattr(ingest, "GZIP_SPLIT_BYTES_PER_SECOND", 25_000_000)
    s3.put_object(Bucket=RAW, Key="uploads/big2.csv.gz", Body=body)
    run = run_etl(
        s3,
        store,
        RAW,
        "uploads/big2.csv.gz",
        _config(400),
        request_id="r",
        sfn=sfn,
        deadline=time.time() + 10,
    ).to_dict()
    assert run["status"] == "started" and run["ingest"]["plain_bytes"] == len(text)
    assert run["ingest"]["gzip_trailer_bytes"] == len(text)


def test_a_split_that_reaches_its_deadline_stops_with_a_rejection() -> None:
    # a trailer can under-state the size (several gzip members, or over 4 GiB past the compressed size):
    # the split checks the clock itself
    text = _sales()
    s3 = FakeS3()
    with pytest.raises(ingest.CsvContractError, match=r"had reached .* and not its end"):
        ingest.split_gzip(
            s3, io.BytesIO(gzip.compress(text.encode())), PROCESSED, "ingest/x/", "big.csv.gz", 300, 0.0
        )
    assert not any("/split/" in k for _, k in s3.objects)


def _handle(s3: FakeS3, store: DynamoHistoryStore, sfn: FakeSfn, event: dict[str, Any]) -> RunManifest:
    """The ETL handler's part for an S3 event (lambdas/etl/handler.py): each record, and the redrive number."""
    (record,) = event["Records"]
    obj = record["s3"]["object"]
    return run_etl(
        s3,
        store,
        record["s3"]["bucket"]["name"],
        unquote_plus(obj["key"]),
        _config(400),
        request_id="req-replay",
        version_id=obj.get("versionId"),
        event_id=event_id(record),
        event_time=record.get("eventTime"),
        sequencer=obj.get("sequencer"),
        sfn=sfn,
        s3_event=record,
        redrive=int(event.get(ingest.REDRIVE_FIELD, 0)),
    )


class _Invoker:
    """Lambda's asynchronous Invoke as replay uses it: the ETL handler runs the event."""

    def __init__(self, s3: FakeS3, store: DynamoHistoryStore, sfn: FakeSfn) -> None:
        self.s3, self.store, self.sfn = s3, store, sfn
        self.events: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict:
        assert FunctionName == "etl" and InvocationType == "Event"
        self.events.append(json.loads(Payload))
        _handle(self.s3, self.store, self.sfn, self.events[-1])
        return {"StatusCode": 202}


def test_a_merge_failing_every_attempt_leaves_partial_history_dead_lettered_and_replay_completes_it() -> None:
    # GIVEN an upload whose last partition's merge fails every attempt of its first execution
    text = _sales()
    frame = pd.read_csv(pd.io.common.StringIO(text))
    s3, store, sfn, sqs = FakeS3(versioned=(RAW,)), _store(), FakeSfn(), FakeQueue()
    key = "uploads/fault-merge-1.csv"
    version = s3.put_object(Bucket=RAW, Key=key, Body=text.encode())["VersionId"]
    record = {
        "eventTime": "2017-08-16T10:00:00.123Z",
        "s3": {"bucket": {"name": RAW}, "object": {"key": key, "versionId": version, "sequencer": "00AB"}},
    }
    planned = _handle(s3, store, sfn, {"Records": [record]})
    # WHEN the workflow runs
    assert _drive(s3, store, sfn, sqs=sqs)["state"] == "Failed"
    # THEN the run failed saying history was partly changed, naming the partitions merged ...
    run = _run(s3, planned.run_id)
    assert run["status"] == "failed" and "history partly changed" in run["errors"][-1]
    assert run["ingest"]["history_changed"] == "partial"
    assert run["ingest"]["partitions_merged"] == [0, 1, 2] and run["ingest"]["dead_letter"] == "queued"
    assert run["ingest"]["partition_runs"][3]["merge"]["status"] == "failed"
    parts = series_partition(frame["store_nbr"], frame["item_nbr"], 4)
    stored = _history(store, frame).to_numpy()[:, :6]  # the file's days: 1-6 August
    series = frame[["store_nbr", "item_nbr"]].drop_duplicates()
    in_p3 = series_partition(series["store_nbr"], series["item_nbr"], 4) == 3
    assert (parts == 3).any() and (stored[in_p3] == -999).all() and (stored[~in_p3] != -999).all()
    # ... and the upload is in the dead-letter queue as Lambda's on-failure record of the ETL
    (body,) = sqs.messages.values()
    letter = parse_dead_letter({"Body": body, "ReceiptHandle": "h"})
    assert letter is not None and letter.function == "etl" and letter.keys == (key,)
    assert letter.event["Records"] == [record] and letter.event[ingest.REDRIVE_FIELD] == 1
    assert "partition 3 (merge)" in letter.error

    # WHEN the dead-letter queue is replayed (the fault is over after the first execution)
    invoker = _Invoker(s3, store, sfn)
    report = replay_dead_letters(sqs, invoker, QUEUE, {"etl"})
    # THEN a new execution (a new name) ingests the same upload again, with its own stamp ...
    assert len(report.replayed) == 1 and not sqs.messages
    assert len(sfn.started) == 2 and sfn.arns[0] != sfn.arns[1]
    assert sfn.started[1]["base"] == sfn.started[0]["base"].rstrip("/") + "-r1/"
    assert _drive(s3, store, sfn, sqs=sqs)["state"] == "Finished"
    run = _run(s3, planned.run_id)
    assert run["status"] == "forecasting" and run["ingest"]["redrive"] == 1
    assert run["input"]["upload_stamp"] == planned.input.upload_stamp
    # ... and history holds every row once, as the single path stores the file
    single_s3, single_store = FakeS3(versioned=(RAW,)), _store()
    _upload(single_s3, single_store, key, text.encode(), _config(0), FakeSfn())
    pd.testing.assert_frame_equal(_history(store, frame), _history(single_store, frame))
    assert not sqs.messages

    # WHEN the same redrive is delivered again, while its execution runs and after the run completed
    sfn.status = "RUNNING"
    _handle(s3, store, sfn, invoker.events[0])
    sfn.status = "SUCCEEDED"
    _handle(s3, store, sfn, invoker.events[0])
    # THEN no third execution starts and the run is left as it is
    assert len(sfn.started) == 2 and _run(s3, planned.run_id)["status"] == "forecasting"


def test_a_shard_failing_every_attempt_is_dead_lettered_with_history_unchanged() -> None:
    s3, store, sfn, sqs = FakeS3(versioned=(RAW,)), _store(), FakeSfn(), FakeQueue()
    planned = _upload(s3, store, "uploads/fault-shard-9.csv", _sales().encode(), _config(500), sfn)
    assert _drive(s3, store, sfn, sqs=sqs)["state"] == "Failed"
    run = _run(s3, planned["run_id"])
    assert run["ingest"]["history_changed"] is False and run["ingest"]["partitions_merged"] == []
    assert "history" not in run["errors"][-1] and "grocery-forecast replay" in run["errors"][-1]
    (body,) = sqs.messages.values()
    letter = parse_dead_letter({"Body": body, "ReceiptHandle": "h"})
    assert letter is not None and letter.keys == ("uploads/fault-shard-9.csv",)
    # the event rebuilt from the manifest (no S3 event: the library called directly) has the upload's stamp
    (record,) = letter.event["Records"]
    again = runs.upload_stamp(record["eventTime"], record["s3"]["object"]["sequencer"])
    assert again == planned["input"]["upload_stamp"]
    assert store.date_range() is None


def _status(s3: FakeS3, base: str, phase: str, n: int) -> dict[str, Any]:
    return json.loads(s3.objects[(PROCESSED, f"{base}status/{phase}-{n:05d}.json")]["data"])


def test_a_stale_attempt_finishing_late_keeps_the_newer_attempts_status() -> None:
    # GIVEN shard 1 of an upload failing its first attempt, whose invocation Step Functions gave up
    # on while it still ran: the retry (attempt 2) runs and succeeds first
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/fault-shard-1.csv", _sales().encode(), _config(500), sfn)
    doc = {**sfn.started[0], "task": "validate_shard", "index": 1}
    ctx = TaskContext(s3, store, None, "req", "fault", None)
    ingest.run_task({**doc, "attempt": 1}, ctx)
    assert _status(s3, doc["base"], "shard", 1)["status"] == "succeeded"
    # WHEN the first attempt finishes late, failing
    with pytest.raises(IngestFault):
        ingest.run_task({**doc, "attempt": 0}, ctx)
    # THEN the newer attempt's status stays
    status = _status(s3, doc["base"], "shard", 1)
    assert status["status"] == "succeeded" and status["attempts"] == 2 and not status["errors"]


class _RacingS3(FakeS3):
    """S3 where another writer stores a newer attempt's status between our read and our write."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.race: tuple[str, bytes] | None = None

    def put_object(self, Bucket: str, Key: str, Body: Any, **kwargs: Any) -> dict:
        if self.race is not None and Key == self.race[0] and "IfMatch" in kwargs:
            key, newer = self.race
            self.race = None
            super().put_object(Bucket=Bucket, Key=key, Body=newer)
        return super().put_object(Bucket=Bucket, Key=Key, Body=Body, **kwargs)


def test_a_newer_status_written_between_the_read_and_the_write_is_kept() -> None:
    s3, store, sfn = _RacingS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/race.csv", _sales().encode(), _config(500), sfn)
    doc = {**sfn.started[0], "task": "validate_shard", "index": 0}
    ctx = TaskContext(s3, store, None, "req", "", None)
    ingest.run_task({**doc, "attempt": 0}, ctx)  # a first status is stored
    key = f"{doc['base']}status/shard-00000.json"
    s3.race = (key, json.dumps({"n": 0, "attempts": 3, "status": "succeeded", "errors": []}).encode())
    # WHEN attempt 2 writes its status while attempt 3 writes its own
    ingest.run_task({**doc, "attempt": 1}, ctx)
    # THEN the conditional write lost the race and, on reading again, kept attempt 3's
    assert _status(s3, doc["base"], "shard", 0)["attempts"] == 3


def _hold_lease(store: DynamoHistoryStore, partition: int, seconds: float = 60.0) -> None:
    """A writer of another run holding ``writer-<partition>`` (as a merge in progress does)."""
    store.client.put_item(
        TableName=store.table,
        Item={
            **lease_key(partition),
            "owner": {"S": "other-run/p"},
            "expires": {"N": f"{time.time() + seconds:.3f}"},
        },
    )


def test_the_partition_count_is_recorded_and_a_change_while_nothing_runs_is_allowed() -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/a.csv", _sales().encode(), _config(10**9, partitions=4), sfn)
    assert store.stored_partitions() == 4
    _hold_lease(store, 9, seconds=-1)  # a lease left by a killed writer, expired: no obstacle
    run = _upload(s3, store, "uploads/b.csv", _sales(seed=1).encode(), _config(10**9, partitions=16), sfn)
    assert run["status"] == "forecasting"
    meta = store.client.get_item(TableName="history", Key=META_KEY)["Item"]
    assert meta["partitions"] == {"N": "16"} and meta["partitions_before"] == {"N": "4"}
    assert "partitions_changed_at" in meta and store.date_range() is not None


@pytest.mark.parametrize("shard_bytes", [10**9, 400])  # the single path, and the sharded plan
def test_a_partition_count_change_while_another_counts_writer_holds_a_lease_is_refused(
    shard_bytes: int,
) -> None:
    s3, store, sfn = FakeS3(versioned=(RAW,)), _store(), FakeSfn()
    _upload(s3, store, "uploads/a.csv", _sales().encode(), _config(10**9, partitions=4), sfn)
    before = _history(store, pd.read_csv(pd.io.common.StringIO(_sales(seed=1))))
    _hold_lease(store, 2)  # a run with 4 partitions is merging
    with pytest.raises(PartitionCountMismatch) as raised:
        _upload(s3, store, "uploads/b.csv", _sales(seed=1).encode(), _config(shard_bytes, partitions=8), sfn)
    message = str(raised.value)
    assert "ingest_partitions is 8" in message and "written with 4" in message and "writer-0002" in message
    # nothing planned or written, the count unchanged; the run says why and that it is retried
    assert not sfn.started and store.stored_partitions() == 4
    pd.testing.assert_frame_equal(_history(store, pd.read_csv(pd.io.common.StringIO(_sales(seed=1)))), before)
    run = _run(s3, runs.run_id_for("uploads/b.csv", s3.objects[(RAW, "uploads/b.csv")]["etag"]))
    assert run["status"] == "failed" and "ingest_partitions is 8" in run["errors"][-1]


def test_a_sharded_run_planned_with_the_old_count_merges_nothing_after_the_count_changed() -> None:
    # GIVEN a sharded upload planned with 4 partitions
    s3, store, sfn, sqs = FakeS3(versioned=(RAW,)), _store(), FakeSfn(), FakeQueue()
    text = _sales()
    planned = _upload(s3, store, "uploads/old.csv", text.encode(), _config(400, partitions=4), sfn)
    # WHEN ingest_partitions becomes 8 and a small upload goes through (no lease held: allowed)
    _upload(
        s3, store, "uploads/small.csv", f"{HEADER}2017-08-01,9,999,1.5,\n".encode(), _config(10**9, 8), sfn
    )
    assert store.stored_partitions() == 8
    # THEN the planned run's merges refuse before writing (two leases could cover one series) ...
    doc = {**sfn.started[0], "execution": sfn.arns[0]}
    ctx = TaskContext(s3, store, None, "req", "", None, sqs, QUEUE, ETL_ARN)
    for item in json.loads(s3.objects[(PROCESSED, doc["shard_list_key"])]["data"]):
        ingest.run_task({**doc, "task": "validate_shard", "index": item["index"]}, ctx)
    for p in range(4):
        ingest.run_task({**doc, "task": "check_partition", "partition": p}, ctx)
    assert ingest.run_task({**doc, "task": "verdict"}, ctx)["accepted"]
    with pytest.raises(
        PartitionCountMismatch, match="written with 8 series partitions now, this writer with 4"
    ):
        ingest.run_task({**doc, "task": "merge_partition", "partition": 0}, ctx)
    frame = pd.read_csv(pd.io.common.StringIO(text))
    assert (_history(store, frame).to_numpy()[:, :6] == -999).all()
    # ... and the run fails dead-lettered; its redrive plans again with the count in force
    ingest.run_task({**doc, "task": "fail", "error": {"Error": "PartitionCountMismatch"}}, ctx)
    failed = _run(s3, planned["run_id"])["ingest"]
    assert failed["partitions_merged"] == [] and failed["history_changed"] == "partial"  # a merge ran
    (body,) = sqs.messages.values()
    letter = parse_dead_letter({"Body": body, "ReceiptHandle": "h"})
    assert letter is not None
    run_etl(
        s3,
        store,
        RAW,
        "uploads/old.csv",
        _config(400, partitions=8),
        event_time=letter.event["Records"][0]["eventTime"],
        sequencer=letter.event["Records"][0]["s3"]["object"]["sequencer"],
        sfn=sfn,
        s3_event=letter.event["Records"][0],
        redrive=letter.event[ingest.REDRIVE_FIELD],
    )
    assert len(sfn.started) == 2 and _drive(s3, store, sfn)["state"] == "Finished"
    assert (_history(store, frame).to_numpy()[:, :6] != -999).all()


def _failed_then_redriven(
    finish_redrive: bool,
) -> tuple[FakeS3, DynamoHistoryStore, FakeSfn, FakeQueue, dict[str, Any], str]:
    """An upload whose merge fails every attempt, dead-lettered and replayed (redrive 1)."""
    s3, store, sfn, sqs = FakeS3(versioned=(RAW,)), _store(), FakeSfn(), FakeQueue()
    key = "uploads/fault-merge-1.csv"
    version = s3.put_object(Bucket=RAW, Key=key, Body=_sales().encode())["VersionId"]
    record = {
        "eventTime": "2017-08-16T10:00:00.123Z",
        "s3": {"bucket": {"name": RAW}, "object": {"key": key, "versionId": version, "sequencer": "00AB"}},
    }
    planned = _handle(s3, store, sfn, {"Records": [record]})
    assert _drive(s3, store, sfn, sqs=sqs)["state"] == "Failed"
    replay_dead_letters(sqs, _Invoker(s3, store, sfn), QUEUE, {"etl"})
    if finish_redrive:
        assert _drive(s3, store, sfn, sqs=sqs)["state"] == "Finished"
    return s3, store, sfn, sqs, record, planned.run_id


def test_the_original_event_arriving_while_its_redrive_runs_leaves_the_run_to_the_redrive() -> None:
    s3, store, sfn, sqs, record, run_id = _failed_then_redriven(finish_redrive=False)
    redrive_arn = sfn.arns[1]
    sfn.status = "RUNNING"
    _handle(s3, store, sfn, {"Records": [record]})  # S3 delivers the original event once more
    assert _run(s3, run_id)["ingest"]["execution_arn"] == redrive_arn and len(sfn.started) == 2
    _drive(s3, store, sfn, sqs=sqs, execution=1)
    assert _run(s3, run_id)["status"] == "forecasting"


def test_the_original_event_arriving_after_its_redrive_succeeded_changes_nothing() -> None:
    s3, store, sfn, _, record, run_id = _failed_then_redriven(finish_redrive=True)
    before = _run(s3, run_id)
    sfn.status = "FAILED"
    _handle(s3, store, sfn, {"Records": [record]})
    after = _run(s3, run_id)
    assert after["status"] == "forecasting" and after["ingest"] == before["ingest"] and len(sfn.started) == 2


def test_merges_killed_before_writing_their_status_still_say_history_may_have_changed() -> None:
    # GIVEN an accepted file whose every merge Lambda killed (a timeout or out-of-memory ends the
    # task before its status is written, so no merge status exists)
    s3, store, sfn, sqs = FakeS3(versioned=(RAW,)), _store(), FakeSfn(), FakeQueue()
    planned = _upload(s3, store, "uploads/killed.csv", _sales().encode(), _config(500), sfn)
    doc = {**sfn.started[-1], "execution": sfn.arns[-1]}
    ctx = TaskContext(s3, store, None, "req", "fault", None, sqs, QUEUE, ETL_ARN)
    shards = json.loads(s3.objects[(PROCESSED, doc["shard_list_key"])]["data"])
    partitions = json.loads(s3.objects[(PROCESSED, doc["partition_list_key"])]["data"])
    for item in shards:
        ingest.run_task({"task": "validate_shard", **doc, "index": item["index"], "attempt": 0}, ctx)
    for item in partitions:
        ingest.run_task({"task": "check_partition", **doc, "partition": item["partition"], "attempt": 0}, ctx)
    assert ingest.run_task({"task": "verdict", **doc, "attempt": 0}, ctx)["accepted"]
    # WHEN the workflow's Catch runs the fail task
    error = {"Error": "Lambda.Unknown", "Cause": "Task timed out"}
    ingest.run_task({"task": "fail", **doc, "error": error}, ctx)
    # THEN the manifest does not claim that nothing reached history
    run = _run(s3, planned["run_id"])
    assert run["ingest"]["history_changed"] == "partial" and run["ingest"]["partitions_merged"] == []
    assert "history partly changed" in run["errors"][-1]
