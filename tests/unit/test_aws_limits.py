"""The e2e guard that holds the emulator's runs to AWS Lambda's memory size and timeout."""

from __future__ import annotations

from grocery_forecast.cli.aws_limits import FunctionLimits, violations

LIMITS = {
    "etl_function_name": FunctionLimits("etl", 2048, 300),
    "predict_function_name": FunctionLimits("predict", 3008, 300),
}


def test_a_run_within_memory_and_time_passes():
    run = {
        "run_id": "r",
        "peak_memory_mb_etl": 900.0,
        "peak_memory_mb_predict": 3000.0,
        "steps": {"etl_seconds": 20.0, "forecast_seconds": 299.0},
    }
    assert violations(run, LIMITS) == []


def test_a_predict_over_its_memory_size_is_reported_as_killed():
    run = {"run_id": "big", "peak_memory_mb_predict": 3220.0, "steps": {"forecast_seconds": 40.0}}
    (problem,) = violations(run, LIMITS)
    assert "predict peaked at 3220 MB" in problem and "3008 MB" in problem and "big" in problem


def test_an_etl_over_its_timeout_is_reported():
    run = {"run_id": "slow", "peak_memory_mb_etl": 100.0, "steps": {"etl_seconds": 301.5}}
    (problem,) = violations(run, LIMITS)
    assert "etl ran 302 s" in problem and "timeout of 300 s" in problem


def test_a_run_killed_before_recording_has_nothing_to_compare():
    assert violations({"run_id": "x", "steps": {}}, LIMITS) == []
