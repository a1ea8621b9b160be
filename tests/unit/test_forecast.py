"""The prediction step on in-memory S3 and DynamoDB: what it forecasts, from which origin, and what
it writes when something it needs is missing."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.reference_store import MissingReferenceTable, ReferenceObjects
from grocery_forecast.aws.s3io import csv_bytes
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunStatus
from grocery_forecast.contract.schema import FileKind
from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.etl import EtlConfig, run_etl
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, forecast_targets, run_forecast

from .conftest import Deployed

HORIZON = 16


@pytest.fixture
def config(deployed: Deployed, tmp_path: Path) -> ForecastConfig:
    return ForecastConfig(deployed.processed, deployed.models, deployed.output, HORIZON, tmp_path / "models")


def _last_day(deployed: Deployed) -> pd.DataFrame:
    train = deployed.data.train
    return train[train["date"] == train["date"].max()].drop(columns=["id"])


def _put_processed(deployed: Deployed, kind: FileKind, frame: pd.DataFrame, origin: str | None = None) -> str:
    key = runs.processed_key(kind, f"uploads/{kind.value}.csv", f"run-{kind.value}")
    hand_off = HandOff(f"run-{kind.value}", kind, f"uploads/{kind.value}.csv", "etag", origin)
    deployed.s3.put_object(
        Bucket=deployed.processed, Key=key, Body=csv_bytes(frame), Metadata=hand_off.to_metadata()
    )
    return key


def _forecast(deployed: Deployed, key: str, config: ForecastConfig, **caches) -> runs.RunManifest:
    return run_forecast(
        deployed.s3,
        deployed.store,
        deployed.processed,
        key,
        config,
        models=caches.get("models") or ModelCache(),
        references=caches.get("references") or ReferenceObjects(),
        request_id="req-2",
    )


def _output_csv(deployed: Deployed, uri: str) -> pd.DataFrame:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return pd.read_csv(io.BytesIO(deployed.s3.objects[(bucket, key)]["data"]))


def test_actuals_are_forecast_for_every_series_over_the_horizon(deployed: Deployed, config) -> None:
    day = _last_day(deployed)
    key = _put_processed(deployed, FileKind.ACTUALS, day)

    run = _forecast(deployed, key, config)

    series = day[["store_nbr", "item_nbr"]].drop_duplicates()
    assert run.status is RunStatus.SUCCEEDED and run.model_version == deployed.version
    assert run.origin == str(day["date"].max().date()) and run.horizon_days == HORIZON
    assert run.series_forecast == len(series) and run.rows_forecast == len(series) * HORIZON
    forecast = _output_csv(deployed, str(run.output))
    assert list(forecast.columns) == ["date", "store_nbr", "item_nbr", "onpromotion", "unit_sales"]
    assert (forecast["unit_sales"] >= 0).all() and forecast["unit_sales"].notna().all()
    assert mf.load(deployed.s3, deployed.output, run.run_id) == run  # the manifest was saved


def test_a_request_is_forecast_row_for_row_from_the_origin_the_etl_handed_over(
    deployed: Deployed, config
) -> None:
    request = deployed.data.test.head(40)
    key = _put_processed(deployed, FileKind.REQUEST, request, origin="2017-08-01")

    run = _forecast(deployed, key, config)

    assert run.status is RunStatus.SUCCEEDED and run.origin == "2017-08-01"
    forecast = _output_csv(deployed, str(run.output))
    assert list(forecast.columns[:2]) == ["id", "unit_sales"]
    assert forecast["id"].tolist() == request["id"].tolist()


def test_a_request_without_hand_off_uses_the_same_origin_rule_as_the_etl(deployed: Deployed, config) -> None:
    # GIVEN a request written to the processed bucket by hand, without the ETL's metadata
    request = deployed.data.test.head(10)
    key = "requests/by-hand.csv"
    deployed.s3.put_object(Bucket=deployed.processed, Key=key, Body=csv_bytes(request))
    # WHEN it is forecast
    run = _forecast(deployed, key, config)
    # THEN its origin is the end of history, as the ETL would have anchored it
    span = deployed.store.date_range()
    assert span is not None
    latest = span[1]
    assert run.origin == str(runs.request_origin(request["date"].min(), latest).date())
    assert run.run_id == runs.run_id_for(key, deployed.s3.objects[(deployed.processed, key)]["etag"])


def test_the_forecast_completes_the_manifest_the_etl_started(deployed: Deployed, config) -> None:
    # GIVEN an upload the ETL has validated, stored and handed over (a non-ASCII key: S3 metadata is ASCII)
    raw_key = "subidas/ventas_año.csv"
    deployed.s3.put_object(Bucket=deployed.raw, Key=raw_key, Body=csv_bytes(_last_day(deployed)))
    etl = run_etl(
        deployed.s3,
        deployed.store,
        deployed.raw,
        raw_key,
        EtlConfig(deployed.processed, deployed.output, HORIZON),
        request_id="req-1",
    )
    assert etl.status is RunStatus.FORECASTING, etl.errors
    # WHEN predict runs on the processed file
    run = _forecast(deployed, runs.processed_key(FileKind.ACTUALS, raw_key, etl.run_id), config)
    # THEN one manifest holds both steps
    assert run.run_id == etl.run_id and run.input.key == raw_key
    assert run.status is RunStatus.SUCCEEDED and run.request_ids == ["req-1", "req-2"]
    assert run.rows_in == etl.rows_in and {"etl_seconds", "forecast_seconds"} <= set(run.steps)


def test_no_model_in_service_fails_the_run_and_says_how_to_publish_one(deployed: Deployed, config) -> None:
    deployed.s3.objects.pop((deployed.models, runs.CURRENT_MODEL_KEY))
    key = _put_processed(deployed, FileKind.ACTUALS, _last_day(deployed))

    with pytest.raises(model_store.ModelStoreError, match="train --publish"):
        _forecast(deployed, key, config)

    run = mf.load(deployed.s3, deployed.output, "run-actuals")
    assert run is not None and run.status is RunStatus.FAILED
    assert run.errors[-1].startswith("forecast: ModelStoreError")


def test_a_missing_reference_table_fails_the_run_naming_it(deployed: Deployed, config) -> None:
    deployed.s3.objects.pop((deployed.processed, runs.reference_key("stores")))
    key = _put_processed(deployed, FileKind.ACTUALS, _last_day(deployed))

    with pytest.raises(MissingReferenceTable, match=r"reference/stores\.csv is missing"):
        _forecast(deployed, key, config)
    run = mf.load(deployed.s3, deployed.output, "run-actuals")
    assert run is not None and run.status is RunStatus.FAILED


def test_warm_caches_reread_only_what_changed(deployed: Deployed, config) -> None:
    key = _put_processed(deployed, FileKind.ACTUALS, _last_day(deployed))
    models, references = ModelCache(), ReferenceObjects()
    _forecast(deployed, key, config, models=models, references=references)
    first_model = models.model
    deployed.s3.gets.clear()

    _forecast(deployed, key, config, models=models, references=references)

    assert models.model is first_model
    read = {k for _, k in deployed.s3.gets}
    assert runs.CURRENT_MODEL_KEY in read  # the pointer is checked every time
    assert not any(k.startswith(runs.REFERENCE_PREFIX) for k in read), read
    # a re-uploaded reference table (new bytes, new ETag) is read again
    items = deployed.s3.objects[(deployed.processed, runs.reference_key("items"))]["data"]
    deployed.s3.put_object(Bucket=deployed.processed, Key=runs.reference_key("items"), Body=items + b"\n")
    _forecast(deployed, key, config, models=models, references=references)
    assert (deployed.processed, runs.reference_key("items")) in deployed.s3.gets


def test_forecast_targets_without_an_origin_start_the_day_before_the_request() -> None:
    request = pd.DataFrame(
        {
            "id": [1, 2],
            "date": pd.to_datetime(["2017-08-16", "2017-08-17"]),
            "store_nbr": [1, 1],
            "item_nbr": [10, 10],
            "onpromotion": [False, True],
        }
    )
    origin, targets = forecast_targets(request, FileKind.REQUEST, HORIZON)
    assert origin == pd.Timestamp("2017-08-15") and targets["id"].tolist() == [1, 2]


def test_an_upload_of_one_store_is_forecast_with_the_pooled_features_training_builds_from_every_store(
    deployed: Deployed, config: ForecastConfig, trained
) -> None:
    # GIVEN history for six stores and an upload holding one store's last day
    day = _last_day(deployed)
    one_store = day[day["store_nbr"] == day["store_nbr"].min()]
    key = _put_processed(deployed, FileKind.ACTUALS, one_store)
    # WHEN the predict step forecasts it (pooling over the history: forecast_pool_over_history, the default)
    run = _forecast(deployed, key, config)
    assert run.status is RunStatus.SUCCEEDED and "pool_history_seconds" in run.steps
    assert run.pooled_over == "history" and not run.warnings
    served = _output_csv(deployed, str(run.output)).sort_values(["store_nbr", "item_nbr", "date"])
    # THEN it equals the model's forecast from the whole history, as training and a backtest build
    # features (item, store, class and family levels pooled over every series in the lookback)
    origin = pd.Timestamp(run.origin)
    train = deployed.data.train
    stored = train[train["date"] > train["date"].max() - pd.Timedelta(days=90)]  # what `deployed` holds
    whole = SalesPanel.from_frame(stored.drop(columns=["id"]))
    _, targets = forecast_targets(one_store, FileKind.ACTUALS, HORIZON, origin)
    expected = targets.assign(
        unit_sales=np.round(trained.predict(whole, origin, targets, deployed.data.reference), 4)
    ).sort_values(["store_nbr", "item_nbr", "date"])
    np.testing.assert_allclose(served["unit_sales"], expected["unit_sales"], atol=1e-4)
    # and pooling over the upload's series alone (switched off) gives other forecasts.
    alone = _forecast(deployed, key, replace(config, pool_over_history=False))
    assert alone.pooled_over == "upload" and not alone.warnings
    forecast_alone = _output_csv(deployed, str(alone.output)).sort_values(["store_nbr", "item_nbr", "date"])
    assert np.abs(forecast_alone["unit_sales"].to_numpy() - expected["unit_sales"].to_numpy()).max() > 1e-3


def test_a_history_written_before_the_series_index_is_pooled_over_the_upload_until_it_is_indexed(
    deployed: Deployed, config: ForecastConfig
) -> None:
    # GIVEN a history table as code before the series index left it: no index items, no flag
    table = deployed.store.client.tables[deployed.store.table]
    for key in [k for k in table if k[0] == "__index__"]:
        del table[key]
    del table[("__meta__", "dates")]["series_index"]
    day = _last_day(deployed)
    key = _put_processed(deployed, FileKind.ACTUALS, day[day["store_nbr"] == day["store_nbr"].min()])
    # WHEN it is forecast, it is pooled over the upload, and the manifest says so and how to fix it
    before = _forecast(deployed, key, config)
    assert before.status is RunStatus.SUCCEEDED and before.pooled_over == "upload"
    assert any("grocery-forecast history index" in w for w in before.warnings), before.warnings
    served_before = _output_csv(deployed, str(before.output))["unit_sales"].to_numpy()
    # THEN once the index is built (a keys-only Scan), the same upload is pooled over the history
    train = deployed.data.train
    stored = train[train["date"] > train["date"].max() - pd.Timedelta(days=90)]  # what `deployed` holds
    assert deployed.store.build_series_index() == stored.groupby(["store_nbr", "item_nbr"]).ngroups
    after = _forecast(deployed, key, config)
    assert after.pooled_over == "history" and not any("series index" in w for w in after.warnings)
    served_after = _output_csv(deployed, str(after.output))["unit_sales"].to_numpy()
    assert np.abs(served_before - served_after).max() > 1e-3


def test_the_uploads_own_series_are_pooled_even_where_the_index_lacks_them(
    deployed: Deployed, trained
) -> None:
    from grocery_forecast.forecasting.features import pooled_sums
    from grocery_forecast.pipeline.forecast import pooled_over_history, read_history

    # GIVEN an upload of one store, whose series the index has lost (it never should)
    day = _last_day(deployed)
    store_nbr = int(day["store_nbr"].min())
    origin = pd.Timestamp(day["date"].max())
    table = deployed.store.client.tables[deployed.store.table]
    for key in [k for k in table if k[0] == "__index__" and k[1].endswith(f"#{store_nbr:05d}")]:
        del table[key]
    targets = day[day["store_nbr"] == store_nbr]
    reference = ReferenceObjects().reference(deployed.s3, deployed.processed)
    panel = read_history(deployed.store, targets, origin, int(trained.spec.lookback_days))
    # WHEN the pooled sums are built over the history
    got = pooled_over_history(deployed.store, panel, origin, trained, reference)
    # THEN they still hold the upload's series: those of the other stores and the upload's
    train = deployed.data.train
    stored = train[train["date"] > train["date"].max() - pd.Timedelta(days=90)]
    whole = SalesPanel.from_frame(stored.drop(columns=["id"])).window(panel.start, origin)
    uploaded = whole.index_of(targets["store_nbr"], targets["item_nbr"])
    kept = np.flatnonzero(whole.stores != store_nbr)
    assert len(uploaded) < np.count_nonzero(whole.stores == store_nbr), "the upload is part of its store"
    expected = pooled_sums(whole.take(np.r_[kept, uploaded]), origin, trained.spec, reference)
    assert got.recorded == expected.recorded
    for name, table in expected.item.items():
        np.testing.assert_allclose(got.item[name], table, err_msg=name)
