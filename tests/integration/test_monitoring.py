"""The stack watching itself, on the deployed local stack: realized accuracy once actuals arrive for
forecast days, its CloudWatch metrics, a forecast workflow that ends without a forecast failing its
run, and the alarms and dashboard deployed.

Real parts only: the processed bucket sends its events to EventBridge, whose rule invokes the monitor
function; Step Functions publishes its execution status changes to EventBridge, whose rule invokes
the same function; the metrics go through the emulator's CloudWatch API (MiniStack does not turn EMF
log lines into metrics; see grocery_forecast.aws.metrics).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunStatus
from grocery_forecast.contract.schema import PERISHABLE_WEIGHT
from grocery_forecast.forecasting.metrics import nwrmsle

from .conftest import DATA_DIR, ROOT
from .helpers import RUN_TIMEOUT, read_output_csv, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

#: Upper bound for the monitor to score an arrival of actuals after its run is final.
SCORE_TIMEOUT = 120.0
N_SERIES = 40  # 640 target rows: one unsharded invocation
HISTORY_DAYS = 42
ARRIVED = (1, 2, 3)  # the forecast's first three days arrive


def _wait_for(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(1.0)


def _pick_series(sample_sales: pd.DataFrame, end: pd.Timestamp, n: int, offset: int) -> pd.DataFrame:
    recent = sample_sales[sample_sales["date"].between(end - pd.Timedelta(days=HISTORY_DAYS), end)]
    pairs = recent[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
    return pairs.iloc[offset :: max(1, len(pairs) // n)].head(n).reset_index(drop=True)


def _rows(sample_sales: pd.DataFrame, series: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp):
    rows = sample_sales.merge(series, on=["store_nbr", "item_nbr"])
    rows = rows[rows["date"].between(first, last)]
    return rows[["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]]


def _accuracy_record(s3, bucket: str, day: str, run_id: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=runs.accuracy_key(day, run_id))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _monitor_log(stack, actuals_run: str) -> dict | None:
    """The monitor's "realized accuracy" log line for the arrival of ``actuals_run``."""
    logs = stack.client("logs")
    group = stack.monitor_log_group_name
    # every page: an emulator whose state outlived earlier sessions holds more than the first 50 streams
    pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group)
    for stream in (s for page in pages for s in page["logStreams"]):
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]:
            if event["message"].startswith("{"):
                line = json.loads(event["message"])
                if line.get("message") == "realized accuracy" and line.get("actuals_run") == actuals_run:
                    return line
    return None


def _cli(stack, *args: str) -> str:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "grocery-forecast"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_actuals_arriving_for_forecast_days_report_realized_accuracy(
    stack, s3, sample_sales, unique_prefix, tmp_path
) -> None:
    # GIVEN six weeks of history of 40 series, ending 16 days before the sample's last day, and its forecast
    end = sample_sales["date"].max() - pd.Timedelta(days=16)
    series = _pick_series(sample_sales, end, N_SERIES, offset=3)
    history = _rows(sample_sales, series, end - pd.Timedelta(days=HISTORY_DAYS - 1), end)
    served = upload_and_wait(
        stack, s3, write_csv(tmp_path, "history.csv", history), f"{unique_prefix}history.csv"
    )
    assert served.status is RunStatus.SUCCEEDED and served.origin == str(end.date()), served
    assert served.sharded is None and served.fallback is None

    # WHEN the actuals of its first three days arrive
    days = [end + pd.Timedelta(days=k) for k in ARRIVED]
    arrived = _rows(sample_sales, series, days[0], days[-1])
    actuals = upload_and_wait(
        stack, s3, write_csv(tmp_path, "actuals.csv", arrived), f"{unique_prefix}actuals.csv"
    )
    assert actuals.status is RunStatus.SUCCEEDED, actuals

    # THEN the monitor stores one record per forecast day scored, at horizons 1..3, naming the model
    records = {
        str(d.date()): _wait_for(
            f"realized accuracy of {served.run_id} on {d.date()}",
            lambda d=d: _accuracy_record(s3, stack.output_bucket_name, str(d.date()), served.run_id),
            SCORE_TIMEOUT,
        )
        for d in days
    }
    assert [records[str(d.date())]["horizon"] for d in days] == list(ARRIVED)
    assert {r["model_version"] for r in records.values()} == {served.model_version}
    assert {r["origin"] for r in records.values()} == {served.origin}

    # AND each day's model score is Favorita's NWRMSLE of the served rows against what was sold
    forecast = read_output_csv(s3, str(served.output))
    forecast["date"] = pd.to_datetime(forecast["date"])
    items = pd.read_csv(DATA_DIR / "items.csv").set_index("item_nbr")["perishable"]
    for day in days:
        rows = forecast[forecast["date"] == day].merge(
            arrived, on=["date", "store_nbr", "item_nbr"], how="left", suffixes=("", "_actual")
        )
        weights = np.where(rows["item_nbr"].map(items).fillna(0).to_numpy() == 1, PERISHABLE_WEIGHT, 1.0)
        expected = nwrmsle(rows["unit_sales_actual"].fillna(0.0), rows["unit_sales"], weights)
        record = records[str(day.date())]
        assert record["rows"] == N_SERIES
        assert record["nwrmsle"]["model"] == pytest.approx(expected, abs=2e-6)
        # next to the baselines, computed as of the same origin
        assert set(record["nwrmsle"]) == {"model", "moving_median", "dow_mean"}
        assert all(np.isfinite(v) and v >= 0 for v in record["nwrmsle"].values())

    # AND `grocery-forecast accuracy` reports them per model version x horizon and per day
    since, until = str(days[0].date()), str(days[-1].date())
    report = json.loads(_cli(stack, "accuracy", "--since", since, "--until", until, "--json"))
    versions = {(r["model_version"], r["horizon"]) for r in report["by_model_version_and_horizon"]}
    assert {(served.model_version, h) for h in ARRIVED} <= versions
    assert [r["date"] for r in report["by_day"]] == [str(d.date()) for d in days]
    png = tmp_path / "accuracy.png"
    text = _cli(stack, "accuracy", "--since", since, "--until", until, "--plot", str(png))
    assert "per model version x horizon" in text and served.model_version in text
    assert png.read_bytes()[:4] == b"\x89PNG"

    # AND the metrics reached the emulator's CloudWatch (through PutMetricData: it does not read EMF)
    cloudwatch = stack.client("cloudwatch")
    dimensions = [
        {"Name": "service", "Value": "monitor"},
        {"Name": "stack", "Value": stack.monitor_function_name.removesuffix("-monitor")},
    ]
    stats = cloudwatch.get_metric_statistics(
        Namespace=stack.metrics_namespace,
        MetricName="RealizedNWRMSLE_model",
        Dimensions=dimensions,
        StartTime=datetime.now(UTC) - timedelta(minutes=15),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )
    assert sum(p["SampleCount"] for p in stats["Datapoints"]) >= 1, stats
    listed = cloudwatch.list_metrics(Namespace=stack.metrics_namespace)["Metrics"]
    assert {"RealizedNWRMSLE_model", "ModelToBestBaselineRatio", "DaysWorseThanBaseline"} <= {
        m["MetricName"] for m in listed
    }

    # AND the monitor stayed within the memory size and timeout AWS would hold it to (the emulator does not)
    config = stack.client("lambda").get_function_configuration(FunctionName=stack.monitor_function_name)
    done = _wait_for(
        "the monitor's log of the arrival", lambda: _monitor_log(stack, actuals.run_id), SCORE_TIMEOUT
    )
    assert done["records"] >= len(ARRIVED) and served.run_id in done["forecast_runs"]
    assert 0 < done["peak_memory_mb"] < 0.8 * int(config["MemorySize"]), done
    assert done["seconds"] < 0.8 * int(config["Timeout"]), done


def test_a_forecast_workflow_stopped_midway_fails_its_run_with_the_reason(
    stack, s3, sample_sales, unique_prefix, tmp_path
) -> None:
    # GIVEN an upload whose forecast runs as the sharded workflow (130 series x 16 days > 1,000-row shards)
    end = sample_sales["date"].max()
    series = _pick_series(sample_sales, end, 130, offset=1)
    history = _rows(sample_sales, series, end - pd.Timedelta(days=HISTORY_DAYS - 1), end)
    path = write_csv(tmp_path, "sharded.csv", history)
    key = f"{unique_prefix}sharded.csv"
    put = s3.put_object(Bucket=stack.raw_bucket_name, Key=key, Body=path.read_bytes())
    run_id = runs.run_id_for(key, put["ETag"])

    def execution_arn() -> str | None:
        try:
            body = s3.get_object(Bucket=stack.output_bucket_name, Key=runs.manifest_key(run_id))[
                "Body"
            ].read()
        except s3.exceptions.NoSuchKey:
            return None
        return (json.loads(body).get("sharded") or {}).get("execution_arn")

    arn = _wait_for("the sharded workflow to start", execution_arn, RUN_TIMEOUT)

    # WHEN its execution is stopped before it writes the forecast (a Catch in the state machine cannot see this)
    sfn = stack.client("stepfunctions")
    sfn.stop_execution(executionArn=arn, error="Operator.Stop", cause="stopped by the e2e test")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"

    # THEN the run does not stay `forecasting`: it ends failed, saying the execution was aborted
    def final():
        doc = json.loads(
            s3.get_object(Bucket=stack.output_bucket_name, Key=runs.manifest_key(run_id))["Body"].read()
        )
        return doc if doc["status"] in {"succeeded", "failed", "rejected"} else None

    manifest = _wait_for("the aborted run to end", final, SCORE_TIMEOUT)
    assert manifest["status"] == "failed", manifest
    assert any("ABORTED" in e and arn.rsplit(":", 1)[-1] in e for e in manifest["errors"]), manifest["errors"]
    assert "output" not in manifest


def test_alarms_and_dashboard_deploy_on_the_emulator(stack) -> None:
    """The local root keeps alarms off (MiniStack reads them back incompletely, so every later plan
    would show a diff): deploy them once here, check them, and take them down again."""
    env = {**os.environ, "TF_VAR_create_alarms": "true"}
    try:
        proc = subprocess.run(
            ["make", "-s", "deploy"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out = subprocess.run(
            [
                "terraform",
                f"-chdir={ROOT / 'terraform/environments/local'}",
                "output",
                "-json",
                "alarm_names",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        names = json.loads(out.stdout)
        assert len(names) == 18, names
        cloudwatch = stack.client("cloudwatch")
        deployed = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
        assert deployed == set(names)
        assert any(n.endswith("-model-worse-than-baseline") for n in names)
        assert any(n.endswith("-executions-aborted") for n in names)
        assert sum(n.endswith("-duration-near-timeout") for n in names) == 4
        body = json.loads(cloudwatch.get_dashboard(DashboardName=stack.dashboard_name)["DashboardBody"])
        assert len(body["widgets"]) == 5
    finally:
        proc = subprocess.run(["make", "-s", "deploy"], cwd=ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
