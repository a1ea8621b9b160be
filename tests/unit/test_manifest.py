"""Run ids and output keys: deterministic, readable, derived from the input key."""

from __future__ import annotations

from grocery_forecast.pipeline import manifest as mf


def test_the_same_bytes_at_the_same_key_are_the_same_run() -> None:
    assert mf.run_id_for("uploads/a.csv", '"abc"') == mf.run_id_for("uploads/a.csv", "abc")
    assert mf.run_id_for("uploads/a.csv", "abc") != mf.run_id_for("uploads/a.csv", "abd")
    assert mf.run_id_for("uploads/a.csv", "abc") != mf.run_id_for("other/a.csv", "abc")


def test_run_ids_are_readable_and_safe_as_keys() -> None:
    run_id = mf.run_id_for("uploads/Store Sales (Aug).csv.gz", "e1")
    assert run_id.startswith("Store-Sales-Aug-") and "/" not in run_id and " " not in run_id


def test_processed_keys_follow_the_input_key() -> None:
    assert mf.processed_key("actuals", "uploads/day.csv.gz") == "actuals/uploads/day.csv"
    assert mf.processed_key("request", "test.csv") == "requests/test.csv"
    assert mf.rejected_key("uploads/x.csv") == "rejected/uploads/x.csv.json"
