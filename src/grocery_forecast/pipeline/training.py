"""Retraining inside the stack: read the history, train a challenger, gate it against the model in service.

The training workflow (Step Functions, ``terraform/modules/training-workflow``) runs these tasks,
each one invocation of the training function:

1. ``scan`` (a Map over parallel-Scan segments): each segment's year buckets of the history table,
   decoded, go to ``models/_training/parts/<run>/<segment>.npz`` (expired by S3 after a week). No function reads the whole
   table; the parts are what the next step assembles.
2. ``train``: the parts become one panel of the last ``history_days`` days. The challenger is
   trained with the library's own training code up to ``evaluation_days`` before the end of
   history and backtested on those last days, beside the model in service on the same days and
   the same history (:func:`evaluate_challenger`). Its artifact, with both scores, the data window
   and the decision in ``metadata.json["retraining"]``, is published as a new version *without*
   being put in service, so a rejected challenger stays listed and can be put in service by hand
   (``grocery-forecast models use``).
   Where Favorita-size training needs more than a Lambda gives, the same step runs as an AWS
   Batch job (``training/batch_job.py``) and a ``decision`` task reads its outcome back.
3. ``promote`` or ``reject`` (a Choice on the decision): ``promote`` points ``models/current.json``
   at the challenger; both write the outcome into the training manifest
   ``models/_training/runs/<run>.json`` (kept: the record of every decision). ``fail`` records an error the workflow caught.

The model that is scored is the model that is served: it was trained through the cutoff, not
refit on the evaluation days afterwards, so the gate judges exactly the artifact it promotes (and
a weekly run's champion, trained a week earlier through its own cutoff, has not seen the new
evaluation days either: the manifest says how many it has seen when it has).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.aws.clients import is_missing
from grocery_forecast.aws.history import DynamoHistoryStore, YearBuckets, panel_from_buckets
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.contract.reference import Reference
from grocery_forecast.contract.runs import MODELS_PREFIX
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.metrics import nwrmsle
from grocery_forecast.forecasting.model import MAX_HORIZON, ForecastModel, TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.pipeline.manifest import invocation_peak_memory_mb, reset_peak_memory

__all__ = [
    "PARTS_PREFIX",
    "RUNS_PREFIX",
    "TRAINING_PREFIX",
    "GateDecision",
    "RetrainConfig",
    "assemble_parts",
    "decide",
    "evaluate_challenger",
    "load_history",
    "manifest_key",
    "part_key",
    "read_manifest",
    "run_task",
    "scan_segment",
    "train_challenger",
]

#: Where the training workflow keeps its work: under models/, a name no version can have (a
#: version starts with a letter or digit), so `models list` never mistakes it for one.
TRAINING_PREFIX = f"{MODELS_PREFIX}_training/"
#: The Scan parts: working files, expired by the bucket's lifecycle rule (forecasting-stack main.tf).
PARTS_PREFIX = f"{TRAINING_PREFIX}parts/"
#: The training manifests: the record of every run's scores and decision, kept.
RUNS_PREFIX = f"{TRAINING_PREFIX}runs/"


def part_key(run_id: str, segment: int) -> str:
    """The S3 key of one Scan segment's decoded history."""
    return f"{PARTS_PREFIX}{run_id}/{segment:04d}.npz"


def manifest_key(run_id: str) -> str:
    """The S3 key of a training run's manifest."""
    return f"{RUNS_PREFIX}{run_id}.json"


@dataclass(frozen=True)
class RetrainConfig:
    """Settings of the training function, from its environment.

    Attributes:
        models_bucket: Bucket of the model versions and of the training work files.
        processed_bucket: Bucket holding the reference tables (``reference/``).
        history_days: Days of history (back from its last day) the challenger is trained and
            evaluated on. Defaults to 365.
        evaluation_days: The last days of history held out to score challenger and champion,
            1..16. Defaults to 16.
        min_improvement: How much lower (relative) the challenger's NWRMSLE must be than the
            champion's to replace it: 0.01 means at least 1% better. Defaults to 0.01.
        max_rows: Training rows sampled (``TrainConfig.max_rows``); None keeps its default.
        model_dir: Local scratch directory for artifacts. Defaults to /tmp/models.
    """

    models_bucket: str
    processed_bucket: str
    history_days: int = 365
    evaluation_days: int = MAX_HORIZON
    min_improvement: float = 0.01
    max_rows: int | None = None
    model_dir: Path = Path("/tmp/models")

    def __post_init__(self) -> None:
        if not 1 <= self.evaluation_days <= MAX_HORIZON:
            raise ValueError(f"evaluation_days must be within 1..{MAX_HORIZON}, got {self.evaluation_days}")
        if self.history_days < 2 * self.evaluation_days:
            raise ValueError(
                f"history_days must be at least {2 * self.evaluation_days}, got {self.history_days}"
            )
        if not 0.0 <= self.min_improvement < 1.0:
            raise ValueError(f"min_improvement must be within [0, 1), got {self.min_improvement}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RetrainConfig:
        """Read MODELS_BUCKET, PROCESSED_BUCKET and the optional TRAINING_* settings."""
        try:
            max_rows = environ.get("TRAINING_MAX_ROWS", "")
            return cls(
                models_bucket=environ["MODELS_BUCKET"],
                processed_bucket=environ["PROCESSED_BUCKET"],
                history_days=int(environ.get("TRAINING_HISTORY_DAYS", 365)),
                evaluation_days=int(environ.get("TRAINING_EVALUATION_DAYS", MAX_HORIZON)),
                min_improvement=float(environ.get("PROMOTION_MIN_IMPROVEMENT", 0.01)),
                max_rows=int(max_rows) if max_rows else None,
                model_dir=Path(environ.get("MODEL_CACHE_DIR", "/tmp/models")),
            )
        except KeyError as exc:
            raise RuntimeError(
                f"the training function is missing its {exc.args[0]} environment variable"
            ) from None


# -- the gate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger goes into service, and why (recorded word for word)."""

    promote: bool
    reason: str


def decide(challenger: float, champion: float | None, min_improvement: float) -> GateDecision:
    """Promote when no model is in service (or it cannot be scored), or when the challenger's
    NWRMSLE is lower than the champion's by at least ``min_improvement`` (relative).

    A tie or a gain inside the margin keeps the champion: replacing a model costs a change in
    every forecast downstream, and a gain smaller than the seed-to-seed spread is noise.
    """
    if champion is None:
        return GateDecision(True, f"no model in service could be scored; challenger NWRMSLE {challenger:.4f}")
    gain = 1.0 - challenger / champion if champion > 0 else 0.0
    verdict = (
        f"challenger NWRMSLE {challenger:.4f} vs champion {champion:.4f}: "
        f"{100 * gain:+.2f}% (promotion needs at least {100 * min_improvement:.2f}% lower)"
    )
    return GateDecision(gain >= min_improvement, verdict)


def evaluate_challenger(
    panel: SalesPanel,
    reference: Reference,
    champion: ForecastModel | None,
    config: RetrainConfig,
    *,
    champion_version: str | None = None,
    champion_note: str | None = None,
    train_config: TrainConfig | None = None,
) -> tuple[ForecastModel, dict[str, Any]]:
    """Train the challenger through ``panel.end - evaluation_days`` and score it and ``champion``
    on the days after, from the same history; returns the challenger and the evaluation record
    (also stored in its ``metadata["retraining"]``).

    Raises:
        ValueError: If the history is too short to train a model (no challenger then).
    """
    cutoff = panel.end - pd.Timedelta(days=config.evaluation_days)
    base = train_config or TrainConfig()
    if config.max_rows:
        base = TrainConfig(**{**asdict(base), "max_rows": config.max_rows})
    started = time.perf_counter()
    result = run_backtest(panel, reference, cutoff, config.evaluation_days, config=base)
    train_seconds = time.perf_counter() - started
    if result.model is None:
        raise ValueError(f"no challenger: {result.report['fallback']}")
    challenger = result.model
    challenger_score = float(result.report["model"]["nwrmsle"])
    weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())

    champion_score: float | None = None
    champion_seen_days: int | None = None
    if champion is not None:
        targets = result.targets.drop(columns=["horizon"])
        try:
            predicted = champion.predict(result.history, cutoff, targets, reference)
            champion_score = float(nwrmsle(result.actual, predicted, weights))
        except ValueError as exc:  # e.g. a champion trained for fewer horizons than the window
            champion_note = f"the model in service could not forecast the evaluation window: {exc}"
        champion_end = (champion.metadata.get("training_window") or {}).get("end")
        if champion_end:
            champion_seen_days = max(0, (pd.Timestamp(champion_end) - cutoff).days)
    decision = decide(challenger_score, champion_score, config.min_improvement)
    reason = decision.reason + (f"; {champion_note}" if champion_note else "")
    best = result.report["best_baseline"]
    evaluation: dict[str, Any] = {
        "data_window": {
            "start": str(panel.start.date()),
            "end": str(panel.end.date()),
            "series": panel.n_series,
        },
        "training_end": str(cutoff.date()),
        "evaluation_window": {
            "start": str((cutoff + pd.Timedelta(days=1)).date()),
            "end": str(panel.end.date()),
            "days": config.evaluation_days,
            "rows": len(result.targets),
        },
        "challenger_nwrmsle": challenger_score,
        "champion_version": champion_version,
        "champion_nwrmsle": champion_score,
        "champion_saw_evaluation_days": champion_seen_days,
        "best_baseline": {"name": best, "nwrmsle": result.report["baselines"][best]},
        "min_improvement": config.min_improvement,
        "decision": "promote" if decision.promote else "reject",
        "reason": reason,
        "train_seconds": round(train_seconds, 2),
    }
    challenger.metadata["retraining"] = evaluation
    return challenger, evaluation


# -- history parts -----------------------------------------------------------------------------


def _window(store: DynamoHistoryStore, history_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    span = store.date_range()
    if span is None:
        raise RuntimeError(f"the history table {store.table} is empty: upload sales before retraining")
    earliest, latest = span
    return max(earliest, latest - pd.Timedelta(days=history_days - 1)), latest


def _put_json(s3: Any, bucket: str, key: str, document: Mapping[str, Any]) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=(json.dumps(document, indent=2, default=str) + "\n").encode(),
        ContentType="application/json",
    )


def scan_segment(
    s3: Any, store: DynamoHistoryStore, config: RetrainConfig, run_id: str, segment: int, total: int
) -> dict[str, Any]:
    """One Scan segment of the history, decoded, saved as a part for the ``train`` step."""
    first, _ = _window(store, config.history_days)
    buckets = store.scan_segment(segment, total, first_year=first.year)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        series=buckets.series.astype(str),
        years=buckets.years,
        sales=buckets.sales,
        promo=buckets.promo,
    )
    s3.put_object(Bucket=config.models_bucket, Key=part_key(run_id, segment), Body=buffer.getvalue())
    return {"segment": segment, "buckets": len(buckets)}


def assemble_parts(bodies: Iterable[bytes], first: pd.Timestamp, last: pd.Timestamp) -> SalesPanel:
    """The panel over ``[first, last]`` from Scan parts (the bytes :func:`scan_segment` saved)."""
    parts: list[YearBuckets] = []
    for body in bodies:
        with np.load(io.BytesIO(body), allow_pickle=False) as z:
            parts.append(YearBuckets(z["series"].astype(object), z["years"], z["sales"], z["promo"]))
    merged = YearBuckets(
        np.concatenate([p.series for p in parts]),
        np.concatenate([p.years for p in parts]),
        np.concatenate([p.sales for p in parts]),
        np.concatenate([p.promo for p in parts]),
    )
    del parts
    return panel_from_buckets(merged, first, last)


def load_history(
    s3: Any, bucket: str, run_id: str, total: int, first: pd.Timestamp, last: pd.Timestamp
) -> SalesPanel:
    """The panel over ``[first, last]`` from the run's ``total`` Scan parts (all must exist)."""
    bodies = (
        s3.get_object(Bucket=bucket, Key=part_key(run_id, segment))["Body"].read() for segment in range(total)
    )
    return assemble_parts(bodies, first, last)


# -- manifest ----------------------------------------------------------------------------------


def read_manifest(s3: Any, bucket: str, run_id: str) -> dict[str, Any] | None:
    """A training run's manifest, or None before its ``train`` step wrote one."""
    try:
        return dict(json.loads(s3.get_object(Bucket=bucket, Key=manifest_key(run_id))["Body"].read()))
    except Exception as exc:
        if is_missing(exc):
            return None
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _update_manifest(s3: Any, config: RetrainConfig, run_id: str, **fields: Any) -> dict[str, Any]:
    manifest = read_manifest(s3, config.models_bucket, run_id) or {"run_id": run_id}
    manifest.update(fields, updated_at=_now())
    _put_json(s3, config.models_bucket, manifest_key(run_id), manifest)
    return manifest


# -- tasks -------------------------------------------------------------------------------------


def _champion(s3: Any, config: RetrainConfig) -> tuple[ForecastModel | None, str | None, str | None]:
    """(model in service, its version, a note when there is a pointer but no servable model)."""
    try:
        version = model_store.current_version(s3, config.models_bucket)
    except model_store.ModelStoreError:
        return None, None, None
    try:
        model = model_store.load_servable(s3, config.models_bucket, version, config.model_dir)
    except model_store.ModelStoreError as exc:
        return None, version, f"the model in service cannot be scored: {exc}"
    return model, version, None


def train_challenger(
    s3: Any,
    store: DynamoHistoryStore,
    references: ReferenceObjects,
    config: RetrainConfig,
    run_id: str,
    total: int,
    trigger: str = "",
) -> dict[str, Any]:
    """The ``train`` step: assemble the parts, train and gate the challenger, publish it (not in
    service), write the manifest; returns what the workflow's Choice needs."""
    started = time.perf_counter()
    first, last = _window(store, config.history_days)
    panel = load_history(s3, config.models_bucket, run_id, total, first, last)
    reference = references.reference(s3, config.processed_bucket)
    champion, champion_version, note = _champion(s3, config)
    model, evaluation = evaluate_challenger(
        panel, reference, champion, config, champion_version=champion_version, champion_note=note
    )
    model.metadata["retraining"]["run_id"] = run_id
    with tempfile.TemporaryDirectory(prefix="gf-challenger-") as tmp:
        version = model_store.publish_model(s3, config.models_bucket, model.save(tmp), make_current=False)
    _update_manifest(
        s3,
        config,
        run_id,
        status="evaluated",
        trigger=trigger,
        challenger_version=version,
        scan_segments=total,
        evaluation=evaluation,
        train_step_seconds=round(time.perf_counter() - started, 2),
        train_step_peak_memory_mb=invocation_peak_memory_mb(),
    )
    return {
        "run_id": run_id,
        "version": version,
        "promote": evaluation["decision"] == "promote",
        "reason": evaluation["reason"],
        "challenger_nwrmsle": evaluation["challenger_nwrmsle"],
        "champion_nwrmsle": evaluation["champion_nwrmsle"],
    }


def run_task(
    event: Mapping[str, Any],
    s3: Any,
    store: DynamoHistoryStore,
    references: ReferenceObjects,
    config: RetrainConfig,
) -> dict[str, Any]:
    """Dispatch one task of the training workflow (see the module docstring)."""
    reset_peak_memory()
    task, run_id = str(event["task"]), str(event["run_id"])
    total = int(event.get("total_segments", 1))
    if task == "scan":
        return scan_segment(s3, store, config, run_id, int(event["segment"]), total)
    if task == "train":
        return train_challenger(s3, store, references, config, run_id, total, str(event.get("trigger", "")))
    if task == "decision":
        # After a train step that ran outside Lambda (AWS Batch): its outcome is in the manifest.
        manifest = read_manifest(s3, config.models_bucket, run_id)
        if not manifest or manifest.get("status") != "evaluated":
            raise RuntimeError(f"training run {run_id} has no evaluated challenger (manifest: {manifest})")
        evaluation = manifest["evaluation"]
        return {
            "run_id": run_id,
            "version": manifest["challenger_version"],
            "promote": evaluation["decision"] == "promote",
            "reason": evaluation["reason"],
        }
    if task == "promote":
        version = str(event["version"])
        previous = None
        with contextlib.suppress(model_store.ModelStoreError):
            previous = model_store.current_version(s3, config.models_bucket)
        model_store.set_current(s3, config.models_bucket, version)
        _update_manifest(
            s3, config, run_id, status="promoted", in_service=version, replaced=previous, finished_at=_now()
        )
        return {"run_id": run_id, "status": "promoted", "version": version}
    if task == "reject":
        manifest = _update_manifest(s3, config, run_id, status="rejected", finished_at=_now())
        return {"run_id": run_id, "status": "rejected", "version": manifest.get("challenger_version")}
    if task == "fail":
        error = event.get("error") or {}
        _update_manifest(
            s3,
            config,
            run_id,
            status="failed",
            error={"error": error.get("Error"), "cause": str(error.get("Cause", ""))[:4000]},
            finished_at=_now(),
        )
        return {"run_id": run_id, "status": "failed"}
    raise ValueError(f"unknown training task {task!r}")
