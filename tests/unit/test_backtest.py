"""Backtest: the report contract, leakage-free scoring and the model beating the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from grocery_forecast.cli import main
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.datagen import GeneratedData, GeneratorConfig, generate, write_dataset

from .conftest import FAST_CONFIG, FAST_PARAMS

REQUIRED = {"model", "baselines", "per_horizon", "rows", "series", "train_seconds"}


def test_model_beats_every_baseline_on_generated_data(generated: GeneratedData) -> None:
    cutoff = generated.panel.end - pd.Timedelta(days=16)
    result = run_backtest(
        generated.panel, generated.reference, cutoff, 16, config=FAST_CONFIG, params=FAST_PARAMS
    )
    report = result.report
    best = min(report["baselines"].values())
    assert report["model"]["nwrmsle"] < 0.93 * best, report
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
    assert set(report["baselines"]) == {"zeros", "last_value", "dow_mean"}
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
