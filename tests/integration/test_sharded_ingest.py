"""The sharded ingest on the deployed stack: Step Functions Distributed Maps over byte-range shards and
series partitions, run by the ETL function.

The local root deploys 1 MiB shards (ingest_shard_bytes) and 4 series partitions, so a 3.5 MB upload
runs as four shards; every invocation's peak memory and duration is held to the ETL function's memory
size and timeout by the suite's autouse check (conftest.within_aws_lambda_limits).
"""

from __future__ import annotations

import gzip
import json
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.ingest_plan import series_partition
from grocery_forecast.contract.runs import STAMP_TIE_BITS, RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.replay import replay_dead_letters

from .helpers import RUN_TIMEOUT, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

STORES = 10
ITEMS = 20
DAYS = 600
LAST_DAY = pd.Timestamp("2017-08-15")
#: Item numbers no other test uses, so this file's series are its own.
FIRST_ITEM = 9_100_000
SHARD_TIMEOUT = 2 * RUN_TIMEOUT


def _sales(first_item: int, seed: int) -> pd.DataFrame:
    """200 series x 600 days (120,000 rows, about 3.5 MB): four 1 MiB shards."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=LAST_DAY, periods=DAYS, freq="D")
    grid = pd.MultiIndex.from_product(
        [days, np.arange(1, STORES + 1), np.arange(first_item, first_item + ITEMS)],
        names=["date", "store_nbr", "item_nbr"],
    ).to_frame(index=False)
    grid["unit_sales"] = np.round(rng.gamma(2.0, 3.0, len(grid)), 3)
    grid["onpromotion"] = rng.random(len(grid)) < 0.1
    return grid


def _history(history, frame: pd.DataFrame) -> np.ndarray:
    series = frame[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
    panel = history.read_panel(
        series["store_nbr"].to_numpy(), series["item_nbr"].to_numpy(), frame["date"].min(), LAST_DAY
    )
    return panel.sales


def _expected(frame: pd.DataFrame) -> np.ndarray:
    """What the single path stores for the file: its sales, as float32, by series x day."""
    table = frame.pivot_table(index=["store_nbr", "item_nbr"], columns="date", values="unit_sales")
    return table.sort_index().to_numpy(dtype=np.float32)


@pytest.fixture(scope="module")
def uploaded(stack, s3, tmp_path_factory) -> tuple[pd.DataFrame, RunManifest]:
    """The file uploaded once, its shard 1 failing its first attempt (the local root's fault marker)."""
    frame = _sales(FIRST_ITEM, seed=1)
    path = write_csv(tmp_path_factory.mktemp("ingest"), "history.csv", frame)
    assert path.stat().st_size > 3 * 1024 * 1024
    run = upload_and_wait(stack, s3, path, "it/ingest/inject_etl_fault-shard-1.csv", timeout=SHARD_TIMEOUT)
    return frame, run


def test_a_multi_shard_upload_stores_exactly_the_file(uploaded, history, stack) -> None:
    # GIVEN / WHEN a 3.5 MB actuals file over the 1 MiB shard size
    frame, run = uploaded
    # THEN it went through the ingest workflow: four shards, four partitions, all listed
    assert run.status == "succeeded", run.errors
    ingest = run.ingest or {}
    assert ingest["shard_count"] == 4 and len(ingest["shards"]) == 4
    assert [s["status"] for s in ingest["shards"]] == ["succeeded"] * 4
    assert sum(s["rows"] for s in ingest["shards"]) == len(frame) == run.rows_in
    assert [p["merge"]["status"] for p in ingest["partition_runs"]] == ["succeeded"] * 4
    assert sum(p["rows"] for p in ingest["partition_runs"]) == len(frame)
    # AND each partition was checked and merged in sub-buckets (the local root's ingest_bucket_rows,
    # 20,000, against the file's 3.5 MB counted at 18 bytes a row), none over the limit
    assert ingest["buckets"] > 1 and ingest["bucket_rows"] == 20_000
    for p in ingest["partition_runs"]:
        assert len(p["buckets"]) == ingest["buckets"] and sum(p["buckets"]) == p["rows"]
        assert sum(1 for rows in p["buckets"] if rows) > 1 and max(p["buckets"]) <= ingest["bucket_rows"]
    assert run.series == STORES * ITEMS and run.date_range == [str(frame["date"].min().date()), "2017-08-15"]
    # AND history holds exactly the file's rows, as the single path stores them
    np.testing.assert_array_equal(_history(history, frame), _expected(frame))
    # AND its forecast came from the series hand-off: 16 days of every series
    assert run.series_forecast == STORES * ITEMS and run.rows_forecast == STORES * ITEMS * 16
    # AND history records the partition count it is written with (a change while writers run is refused)
    assert history.stored_partitions() == int(stack.outputs["ingest_partitions"]) == ingest["partitions"]


def test_a_failed_shard_is_retried_and_visible_in_the_manifest(uploaded) -> None:
    _, run = uploaded
    shard = (run.ingest or {})["shards"][1]
    assert shard["status"] == "succeeded" and shard["attempts"] == 2
    assert len(shard["errors"]) == 1 and "injected fault" in shard["errors"][0]


def test_the_same_upload_delivered_again_starts_no_second_execution(uploaded, stack, s3) -> None:
    # GIVEN the finished run; WHEN S3 delivers its event again (at least once: the same object
    # version, eventTime and sequencer low bits, so the same upload stamp), to the ETL function itself
    _, run = uploaded
    sfn = stack.client("stepfunctions")
    arn = stack.ingest_state_machine_arn
    executions = sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
    before = mf.load(s3, stack.output_bucket_name, run.run_id)
    assert before is not None and before.status == "succeeded"
    tie = (run.input.upload_stamp or 0) & ((1 << STAMP_TIE_BITS) - 1)
    record = {
        "eventTime": run.input.uploaded_at,
        "s3": {
            "bucket": {"name": run.input.bucket},
            "object": {"key": run.input.key, "versionId": run.input.version_id, "sequencer": f"{tie:016X}"},
        },
    }
    response = stack.client("lambda").invoke(
        FunctionName=stack.etl_function_name, Payload=json.dumps({"Records": [record]}).encode()
    )
    assert "FunctionError" not in response, response["Payload"].read()[:2000]
    # THEN no second workflow execution starts, and the run's manifest is left as it was
    after = sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
    assert len(after) == len(executions)
    again = mf.load(s3, stack.output_bucket_name, run.run_id)
    assert again is not None and again.status == "succeeded"
    assert again.updated_epoch == before.updated_epoch


def test_the_same_series_uploaded_again_gzipped_with_new_values_replace_every_day(
    uploaded, stack, s3, history, tmp_path
) -> None:
    # GIVEN the stored file; WHEN the same series and days come again with other values, as a .csv.gz
    # (split into parts while decompressing)
    frame, _ = uploaded
    again = frame.assign(unit_sales=np.round(frame["unit_sales"] + 1.5, 3))
    plain = write_csv(tmp_path, "again.csv", again)
    gz = tmp_path / "again.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    run = upload_and_wait(stack, s3, gz, "it/ingest/again.csv.gz", timeout=SHARD_TIMEOUT)
    # THEN it is ingested in shards too, every row of the file read (a split that dropped or
    # repeated a part would count other rows) ...
    assert run.status == "succeeded", run.errors
    ingest = run.ingest or {}
    assert ingest["shard_count"] >= 3
    assert run.rows_in == len(again) == sum(s["rows"] for s in ingest["shards"])
    # AND the plan read the gzip trailer's size (a 4-byte ranged GET) before splitting: it is the file's
    assert ingest["gzip_trailer_bytes"] == ingest["plain_bytes"] == plain.stat().st_size
    # AND history holds the new values on every day (the newer upload wins each one)
    np.testing.assert_array_equal(_history(history, again), _expected(again))


def test_a_bad_row_in_shard_3_rejects_the_file_with_its_line_and_leaves_history_alone(
    stack, s3, history, tmp_path
) -> None:
    # GIVEN a file of other series with one bad value in its third MB
    frame = _sales(FIRST_ITEM + 1000, seed=2)
    path = write_csv(tmp_path, "bad.csv", frame)
    lines = path.read_bytes().split(b"\n")
    bad_line = 1 + len(lines) * 5 // 8  # the header is line 1; about 2.2 MB in: shard 3 (index 2)
    fields = lines[bad_line - 1].split(b",")
    fields[3] = b"lots"
    lines[bad_line - 1] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))
    # WHEN it is uploaded
    run = upload_and_wait(stack, s3, path, "it/ingest/bad.csv", timeout=SHARD_TIMEOUT)
    # THEN one report names the file-wide line, and nothing of the file reached history
    assert run.status == "rejected"
    assert (run.ingest or {})["shard_count"] == 4
    bucket, key = (run.report or "").removeprefix("s3://").split("/", 1)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert report["problem_count"] == 1 and report["history_changed"] is False
    assert report["problems"][0]["line"] == bad_line and report["problems"][0]["column"] == "unit_sales"
    assert np.isnan(_history(history, frame)).all()


def test_a_merge_failing_every_attempt_is_dead_lettered_and_replay_completes_it(
    stack, s3, history, tmp_path
) -> None:
    # GIVEN a file of other series whose last partition's merge fails every attempt of the upload's
    # first execution (the local root's fault marker: "-merge-1", over once the upload is redriven)
    # (series of their own on every run: the test needs them absent from history before it)
    first_item = FIRST_ITEM + 10_000 + ITEMS * (uuid.uuid4().int % 100_000)
    frame = _sales(first_item, seed=3)
    path = write_csv(tmp_path, "merge.csv", frame)
    key = f"it/ingest/{first_item}/inject_etl_fault-merge-1.csv"
    assert np.isnan(_history(history, frame)).all()
    partitions = int(stack.outputs["ingest_partitions"])
    series = frame[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
    part = series_partition(series["store_nbr"], series["item_nbr"], partitions)
    expected = _expected(frame)
    # WHEN it is uploaded
    run = upload_and_wait(stack, s3, path, key, timeout=SHARD_TIMEOUT)
    # THEN the run failed after the other partitions merged, and says history was partly changed
    assert run.status is RunStatus.FAILED, run.errors
    ingest = run.ingest or {}
    assert ingest["history_changed"] == "partial" and ingest["dead_letter"] == "queued", ingest
    merged = ingest["partitions_merged"]
    assert merged and partitions - 1 not in merged
    assert "history partly changed" in run.errors[-1] and "grocery-forecast replay" in run.errors[-1]
    stored = _history(history, frame)
    done = np.isin(part, merged)
    np.testing.assert_array_equal(stored[done], expected[done])
    assert np.isnan(stored[part == partitions - 1]).all()

    # WHEN the dead-letter queue is replayed (as `grocery-forecast replay` does)
    sqs, lam = stack.client("sqs"), stack.client("lambda")
    functions = {stack.etl_function_name, stack.predict_function_name}
    deadline, ours = time.monotonic() + 60, []
    while not ours and time.monotonic() < deadline:
        report = replay_dead_letters(sqs, lam, stack.dlq_queue_url, functions)
        ours = [m for m in report.replayed if key in m.keys]
    # THEN the upload was there once, as the ETL's on-failure record naming the failed partition ...
    assert len(ours) == 1, "the failed ingest must be in the dead-letter queue once"
    assert (
        ours[0].function == stack.etl_function_name and f"partition {partitions - 1} (merge)" in ours[0].error
    )
    # ... and a new execution ingests it again: the run succeeds with every row in history once
    deadline, again = time.monotonic() + SHARD_TIMEOUT, None
    while time.monotonic() < deadline:
        again = mf.load(s3, stack.output_bucket_name, run.run_id)
        if again is not None and (again.ingest or {}).get("redrive") == 1 and again.final:
            break
        time.sleep(1)
    assert again is not None and again.status is RunStatus.SUCCEEDED, again and again.errors
    assert again.input.upload_stamp == run.input.upload_stamp
    assert [p["merge"]["status"] for p in (again.ingest or {})["partition_runs"]] == [
        "succeeded"
    ] * partitions
    np.testing.assert_array_equal(_history(history, frame), expected)
    # AND its forecast was made: 16 days of every series
    assert again.series_forecast == STORES * ITEMS and again.rows_forecast == STORES * ITEMS * 16
