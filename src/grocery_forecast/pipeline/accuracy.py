"""The monitor's accuracy step: actuals arrived, so score the forecasts made for their days.

Runs off the upload's critical path: the monitor function is invoked (EventBridge, on the processed
bucket's ``actuals/`` objects) in parallel with predict, after the ETL has merged the actuals into the
history table (the ETL writes history before the cleaned file). It

1. takes the days that arrived from the run manifest of the upload (its ``date_range``);
2. finds the succeeded forecast runs whose target days overlap them (their manifests carry the
   model version, origin and horizon);
3. reads those forecasts' rows for the arrived days and one history panel of their series, from
   the baselines' lookback before the earliest origin through the last arrived day;
4. scores each run and day (:func:`grocery_forecast.forecasting.accuracy.score_forecast`) and writes
   ``accuracy/days/<day>/<run>.json`` (scoring a day again, when more of its actuals arrive,
   replaces the record: the same upload twice changes nothing);
5. counts the days in a row the served forecasts did worse than the best baseline.

The caller (the monitor handler) publishes the figures as CloudWatch metrics.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws.reference_store import MissingReferenceTable, ReferenceObjects
from grocery_forecast.aws.s3io import get_json, put_json
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunManifest, RunStatus
from grocery_forecast.forecasting.accuracy import (
    METHODS,
    DayScore,
    lookback_days,
    score_forecast,
    summarize,
    worse_than_baseline_streak,
)
from grocery_forecast.pipeline import manifest as mf

__all__ = [
    "AccuracyConfig",
    "AccuracyResult",
    "arrived_days",
    "forecasts_covering",
    "load_scores",
    "score_arrivals",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccuracyConfig:
    """Where the accuracy step reads and writes. Read from the monitor function's environment."""

    processed_bucket: str
    output_bucket: str
    #: How far back the worse-than-baseline streak is counted (the alarm's N must fit in it).
    streak_lookback_days: int = 31
    #: Threads reading manifests and records from S3.
    workers: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AccuracyConfig:
        try:
            return cls(
                environ["PROCESSED_BUCKET"],
                environ["OUTPUT_BUCKET"],
                int(environ.get("ACCURACY_STREAK_LOOKBACK_DAYS", 31)),
            )
        except KeyError as exc:
            raise RuntimeError(
                f"the monitor function is missing its {exc.args[0]} environment variable"
            ) from None


@dataclass
class AccuracyResult:
    """What one arrival of actuals scored."""

    actuals_run: str
    days: list[str]
    scores: list[DayScore] = field(default_factory=list)
    forecast_runs: list[str] = field(default_factory=list)
    streak: int = 0
    seconds: float = 0.0
    #: The process's resident high-water mark: what the monitor's memory size must cover (the
    #: emulator does not enforce it; the e2e tests compare it).
    peak_memory_mb: float = 0.0

    def metrics(self) -> dict[str, float]:
        """The figures worth a CloudWatch metric (empty when nothing was scored): the NWRMSLE of the
        served forecasts and of each baseline over every row scored now, their ratio to the best
        baseline, the rows scored and the worse-than-baseline streak in days.

        Only finite figures: the ratio is infinite or NaN when the best baseline scores 0 (every row
        scored sold nothing), and one NaN or Infinity makes the EMF line invalid JSON, which CloudWatch
        stores as text and extracts no metric from, the alarm's streak included."""
        if not self.scores:
            return {}
        overall = summarize(self.scores, []).iloc[0]
        out = {f"RealizedNWRMSLE_{m}": float(overall[m]) for m in METHODS}
        out["ModelToBestBaselineRatio"] = float(overall["ratio"])
        out["RowsScored"] = float(overall["rows"])
        out["DaysWorseThanBaseline"] = float(self.streak)
        return {name: value for name, value in out.items() if math.isfinite(value)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "actuals_run": self.actuals_run,
            "days": self.days,
            "forecast_runs": self.forecast_runs,
            "records": len(self.scores),
            "streak": self.streak,
            "seconds": round(self.seconds, 3),
            "peak_memory_mb": self.peak_memory_mb,
            "metrics": self.metrics(),
        }


def arrived_days(s3: Any, config: AccuracyConfig, bucket: str, key: str) -> tuple[str, list[pd.Timestamp]]:
    """The upload's run id and the first and last day of actuals in the processed file ``key``.

    The ETL wrote the run manifest (with the file's ``date_range``) before the processed file, so
    the manifest is read, not the file; a processed file without one (written by hand) is read.
    """
    head = s3.head_object(Bucket=bucket, Key=key)
    hand_off = HandOff.from_object(key, head["ETag"], head.get("Metadata"))
    manifest = mf.load(s3, config.output_bucket, hand_off.run_id)
    if manifest is not None and manifest.date_range:
        first, last = (pd.Timestamp(d) for d in manifest.date_range)
    else:
        dates = pd.read_csv(
            s3.get_object(Bucket=bucket, Key=key)["Body"], usecols=["date"], parse_dates=["date"]
        )
        first, last = dates["date"].min().normalize(), dates["date"].max().normalize()
    return hand_off.run_id, [first, last]


def _manifest_keys(s3: Any, bucket: str) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=runs.RUNS_PREFIX)
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(".json")
    ]


def forecasts_covering(
    s3: Any, bucket: str, first: pd.Timestamp, last: pd.Timestamp, workers: int = 16
) -> list[RunManifest]:
    """The succeeded forecast runs with a target day in ``[first, last]``, by origin then run id.

    Reads every run manifest (``runs/``): one GET each, on ``workers`` threads. Linear in the runs
    kept; an index by target day is the next step if the output bucket keeps years of runs.
    """

    def load(key: str) -> RunManifest | None:
        doc = get_json(s3, bucket, key)
        return None if doc is None else RunManifest.from_dict(doc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        manifests = [m for m in pool.map(load, _manifest_keys(s3, bucket)) if m is not None]
    covering = []
    for m in manifests:
        if m.status is not RunStatus.SUCCEEDED or not (m.origin and m.horizon_days and m.output):
            continue
        origin = pd.Timestamp(m.origin)
        if origin + pd.Timedelta(days=1) <= last and origin + pd.Timedelta(days=int(m.horizon_days)) >= first:
            covering.append(m)
    return sorted(covering, key=lambda m: (str(m.origin), m.run_id))


def _read_forecast(s3: Any, manifest: RunManifest, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    bucket, _, key = str(manifest.output).removeprefix("s3://").partition("/")
    frame = pd.read_csv(
        s3.get_object(Bucket=bucket, Key=key)["Body"],
        usecols=["date", "store_nbr", "item_nbr", "unit_sales"],
        parse_dates=["date"],
    )
    return frame[frame["date"].between(first, last)].reset_index(drop=True)


def _weights(s3: Any, bucket: str, references: ReferenceObjects, items: np.ndarray) -> np.ndarray:
    """Favorita's weights (perishables 1.25), as the backtest takes them from the reference tables;
    all 1.0, with a warning, before they are uploaded."""
    try:
        reference = references.reference(s3, bucket)
    except MissingReferenceTable as exc:
        log.warning("realized accuracy weighs every row 1.0", extra={"reason": str(exc)})
        return np.ones(len(items), dtype=np.float64)
    return np.asarray(reference.perishable_weights(items), dtype=np.float64)


def score_arrivals(
    s3: Any,
    store: Any,
    config: AccuracyConfig,
    bucket: str,
    key: str,
    references: ReferenceObjects | None = None,
) -> AccuracyResult:
    """Score every served forecast on the days of the processed actuals file ``key`` and store it.

    ``store`` is the history table (:class:`~grocery_forecast.aws.history.DynamoHistoryStore`).
    """
    started = time.perf_counter()
    mf.reset_peak_memory()  # this invocation's peak, not a warm container's earlier ones
    references = references or ReferenceObjects()
    actuals_run, (first, last) = arrived_days(s3, config, bucket, key)
    span = store.date_range()
    if span is not None:
        last = min(last, span[1])
    result = AccuracyResult(actuals_run, [str(d.date()) for d in pd.date_range(first, last, freq="D")])
    covering = forecasts_covering(s3, config.output_bucket, first, last, config.workers)
    frames = {m.run_id: _read_forecast(s3, m, first, last) for m in covering}
    covering = [m for m in covering if len(frames[m.run_id])]
    if covering:
        everything = pd.concat([frames[m.run_id] for m in covering], ignore_index=True)
        panel_first = min(pd.Timestamp(str(m.origin)) for m in covering) - pd.Timedelta(
            days=lookback_days() - 1
        )
        if span is not None:
            panel_first = min(max(panel_first, span[0]), min(pd.Timestamp(str(m.origin)) for m in covering))
        panel = store.read_panel(
            everything["store_nbr"].to_numpy(), everything["item_nbr"].to_numpy(), panel_first, last
        )
        for m in covering:
            frame = frames[m.run_id]
            weights = _weights(s3, config.processed_bucket, references, frame["item_nbr"].to_numpy())
            scores = score_forecast(
                frame,
                str(m.origin),
                panel,
                weights,
                forecast_run=m.run_id,
                # A forecast of a history too short for the model was the fallback baseline's: kept
                # apart, so the model version's figures are the model's own.
                model_version=str(m.model_version or "unknown") + (" (fallback)" if m.fallback else ""),
                fallback=bool(m.fallback),
            )
            for score in scores:
                put_json(
                    s3,
                    config.output_bucket,
                    runs.accuracy_key(score.date, score.forecast_run),
                    {**score.to_dict(), "actuals_run": actuals_run, "scored_at": runs.utc_now()},
                )
            result.scores.extend(scores)
            result.forecast_runs.append(m.run_id)
    if result.scores:
        newest = max(s.date for s in result.scores)
        since = str((pd.Timestamp(newest) - pd.Timedelta(days=config.streak_lookback_days - 1)).date())
        recent = load_scores(s3, config.output_bucket, since=since, until=newest, workers=config.workers)
        result.streak = worse_than_baseline_streak(recent, newest)
    result.seconds = time.perf_counter() - started
    result.peak_memory_mb = mf.invocation_peak_memory_mb()
    log.info("realized accuracy", extra=result.to_dict())
    return result


def load_scores(
    s3: Any, bucket: str, since: str | None = None, until: str | None = None, workers: int = 16
) -> list[DayScore]:
    """The stored accuracy records for target days in ``[since, until]`` (either end open)."""
    prefix = f"{runs.ACCURACY_PREFIX}days/"
    paginator = s3.get_paginator("list_objects_v2")
    keys = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            day = obj["Key"][len(prefix) :].split("/", 1)[0]
            if (
                obj["Key"].endswith(".json")
                and (since is None or day >= since)
                and (until is None or day <= until)
            ):
                keys.append(obj["Key"])

    def load(key: str) -> DayScore | None:
        doc = get_json(s3, bucket, key)
        return None if doc is None else DayScore.from_dict(doc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [s for s in pool.map(load, keys) if s is not None]
