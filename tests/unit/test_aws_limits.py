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


def test_a_shard_over_80_percent_of_its_memory_is_reported_though_under_the_size():
    run = {
        "run_id": "big-request",
        "peak_memory_mb_predict": 2500.0,
        "steps": {"forecast_seconds": 100.0},
        "sharded": {
            "shards": [
                {"index": 0, "peak_memory_mb": 1800.0, "seconds": 60.0},
                {"index": 1, "peak_memory_mb": 2500.0, "seconds": 60.0},
            ],
            "combine": {"peak_memory_mb": 900.0, "seconds": 250.0},
        },
    }
    problems = violations(run, LIMITS)
    assert len(problems) == 2
    assert "shard 1 peaked at 2500 MB" in problems[0] and "80%" in problems[0]
    assert "combine ran 250 s" in problems[1] and "forecast_shard_rows" in problems[1]


def test_each_invocation_of_a_sharded_ingest_is_held_to_80_percent_of_the_etl_function():
    run = {
        "run_id": "big-history",
        "peak_memory_mb_etl": 1700.0,
        "steps": {"etl_seconds": 100.0},
        "ingest": {
            "plan": {"peak_memory_mb": 200.0, "seconds": 250.0},
            "shards": [{"index": 0, "peak_memory_mb": 900.0, "seconds": 50.0}],
            "partition_runs": [
                {"partition": 3, "check": {"peak_memory_mb": 300.0}, "merge": {"peak_memory_mb": 1700.0}}
            ],
        },
    }
    problems = violations(run, LIMITS)
    assert len(problems) == 2, problems
    assert "ingest plan ran 250 s" in problems[0] and "ingest_shard_bytes" in problems[0]
    # a partition task holds one sub-bucket at a time: the remedy is a smaller ingest_bucket_rows
    assert "ingest partition 3 merge peaked at 1700 MB" in problems[1] and "80%" in problems[1]
    assert "ingest_bucket_rows" in problems[1]
