"""The sharded forecast, its tasks run in the state machine's order on in-memory fakes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.aws.s3io import csv_bytes
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunManifest, RunStatus
from grocery_forecast.forecasting.datagen import GeneratedData
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline import shards
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, run_forecast

from .fakes import FakeDynamo, FakeS3

ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:grocery-forecast-local-forecast-shards"


class FakeSfn:
    def __init__(self) -> None:
        self.started: list[dict] = []
        self.status: dict[str, str] = {}  # execution ARN -> status

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict:
        arn = f"{stateMachineArn.replace('stateMachine', 'execution')}:{name}"
        if arn in self.status:  # as Step Functions: a name is used once per state machine ...
            same = next(e["input"] for e in self.started if e["name"] == name) == json.loads(input)
            if self.status[arn] == "RUNNING" and same:  # ... but a running one started again is that start
                return {"executionArn": arn}
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "ExecutionAlreadyExists", "Message": arn}}
            raise ClientError(error, "StartExecution")
        self.started.append({"arn": stateMachineArn, "name": name, "input": json.loads(input)})
        self.status[arn] = "RUNNING"
        return {"executionArn": arn}

    def describe_execution(self, executionArn: str) -> dict:
        if executionArn not in self.status:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "ExecutionDoesNotExist", "Message": executionArn}}
            raise ClientError(error, "DescribeExecution")
        return {"executionArn": executionArn, "status": self.status[executionArn]}


class KilledAfterStart(FakeSfn):
    """The invocation dies right after StartExecution returns, before the manifest records it."""

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict:
        super().start_execution(stateMachineArn, name, input)
        raise TimeoutError("Task timed out (injected)")


def test_plan_keeps_series_whole_and_shards_at_most_shard_rows() -> None:
    targets = pd.DataFrame(
        {"store_nbr": [2, 1, 1, 2, 1, 3, 3, 3], "item_nbr": [5, 7, 5, 5, 7, 1, 1, 1], "date": "2017-08-16"}
    )
    plan = shards.plan_shards(targets, 3)
    assert [sorted(p.tolist()) for p in plan] == [[1, 2, 4], [0, 3], [5, 6, 7]]
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(targets)))
    with pytest.raises(ValueError):
        shards.plan_shards(targets, 0)


def test_shards_are_balanced_within_the_shard_size() -> None:
    # 216 series x 16 days (Kaggle's shape, scaled down) in shards of at most 2,000 rows: two of 1,728
    targets = pd.DataFrame(
        {"store_nbr": np.repeat(np.arange(216) // 4, 16), "item_nbr": np.repeat(np.arange(216) % 4, 16)}
    )
    sizes = [len(p) for p in shards.plan_shards(targets, 2000)]
    assert sizes == [1728, 1728]
    sizes = [len(p) for p in shards.plan_shards(targets, 1000)]
    assert len(sizes) == 4 and max(sizes) <= 1000 and max(sizes) - min(sizes) <= 16
    # the e2e tests' upload: 130 series x 16 in 1,000-row shards
    sizes = [len(p) for p in shards.plan_shards(targets.iloc[: 130 * 16], 1000)]
    assert sizes == [688, 704, 688]


def test_every_row_lands_in_one_shard_within_the_size_unless_its_series_is_longer() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=500)
    lengths[7] = 300  # one series longer than a shard
    targets = pd.DataFrame(
        {
            "store_nbr": np.repeat(np.arange(500) // 20, lengths),
            "item_nbr": np.repeat(np.arange(500) % 20, lengths),
        }
    ).sample(frac=1.0, random_state=1)
    plan = shards.plan_shards(targets, 250)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(targets)))
    for rows in plan:
        part = targets.iloc[rows]
        assert len(part) <= 250 or part[["store_nbr", "item_nbr"]].drop_duplicates().shape[0] == 1
    keys = [set(map(tuple, targets.iloc[r][["store_nbr", "item_nbr"]].to_numpy())) for r in plan]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 500  # no series split between shards


def _deploy(generated: GeneratedData, trained: ForecastModel, tmp_path: Path, history: pd.DataFrame):
    s3, dynamo = FakeS3(), FakeDynamo()
    store = DynamoHistoryStore(dynamo, "history", max_workers=1)
    store.upsert(history)
    trained.save(tmp_path / "model")
    model_store.publish_model(s3, "models", tmp_path / "model")
    for table in ("items", "stores", "holidays_events"):
        s3.put_object(
            Bucket="processed", Key=f"reference/{table}.csv", Body=csv_bytes(getattr(generated, table))
        )
    return s3, store, tmp_path


@pytest.fixture
def deployed(generated: GeneratedData, trained: ForecastModel, tmp_path: Path):
    return _deploy(generated, trained, tmp_path, generated.train)


def _upload(s3: FakeS3, generated: GeneratedData, key: str, every: int = 1) -> None:
    """The generated request, in any order; ``every`` > 1 keeps one series in ``every``."""
    request = generated.test.sample(frac=1.0, random_state=3).reset_index(drop=True)  # any order
    if every > 1:
        request = request[(request["store_nbr"] * 7 + request["item_nbr"]) % every == 0].reset_index(
            drop=True
        )
    origin = str(generated.panel.end.date())
    s3.put_object(Bucket="processed", Key=key, Body=csv_bytes(request), Metadata={"origin": origin})


def _deliveries(deployed, generated: GeneratedData, name: str, sfn: FakeSfn) -> tuple[ForecastConfig, Any]:
    """Upload ``requests/<name>.csv``; each call of the function returned is one delivery of its event
    to predict (sharded at 200 rows, on ``sfn``) and returns the run's manifest as saved then."""
    s3, store, tmp = deployed
    cfg = ForecastConfig(
        "processed", "models", "output", model_dir=tmp / "m", shard_rows=200, state_machine_arn=ARN
    )
    key = f"requests/{name}.csv"
    _upload(s3, generated, key)

    def deliver() -> dict:
        return run_forecast(
            s3, store, "processed", key, cfg, models=ModelCache(), references=ReferenceObjects(), sfn=sfn
        ).to_dict()

    return cfg, deliver


def _run_workflow(
    s3: FakeS3, store, config: ForecastConfig, execution: dict, fail_shard: int | None = None
) -> None:
    """What the state machine does: stats map, pool, forecast map, combine (or fail)."""
    run = execution["input"]
    items = json.loads(s3.text("processed", run["shard_list_key"]))
    base = {"run_id": run["run_id"], "bucket": run["bucket"]}
    models, refs = ModelCache(), ReferenceObjects()
    for item in items:
        shards.run_task({**base, "task": "shard_stats", **item}, s3, store, config, models, refs)
    shards.run_task({**base, "task": "pool"}, s3, store, config, models, refs)
    for item in items:
        event = {**base, "task": "shard_forecast", **item, "attempt": 0}
        if item["index"] == fail_shard:
            with pytest.raises(shards.ShardFault):
                shards.run_task(event, s3, store, config, models, refs)
            event["attempt"] = 1
        shards.run_task(event, s3, store, config, models, refs)
    shards.run_task({**base, "task": "combine"}, s3, store, config, models, refs)


def _forecast(s3: FakeS3, run_id: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(s3.text("output", runs.forecast_key(run_id))))


def _whole_and_sharded(
    s3: FakeS3,
    store,
    generated: GeneratedData,
    tmp: Path,
    shard_rows: int,
    sharded_name: str,
    pool_over_history: bool = True,
    every: int = 1,
) -> tuple[dict, dict, ForecastConfig, FakeSfn]:
    """The same request uploaded twice and forecast in one invocation and, planned, in shards of
    ``shard_rows``: the first run's manifest, the second's as planned, its config and the Step Functions fake."""
    base = dict(
        processed_bucket="processed",
        models_bucket="models",
        output_bucket="output",
        pool_over_history=pool_over_history,
    )
    sfn = FakeSfn()
    manifests = []
    for name, cfg in (
        ("whole", ForecastConfig(**base, model_dir=tmp / "m1")),
        (
            sharded_name,
            ForecastConfig(**base, model_dir=tmp / "m2", shard_rows=shard_rows, state_machine_arn=ARN),
        ),
    ):
        _upload(s3, generated, f"requests/{name}.csv", every)
        run = run_forecast(
            s3,
            store,
            "processed",
            f"requests/{name}.csv",
            cfg,
            models=ModelCache(),
            references=ReferenceObjects(),
            sfn=sfn,
        )
        manifests.append(run.to_dict())
    return manifests[0], manifests[1], cfg, sfn


def test_a_sharded_request_gives_the_unsharded_forecast_in_request_order(
    deployed, generated: GeneratedData, monkeypatch
) -> None:
    s3, store, tmp = deployed
    monkeypatch.setenv(shards.FAULT_ENV, "shard-fault")
    whole, started, sharded_cfg, sfn = _whole_and_sharded(
        s3, store, generated, tmp, 100, "sharded-shard-fault-1"
    )
    assert whole["status"] == "succeeded" and len(sfn.started) == 1
    assert started["status"] == "forecasting"
    items = json.loads(s3.text("processed", sfn.started[0]["input"]["shard_list_key"]))
    assert started["sharded"]["shard_count"] == len(items) >= 5
    _run_workflow(s3, store, sharded_cfg, sfn.started[0], fail_shard=0)

    done = json.loads(s3.text("output", runs.manifest_key(started["run_id"])))
    assert done["status"] == "succeeded"
    assert done["sharded"]["shard_count"] >= 5
    assert done["rows_forecast"] == whole["rows_forecast"] == len(generated.test)
    assert done["series_forecast"] == whole["series_forecast"]
    first = done["sharded"]["shards"][0]
    assert first["attempts"] == {"stats": 1, "forecast": 2} and "ShardFault" in first["errors"][0]
    assert all(s["status"] == "succeeded" for s in done["sharded"]["shards"])
    assert done["peak_memory_mb_predict"] >= max(s["peak_memory_mb"] for s in done["sharded"]["shards"])
    a, b = _forecast(s3, whole["run_id"]), _forecast(s3, started["run_id"])
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.drop(columns="unit_sales"), b.drop(columns="unit_sales"))
    np.testing.assert_allclose(b["unit_sales"], a["unit_sales"], atol=2e-4)


def test_pooled_over_the_history_the_shards_ranges_add_up_to_every_series_as_training_pools(
    deployed, generated: GeneratedData, trained: ForecastModel
) -> None:
    from grocery_forecast.forecasting.features import pooled_sums
    from grocery_forecast.forecasting.panel import SalesPanel

    # GIVEN a request for one series in three: each shard's range of the history holds series the
    # request does not (read from the series index), and ones it does (from the shard's own panel)
    s3, store, tmp = deployed
    whole, started, sharded_cfg, sfn = _whole_and_sharded(
        s3, store, generated, tmp, 100, "sharded-pooled", every=3
    )
    assert whole["status"] == "succeeded" and "pool_history_seconds" in whole["steps"]
    assert whole["pooled_over"] == started["pooled_over"] == "history"
    plan = json.loads(s3.text("processed", runs.shard_key(started["run_id"], "plan.json")))
    assert plan["pooled_over"] == "history"
    _run_workflow(s3, store, sharded_cfg, sfn.started[0])
    done = json.loads(s3.text("output", runs.manifest_key(started["run_id"])))
    assert done["status"] == "succeeded" and done["sharded"]["shard_count"] >= 5
    assert done["pooled_over"] == "history"
    # THEN the sums the Pool task added up are those of every series of the history, as training
    # pools them (not only the requested third)
    origin = pd.Timestamp(plan["origin"])
    everything = SalesPanel.from_frame(generated.train.drop(columns=["id"]))
    first = max(everything.start, origin - pd.Timedelta(days=int(trained.spec.lookback_days) - 1))
    expected = pooled_sums(everything.window(first, origin), origin, trained.spec, generated.reference)
    got = shards._sums_from_arrays(
        shards._get_npz(s3, "processed", runs.shard_key(plan["run_id"], "pooled.npz"))
    )
    assert got.recorded == expected.recorded > done["series_forecast"]
    np.testing.assert_array_equal(got.item_keys, expected.item_keys)
    for side in ("item", "store", "group"):
        assert set(getattr(got, side)) == set(getattr(expected, side))
        for name, table in getattr(expected, side).items():
            np.testing.assert_allclose(getattr(got, side)[name], table, rtol=1e-9, atol=1e-9, err_msg=name)
    # and the sharded forecast is the single invocation's
    a, b = _forecast(s3, whole["run_id"]), _forecast(s3, started["run_id"])
    np.testing.assert_allclose(b["unit_sales"], a["unit_sales"], atol=2e-4)


def test_a_shard_that_keeps_failing_fails_the_run_with_its_errors(deployed, generated: GeneratedData) -> None:
    s3, store, tmp = deployed
    cfg = ForecastConfig(
        "processed", "models", "output", model_dir=tmp / "m", shard_rows=200, state_machine_arn=ARN
    )
    _upload(s3, generated, "requests/doomed.csv")
    sfn = FakeSfn()
    started = run_forecast(
        s3,
        store,
        "processed",
        "requests/doomed.csv",
        cfg,
        models=ModelCache(),
        references=ReferenceObjects(),
        sfn=sfn,
    ).to_dict()
    run = sfn.started[0]["input"]
    base = {"run_id": run["run_id"], "bucket": run["bucket"]}
    error = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "threshold exceeded"}
    s3.put_object(
        Bucket="processed",
        Key=runs.shard_key(run["run_id"], "status/stats-00000.json"),
        Body=json.dumps({"index": 0, "status": "failed", "attempts": 3, "errors": ["attempt 3: boom"]}),
    )
    shards.run_task(
        {**base, "task": "fail", "error": error}, s3, store, cfg, ModelCache(), ReferenceObjects()
    )

    done = json.loads(s3.text("output", runs.manifest_key(started["run_id"])))
    assert done["status"] == "failed"
    assert "shard 0: attempt 3: boom" in done["errors"][-1]
    assert done["sharded"]["shards"][0]["status"] == "failed"
    assert done["sharded"]["shards"][1]["status"] == "not run"


def test_a_short_history_falls_back_to_the_baseline_in_every_shard_as_in_one_invocation(
    generated: GeneratedData, trained: ForecastModel, tmp_path: Path
) -> None:
    # GIVEN a history table holding only the last 10 days (below the model's 14-day minimum)
    end = generated.panel.end
    recent = generated.train[pd.to_datetime(generated.train["date"]) > end - pd.Timedelta(days=10)]
    s3, store, tmp = _deploy(generated, trained, tmp_path, recent)
    whole, started, sharded_cfg, sfn = _whole_and_sharded(s3, store, generated, tmp, 200, "sharded")
    _run_workflow(s3, store, sharded_cfg, sfn.started[0])

    # THEN both runs say why they are the baseline's forecast, and the forecasts are equal
    done = json.loads(s3.text("output", runs.manifest_key(started["run_id"])))
    assert whole["status"] == done["status"] == "succeeded"
    assert "history of 10 days" in whole["fallback"] and "moving_median" in whole["fallback"]
    assert done["fallback"] == whole["fallback"] and done["sharded"]["shard_count"] >= 2
    assert all(s["fallback"] == whole["fallback"] for s in done["sharded"]["shards"])
    a, b = _forecast(s3, whole["run_id"]), _forecast(s3, done["run_id"])
    pd.testing.assert_frame_equal(a, b)
    assert a["unit_sales"].sum() > 0


def test_a_duplicate_event_starts_no_second_workflow_but_a_failed_one_is_planned_again(
    deployed, generated: GeneratedData
) -> None:
    sfn = FakeSfn()
    _, deliver = _deliveries(deployed, generated, "twice", sfn)

    first = deliver()
    deliver()  # S3's at-least-once delivery, or a retry after a lost response
    assert len(sfn.started) == 1, "a running workflow must not be planned and started again"
    sfn.status[first["sharded"]["execution_arn"]] = "FAILED"
    again = deliver()
    assert len(sfn.started) == 2 and again["sharded"]["execution_arn"] != first["sharded"]["execution_arn"]


def test_every_shard_reads_history_from_the_first_day_the_plan_recorded(
    deployed, generated: GeneratedData
) -> None:
    from grocery_forecast.pipeline.forecast import read_history

    s3, store, tmp = deployed
    _, started, _, _ = _whole_and_sharded(s3, store, generated, tmp, 200, "planned")
    plan = json.loads(s3.text("processed", runs.shard_key(started["run_id"], "plan.json")))
    first_stored = store.date_range()[0]
    assert plan["history_start"] == str(pd.Timestamp(first_stored).date())
    # Older history uploaded while the workflow runs must not move a shard's first day: the
    # plan's day wins over the table's.
    origin = pd.Timestamp(plan["origin"])
    later = origin - pd.Timedelta(days=20)
    targets = pd.read_csv(
        io.StringIO(s3.text("processed", runs.shard_key(started["run_id"], "input/00000.csv"))),
        parse_dates=["date"],
    )
    assert read_history(store, targets, origin, 400, later).start == later
    assert read_history(store, targets, origin, 400).start == pd.Timestamp(first_stored)


def test_a_delivery_after_an_invocation_died_past_the_start_records_that_execution(
    deployed, generated: GeneratedData
) -> None:
    """Predict killed between StartExecution and saving the manifest: Lambda's retry finds the
    execution by its deterministic name and neither plans again nor starts a second one."""
    s3 = deployed[0]
    sfn = KilledAfterStart()
    _, deliver = _deliveries(deployed, generated, "killed", sfn)

    with pytest.raises(TimeoutError):
        deliver()
    assert len(sfn.started) == 1
    (arn,) = sfn.status
    plan_key = runs.shard_key(sfn.started[0]["input"]["run_id"], "plan.json")
    planned = s3.text("processed", plan_key)
    sfn.__class__ = FakeSfn  # the retry lives
    again = deliver()
    assert len(sfn.started) == 1, "the retry must not start a second workflow"
    assert again["status"] == "forecasting" and again["sharded"]["execution_arn"] == arn
    assert again["sharded"]["shard_count"] > 1 and again["origin"] == str(generated.panel.end.date())
    assert s3.text("processed", plan_key) == planned, "the plan the workflow reads was rewritten"
    # The workflow then fails: the next delivery plans again, under the next attempt's name.
    sfn.status[arn] = "FAILED"
    third = deliver()
    assert len(sfn.started) == 2 and third["sharded"]["execution_arn"] != arn
    assert third["sharded"]["attempt"] == 1


def test_a_manifest_that_lost_a_failed_execution_plans_under_the_next_name(
    deployed, generated: GeneratedData
) -> None:
    """Step Functions never reuses a name: a failed execution the manifest no longer knows (its
    output was cleaned by hand, say) moves the next plan on to the next attempt's name."""
    s3 = deployed[0]
    sfn = FakeSfn()
    _, deliver = _deliveries(deployed, generated, "lost", sfn)

    first = deliver()
    sfn.status[first["sharded"]["execution_arn"]] = "FAILED"
    del s3.objects[("output", runs.manifest_key(first["run_id"]))]
    again = deliver()
    assert len(sfn.started) == 2 and again["sharded"]["attempt"] == 1


def test_a_retry_after_the_workflow_finished_leaves_the_finished_run_alone(
    deployed, generated: GeneratedData
) -> None:
    """Predict killed after StartExecution, and the workflow's Combine saves the run as succeeded
    (in a manifest that never recorded the execution) before Lambda's retry comes."""
    s3, store, _ = deployed
    sfn = KilledAfterStart()
    cfg, deliver = _deliveries(deployed, generated, "finished", sfn)

    with pytest.raises(TimeoutError):
        deliver()
    (execution,) = sfn.started
    _run_workflow(s3, store, cfg, execution)
    sfn.status[next(iter(sfn.status))] = "SUCCEEDED"
    key = runs.manifest_key(execution["input"]["run_id"])
    done = s3.text("output", key)
    assert json.loads(done)["status"] == "succeeded"
    sfn.__class__ = FakeSfn
    deliver()
    assert s3.text("output", key) == done and len(sfn.started) == 1


def test_the_same_bytes_uploaded_again_get_a_forecast_of_their_own(
    deployed, generated: GeneratedData
) -> None:
    """A re-upload of a forecast request (same key, same bytes: the same run id), e.g. to forecast
    with a newly promoted model: the ETL writes the run's manifest anew with the new upload's stamp,
    and predict must start a workflow for it, not take the first upload's finished one as its own."""
    s3 = deployed[0]
    sfn = FakeSfn()
    _, deliver = _deliveries(deployed, generated, "again", sfn)
    first = deliver()
    sfn.status[first["sharded"]["execution_arn"]] = "SUCCEEDED"
    # What the ETL does on the second upload: a new manifest, a newer stamp, no sharded record.
    fresh = RunManifest.from_dict(first)
    fresh.sharded, fresh.status = None, RunStatus.STARTED
    fresh.input.upload_stamp = (first["input"].get("upload_stamp") or 0) + 1
    mf.save(s3, "output", fresh)
    second = deliver()
    assert len(sfn.started) == 2, "the second upload must get its own workflow"
    assert (
        second["status"] == "forecasting"
        and second["sharded"]["execution_arn"] != first["sharded"]["execution_arn"]
    )
