"""Bad input and faults against the deployed stack: every file gets a correct result or a clear report.

Ends (in the terminal summary) with one line:
``bad inputs: N tried, N rejected with a report, 0 rows lost; faults: M survived``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.cli.client import upload_file, wait_for_run
from grocery_forecast.contract import runs

from .conftest import ROOT, SUMMARY_FILE
from .helpers import read_output_csv, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

HEADER = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
#: Series of this suite only (item numbers the sample data does not use), so nothing else moves them.
STORE, ITEMS = 1, [990_001, 990_002, 990_003]
DAYS = pd.date_range("2017-03-01", periods=28, freq="D")


def _history_frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = pd.DataFrame(
        [(d, STORE, i) for d in DAYS for i in ITEMS], columns=["date", "store_nbr", "item_nbr"]
    )
    rows["unit_sales"] = rng.integers(0, 20, len(rows)).astype(float)
    rows["onpromotion"] = rng.random(len(rows)) < 0.2
    return rows


def _snapshot(history) -> np.ndarray:
    return history.read_panel([STORE] * len(ITEMS), ITEMS, DAYS[0], DAYS[-1]).sales.copy()


@pytest.fixture(scope="module")
def baseline(stack, s3, history, tmp_path_factory) -> np.ndarray:
    """The suite's series, stored once; every rejected file below must leave them exactly so."""
    path = write_csv(tmp_path_factory.mktemp("faults"), "history.csv", _history_frame())
    run = upload_and_wait(stack, s3, path, "it/faults/history.csv")
    assert run.status == "succeeded", run
    return _snapshot(history)


def _good_rows() -> str:
    return "".join(f"{d.date()},{STORE},{ITEMS[0]},{5 + k},False\n" for k, d in enumerate(DAYS[:3]))


def _cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


BAD_INPUTS: dict[str, tuple[bytes, str]] = {
    # name: (file bytes, text the report must contain)
    "empty": (b"", "empty"),
    "header_only": (HEADER.encode(), "no data rows"),
    "missing_column": (b"date,store_nbr,item_nbr,unit_sales\n2017-03-01,1,990001,3\n", "onpromotion"),
    "renamed_column": (
        b"date,store,item_nbr,unit_sales,onpromotion\n2017-03-01,1,990001,3,False\n",
        "store_nbr",
    ),
    "semicolons": (HEADER.replace(",", ";").encode() + b"2017-03-01;1;990001;3;False\n", "semicolons"),
    "latin1": (HEADER.encode() + "2017-03-01,1,990001,3,Sí\n".encode("latin-1"), "UTF-8"),
    "png_renamed": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "PNG"),
    "bad_dates": (
        (HEADER + _good_rows() + f"2017-13-45,{STORE},{ITEMS[0]},4,False\n").encode(),
        "YYYY-MM-DD",
    ),
    "text_sales": (
        (HEADER + _good_rows() + f"2017-03-05,{STORE},{ITEMS[0]},lots,False\n").encode(),
        "unit_sales",
    ),
    "nan_sales": ((HEADER + _good_rows() + f"2017-03-05,{STORE},{ITEMS[0]},NaN,False\n").encode(), "finite"),
    "duplicates": (
        (HEADER + _good_rows() + f"{DAYS[0].date()},{STORE},{ITEMS[0]},9,True\n").encode(),
        "duplicate",
    ),
    "far_request": (
        f"id,date,store_nbr,item_nbr,onpromotion\n1,2031-01-01,{STORE},{ITEMS[0]},False\n".encode(),
        "horizon",
    ),
    # Issue 13: an interrupted copy of a .csv.gz, and a typo'd year in actuals.
    "truncated_gzip": (_cut_in_half(gzip.compress((HEADER + _good_rows()).encode())), "cut off"),
    "future_dated": (
        (HEADER + _good_rows() + f"2071-08-01,{STORE},{ITEMS[0]},4,False\n").encode(),
        "after the day of upload",
    ),
}

_tally = {"tried": 0, "reported": 0, "faults": 0}


def _summary_line() -> str:
    return (
        f"bad inputs: {_tally['tried']} tried, {_tally['reported']} rejected with a report, "
        f"{_tally['rows_lost']} rows lost; faults: {_tally['faults']} survived"
    )


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_a_bad_file_is_rejected_with_a_report_and_history_unchanged(
    name, stack, s3, history, baseline, tmp_path
):
    data, expected_text = BAD_INPUTS[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    key = f"it/faults/bad/{name}.csv"
    _tally["tried"] += 1

    run = upload_and_wait(stack, s3, path, key)

    assert run.status == "rejected", run
    report_key = runs.rejected_key(key, run.run_id)
    assert run.report == f"s3://{stack.output_bucket_name}/{report_key}"
    report = json.loads(s3.get_object(Bucket=stack.output_bucket_name, Key=report_key)["Body"].read())
    assert report["key"] == key and report["problems"], report
    assert expected_text.lower() in json.dumps(report).lower(), report["message"]
    assert run.output is None
    np.testing.assert_array_equal(_snapshot(history), baseline)
    s3.head_object(Bucket=stack.raw_bucket_name, Key=key)  # the upload itself is kept
    _tally["reported"] += 1


def test_accepted_variants_bom_gzip_unknown_ids(stack, s3, history, baseline, tmp_path):
    # GIVEN the same rows with a UTF-8 BOM, gzipped, and with a store and an item no reference table knows
    frame = _history_frame()
    plain = HEADER + "".join(
        f"{r.date.date()},{r.store_nbr},{r.item_nbr},{r.unit_sales},{r.onpromotion}\n"
        for r in frame.itertuples()
    )
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + plain.encode())
    (tmp_path / "zipped.csv.gz").write_bytes(gzip.compress(plain.encode()))
    (tmp_path / "unknown.csv").write_text(HEADER + "2017-03-01,999,990001,1,False\n")
    # WHEN each is uploaded, THEN each succeeds and history is unchanged (the same values again)
    for name in ("bom.csv", "zipped.csv.gz"):
        run = upload_and_wait(stack, s3, tmp_path / name, f"it/faults/ok/{name}")
        assert run.status == "succeeded", run
    np.testing.assert_array_equal(_snapshot(history), baseline)
    run = upload_and_wait(stack, s3, tmp_path / "unknown.csv", "it/faults/ok/unknown.csv")
    assert run.status == "succeeded"
    assert any("999" in w for w in run.warnings), run.warnings


def test_twenty_files_at_once_are_all_processed_without_lost_updates(stack, s3, history, tmp_path):
    # GIVEN 20 files, one day each, for the same series (so their merges contend for the same items)
    items = [990_101, 990_102, 990_103, 990_104]
    days = pd.date_range("2017-04-01", periods=20, freq="D")
    frames = []
    for k, day in enumerate(days):
        frame = pd.DataFrame(
            {
                "date": day,
                "store_nbr": STORE,
                "item_nbr": items,
                "unit_sales": [float(k * 10 + j) for j in range(len(items))],
                "onpromotion": False,
            }
        )
        frames.append(frame)
        write_csv(tmp_path, f"day{k:02d}.csv", frame)

    # WHEN they are uploaded concurrently
    with ThreadPoolExecutor(max_workers=20) as pool:
        uploads = list(
            pool.map(
                lambda k: upload_file(
                    s3,
                    stack.raw_bucket_name,
                    tmp_path / f"day{k:02d}.csv",
                    key=f"it/faults/burst/{time.time_ns()}-day{k:02d}.csv",
                ),
                range(20),
            )
        )
    done = [
        wait_for_run(
            s3, stack.output_bucket_name, u.run_id, timeout=900, since=u.started, version_id=u.version_id
        )
        for u in uploads
    ]

    # THEN every run succeeded and history holds all 20 days of every series
    assert [r.status for r in done] == ["succeeded"] * 20, [r.errors for r in done]
    panel = history.read_panel([STORE] * len(items), items, days[0], days[-1])
    expected = np.array([[k * 10 + j for k in range(20)] for j in range(len(items))], dtype=np.float32)
    np.testing.assert_array_equal(panel.sales[panel.index_of([STORE] * len(items), items)], expected)
    _tally["faults"] += 1


def test_a_failing_invocation_lands_in_the_dead_letter_queue(stack, s3):
    # GIVEN a processed object the predict function cannot read (written around the ETL)
    sqs = stack.client("sqs")
    key = f"actuals/it/faults/corrupt-{time.time_ns()}.csv"
    # WHEN it arrives, the predict Lambda fails; async invocation sends the event to the DLQ
    s3.put_object(Bucket=stack.processed_bucket_name, Key=key, Body=b"this,is\nnot,sales\n")
    deadline = time.monotonic() + 180
    found = None
    while found is None and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=stack.dlq_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        for msg in resp.get("Messages", []):
            if key in msg["Body"]:
                found = msg
            sqs.delete_message(QueueUrl=stack.dlq_queue_url, ReceiptHandle=msg["ReceiptHandle"])
    # THEN the failed event is in the DLQ, with the function's error, for a person to replay
    assert found is not None, f"no DLQ message for {key} within 180s"
    body = json.loads(found["Body"])
    assert key in json.dumps(body.get("requestPayload", body))
    _tally["faults"] += 1


def test_emulator_restart_between_etl_and_prediction_loses_nothing(stack, s3, history, baseline, tmp_path):
    # GIVEN acknowledged uploads: history stored and a run manifest written
    run = upload_and_wait(
        stack, s3, write_csv(tmp_path, "pre.csv", _history_frame()), "it/faults/restart/pre.csv"
    )
    assert run.status == "succeeded"
    before = _snapshot(history)

    # WHEN the emulator stops cleanly and starts again
    for action in ("stop", "start"):
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "emulator.py"), action],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )

    # THEN history, manifests and forecasts are all there, and the pipeline still runs end to end
    np.testing.assert_array_equal(_snapshot(history), before)
    assert read_output_csv(s3, run.output).shape[0] == len(ITEMS) * 16
    request = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "date": DAYS[-1] + pd.Timedelta(days=1),
            "store_nbr": STORE,
            "item_nbr": ITEMS,
            "onpromotion": False,
        }
    )
    after = upload_and_wait(
        stack, s3, write_csv(tmp_path, "req.csv", request), "it/faults/restart/request.csv", timeout=300
    )
    assert after.status == "succeeded", after
    assert read_output_csv(s3, after.output)["id"].tolist() == [1, 2, 3]
    _tally["faults"] += 1


def test_zz_summary(history, baseline):
    """Not a check of its own: totals the suite for the one-line summary (runs last in this module)."""
    _tally["rows_lost"] = int(np.count_nonzero(_snapshot(history) != baseline))
    line = _summary_line()
    (ROOT / "build").mkdir(exist_ok=True)
    SUMMARY_FILE.write_text(line + "\n")  # printed at the end of the session by conftest
    assert _tally["rows_lost"] == 0
    assert _tally["reported"] == _tally["tried"]
