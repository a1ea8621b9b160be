"""The retraining steps (pipeline/training.py) on in-memory S3 and DynamoDB fakes.

GIVEN a stack's history, reference tables and (or not) a model in service, WHEN the workflow's
tasks run in order (scan every segment, train, then promote or reject as the gate said), THEN the
challenger is published with its scores and decision, current.json moves only on promotion, and
the training manifest records the outcome.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import SLOTS, DynamoHistoryStore, YearBuckets, lease_key, panel_from_buckets
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.contract.runs import CURRENT_MODEL_KEY
from grocery_forecast.pipeline import training
from grocery_forecast.pipeline.training import RetrainConfig, decide

from .conftest import Deployed
from .fakes import FakeDynamo

SEGMENTS = 3


def _config(deployed: Deployed, tmp_path, **overrides) -> RetrainConfig:
    return RetrainConfig(
        models_bucket=deployed.models,
        processed_bucket=deployed.processed,
        history_days=90,
        max_rows=60_000,
        model_dir=tmp_path / "models",
        **overrides,
    )


def _run_workflow(deployed: Deployed, config: RetrainConfig, run_id: str) -> dict:
    """What the state machine does: Map over the segments, train, then the Choice."""
    references = ReferenceObjects()
    for segment in range(SEGMENTS):
        event = {"task": "scan", "run_id": run_id, "segment": segment, "total_segments": SEGMENTS}
        training.run_task(event, deployed.s3, deployed.store, references, config)
    challenger = training.run_task(
        {"task": "train", "run_id": run_id, "total_segments": SEGMENTS, "trigger": "schedule"},
        deployed.s3,
        deployed.store,
        references,
        config,
    )
    step = {"task": "promote", "run_id": run_id, "version": challenger["version"]}
    if not challenger["promote"]:
        step = {"task": "reject", "run_id": run_id}
    training.run_task(step, deployed.s3, deployed.store, references, config)
    return challenger


# -- the gate ----------------------------------------------------------------------------------


def test_gate_promotes_when_nothing_is_in_service() -> None:
    decision = decide(0.55, None, 0.01)
    assert decision.promote and "no model in service" in decision.reason


def test_gate_promotes_only_past_the_margin() -> None:
    assert decide(0.50, 0.55, 0.01).promote  # 9.1% better
    assert not decide(0.548, 0.55, 0.01).promote  # 0.4% better: inside the margin
    assert decide(0.55, 0.55, 0.0).promote  # a tie passes a zero margin
    worse = decide(0.60, 0.55, 0.01)
    assert not worse.promote and "-9.09%" in worse.reason and "0.6000" in worse.reason


def test_config_refuses_a_margin_outside_0_1() -> None:
    with pytest.raises(ValueError, match="min_improvement"):
        RetrainConfig("m", "p", min_improvement=1.5)


# -- reading the history by parallel Scan --------------------------------------------------------


def test_scan_segments_together_read_exactly_the_panel_batch_get_reads(deployed: Deployed) -> None:
    store = deployed.store
    first, last = store.date_range()  # type: ignore[misc]
    parts = [store.scan_segment(s, SEGMENTS) for s in range(SEGMENTS)]
    assert all(len(p) for p in parts), "every segment holds some series"
    assert sum(len(p) for p in parts) == sum(
        1 for k in store._db.tables["history"] if not k[0].startswith("__")
    ), "the meta row and the series index are skipped, every year bucket is read once"
    assert any(k[0] == "__index__" for k in store._db.tables["history"]), "an index to skip"
    merged = YearBuckets(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("series", "years", "sales", "promo"))
    )
    scanned = panel_from_buckets(merged, first, last)
    data = deployed.data
    direct = store.read_panel(data.panel.stores, data.panel.items, first, last)
    stored = ~np.all(np.isnan(direct.sales), axis=1)
    assert 0 < scanned.n_series == stored.sum() < direct.n_series, "the series with a stored bucket"
    kept = direct.take(np.flatnonzero(stored))
    assert scanned.start == kept.start and scanned.n_days == kept.n_days
    np.testing.assert_array_equal(scanned.stores, kept.stores)
    np.testing.assert_array_equal(scanned.items, kept.items)
    np.testing.assert_array_equal(scanned.sales, kept.sales)
    np.testing.assert_array_equal(scanned.promo, kept.promo)


def test_scan_skips_years_before_the_window() -> None:
    store = DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)
    days = pd.to_datetime(["2016-12-30", "2017-01-02"])
    store.upsert(
        pd.DataFrame(
            {"date": days, "store_nbr": 1, "item_nbr": 5, "unit_sales": [2.0, 3.0], "onpromotion": False}
        )
    )
    assert sorted(store.scan_segment(0, 1).years.tolist()) == [2016, 2017]
    assert store.scan_segment(0, 1, first_year=2017).years.tolist() == [2017]


def test_scan_decodes_every_item_format_and_skips_the_meta_row_and_every_lease() -> None:
    # GIVEN a history with format-3 buckets (one upload's days), format-2 buckets (days of two
    # uploads), one format-1 bucket written before upload stamps, the __meta__ row, and writer
    # leases of three partitions (one held right now)
    client = FakeDynamo()
    store = DynamoHistoryStore(client, "history", max_workers=1, sleep=lambda s: None)
    rows = [("2017-03-01", s, 5, float(s), s % 2 == 0) for s in range(1, 13)]
    frame = pd.DataFrame(rows, columns=["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"])
    store.upsert(frame.assign(date=pd.to_datetime(frame["date"])), stamp=7)
    later = frame[frame["store_nbr"] <= 3].assign(date=pd.Timestamp("2017-03-02"), unit_sales=50.0)
    store.upsert(later, stamp=8)
    formats = {
        k: zlib.decompress(v["data"]["B"])[0] for k, v in client.tables["history"].items() if "data" in v
    }
    assert sorted(formats.values()) == [2, 2, 2] + [3] * 9
    old = np.full(SLOTS, np.nan, dtype=np.float32)
    old[[0, 59]] = [4.0, 9.0]  # 2017-01-01 and 2017-03-01
    client.tables["history"][("99#5", "Y2017")] = {
        "series": {"S": "99#5"},
        "bucket": {"S": "Y2017"},
        "data": {"B": zlib.compress(old.astype("<f4").tobytes() + np.ones(SLOTS, np.int8).tobytes())},
    }
    for partition in (1, 2):  # left by writers that died; they expire by themselves
        client.put_item(
            TableName="history", Item={**lease_key(partition), "owner": {"S": "dead"}, "expires": {"N": "1"}}
        )
    assert ("__meta__", "dates") in client.tables["history"]
    with store.writer_lock(partition=0):
        # WHEN every segment is scanned (pages of FakeDynamo.scan_page items, so it paginates)
        parts = [store.scan_segment(s, SEGMENTS) for s in range(SEGMENTS)]
    merged = YearBuckets(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("series", "years", "sales", "promo"))
    )
    # THEN exactly the 13 year buckets come back, each once, with the values each format holds
    assert sorted(merged.series.tolist()) == sorted([f"{s}#5" for s in range(1, 13)] + ["99#5"])
    assert set(merged.years.tolist()) == {2017}
    at = {name: j for j, name in enumerate(merged.series)}
    assert merged.sales[at["99#5"], [0, 59]].tolist() == [4.0, 9.0] and merged.promo[at["99#5"], 0] == 1
    assert merged.sales[at["6#5"], 59] == 6.0 and merged.promo[at["6#5"], 59] == 1
    assert merged.sales[at["7#5"], 59] == 7.0 and merged.promo[at["7#5"], 59] == 0
    assert merged.sales[at["2#5"], [59, 60]].tolist() == [2.0, 50.0] and np.isnan(merged.sales[at["7#5"], 60])
    panel = panel_from_buckets(merged, "2017-03-01", "2017-03-01")
    assert panel.n_series == 13 and not np.isnan(panel.sales).any()


# -- the workflow's tasks ------------------------------------------------------------------------


def test_first_run_promotes_a_challenger_when_none_is_in_service(deployed: Deployed, tmp_path) -> None:
    deployed.s3.objects.pop((deployed.models, CURRENT_MODEL_KEY))  # nothing in service
    config = _config(deployed, tmp_path)

    challenger = _run_workflow(deployed, config, "run-1")

    assert challenger["promote"] and "no model in service" in challenger["reason"]
    assert model_store.current_version(deployed.s3, deployed.models) == challenger["version"]
    meta = json.loads(deployed.s3.text(deployed.models, f"models/{challenger['version']}/metadata.json"))
    gate = meta["retraining"]
    assert gate["decision"] == "promote" and gate["champion_nwrmsle"] is None
    assert 0 < gate["challenger_nwrmsle"] < gate["best_baseline"]["nwrmsle"] * 1.2
    end = deployed.store.date_range()[1]  # type: ignore[index]
    assert gate["evaluation_window"] == {
        "start": str((end - pd.Timedelta(days=15)).date()),
        "end": str(end.date()),
        "days": 16,
        "rows": gate["evaluation_window"]["rows"],
    }
    assert meta["training_window"]["end"] == gate["training_end"] == str((end - pd.Timedelta(days=16)).date())
    manifest = training.read_manifest(deployed.s3, deployed.models, "run-1")
    assert manifest is not None
    assert manifest["status"] == "promoted" and manifest["in_service"] == challenger["version"]
    assert manifest["replaced"] is None and manifest["trigger"] == "schedule"


def test_a_challenger_no_better_than_the_champion_is_rejected_but_stays_listed(
    deployed: Deployed, tmp_path
) -> None:
    deployed.s3.objects.pop((deployed.models, CURRENT_MODEL_KEY))
    config = _config(deployed, tmp_path)
    first = _run_workflow(deployed, config, "run-1")
    in_service = model_store.current_version(deployed.s3, deployed.models)
    assert first["promote"] and in_service == first["version"]

    # Same history, same seed: the same model, so no gain at all over the champion.
    second = _run_workflow(deployed, config, "run-2")

    assert not second["promote"]
    assert "+0.00%" in second["reason"] and "at least 1.00% lower" in second["reason"]
    assert model_store.current_version(deployed.s3, deployed.models) == in_service
    listed = {v.version: v for v in model_store.list_versions(deployed.s3, deployed.models)}
    assert second["version"] in listed and not listed[second["version"]].current
    gate = listed[second["version"]].metadata["retraining"]
    assert gate["decision"] == "reject" and gate["champion_version"] == in_service
    assert gate["champion_nwrmsle"] == pytest.approx(gate["challenger_nwrmsle"])
    assert gate["champion_saw_evaluation_days"] == (
        0 if first["promote"] else gate["champion_saw_evaluation_days"]
    )
    manifest = training.read_manifest(deployed.s3, deployed.models, "run-2")
    assert manifest is not None and manifest["status"] == "rejected"
    assert manifest["challenger_version"] == second["version"]
    # The operator can still put it in service by hand.
    model_store.use_version(deployed.s3, deployed.models, second["version"])
    assert model_store.current_version(deployed.s3, deployed.models) == second["version"]


def test_a_champion_that_saw_the_evaluation_days_is_flagged(deployed: Deployed, tmp_path) -> None:
    # The fixture's model in service was trained through the last day of history: in-sample on
    # the evaluation window, so its score flatters it and the record says by how many days.
    challenger = _run_workflow(deployed, _config(deployed, tmp_path), "run-1")
    meta = json.loads(deployed.s3.text(deployed.models, f"models/{challenger['version']}/metadata.json"))
    assert meta["retraining"]["champion_version"] == deployed.version
    assert meta["retraining"]["champion_saw_evaluation_days"] == 16


def test_a_failure_is_recorded_in_the_manifest(deployed: Deployed, tmp_path) -> None:
    config = _config(deployed, tmp_path)
    error = {"Error": "States.TaskFailed", "Cause": "out of memory"}
    training.run_task(
        {"task": "fail", "run_id": "run-x", "error": error},
        deployed.s3,
        deployed.store,
        ReferenceObjects(),
        config,
    )
    manifest = training.read_manifest(deployed.s3, deployed.models, "run-x")
    assert manifest is not None and manifest["status"] == "failed"
    assert manifest["error"] == {"error": "States.TaskFailed", "cause": "out of memory"}


def test_training_files_never_look_like_a_model_version(deployed: Deployed, tmp_path) -> None:
    config = _config(deployed, tmp_path)
    _run_workflow(deployed, config, "run-1")
    assert training.part_key("run-1", 0) == "models/_training/parts/run-1/0000.npz"
    assert training.manifest_key("run-1") == "models/_training/runs/run-1.json"
    assert all(not v.version.startswith("_") for v in model_store.list_versions(deployed.s3, deployed.models))


def test_decision_task_reads_the_outcome_of_a_train_step_run_elsewhere(deployed: Deployed, tmp_path) -> None:
    # The Batch runner: the job ran train_challenger; the workflow's decision task reads it back.
    config = _config(deployed, tmp_path)
    references = ReferenceObjects()
    for segment in range(SEGMENTS):
        event = {"task": "scan", "run_id": "run-b", "segment": segment, "total_segments": SEGMENTS}
        training.run_task(event, deployed.s3, deployed.store, references, config)
    trained = training.train_challenger(deployed.s3, deployed.store, references, config, "run-b", SEGMENTS)
    decision = training.run_task(
        {"task": "decision", "run_id": "run-b"}, deployed.s3, deployed.store, references, config
    )
    assert decision == {k: trained[k] for k in ("run_id", "version", "promote", "reason")}
    with pytest.raises(RuntimeError, match="no evaluated challenger"):
        training.run_task(
            {"task": "decision", "run_id": "never"}, deployed.s3, deployed.store, references, config
        )
