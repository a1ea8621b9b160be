"""Issue 13 on the deployed stack: any valid key is processed, failures are retried honestly and replayable.

Each test says GIVEN / WHEN / THEN; resource names come from the Terraform outputs.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from grocery_forecast.cli.client import wait_for_run
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.replay import replay_dead_letters

from .helpers import RUN_TIMEOUT, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

#: Series of this module only (item numbers nothing else uses).
STORE, ITEM = 2, 990_101


def _sales(days: int = 21, item: int = ITEM) -> pd.DataFrame:
    dates = pd.date_range("2017-04-01", periods=days, freq="D")
    return pd.DataFrame(
        {"date": dates, "store_nbr": STORE, "item_nbr": item, "unit_sales": range(days), "onpromotion": False}
    )


@pytest.mark.parametrize(
    ("name", "item"),
    [("SALES.CSV", ITEM), ("week 1 sales.csv", ITEM + 1), ("Week2.CSV.GZ", ITEM + 2)],
)
def test_upper_case_and_spaced_keys_are_processed(stack, s3, unique_prefix, tmp_path, name, item):
    # GIVEN a sales file whose name is upper-case or has spaces (S3 filters are case-sensitive)
    path = write_csv(tmp_path, "sales.csv", _sales(item=item))
    if name.lower().endswith(".gz"):
        import gzip

        gz = tmp_path / "sales.csv.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    # WHEN it is uploaded under that name
    run = upload_and_wait(stack, s3, path, unique_prefix + name)
    # THEN it is stored and forecast like any other
    assert run.status is RunStatus.SUCCEEDED, run
    assert run.processed is not None and run.processed.endswith(".csv")


def test_a_non_ascii_key_is_processed(stack, s3, unique_prefix, tmp_path):
    # GIVEN a file named in Spanish WHEN uploaded THEN it is processed end to end (the ETL's
    # hand-off to predict is percent-encoded: S3 user metadata must be ASCII)
    run = upload_and_wait(
        stack, s3, write_csv(tmp_path, "v.csv", _sales(item=ITEM + 3)), unique_prefix + "ventas_año.csv"
    )
    assert run.status is RunStatus.SUCCEEDED, run
    assert run.input.key == unique_prefix + "ventas_año.csv"


def test_a_long_key_is_processed(stack, s3, unique_prefix, tmp_path):
    # GIVEN a key near S3's 1024-byte limit (the processed and report keys would exceed it if prefixed)
    key = unique_prefix + "x" * (1000 - len(unique_prefix)) + ".csv"
    # WHEN it is uploaded THEN it is processed, under derived keys that fit
    run = upload_and_wait(stack, s3, write_csv(tmp_path, "l.csv", _sales(item=ITEM + 4)), key)
    assert run.status is RunStatus.SUCCEEDED, run
    assert run.processed is not None and len(run.processed.split("/", 3)[3].encode()) <= 1024


def test_a_name_nothing_reads_gets_a_report_so_upload_wait_cannot_hang(stack, s3, unique_prefix, tmp_path):
    # GIVEN a file whose name is not .csv/.csv.gz WHEN uploaded
    run = upload_and_wait(stack, s3, write_csv(tmp_path, "n.csv", _sales()), unique_prefix + "notes.txt")
    # THEN the run ends at once, rejected with a report naming what is read
    assert run.status is RunStatus.REJECTED and ".csv or .csv.gz" in run.errors[0]


def test_a_failing_run_is_retrying_until_the_last_attempt_then_replay_redrives_it(stack, s3):
    # GIVEN a processed object the predict function cannot read (written around the ETL)
    key = f"actuals/it/retry/corrupt-{time.time_ns()}.csv"
    put = s3.put_object(Bucket=stack.processed_bucket_name, Key=key, Body=b"this,is\nnot,sales\n")
    run_id = runs.run_id_for(key, put["ETag"])

    def wait_failed(attempt: int) -> tuple[RunManifest, set[str]]:
        seen, deadline = set(), time.monotonic() + 180
        while time.monotonic() < deadline:
            run = mf.load(s3, stack.output_bucket_name, run_id)
            if run is not None:
                seen.add(f"{run.status} {run.attempt}")
                if run.status is RunStatus.FAILED and run.attempt == attempt:
                    return run, seen
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} not failed at attempt {attempt} within 180 s: saw {sorted(seen)}")

    # WHEN Lambda tries it three times (the local root retries like the aws root)
    run, seen = wait_failed(3)
    # THEN every attempt but the last said "retrying", and the last one "failed" (3 of 3)
    assert run.attempts_allowed == 3 and len(run.errors) == 3, run
    assert "retrying 1" in seen or "retrying 2" in seen, sorted(seen)

    # WHEN the dead-letter queue is replayed (twice: the second finds nothing of ours)
    sqs, lam = stack.client("sqs"), stack.client("lambda")
    functions = {stack.etl_function_name, stack.predict_function_name}
    deadline, ours = time.monotonic() + 60, []
    while not ours and time.monotonic() < deadline:
        report = replay_dead_letters(sqs, lam, stack.dlq_queue_url, functions)
        ours = [m for m in report.replayed if key in m.keys]
    assert len(ours) == 1, "the dead-lettered event must be replayed once"
    # THEN the event runs again with Lambda's retries (attempts 4..6) and is dead-lettered again
    run, _ = wait_failed(6)
    assert run.attempts_allowed == 6
    deadline, cleaned = time.monotonic() + 60, False
    while not cleaned and time.monotonic() < deadline:  # clean up: take it out of the queue again
        msgs = sqs.receive_message(QueueUrl=stack.dlq_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        for msg in msgs.get("Messages", []):
            if key in msg["Body"]:
                sqs.delete_message(QueueUrl=stack.dlq_queue_url, ReceiptHandle=msg["ReceiptHandle"])
                cleaned = True
    assert cleaned, "the replayed event failed again and must be back in the dead-letter queue"


def test_two_files_put_to_one_key_back_to_back_are_each_processed_as_uploaded(
    stack, s3, history, unique_prefix
):
    # GIVEN two different files for one series, overlapping on five days (an export job that
    # overwrites its file, or `upload week1.csv week2.csv` without --wait)
    store, item = 3, 990_201
    dates = pd.date_range("2017-05-01", periods=15, freq="D")
    first = pd.DataFrame({"date": dates[:10], "store_nbr": store, "item_nbr": item, "onpromotion": False})
    first["unit_sales"] = [100.0 + i for i in range(10)]
    second = pd.DataFrame({"date": dates[5:], "store_nbr": store, "item_nbr": item, "onpromotion": False})
    second["unit_sales"] = [200.0 + i for i in range(10)]
    key = unique_prefix + "same.csv"

    # WHEN both are put to the same key of the versioned raw bucket, the second without waiting
    puts = [
        s3.put_object(
            Bucket=stack.raw_bucket_name,
            Key=key,
            Body=frame[["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]]
            .to_csv(index=False, date_format="%Y-%m-%d")
            .encode(),
        )
        for frame in (first, second)
    ]
    assert puts[0]["VersionId"] != puts[1]["VersionId"] and puts[0]["ETag"] != puts[1]["ETag"]

    # THEN each version has its own run, and both succeed (stored, forecast from their own processed file)
    done = [
        wait_for_run(
            s3,
            stack.output_bucket_name,
            runs.run_id_for(key, put["ETag"]),
            version_id=put["VersionId"],
            timeout=RUN_TIMEOUT,
        )
        for put in puts
    ]
    for run, frame in zip(done, (first, second), strict=True):
        assert run.status is RunStatus.SUCCEEDED, run
        assert run.rows_in == len(frame), "each run read its own version, not the newest at the key"
    assert done[0].run_id != done[1].run_id and done[0].processed != done[1].processed

    # AND history holds the first file's days that only it has (before the fix the first file never
    # reached history) and the second file's days that only it has
    panel = history.read_panel([store], [item], dates[0], dates[-1])
    stored = panel.sales[panel.index_of([store], [item])[0]].tolist()
    assert stored[:5] == first["unit_sales"].tolist()[:5]
    assert stored[10:] == second["unit_sales"].tolist()[5:]
    # AND each overlapping day holds the second file's value: it was uploaded later, whichever of
    # the two concurrent ETL invocations merged last (history follows upload order)
    assert done[0].input.upload_stamp < done[1].input.upload_stamp, "S3 finished the second put later"
    assert stored[5:10] == second["unit_sales"].tolist()[:5], stored


def test_two_bad_files_put_to_one_key_each_keep_their_own_report(stack, s3, unique_prefix):
    # GIVEN two different bad files for one key (a broken export, then a differently broken one)
    key = unique_prefix + "broken.csv"
    header = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
    bodies = [
        (header + f"2017-04-01,{STORE},{ITEM},lots,False\n").encode(),
        (header + f"2017-13-45,{STORE},{ITEM},1,False\n").encode(),
    ]
    # WHEN both are put to it back to back
    puts = [s3.put_object(Bucket=stack.raw_bucket_name, Key=key, Body=body) for body in bodies]
    done = [
        wait_for_run(
            s3,
            stack.output_bucket_name,
            runs.run_id_for(key, put["ETag"]),
            version_id=put["VersionId"],
            timeout=RUN_TIMEOUT,
        )
        for put in puts
    ]
    # THEN each run is rejected with its own report, which says what was wrong with that file
    assert [r.status for r in done] == [RunStatus.REJECTED] * 2, done
    assert done[0].report != done[1].report
    reports = []
    for run in done:
        bucket, report_key = str(run.report).removeprefix("s3://").split("/", 1)
        assert report_key == runs.rejected_key(key, run.run_id)
        reports.append(json.loads(s3.get_object(Bucket=bucket, Key=report_key)["Body"].read()))
    assert [r["etag"] for r in reports] == [p["ETag"].strip('"') for p in puts]
    assert "unit_sales" in json.dumps(reports[0]) and "YYYY-MM-DD" in json.dumps(reports[1])
