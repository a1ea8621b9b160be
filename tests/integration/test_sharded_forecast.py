"""The sharded forecast on the deployed stack: Step Functions Distributed Maps over shards of series.

The local root deploys 1,000-row shards (forecast_shard_rows), so an upload of 130 series (2,080 target
rows) runs as three shards; the e2e files stay small.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws.model_store import current_version, download_model
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.contract.runs import RunManifest
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.pipeline.forecast import forecast_frame, pooled_over_history, read_history

from .helpers import read_output_csv, upload_and_wait, write_csv

pytestmark = pytest.mark.integration

N_SERIES = 130
HISTORY_DAYS = 70
HORIZON = 16


@pytest.fixture(scope="module")
def series(sample_sales: pd.DataFrame) -> pd.DataFrame:
    recent = sample_sales[sample_sales["date"] > sample_sales["date"].max() - pd.Timedelta(days=HISTORY_DAYS)]
    pairs = recent[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
    return pairs.iloc[:: max(1, len(pairs) // N_SERIES)].head(N_SERIES).reset_index(drop=True)


@pytest.fixture(scope="module")
def uploaded_history(stack, s3, sample_sales, series, tmp_path_factory) -> RunManifest:
    """Ten weeks of sales of 130 series: its own forecast (130 x 16 rows) is sharded too."""
    end = sample_sales["date"].max()
    rows = sample_sales.merge(series, on=["store_nbr", "item_nbr"])
    rows = rows[rows["date"] > end - pd.Timedelta(days=HISTORY_DAYS)]
    rows = rows[["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]]
    tmp = tmp_path_factory.mktemp("sharded")
    return upload_and_wait(stack, s3, write_csv(tmp, "sales.csv", rows), "it/sharded/history.csv")


def _request(series: pd.DataFrame, origin: pd.Timestamp, seed: int) -> pd.DataFrame:
    """A Kaggle test.csv for the series, rows shuffled (the forecast must keep this order)."""
    days = pd.date_range(origin + pd.Timedelta(days=1), periods=HORIZON, freq="D")
    request = series.merge(pd.DataFrame({"date": days}), how="cross").sample(frac=1.0, random_state=seed)
    request.insert(0, "id", np.arange(125_497_040, 125_497_040 + len(request)))
    request["onpromotion"] = np.arange(len(request)) % 7 == 0
    return request[["id", "date", "store_nbr", "item_nbr", "onpromotion"]].reset_index(drop=True)


@pytest.fixture
def upload_request(stack, s3, series, uploaded_history, tmp_path):
    """Upload a request for the 130 series (shuffled by ``seed``) under ``it/sharded/<name>``: (request, run)."""

    def upload(name: str, seed: int) -> tuple[pd.DataFrame, RunManifest]:
        request = _request(series, pd.Timestamp(str(uploaded_history.origin)), seed)
        return request, upload_and_wait(
            stack, s3, write_csv(tmp_path, "test.csv", request), f"it/sharded/{name}"
        )

    return upload


def _unsharded(stack, s3, history, run: RunManifest, tmp_path) -> pd.DataFrame:
    """The same rows forecast in one go, in this process, from the deployed history, model and reference."""
    bucket, key = run.processed.removeprefix("s3://").split("/", 1)
    obj = s3.get_object(Bucket=bucket, Key=key)
    cleaned = pd.read_csv(io.BytesIO(obj["Body"].read()), parse_dates=["date"])
    origin = pd.Timestamp(obj["Metadata"]["origin"])
    version = current_version(s3, stack.models_bucket_name)
    model = ForecastModel.load(download_model(s3, stack.models_bucket_name, version, tmp_path))
    panel = read_history(history, cleaned, origin, int(model.spec.lookback_days))
    reference = ReferenceObjects().reference(s3, stack.processed_bucket_name)
    targets = cleaned[["id", "date", "store_nbr", "item_nbr", "onpromotion"]]
    # pooled over every series of the deployed history, as the run was (the manifest says so)
    assert run.pooled_over == "history"
    pooled = pooled_over_history(history, panel, origin, model, reference)
    forecast, fallback = forecast_frame(model, panel, origin, targets, reference, "request", pooled)
    assert fallback is None and run.fallback is None
    return forecast


def test_an_actuals_upload_over_the_shard_size_is_forecast_in_shards(uploaded_history):
    # GIVEN / WHEN ten weeks of 130 series uploaded (2,080 target rows > 1,000-row shards)
    run = uploaded_history
    # THEN the run succeeded through three shards, each listed with its status and memory
    assert run.status == "succeeded", run
    assert run.sharded["shard_count"] == 3
    assert run.rows_forecast == N_SERIES * HORIZON and run.series_forecast == N_SERIES
    assert [s["status"] for s in run.sharded["shards"]] == ["succeeded"] * 3
    assert sum(s["rows"] for s in run.sharded["shards"]) == N_SERIES * HORIZON


def test_a_sharded_request_gives_one_csv_in_request_order_equal_to_the_unsharded_forecast(
    stack, s3, history, upload_request, tmp_path
):
    # GIVEN history for 130 series; WHEN a request for their next 16 days, in shuffled order, is uploaded
    request, run = upload_request("test.csv", seed=1)

    # THEN one forecast CSV holds every requested row, in the request's order
    assert run.status == "succeeded", run
    assert run.sharded["shard_count"] == 3
    shards = run.sharded["shards"]
    assert all(s["status"] == "succeeded" and s["attempts"] == {"stats": 1, "forecast": 1} for s in shards)
    assert run.peak_memory_mb_predict == max(
        [s["peak_memory_mb"] for s in shards]
        + [run.sharded[step]["peak_memory_mb"] for step in ("plan", "pool", "combine")]
    )
    forecast = read_output_csv(s3, run.output)
    assert list(forecast.columns) == ["id", "unit_sales", "date", "store_nbr", "item_nbr", "onpromotion"]
    assert forecast["id"].tolist() == request["id"].tolist()

    # AND its values are those of the same rows forecast in one invocation (item, store, class and
    # family features pooled over every series of the history, not each shard's range alone)
    expected = _unsharded(stack, s3, history, run, tmp_path)
    assert expected["id"].tolist() == request["id"].tolist()
    np.testing.assert_allclose(forecast["unit_sales"], expected["unit_sales"], atol=2e-4)
    assert forecast["unit_sales"].sum() > 0


def test_a_failing_shard_is_retried_and_the_retry_shows_in_the_manifest(s3, upload_request):
    # GIVEN / WHEN a request whose first shard fails once (the local root's FORECAST_SHARD_FAULT marker)
    request, run = upload_request("inject-shard-fault-1.csv", seed=2)

    # THEN Step Functions retried the shard, the run succeeded, and the manifest shows the retry
    assert run.status == "succeeded", run
    first = run.sharded["shards"][0]
    assert first["status"] == "succeeded" and first["attempts"]["forecast"] == 2
    assert "ShardFault" in first["errors"][0]
    assert read_output_csv(s3, run.output)["id"].tolist() == request["id"].tolist()


def test_a_shard_failing_every_attempt_fails_the_run_with_the_reason(upload_request):
    # GIVEN / WHEN a request whose first shard fails more often than it is retried
    _, run = upload_request("inject-shard-fault-9.csv", seed=3)

    # THEN the run ends failed, naming the shard and its error, with no forecast
    assert run.status == "failed", run
    first = run.sharded["shards"][0]
    assert first["status"] == "failed" and first["attempts"]["forecast"] == 3
    assert any("shard 0" in e and "ShardFault" in e for e in run.errors), run.errors
    assert run.output is None
