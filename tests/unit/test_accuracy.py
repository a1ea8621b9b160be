"""Realized accuracy: scoring served forecasts once their actuals arrive, in the library and as the
monitor's pipeline step on in-memory S3 and DynamoDB."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws.metrics import emf_to_metric_data
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.aws.s3io import csv_bytes
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunStatus
from grocery_forecast.contract.schema import PERISHABLE_WEIGHT, FileKind
from grocery_forecast.forecasting.accuracy import (
    METHODS,
    DayScore,
    score_forecast,
    summarize,
    worse_than_baseline_streak,
)
from grocery_forecast.forecasting.baselines import dow_mean, moving_median
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.pipeline.accuracy import AccuracyConfig, load_scores, score_arrivals
from grocery_forecast.pipeline.etl import EtlConfig, run_etl
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, run_forecast

from .conftest import Deployed, tiny_panel

ORIGIN = pd.Timestamp("2017-02-09")  # day 40 of tiny_panel's 60


def _forecast_rows(panel, origin: pd.Timestamp, days: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(origin + pd.Timedelta(days=1), periods=days, freq="D")
    frame = pd.DataFrame(
        {
            "date": np.tile(dates.to_numpy(), panel.n_series),
            "store_nbr": np.repeat(panel.stores.astype(np.int64), days),
            "item_nbr": np.repeat(panel.items, days),
        }
    )
    return frame.assign(unit_sales=rng.uniform(0, 10, len(frame)).round(4))


def test_each_day_is_scored_with_favoritas_metric_next_to_baselines_as_of_the_origin() -> None:
    # GIVEN a forecast of 16 days from day 40 of a 60-day history, perishable item 20 weighing 1.25
    panel = tiny_panel()
    forecast = _forecast_rows(panel, ORIGIN, 16)
    weights = np.where(forecast["item_nbr"] == 20, PERISHABLE_WEIGHT, 1.0)
    # WHEN it is scored
    scores = score_forecast(forecast, ORIGIN, panel, weights, forecast_run="run-a", model_version="v1")
    # THEN one score per day, horizon 1..16, and each equals NWRMSLE computed directly
    assert [s.horizon for s in scores] == list(range(1, 17))
    actual = panel.sales_filled()[panel.index_of(forecast["store_nbr"], forecast["item_nbr"]), :]
    cols = (forecast["date"] - panel.start).dt.days.to_numpy()
    y = actual[np.arange(len(forecast)), cols]
    ahead = (forecast["date"] - ORIGIN).dt.days.to_numpy()
    history = panel.window(panel.start, ORIGIN)
    expected = {
        "model": nwrmsle_by_group(y, forecast["unit_sales"], weights, ahead),
        "moving_median": nwrmsle_by_group(y, moving_median(history, ORIGIN, forecast), weights, ahead),
        "dow_mean": nwrmsle_by_group(y, dow_mean(history, ORIGIN, forecast), weights, ahead),
    }
    for score in scores:
        assert score.rows == 3 and score.model_version == "v1" and score.origin == "2017-02-09"
        for method, by_h in expected.items():
            assert score.nwrmsle(method) == pytest.approx(by_h[score.horizon], rel=1e-9)
    # AND the sums add up to the overall score exactly
    overall = summarize(scores, []).iloc[0]
    assert overall["model"] == pytest.approx(nwrmsle(y, forecast["unit_sales"], weights), rel=1e-9)
    assert overall["runs"] == 1 and overall["rows"] == len(forecast)


def test_only_the_days_asked_and_inside_the_history_are_scored() -> None:
    panel = tiny_panel()  # ends 2017-03-01: day 20 of the forecast is beyond it
    forecast = _forecast_rows(panel, ORIGIN, 20)
    weights = np.ones(len(forecast))
    days = ["2017-02-12", "2017-02-13", "2017-03-05"]
    scores = score_forecast(forecast, ORIGIN, panel, weights, forecast_run="r", model_version="v", days=days)
    assert [s.date for s in scores] == ["2017-02-12", "2017-02-13"]
    assert [s.horizon for s in scores] == [3, 4]


def test_a_history_starting_after_the_origin_is_refused() -> None:
    panel = tiny_panel().window("2017-02-15", "2017-03-01")
    forecast = _forecast_rows(tiny_panel(), ORIGIN, 3)
    with pytest.raises(ValueError, match="after the origin"):
        score_forecast(forecast, ORIGIN, panel, np.ones(len(forecast)), forecast_run="r", model_version="v")


def _day(date: str, model: float, baseline: float, run: str = "r", version: str = "v1", horizon: int = 1):
    return DayScore(
        run,
        version,
        "2017-01-01",
        date,
        horizon,
        10,
        10.0,
        {"model": model * model * 10, "moving_median": baseline * baseline * 10, "dow_mean": 99.0 * 10},
    )


def test_summaries_group_by_model_version_and_horizon_and_name_the_best_baseline() -> None:
    scores = [_day("2017-01-02", 0.5, 0.6, horizon=1), _day("2017-01-03", 0.7, 0.6, horizon=2, version="v2")]
    table = summarize(scores, ["model_version", "horizon"])
    assert table[["model_version", "horizon"]].values.tolist() == [["v1", 1], ["v2", 2]]
    assert table["best_baseline"].tolist() == ["moving_median", "moving_median"]
    assert table["ratio"].round(4).tolist() == [round(0.5 / 0.6, 4), round(0.7 / 0.6, 4)]
    assert DayScore.from_dict(json.loads(json.dumps(scores[0].to_dict()))) == scores[0]


def test_the_streak_counts_consecutive_data_days_worse_than_the_best_baseline() -> None:
    scores = [
        _day("2017-01-01", 0.7, 0.6),  # worse, but 01-02 breaks the run
        _day("2017-01-02", 0.5, 0.6),
        _day("2017-01-03", 0.7, 0.6),
        _day("2017-01-04", 0.8, 0.6),
        _day("2017-01-04", 0.4, 0.6, run="other"),  # pooled with the day's other run: still worse
        _day("2017-01-05", 0.9, 0.6),
    ]
    assert worse_than_baseline_streak(scores) == 3
    assert worse_than_baseline_streak(scores, last_day="2017-01-02") == 0
    gap = [_day("2017-01-01", 0.7, 0.6), _day("2017-01-03", 0.7, 0.6)]
    assert worse_than_baseline_streak(gap) == 1
    assert worse_than_baseline_streak([]) == 0


def test_a_powertools_emf_document_becomes_the_same_metric_data() -> None:
    document = {
        "_aws": {
            "Timestamp": 1795817692210,
            "CloudWatchMetrics": [
                {
                    "Namespace": "GroceryForecast",
                    "Dimensions": [["stack", "service"]],
                    "Metrics": [{"Name": "RowsScored", "Unit": "Count"}, {"Name": "Ratio", "Unit": "None"}],
                }
            ],
        },
        "stack": "gf",
        "service": "monitor",
        "RowsScored": [100.0],
        "Ratio": 0.9,
    }
    [(namespace, data)] = emf_to_metric_data(document)
    assert namespace == "GroceryForecast"
    assert [(d["MetricName"], d["Value"], d["Unit"]) for d in data] == [
        ("RowsScored", 100.0, "Count"),
        ("Ratio", 0.9, "None"),
    ]
    assert data[0]["Dimensions"] == [
        {"Name": "service", "Value": "monitor"},
        {"Name": "stack", "Value": "gf"},
    ]


# -- the monitor's step, on the in-memory stack -----------------------------------------------------


def _served_forecast(deployed: Deployed, origin: pd.Timestamp, tmp_path: Path) -> runs.RunManifest:
    """Predict's run on a processed actuals file of ``origin`` (the history table holds later days
    too; predict reads only up to the origin)."""
    train = deployed.data.train
    day = train[train["date"] == origin].drop(columns=["id"])
    run_id = "served-forecast-0123456789ab"
    key = runs.processed_key(FileKind.ACTUALS, "uploads/day.csv", run_id)
    hand_off = HandOff(run_id, FileKind.ACTUALS, "uploads/day.csv", "etag")
    deployed.s3.put_object(
        Bucket=deployed.processed, Key=key, Body=csv_bytes(day), Metadata=hand_off.to_metadata()
    )
    config = ForecastConfig(deployed.processed, deployed.models, deployed.output, 16, tmp_path / "models")
    run = run_forecast(
        deployed.s3,
        deployed.store,
        deployed.processed,
        key,
        config,
        models=ModelCache(),
        references=ReferenceObjects(),
    )
    assert run.status is RunStatus.SUCCEEDED
    return run


def _actuals_arrive(deployed: Deployed, days: list[pd.Timestamp]) -> str:
    """The ETL stores actuals of ``days`` (already in history: idempotent); the processed key."""
    train = deployed.data.train
    rows = train[train["date"].isin(days)].drop(columns=["id"])
    raw_key = f"uploads/actuals-{days[0].date()}.csv"
    deployed.s3.put_object(Bucket=deployed.raw, Key=raw_key, Body=csv_bytes(rows))
    etl = run_etl(
        deployed.s3, deployed.store, deployed.raw, raw_key, EtlConfig(deployed.processed, deployed.output, 16)
    )
    assert etl.status is RunStatus.FORECASTING and etl.processed
    return etl.processed.removeprefix(f"s3://{deployed.processed}/")


def test_arriving_actuals_score_the_forecasts_served_for_their_days(
    deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN a forecast served from an origin 16 days before the end of history
    end = deployed.data.train["date"].max()
    origin = end - pd.Timedelta(days=16)
    served = _served_forecast(deployed, origin, tmp_path)
    # WHEN the actuals of its first three days arrive
    days = [origin + pd.Timedelta(days=k) for k in (1, 2, 3)]
    key = _actuals_arrive(deployed, days)
    result = score_arrivals(
        deployed.s3,
        deployed.store,
        AccuracyConfig(deployed.processed, deployed.output),
        deployed.processed,
        key,
    )
    # THEN those three days of that forecast are scored, at horizons 1..3, and stored
    assert result.forecast_runs == [served.run_id]
    assert sorted((s.date, s.horizon) for s in result.scores) == [
        (str(d.date()), h) for h, d in enumerate(days, 1)
    ]
    # AND the model's score is Favorita's NWRMSLE of the served rows against what was sold
    forecast = pd.read_csv(
        io.BytesIO(deployed.s3.objects[(deployed.output, runs.forecast_key(served.run_id))]["data"]),
        parse_dates=["date"],
    )
    forecast = forecast[forecast["date"].isin(days)]
    sold = deployed.data.train[["date", "store_nbr", "item_nbr", "unit_sales"]]
    merged = forecast.merge(sold, on=["date", "store_nbr", "item_nbr"], how="left", suffixes=("", "_actual"))
    items = deployed.data.items.set_index("item_nbr")["perishable"]
    weights = np.where(merged["item_nbr"].map(items).to_numpy() == 1, PERISHABLE_WEIGHT, 1.0)
    expected = nwrmsle(merged["unit_sales_actual"].fillna(0.0), merged["unit_sales"], weights)
    assert summarize(result.scores, []).iloc[0]["model"] == pytest.approx(expected, rel=1e-6)
    stored = load_scores(deployed.s3, deployed.output)
    assert sorted(stored, key=lambda s: s.date) == sorted(result.scores, key=lambda s: s.date)
    doc = json.loads(deployed.s3.text(deployed.output, runs.accuracy_key(str(days[0].date()), served.run_id)))
    assert (
        doc["model_version"] == deployed.version
        and doc["origin"] == str(origin.date())
        and doc["horizon"] == 1
    )
    # AND the figures for CloudWatch say how it compares
    figures = result.metrics()
    assert figures["RowsScored"] == len(forecast)
    assert figures["ModelToBestBaselineRatio"] == pytest.approx(
        figures["RealizedNWRMSLE_model"]
        / min(figures["RealizedNWRMSLE_moving_median"], figures["RealizedNWRMSLE_dow_mean"])
    )
    assert 0 <= figures["DaysWorseThanBaseline"] <= 3


def test_the_same_actuals_twice_change_nothing(deployed: Deployed, tmp_path: Path) -> None:
    end = deployed.data.train["date"].max()
    origin = end - pd.Timedelta(days=16)
    _served_forecast(deployed, origin, tmp_path)
    key = _actuals_arrive(deployed, [origin + pd.Timedelta(days=1)])
    config = AccuracyConfig(deployed.processed, deployed.output)
    first = score_arrivals(deployed.s3, deployed.store, config, deployed.processed, key)
    keys_before = sorted(
        k for b, k in deployed.s3.objects if b == deployed.output and k.startswith("accuracy/")
    )
    second = score_arrivals(deployed.s3, deployed.store, config, deployed.processed, key)
    keys_after = sorted(
        k for b, k in deployed.s3.objects if b == deployed.output and k.startswith("accuracy/")
    )
    assert keys_before == keys_after and len(keys_after) == 1
    assert second.scores == first.scores


def test_actuals_no_forecast_covers_score_nothing(deployed: Deployed) -> None:
    end = deployed.data.train["date"].max()
    key = _actuals_arrive(deployed, [end])
    result = score_arrivals(
        deployed.s3,
        deployed.store,
        AccuracyConfig(deployed.processed, deployed.output),
        deployed.processed,
        key,
    )
    assert result.scores == [] and result.metrics() == {}


# -- the operator's view ------------------------------------------------------------------------------


def test_the_accuracy_command_prints_both_tables_and_draws_them(
    deployed: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from grocery_forecast.cli import accuracy as command
    from grocery_forecast.cli import main

    end = deployed.data.train["date"].max()
    origin = end - pd.Timedelta(days=16)
    _served_forecast(deployed, origin, tmp_path)
    key = _actuals_arrive(deployed, [origin + pd.Timedelta(days=k) for k in (1, 2)])
    score_arrivals(
        deployed.s3,
        deployed.store,
        AccuracyConfig(deployed.processed, deployed.output),
        deployed.processed,
        key,
    )

    class _Stack:
        output_bucket_name = deployed.output

        def client(self, service: str) -> object:
            return deployed.s3

    monkeypatch.setattr(command, "open_stack", lambda args: _Stack())
    png = tmp_path / "accuracy.png"
    assert main(["accuracy", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "per model version x horizon" in out and "Per day" in out
    assert f"{deployed.version}" in out and str((origin + pd.Timedelta(days=2)).date()) in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["accuracy", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["horizon"] for r in doc["by_model_version_and_horizon"]] == [1, 2]
    assert len(doc["by_day"]) == 2 and doc["overall"][0]["model_version"] == deployed.version


def test_metrics_leave_out_figures_emf_cannot_carry() -> None:
    """A day whose rows all sold nothing, forecast at 0 by every baseline: the ratio to the best
    baseline is 0/0. One NaN in an EMF line makes it invalid JSON, and CloudWatch extracts none of
    its metrics, the worse-than-baseline streak included."""
    from grocery_forecast.pipeline.accuracy import AccuracyResult

    silent = DayScore("r", "v1", "2017-01-01", "2017-01-02", 1, 10, 10.0, dict.fromkeys(METHODS, 0.0))
    figures = AccuracyResult("actuals-1", ["2017-01-02"], scores=[silent], streak=2).metrics()
    assert "ModelToBestBaselineRatio" not in figures
    assert figures["DaysWorseThanBaseline"] == 2.0 and figures["RowsScored"] == 10.0
    json.dumps(figures, allow_nan=False)
