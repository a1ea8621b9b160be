"""The prediction step: a cleaned upload in, a forecast CSV and a completed run manifest out.

The model, its metadata and the reference tables are loaded once per warm container and
reloaded only when the models bucket's ``current`` pointer or a reference object changes.
Features come from the same module training used (``grocery_forecast.forecasting.features``), computed
from a SalesPanel read from the history table: the train/serve parity point.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.s3io import error_code, get_json, put_csv
from grocery_forecast.contract.schema import MAX_HORIZON
from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.pipeline import manifest as mf

__all__ = [
    "ForecastConfig",
    "ModelCache",
    "ReferenceCache",
    "forecast_targets",
    "read_history",
    "run_forecast",
]

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "reference/"
_REFERENCE_NEEDED = ("items", "stores", "holidays_events")


@dataclass(frozen=True)
class ForecastConfig:
    """Where the prediction step reads and writes. Read from the Lambda's environment."""

    processed_bucket: str
    models_bucket: str
    output_bucket: str
    horizon: int = MAX_HORIZON
    model_dir: Path = Path("/tmp/models")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ForecastConfig:
        try:
            return cls(
                environ["PROCESSED_BUCKET"],
                environ["MODELS_BUCKET"],
                environ["OUTPUT_BUCKET"],
                int(environ.get("FORECAST_HORIZON", MAX_HORIZON)),
                Path(environ.get("MODEL_CACHE_DIR", "/tmp/models")),
            )
        except KeyError as exc:
            raise RuntimeError(
                f"the predict function is missing its {exc.args[0]} environment variable"
            ) from None


@dataclass
class ModelCache:
    """The model in service, kept across warm invocations; follows the ``current`` pointer."""

    version: str | None = None
    model: Any = None
    load_seconds: float = 0.0

    def get(self, s3: Any, bucket: str, cache_dir: Path) -> Any:
        from grocery_forecast.forecasting.model import ForecastModel  # LightGBM is imported on first use only

        version = model_store.current_version(s3, bucket)
        if version != self.version or self.model is None:
            t0 = time.perf_counter()
            local = model_store.download_model(s3, bucket, version, cache_dir)
            self.model = ForecastModel.load(local)
            self.version = version
            self.load_seconds = time.perf_counter() - t0
            log.info("loaded model", extra={"model_version": version, "seconds": round(self.load_seconds, 3)})
        return self.model


@dataclass
class ReferenceCache:
    """Reference tables from the processed bucket, re-read only when an ETag changes."""

    etags: dict[str, str] = field(default_factory=dict)
    reference: Any = None

    def get(self, s3: Any, bucket: str) -> Any:
        from grocery_forecast.contract.reference import Reference

        etags = {}
        for table in _REFERENCE_NEEDED:
            try:
                etags[table] = s3.head_object(Bucket=bucket, Key=f"{REFERENCE_PREFIX}{table}.csv")["ETag"]
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    raise RuntimeError(
                        f"reference table s3://{bucket}/{REFERENCE_PREFIX}{table}.csv is missing: upload "
                        f"{table}.csv with `grocery-forecast reference upload DIR` (or `make up`)"
                    ) from None
                raise
        if etags != self.etags or self.reference is None:
            frames = {
                table: pd.read_csv(
                    io.BytesIO(
                        s3.get_object(Bucket=bucket, Key=f"{REFERENCE_PREFIX}{table}.csv")["Body"].read()
                    )
                )
                for table in _REFERENCE_NEEDED
            }
            frames["holidays_events"]["date"] = pd.to_datetime(frames["holidays_events"]["date"])
            self.reference = Reference.from_frames(frames)
            self.etags = etags
        return self.reference


def forecast_targets(
    cleaned: pd.DataFrame, kind: str, horizon: int, origin: pd.Timestamp | None = None
) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The rows to forecast and the origin they are forecast from.

    Actuals: every store-item in the file for the ``horizon`` days after the file's last date
    (future promotions unknown: ``promo_known`` False, which the model was trained to expect).
    Request: exactly the requested rows, from the origin the ETL anchored to the end of history.
    """
    if kind == "actuals":
        origin = pd.Timestamp(cleaned["date"].max()).normalize()
        series = cleaned[["store_nbr", "item_nbr"]].drop_duplicates().sort_values(["store_nbr", "item_nbr"])
        days = pd.date_range(origin + pd.Timedelta(days=1), periods=horizon, freq="D")
        targets = pd.DataFrame(
            {
                "date": np.tile(days.to_numpy(), len(series)),
                "store_nbr": np.repeat(series["store_nbr"].to_numpy(), horizon),
                "item_nbr": np.repeat(series["item_nbr"].to_numpy(), horizon),
                "onpromotion": False,
                "promo_known": False,
            }
        )
        return origin, targets
    if origin is None:
        origin = pd.Timestamp(cleaned["date"].min()).normalize() - pd.Timedelta(days=1)
    return pd.Timestamp(origin), cleaned[["id", "date", "store_nbr", "item_nbr", "onpromotion"]].reset_index(
        drop=True
    )


def read_history(
    store: DynamoHistoryStore, targets: pd.DataFrame, origin: pd.Timestamp, lookback: int
) -> SalesPanel:
    """History of the targets' series for the ``lookback`` days up to ``origin``, as training saw it.

    The panel starts at the first day the history table holds when that is later than the
    lookback's start: days before it are unknown (as before a training panel's first day), not
    days without sales.
    """
    first = origin - pd.Timedelta(days=lookback - 1)
    span = store.date_range()
    if span is not None:
        first = min(max(first, span[0]), origin)
    return store.read_panel(targets["store_nbr"].to_numpy(), targets["item_nbr"].to_numpy(), first, origin)


def _fallback_forecast(
    panel: SalesPanel, origin: pd.Timestamp, targets: pd.DataFrame
) -> tuple[np.ndarray, str | None]:
    """The baseline forecast when the history is too short for the model, with the reason; else (empty, None)."""
    from grocery_forecast.forecasting.baselines import FALLBACK_BASELINE, baseline_forecast
    from grocery_forecast.forecasting.model import MIN_TRAIN_DAYS

    known_days = (origin - panel.start).days + 1
    if known_days >= MIN_TRAIN_DAYS:
        return np.zeros(0), None
    reason = (
        f"history of {known_days} days (from {panel.start.date()}) is below the model's minimum of "
        f"{MIN_TRAIN_DAYS}: forecast with the {FALLBACK_BASELINE} baseline"
    )
    return baseline_forecast(FALLBACK_BASELINE, panel, origin, targets), reason


def run_forecast(
    s3: Any,
    store: DynamoHistoryStore,
    bucket: str,
    key: str,
    config: ForecastConfig,
    *,
    models: ModelCache,
    references: ReferenceCache,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Forecast one cleaned upload and write ``forecasts/<run>/forecast.csv``; returns the manifest."""
    started = time.perf_counter()
    obj = s3.get_object(Bucket=bucket, Key=key)
    meta = {k.lower(): v for k, v in (obj.get("Metadata") or {}).items()}
    kind = "actuals" if key.startswith("actuals/") else "request"
    run_id = meta.get("run-id") or mf.run_id_for(key, obj["ETag"])
    manifest = get_json(s3, config.output_bucket, mf.manifest_key(run_id)) or mf.new_manifest(
        run_id, bucket, key, obj["ETag"], int(obj.get("ContentLength", 0)), None
    )
    if request_id:
        manifest.setdefault("request_ids", []).append(request_id)
    with mf.recording_failure(s3, config.output_bucket, manifest, "forecast"):
        _forecast(s3, store, obj, key, kind, meta, run_id, manifest, config, models, references, started)
    return manifest


def _forecast(
    s3: Any,
    store: DynamoHistoryStore,
    obj: dict[str, Any],
    key: str,
    kind: str,
    meta: dict[str, str],
    run_id: str,
    manifest: dict[str, Any],
    config: ForecastConfig,
    models: ModelCache,
    references: ReferenceCache,
    started: float,
) -> None:
    steps = manifest.setdefault("steps", {})
    t0 = time.perf_counter()
    cleaned = pd.read_csv(obj["Body"], parse_dates=["date"])
    origin_hint = pd.Timestamp(meta["origin"]) if meta.get("origin") else None
    origin, targets = forecast_targets(cleaned, kind, config.horizon, origin_hint)
    steps["read_processed_seconds"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    model = models.get(s3, config.models_bucket, config.model_dir)
    reference = references.get(s3, config.processed_bucket)
    steps["load_model_seconds"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    panel = read_history(store, targets, origin, int(model.spec.lookback_days))
    steps["read_history_seconds"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    predictions, fallback = _fallback_forecast(panel, origin, targets)
    if fallback is None:
        predictions = model.predict(panel, origin, targets, reference)
    else:
        log.warning("forecast fallback", extra={"fallback": fallback})
    steps["predict_seconds"] = round(time.perf_counter() - t0, 3)

    forecast = targets.assign(unit_sales=np.round(np.asarray(predictions, dtype=np.float64), 4))
    columns = (
        ["id", "unit_sales", "date", "store_nbr", "item_nbr", "onpromotion"]
        if kind == "request"
        else ["date", "store_nbr", "item_nbr", "onpromotion", "unit_sales"]
    )
    forecast = forecast[columns]
    t0 = time.perf_counter()
    out_key = mf.forecast_key(run_id)
    put_csv(
        s3,
        config.output_bucket,
        out_key,
        forecast,
        {"run-id": run_id, "model-version": str(models.version), "origin": str(origin.date())},
    )
    steps["write_forecast_seconds"] = round(time.perf_counter() - t0, 3)
    steps["forecast_seconds"] = round(time.perf_counter() - started, 3)

    manifest.update(
        status="succeeded",
        finished_at=mf.utc_now(),
        model_version=models.version,
        fallback=fallback,
        origin=str(origin.date()),
        horizon_days=int((targets["date"].max() - origin).days),
        series_forecast=int(targets[["store_nbr", "item_nbr"]].drop_duplicates().shape[0]),
        rows_forecast=len(forecast),
        history_series_found=int(np.count_nonzero(~np.all(np.isnan(panel.sales), axis=1)))
        if panel.n_series
        else 0,
        output=f"s3://{config.output_bucket}/{out_key}",
        peak_memory_mb_predict=mf.peak_memory_mb(),
    )
    mf.save(s3, config.output_bucket, manifest)
