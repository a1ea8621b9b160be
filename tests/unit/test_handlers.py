"""The Lambda handlers: event parsing, one run per record, structured JSON logs."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.s3io import csv_bytes
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff
from grocery_forecast.contract.schema import FileKind

from .conftest import Deployed
from .fakes import FakeDynamo, FakeS3

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


@dataclass
class FakeContext:
    function_name: str = "grocery-forecast-local-etl"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:grocery-forecast-local-etl"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _load_handler(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # the module-level clients resolve credentials when created: never from the instance metadata service
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HISTORY_TABLE", "history")
    monkeypatch.setenv("PROCESSED_BUCKET", "processed")
    monkeypatch.setenv("OUTPUT_BUCKET", "output")
    monkeypatch.setenv("MODELS_BUCKET", "models")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", name)
    spec = importlib.util.spec_from_file_location(f"{name}_handler", ROOT / "lambdas" / name / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    # Powertools configures the service's logger once per process: point it at this test's stdout
    for log_handler in logging.getLogger(name).handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.stream = sys.stdout  # not setStream: it flushes the previous, closed one
    return module


def _logs(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_etl_handler_runs_every_record_with_decoded_keys_and_logs_json(monkeypatch, capsys) -> None:
    handler = _load_handler("etl", monkeypatch)
    s3 = FakeS3()
    s3.put_object(
        Bucket="raw",
        Key="uploads/store sales (2017-08-15).csv",
        Body="date,store_nbr,item_nbr,unit_sales,onpromotion\n2017-08-15,1,10,3,False\n",
    )
    s3.put_object(Bucket="raw", Key="uploads/broken.csv", Body="not,a,sales,file\n1,2,3,4\n")
    monkeypatch.setattr(handler, "_s3", s3)
    monkeypatch.setattr(handler, "_store", DynamoHistoryStore(FakeDynamo(), "history", max_workers=1))
    event = json.loads((EVENTS / "s3_put_raw.json").read_text())

    result = handler.lambda_handler(event, FakeContext())

    assert [r["status"] for r in result["runs"]] == ["forecasting", "rejected"]
    key = runs.processed_key(
        FileKind.ACTUALS, "uploads/store sales (2017-08-15).csv", result["runs"][0]["run_id"]
    )
    assert ("processed", key) in s3.objects
    logs = _logs(capsys.readouterr().out)
    processed = next(rec for rec in logs if rec["message"] == "upload processed")
    assert processed["input_key"] == "uploads/store sales (2017-08-15).csv"
    assert processed["function_request_id"] == FakeContext.aws_request_id
    assert processed["level"] == "INFO" and processed["rows_in"] == 1
    rejected = next(rec for rec in logs if rec["message"] == "upload rejected")
    assert rejected["level"] == "WARNING" and rejected["input_key"] == "uploads/broken.csv"


def test_predict_handler_forecasts_the_processed_file_and_logs_json(
    monkeypatch, capsys, deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN a cleaned upload with a non-ASCII name in the processed bucket, as the ETL hands it over
    handler = _load_handler("predict", monkeypatch)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "models"))
    key = "actuals/uploads/ventas año (2017-08-15).csv"
    train = deployed.data.train
    day = train[train["date"] == train["date"].max()].drop(columns=["id"])
    hand_off = HandOff("ventas-ano-1", FileKind.ACTUALS, "uploads/ventas año (2017-08-15).csv", "e1")
    deployed.s3.put_object(Bucket="processed", Key=key, Body=csv_bytes(day), Metadata=hand_off.to_metadata())
    monkeypatch.setattr(handler, "_s3", deployed.s3)
    monkeypatch.setattr(handler, "_store", deployed.store)
    event = json.loads((EVENTS / "s3_put_processed.json").read_text())

    # WHEN the notification arrives
    result = handler.lambda_handler(event, FakeContext(function_name="grocery-forecast-local-predict"))

    # THEN the forecast is written and the run logged with its request id
    (run,) = result["runs"]
    assert run["status"] == "succeeded" and run["run_id"] == "ventas-ano-1"
    assert run["output"] == f"s3://output/{runs.forecast_key('ventas-ano-1')}"
    assert run["model_version"] == deployed.version
    logged = next(rec for rec in _logs(capsys.readouterr().out) if rec["message"] == "forecast written")
    assert logged["input_key"] == key and logged["function_request_id"] == FakeContext.aws_request_id
    assert logged["rows_forecast"] == run["rows_forecast"] > 0


def test_etl_handler_processes_an_upper_case_key_recording_its_version_and_attempt(monkeypatch) -> None:
    handler = _load_handler("etl", monkeypatch)
    monkeypatch.setenv("MAX_RETRY_ATTEMPTS", "2")
    s3 = FakeS3(versioned=("raw",))
    put = s3.put_object(
        Bucket="raw",
        Key="uploads/WEEK 1 SALES.CSV",
        Body="date,store_nbr,item_nbr,unit_sales,onpromotion\n2017-08-15,1,10,3,False\n",
    )
    monkeypatch.setattr(handler, "_s3", s3)
    monkeypatch.setattr(handler, "_store", DynamoHistoryStore(FakeDynamo(), "history", max_workers=1))
    event = json.loads((EVENTS / "s3_put_raw_upper_case.json").read_text())
    event["Records"][0]["s3"]["object"]["versionId"] = put["VersionId"]

    (run,) = handler.lambda_handler(event, FakeContext())["runs"]

    assert run["status"] == "forecasting"
    key = runs.processed_key(FileKind.ACTUALS, "uploads/WEEK 1 SALES.CSV", run["run_id"])
    assert ("processed", key) in s3.objects and key.endswith(".csv")
    manifest = json.loads(s3.text("output", f"runs/{run['run_id']}.json"))
    assert manifest["input"]["version_id"] == put["VersionId"]
    assert (manifest["attempt"], manifest["attempts_allowed"]) == (1, 3)


def test_predict_handler_routes_workflow_tasks_to_the_shard_library(monkeypatch, capsys) -> None:
    handler = _load_handler("predict", monkeypatch)
    seen = []
    monkeypatch.setattr(handler.shards, "run_task", lambda event, *rest: seen.append(event) or {"index": 2})
    event = {"task": "shard_forecast", "run_id": "test-abc", "bucket": "processed", "index": 2, "attempt": 1}

    result = handler.lambda_handler(event, FakeContext(function_name="grocery-forecast-local-predict"))

    assert result == {"index": 2} and seen == [event]
    done = next(rec for rec in _logs(capsys.readouterr().out) if rec["message"] == "shard task done")
    assert done["task"] == "shard_forecast" and done["shard"] == 2 and done["run_id"] == "test-abc"


def test_a_replayed_dead_letter_reprocesses_exactly_its_version(monkeypatch) -> None:
    # GIVEN the event of a first upload dead-lettered, and a second file put to the same key since
    from grocery_forecast.pipeline.replay import replay_dead_letters

    from .test_replay import FakeSqs

    handler = _load_handler("etl", monkeypatch)
    s3 = FakeS3(versioned=("raw",))
    header = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
    first = s3.put_object(Bucket="raw", Key="uploads/same.csv", Body=header + "2017-08-14,1,10,3,False\n")
    s3.put_object(Bucket="raw", Key="uploads/same.csv", Body=header + "2017-08-15,1,10,9,False\n")
    monkeypatch.setattr(handler, "_s3", s3)
    monkeypatch.setattr(handler, "_store", DynamoHistoryStore(FakeDynamo(), "history", max_workers=1))
    event = json.loads((EVENTS / "s3_put_raw_upper_case.json").read_text())
    event["Records"][0]["s3"]["object"].update(key="uploads/same.csv", versionId=first["VersionId"])
    letter = {
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:etl"},
        "requestPayload": event,
        "responsePayload": {"errorMessage": "history lease busy"},
    }
    results = []

    class HandlerLambda:  # invokes the ETL handler with the replayed event, as Lambda would
        def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict:
            results.append(handler.lambda_handler(json.loads(Payload), FakeContext()))
            return {"StatusCode": 202}

    # WHEN it is replayed
    replay_dead_letters(FakeSqs([json.dumps(letter)]), HandlerLambda(), "dlq", {"etl"})

    # THEN the ETL processed the dead-lettered version, not the newest at the key
    (((run,),),) = [[r["runs"]] for r in results]
    assert run["run_id"] == runs.run_id_for("uploads/same.csv", first["ETag"])
    manifest = json.loads(s3.text("output", runs.manifest_key(run["run_id"])))
    assert manifest["input"]["version_id"] == first["VersionId"] and manifest["date_range"] == [
        "2017-08-14",
        "2017-08-14",
    ]
