"""The whole path on the emulator: upload -> S3 notification -> ETL -> DynamoDB -> predict -> forecast CSV."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract import runs
from grocery_forecast.contract.schema import FileKind, series_key

from .conftest import ROOT
from .helpers import read_output_csv, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

N_SERIES = 6
HISTORY_DAYS = 70
HORIZON = 16


@pytest.fixture(scope="module")
def recent(sample_sales: pd.DataFrame) -> pd.DataFrame:
    """The last 10 weeks of a few sample series, as a user would upload them."""
    end = sample_sales["date"].max()
    pairs = sample_sales[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
    chosen = pairs.iloc[:: max(1, len(pairs) // N_SERIES)].head(N_SERIES)
    rows = sample_sales.merge(chosen, on=["store_nbr", "item_nbr"])
    rows = rows[rows["date"] > end - pd.Timedelta(days=HISTORY_DAYS)]
    return rows[["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]].sort_values(
        ["date", "store_nbr", "item_nbr"], ignore_index=True
    )


def _panel_values(history, frame: pd.DataFrame) -> np.ndarray:
    panel = history.read_panel(
        frame["store_nbr"], frame["item_nbr"], frame["date"].min(), frame["date"].max()
    )
    rows = panel.index_of(frame["store_nbr"].to_numpy(), frame["item_nbr"].to_numpy())
    cols = (frame["date"] - panel.start).dt.days.to_numpy()
    return panel.sales[rows, cols]


def test_actuals_upload_stores_history_and_writes_a_forecast(
    stack, s3, history, recent, tmp_path, unique_prefix
):
    # GIVEN ten weeks of sales for a few series, under a key that needs URL-decoding
    path = write_csv(tmp_path, "sales.csv", recent)
    key = f"{unique_prefix}store sales+week 1.csv"

    # WHEN it is uploaded to the raw bucket
    run = upload_and_wait(stack, s3, path, key)

    # THEN the run succeeded and says what it did
    assert run.status == "succeeded", run
    assert run.kind == "actuals"
    assert run.rows_in == len(recent)
    assert run.series_forecast == N_SERIES
    assert run.input.key == key

    # AND the history table holds every uploaded value
    store_nbr, item_nbr = int(recent["store_nbr"].iloc[0]), int(recent["item_nbr"].iloc[0])
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.history_table_name,
            Key={
                "series": {"S": series_key(store_nbr, item_nbr)},
                "bucket": {"S": f"Y{recent['date'].max().year}"},
            },
        )
        .get("Item")
    )
    assert item is not None and "data" in item and int(item["days"]["N"]) >= 1
    np.testing.assert_allclose(_panel_values(history, recent), recent["unit_sales"].to_numpy(), rtol=1e-6)

    # AND the history's series index names every series with a year bucket, so the forecast pooled
    # its item/store/class/family features over all of them (as training does), not the upload's
    assert run.pooled_over == "history" and not run.warnings, run
    year = int(recent["date"].max().year)
    buckets = set()
    for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.history_table_name):
        buckets |= {
            tuple(int(x) for x in it["series"]["S"].split("#"))
            for it in page["Items"]
            if not it["series"]["S"].startswith("__") and it["bucket"]["S"] == f"Y{year}"
        }
    stores, items = history.series_index(year, year)
    # (a superset: an upload indexes its series before merging them, and a file that failed for good
    # after that leaves its series indexed without buckets, which pools nothing)
    assert set(zip(stores.tolist(), items.tolist(), strict=True)) >= buckets and len(buckets) >= N_SERIES

    # AND the cleaned file sits in the processed bucket under a key derived from the input key and the run
    processed_key = runs.processed_key(FileKind.ACTUALS, key, run.run_id)
    assert run.processed == f"s3://{stack.processed_bucket_name}/{processed_key}"
    assert len(read_output_csv(s3, run.processed)) == len(recent)

    # AND the forecast covers the next 16 days of every series, with finite non-negative sales
    forecast = read_output_csv(s3, run.output)
    assert list(forecast.columns) == ["date", "store_nbr", "item_nbr", "onpromotion", "unit_sales"]
    assert len(forecast) == N_SERIES * HORIZON
    origin = recent["date"].max()
    expected_dates = {str((origin + pd.Timedelta(days=h)).date()) for h in range(1, HORIZON + 1)}
    assert set(forecast["date"]) == expected_dates
    assert set(map(tuple, forecast[["store_nbr", "item_nbr"]].drop_duplicates().to_numpy())) == set(
        map(tuple, recent[["store_nbr", "item_nbr"]].drop_duplicates().to_numpy())
    )
    assert np.isfinite(forecast["unit_sales"]).all() and (forecast["unit_sales"] >= 0).all()
    assert forecast["unit_sales"].sum() > 0, "a model that forecasts only zeros for selling series is broken"


def test_request_upload_forecasts_exactly_the_requested_rows(stack, s3, recent, tmp_path, unique_prefix):
    # GIVEN history for the series (uploaded by the previous test or the demo) and a Kaggle test.csv-style request
    upload_and_wait(stack, s3, write_csv(tmp_path, "history.csv", recent), f"{unique_prefix}history.csv")
    origin = recent["date"].max()
    series = recent[["store_nbr", "item_nbr"]].drop_duplicates().head(3)
    days = pd.date_range(origin + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    request = series.merge(pd.DataFrame({"date": days}), how="cross")
    request.insert(0, "id", np.arange(125_497_040, 125_497_040 + len(request)))
    request["onpromotion"] = np.arange(len(request)) % 5 == 0

    # WHEN the request is uploaded
    run = upload_and_wait(
        stack,
        s3,
        write_csv(tmp_path, "test.csv", request[["id", "date", "store_nbr", "item_nbr", "onpromotion"]]),
        f"{unique_prefix}test.csv",
    )

    # THEN the forecast has exactly the requested ids, in the Kaggle submission shape plus keys
    assert run.status == "succeeded", run
    assert run.kind == "request"
    forecast = read_output_csv(s3, run.output)
    assert list(forecast.columns[:2]) == ["id", "unit_sales"]
    assert {"date", "store_nbr", "item_nbr"} <= set(forecast.columns)
    assert sorted(forecast["id"]) == sorted(request["id"])
    merged = forecast.merge(
        request.assign(date=request["date"].dt.strftime("%Y-%m-%d")), on="id", suffixes=("", "_req")
    )
    assert (merged["store_nbr"] == merged["store_nbr_req"]).all() and (
        merged["date"] == merged["date_req"]
    ).all()
    assert np.isfinite(forecast["unit_sales"]).all() and (forecast["unit_sales"] >= 0).all()


def test_uploading_the_same_file_twice_changes_nothing(stack, s3, history, recent, tmp_path, unique_prefix):
    # GIVEN a file uploaded once
    path = write_csv(tmp_path, "sales.csv", recent)
    key = f"{unique_prefix}twice.csv"
    first = upload_and_wait(stack, s3, path, key)
    first_forecast = read_output_csv(s3, first.output)
    first_history = _panel_values(history, recent)

    # WHEN the same bytes are uploaded again to the same key
    second = upload_and_wait(stack, s3, path, key)

    # THEN it is the same run, with the same history and the same forecast keys and values
    assert second.status == "succeeded"
    assert second.run_id == first.run_id
    assert second.output == first.output
    np.testing.assert_array_equal(_panel_values(history, recent), first_history)
    pd.testing.assert_frame_equal(read_output_csv(s3, second.output), first_forecast)


def test_a_corrected_day_replaces_the_stored_values(stack, s3, history, recent, tmp_path, unique_prefix):
    # GIVEN the series' history, and a correction of their last day
    upload_and_wait(stack, s3, write_csv(tmp_path, "sales.csv", recent), f"{unique_prefix}base.csv")
    last_day = recent[recent["date"] == recent["date"].max()]
    corrected = last_day.assign(unit_sales=last_day["unit_sales"] + 1000.0)
    try:
        # WHEN the correction is uploaded
        run = upload_and_wait(stack, s3, write_csv(tmp_path, "fix.csv", corrected), f"{unique_prefix}fix.csv")
        assert run.status == "succeeded", run
        # THEN that day holds the corrected values and the days before are untouched
        np.testing.assert_allclose(
            _panel_values(history, corrected), corrected["unit_sales"].to_numpy(), rtol=1e-6
        )
        earlier = recent[recent["date"] < recent["date"].max()]
        np.testing.assert_allclose(
            _panel_values(history, earlier), earlier["unit_sales"].to_numpy(), rtol=1e-6
        )
    finally:
        upload_and_wait(
            stack, s3, write_csv(tmp_path, "restore.csv", last_day), f"{unique_prefix}restore.csv"
        )


def test_a_bad_file_is_rejected_with_a_report_and_history_is_untouched(
    stack, s3, history, recent, tmp_path, unique_prefix
):
    # GIVEN stored history, and a file whose third data row has an impossible date
    upload_and_wait(stack, s3, write_csv(tmp_path, "sales.csv", recent), f"{unique_prefix}base.csv")
    before = _panel_values(history, recent)
    bad = recent.assign(unit_sales=recent["unit_sales"] + 5.0, date=recent["date"].dt.strftime("%Y-%m-%d"))
    bad.loc[2, "date"] = "2017-02-30"
    key = f"{unique_prefix}bad.csv"

    # WHEN it is uploaded
    run = upload_and_wait(stack, s3, write_csv(tmp_path, "bad.csv", bad), key)

    # THEN it is rejected with a report naming the file, the line and the column
    assert run.status == "rejected"
    report_key = runs.rejected_key(key, run.run_id)
    assert run.report == f"s3://{stack.output_bucket_name}/{report_key}"
    report = json.loads(s3.get_object(Bucket=stack.output_bucket_name, Key=report_key)["Body"].read())
    assert report["key"] == key
    assert report["problems"][0]["line"] == 4 and report["problems"][0]["column"] == "date"
    assert "YYYY-MM-DD" in report["problems"][0]["expected"]
    # AND nothing was stored: history unchanged, no cleaned file, no forecast, raw object kept
    np.testing.assert_array_equal(_panel_values(history, recent), before)
    listed = s3.list_objects_v2(
        Bucket=stack.processed_bucket_name, Prefix=f"actuals/{key.removesuffix('.csv')}."
    )
    assert listed.get("KeyCount", 0) == 0
    assert run.output is None
    s3.head_object(Bucket=stack.raw_bucket_name, Key=key)


def test_terraform_plan_after_apply_shows_no_changes(stack):
    # GIVEN the stack the session applied; WHEN planning again; THEN there is nothing to change
    proc = subprocess.run(
        [
            "terraform",
            "-chdir=terraform/environments/local",
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, (
        f"plan found changes or failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr}"
    )
