"""Backtest: the report contract, leakage-free scoring and the model beating the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.cli import main
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.datagen import GeneratedData, GeneratorConfig, generate, write_dataset

from .conftest import FAST_CONFIG, FAST_PARAMS, tiny_panel, tiny_reference

REQUIRED = {"model", "baselines", "per_horizon", "rows", "series", "train_seconds"}


def test_model_beats_every_baseline_on_generated_data(generated: GeneratedData) -> None:
    cutoff = generated.panel.end - pd.Timedelta(days=16)
    result = run_backtest(
        generated.panel, generated.reference, cutoff, 16, config=FAST_CONFIG, params=FAST_PARAMS
    )
    report = result.report
    best = min(report["baselines"].values())
    assert report["best_baseline"] in {"moving_median", "moving_median_dow"}
    assert report["baselines"][report["best_baseline"]] == best
    # The strong baseline is a few percent behind the model, the weak ones far behind.
    assert report["model"]["nwrmsle"] < 0.96 * best, report
    assert report["model"]["nwrmsle"] < 0.90 * report["baselines"]["dow_mean"], report
    assert report["fallback"] is None
    for h, best_there in report["best_baseline_per_horizon"].items():
        assert best_there["nwrmsle"] == min(
            report["per_horizon_baselines"][b][h] for b in report["baselines"]
        )
        assert report["per_horizon_baselines"][best_there["name"]][h] == best_there["nwrmsle"]
    for h, value in report["per_horizon"].items():
        floor = min(report["per_horizon_baselines"][b][h] for b in report["baselines"])
        assert value < floor * 1.02, (h, value, floor)
    assert report["rows"] == generated.panel.n_series * 16 and report["horizon_evaluated"] == 16


def test_cli_writes_the_report_and_plot_and_scores_only_days_with_data(tmp_path: Path) -> None:
    data = generate(GeneratorConfig(seed=2, stores=3, items=15, days=150, start="2017-01-01"))
    write_dataset(tmp_path / "data", data)
    end = data.panel.end
    cutoff = end - pd.Timedelta(days=10)  # only 10 of the 16 requested days exist
    code = main(
        [
            "backtest",
            "--sales",
            str(tmp_path / "data/train.csv"),
            "--reference",
            str(tmp_path / "data"),
            "--cutoff",
            str(cutoff.date()),
            "--horizon",
            "16",
            "--report",
            str(tmp_path / "out/report.json"),
            "--plot",
            str(tmp_path / "out/plot.png"),
            "--since",
            "2017-02-01",
            "--max-origins",
            "6",
            "--save-model",
            str(tmp_path / "model"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert set(report) >= REQUIRED
    assert set(report["baselines"]) >= {"zeros", "last_value", "dow_mean", "moving_median"}
    assert isinstance(report["model"]["nwrmsle"], float) and isinstance(report["rows"], int)
    assert list(report["per_horizon"]) == [str(h) for h in range(1, 11)] and report["horizon_evaluated"] == 10
    assert report["series"] == data.panel.n_series and report["rows"] == data.panel.n_series * 10
    assert (tmp_path / "out/plot.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "model/metadata.json").read_text())
    assert saved["backtest"]["model"] == report["model"] and saved["training_window"]["start"] == "2017-02-01"


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = generate(GeneratorConfig(seed=2, stores=2, items=5, days=40, start="2017-01-01"))
    write_dataset(tmp_path, data)
    args = [
        "backtest",
        "--sales",
        str(tmp_path / "train.csv"),
        "--reference",
        str(tmp_path),
        "--report",
        str(tmp_path / "r.json"),
    ]
    assert main([*args, "--cutoff", "2017-03-01"]) == 2
    assert "no sales after the cutoff" in capsys.readouterr().err
    assert main([*args, "--cutoff", "yesterday-ish"]) == 2
    assert "--cutoff must be a date" in capsys.readouterr().err


def test_two_weeks_of_history_train_on_origins_of_every_weekday(generated: GeneratedData) -> None:
    cutoff = generated.panel.end - pd.Timedelta(days=16)
    short = generated.panel.window(
        cutoff - pd.Timedelta(days=13), generated.panel.end
    )  # 14 days to the cutoff
    result = run_backtest(short, generated.reference, cutoff, 16, config=FAST_CONFIG, params=FAST_PARAMS)
    assert result.model is not None and result.report["fallback"] is None
    origins = pd.to_datetime(result.model.metadata["training_window"]["origins"])
    assert set(origins.day_of_week) == set(range(7))
    assert result.report["model"]["nwrmsle"] < result.report["baselines"]["dow_mean"]
    # Early stopping judged the rounds on the last days, although every target of two weeks falls
    # in the usual 16-day window: before, that left no validation and boosting ran blind.
    validation = result.model.metadata["validation"]
    assert validation["rows"] > 0 and 0 < validation["nwrmsle"] < 2
    assert validation["window"][1] == str(cutoff.date())


def test_history_below_the_minimum_falls_back_to_moving_median_and_says_so(
    generated: GeneratedData, tmp_path: Path
) -> None:
    cutoff = generated.panel.end - pd.Timedelta(days=16)
    short = generated.panel.window(cutoff - pd.Timedelta(days=9), generated.panel.end)  # 10 days
    result = run_backtest(short, generated.reference, cutoff, 16, config=FAST_CONFIG, params=FAST_PARAMS)
    report = result.report
    assert result.model is None and report["model_info"] is None
    assert "not enough history to train: 10 days" in report["fallback"]
    assert "moving_median" in report["fallback"]
    assert report["model"]["nwrmsle"] == report["baselines"]["moving_median"]
    from grocery_forecast.forecasting.plots import plot_backtest

    assert plot_backtest(result, tmp_path / "fallback.png").stat().st_size > 10_000


def test_a_year_of_history_trains_on_origins_of_every_weekday() -> None:
    """Daily uploads are served on every weekday: long histories train on all of them too."""
    from grocery_forecast.forecasting.model import TrainConfig, _training_origins
    from grocery_forecast.forecasting.panel import SalesPanel

    days = 365
    panel = SalesPanel(
        pd.Timestamp("2016-08-01"),
        np.array([1], dtype=np.int32),
        np.array([10], dtype=np.int64),
        np.ones((1, days), dtype=np.float32),
        np.zeros((1, days), dtype=np.int8),
    )
    origins = pd.DatetimeIndex(_training_origins(panel, panel.end, TrainConfig()))
    assert len(origins) == 26 and set(origins.day_of_week) == set(range(7))
    assert (origins[:-1] - origins[1:]).days.tolist() == [8] * 25
    # A weekly stride asked for explicitly still steps through the weekdays (6 days, not 7) ...
    weekly = pd.DatetimeIndex(_training_origins(panel, panel.end, TrainConfig(origin_stride=7)))
    assert set(weekly.day_of_week) == set(range(7))
    # ... and so does a history whose span divided by the origins comes out at 7 days.
    seven = panel.window(panel.end - pd.Timedelta(days=26 * 7 + 6), panel.end)
    assert set(pd.DatetimeIndex(_training_origins(seven, seven.end, TrainConfig())).day_of_week) == set(
        range(7)
    )


def test_a_scored_day_on_which_nothing_sold_is_reported_not_divided_by_zero() -> None:
    """zeros is exact on a day with no sale: the margins against it are finite numbers in the JSON."""
    panel = tiny_panel(days=30)
    cutoff = panel.start + pd.Timedelta(days=13)
    panel.sales[:, 14] = np.nan  # nothing sold on the first scored day
    report = run_backtest(panel, tiny_reference(), cutoff, 16, config=FAST_CONFIG, params=FAST_PARAMS).report
    assert report["best_baseline_per_horizon"]["1"] == {"name": "zeros", "nwrmsle": 0.0}
    assert np.isfinite(report["worst_horizon_ratio_to_best_baseline"])
    assert np.isfinite(report["improvement_vs_best_baseline_per_horizon"]["1"])
    json.loads(json.dumps(report, allow_nan=False))
