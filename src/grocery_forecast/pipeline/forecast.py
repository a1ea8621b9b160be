"""The prediction step: a cleaned upload in, a forecast CSV and a completed run manifest out.

The model, its metadata and the reference tables are loaded once per warm container and
reloaded only when the models bucket's ``current`` pointer or a reference object changes.
Features come from the same module training used (``grocery_forecast.forecasting.features``), computed
from a SalesPanel read from the history table: the train/serve parity point.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.aws.s3io import put_csv
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunManifest, RunStatus
from grocery_forecast.contract.schema import MAX_HORIZON, FileKind
from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.attempts import begin_attempt, max_retry_attempts

__all__ = [
    "ForecastConfig",
    "ModelCache",
    "forecast_frame",
    "forecast_targets",
    "pooled_over_history",
    "read_history",
    "run_forecast",
    "write_forecast",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastConfig:
    """Where the prediction step reads and writes. Read from the Lambda's environment."""

    processed_bucket: str
    models_bucket: str
    output_bucket: str
    horizon: int = MAX_HORIZON
    model_dir: Path = Path("/tmp/models")
    #: Lambda's retries after a failed attempt: a failure is "retrying" until the last one.
    max_retries: int = 0
    #: Forecasts of more target rows than this go through the sharded workflow (0: never).
    shard_rows: int = 0
    #: The Step Functions state machine of the sharded workflow.
    state_machine_arn: str = ""
    #: Pool the item, store, class and family features over every series of the history (the
    #: series index, then their buckets), as training pools them, not over the upload's series
    #: only (see :func:`pooled_over_history`). On by default; off saves the reads.
    pool_over_history: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ForecastConfig:
        try:
            return cls(
                environ["PROCESSED_BUCKET"],
                environ["MODELS_BUCKET"],
                environ["OUTPUT_BUCKET"],
                int(environ.get("FORECAST_HORIZON", MAX_HORIZON)),
                Path(environ.get("MODEL_CACHE_DIR", "/tmp/models")),
                max_retry_attempts(environ),
                int(environ.get("FORECAST_SHARD_ROWS", 0)),
                environ.get("FORECAST_STATE_MACHINE_ARN", ""),
                environ.get("FORECAST_POOL_OVER_HISTORY", "true").lower() == "true",
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

    def get(self, s3: Any, bucket: str, cache_dir: Path, version: str | None = None) -> Any:
        """The model ``version`` (defaults to the one in service). Raises ModelStoreError (recorded in
        the run's manifest) when there is none or this library cannot serve it, naming the way back
        (``models rollback``)."""
        version = version or model_store.current_version(s3, bucket)
        if version != self.version or self.model is None:
            t0 = time.perf_counter()
            try:
                self.model = model_store.load_servable(s3, bucket, version, cache_dir)
            except model_store.ModelStoreError as exc:
                raise model_store.ModelStoreError(
                    f"{exc}. Put a working model back with `grocery-forecast models rollback` "
                    "(or `models use VERSION`), then upload the file again"
                ) from None
            self.version = version
            self.load_seconds = time.perf_counter() - t0
            log.info("loaded model", extra={"model_version": version, "seconds": round(self.load_seconds, 3)})
        return self.model


def forecast_targets(
    cleaned: pd.DataFrame, kind: FileKind, horizon: int, origin: pd.Timestamp | None = None
) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The rows to forecast and the origin they are forecast from.

    Actuals: every store-item in the file for the ``horizon`` days after the file's last date
    (future promotions unknown: ``promo_known`` False, which the model was trained to expect).
    Request: exactly the requested rows, from the origin the ETL anchored to the end of history
    (:func:`~grocery_forecast.contract.runs.request_origin` without history when none was handed over).
    """
    if kind is FileKind.ACTUALS:
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
        origin = runs.request_origin(pd.Timestamp(cleaned["date"].min()).normalize(), None)
    return pd.Timestamp(origin), cleaned[["id", "date", "store_nbr", "item_nbr", "onpromotion"]].reset_index(
        drop=True
    )


def history_start(store: DynamoHistoryStore) -> pd.Timestamp | None:
    """The first day the history table holds (None when it is empty)."""
    span = store.date_range()
    return None if span is None else pd.Timestamp(span[0])


def read_history(
    store: DynamoHistoryStore,
    targets: pd.DataFrame,
    origin: pd.Timestamp,
    lookback: int,
    stored_from: pd.Timestamp | None = None,
) -> SalesPanel:
    """History of the targets' series for the ``lookback`` days up to ``origin``, as training saw it.

    The panel starts at the first day the history table holds when that is later than the
    lookback's start: days before it are unknown (as before a training panel's first day), not
    days without sales. A sharded forecast passes the first day its plan recorded
    (``stored_from``), so every shard reads from the same day even if older history arrives
    while the workflow runs; without it, the first day is read from the table.
    """
    first = _window_first(store, origin, lookback, stored_from)
    return store.read_panel(targets["store_nbr"].to_numpy(), targets["item_nbr"].to_numpy(), first, origin)


def _window_first(
    store: DynamoHistoryStore, origin: pd.Timestamp, lookback: int, stored_from: pd.Timestamp | None
) -> pd.Timestamp:
    """The first day a forecast at ``origin`` reads: the lookback's, or the table's first day if later."""
    first = origin - pd.Timedelta(days=lookback - 1)
    start = stored_from if stored_from is not None else history_start(store)
    return first if start is None else min(max(first, start), origin)


#: Series whose year buckets the pool reads at once, beyond the upload's own (already read): memory
#: holds one chunk's buckets (two years of 366 days, about 3.7 KB a series decoded) at a time.
POOL_CHUNK_SERIES = 20_000

SeriesKey = tuple[int, int]


def pooled_over_history(
    store: DynamoHistoryStore,
    panel: SalesPanel,
    origin: pd.Timestamp,
    model: Any,
    reference: Any,
    key_range: tuple[SeriesKey | None, SeriesKey | None] = (None, None),
) -> Any:
    """The sums behind the pooled features over every series of the history, as training has them;
    None when the history's series index is not complete (pool over the upload instead).

    Training (and a backtest) pools each item's, store's, class's and family's level over every
    series with a record in the lookback; an upload holds only some of them (a daily file the
    series that sold, one store's file one store), and pooled over those the features differ
    (+1.0% NWRMSLE for a daily file, +1.9% for one store's, on the 21,500-series hard set). So the
    series index (one Query a year) names every series with a bucket in the years ``panel`` covers; the
    upload's own come from ``panel`` (the targets' history, already read), the others are read by
    BatchGetItem in chunks of :data:`POOL_CHUNK_SERIES`, and the chunks' sums are added up. On AWS
    that costs one read per series and year of the lookback, as a forecast of the whole store x
    item grid does; a Scan would read every year of the table.

    ``key_range`` (``[from, to)`` in (store, item) order, None = open) keeps the series of one
    shard's range: the shards' ranges cover every series once, so their sums add up to the whole.
    """
    from grocery_forecast.forecasting.features import PooledSums, pooled_sums

    first = panel.start
    lo, hi = key_range
    index = store.series_index(
        first.year, origin.year, (None if lo is None else lo[0], None if hi is None else hi[0])
    )
    if index is None:
        return None
    # The upload's own series with a record belong to the pool whatever the index says (they have
    # a bucket): a series the index lacks can then only be one the upload does not hold.
    recorded = panel.recorded
    pairs = np.unique(
        np.column_stack(
            [
                np.concatenate([index[0], panel.stores[recorded].astype(np.int64)]),
                np.concatenate([index[1], panel.items[recorded].astype(np.int64)]),
            ]
        ),
        axis=0,
    )
    stores, items = pairs[:, 0], pairs[:, 1]
    keep = np.ones(len(stores), dtype=bool)
    if lo is not None:
        keep &= (stores > lo[0]) | ((stores == lo[0]) & (items >= lo[1]))
    if hi is not None:
        keep &= (stores < hi[0]) | ((stores == hi[0]) & (items < hi[1]))
    stores, items = stores[keep], items[keep]
    rows = panel.index_of(stores, items)
    spec = model.spec
    parts = []
    if np.any(rows >= 0):
        parts.append(pooled_sums(panel.take(rows[rows >= 0]), origin, spec, reference))
    other_stores, other_items = stores[rows < 0], items[rows < 0]
    for a in range(0, len(other_stores), POOL_CHUNK_SERIES):
        chunk = store.read_panel(
            other_stores[a : a + POOL_CHUNK_SERIES], other_items[a : a + POOL_CHUNK_SERIES], first, origin
        )
        parts.append(pooled_sums(chunk, origin, spec, reference))
    if not parts:
        return PooledSums.empty(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return PooledSums.merge(parts)


def pooled_over(config: ForecastConfig, from_history: bool, manifest: RunManifest) -> str:
    """What the run's pooled features were averaged over (the manifest's ``pooled_over``), with a
    warning in the manifest when the history could not be pooled over although it was asked (and
    none once it is, for a run forecast again)."""
    warning = (
        "pooled features averaged over the upload's series, not the whole history: the history "
        "table's series index is not complete (written before it existed); "
        "`grocery-forecast history index` builds it"
    )
    manifest.warnings = [w for w in manifest.warnings if w != warning]
    if from_history:
        return "history"
    if config.pool_over_history:
        manifest.warnings.append(warning)
    return "upload"


def fallback_reason(panel: SalesPanel, origin: pd.Timestamp) -> str | None:
    """Why ``panel`` is too short a history for the model (forecast with the fallback baseline), or None.

    It depends only on the panel's first day and the origin, so every shard of a sharded forecast
    (each reads from the history table's first day) comes to the same answer as one invocation.
    """
    from grocery_forecast.forecasting.baselines import FALLBACK_BASELINE
    from grocery_forecast.forecasting.model import MIN_TRAIN_DAYS

    known_days = (origin - panel.start).days + 1
    if known_days >= MIN_TRAIN_DAYS:
        return None
    return (
        f"history of {known_days} days (from {panel.start.date()}) is below the model's minimum of "
        f"{MIN_TRAIN_DAYS}: forecast with the {FALLBACK_BASELINE} baseline"
    )


def forecast_frame(
    model: Any,
    panel: SalesPanel,
    origin: pd.Timestamp,
    targets: pd.DataFrame,
    reference: Any,
    kind: FileKind | str,
    pooled: Any = None,
) -> tuple[pd.DataFrame, str | None]:
    """The forecast CSV's rows for ``targets`` and the fallback reason (None: the model's forecast).

    Rows are ``id,unit_sales,date,...`` for a request (the Kaggle submission plus the keys),
    ``date,store_nbr,item_nbr,onpromotion,unit_sales`` for actuals. Below the model's minimum
    history (:func:`fallback_reason`) the forecast is the fallback baseline's, per series (no
    pooled features, so a shard's rows equal the unsharded ones).
    """
    fallback = fallback_reason(panel, origin)
    if fallback is None:
        predictions = model.predict(panel, origin, targets, reference, pooled)
    else:
        from grocery_forecast.forecasting.baselines import FALLBACK_BASELINE, baseline_forecast

        log.warning("forecast fallback", extra={"fallback": fallback})
        predictions = baseline_forecast(FALLBACK_BASELINE, panel, origin, targets)
    forecast = targets.assign(unit_sales=np.round(np.asarray(predictions, dtype=np.float64), 4))
    columns = (
        ["id", "unit_sales", "date", "store_nbr", "item_nbr", "onpromotion"]
        if FileKind(kind) is FileKind.REQUEST
        else ["date", "store_nbr", "item_nbr", "onpromotion", "unit_sales"]
    )
    return forecast[columns], fallback


def write_forecast(
    s3: Any, bucket: str, run_id: str, forecast: pd.DataFrame, model_version: str, origin: pd.Timestamp
) -> str:
    """Write ``forecasts/<run>/forecast.csv`` with the run, model version and origin as metadata; its key."""
    key = runs.forecast_key(run_id)
    put_csv(
        s3,
        bucket,
        key,
        forecast,
        runs.encode_metadata(
            {"run-id": run_id, "model-version": model_version, "origin": str(origin.date())}
        ),
    )
    return key


def run_forecast(
    s3: Any,
    store: DynamoHistoryStore,
    bucket: str,
    key: str,
    config: ForecastConfig,
    *,
    models: ModelCache,
    references: ReferenceObjects,
    request_id: str | None = None,
    event_id: str | None = None,
    sfn: Any = None,
) -> RunManifest:
    """Forecast one cleaned upload and write ``forecasts/<run>/forecast.csv``; returns the manifest.

    ``event_id`` numbers the attempts across Lambda's retries (a failure with retries left is
    recorded as ``retrying``, not ``failed``). With a Step Functions client ``sfn`` and more target
    rows than ``config.shard_rows``, the forecast is handed to the sharded workflow instead
    (:mod:`grocery_forecast.pipeline.shards`), which completes the manifest.
    """
    started = time.perf_counter()
    mf.reset_peak_memory()  # this invocation's peak, not a warm container's earlier ones
    obj = s3.get_object(Bucket=bucket, Key=key)
    hand_off = HandOff.from_object(key, obj["ETag"], obj.get("Metadata"))
    manifest = mf.load(s3, config.output_bucket, hand_off.run_id) or RunManifest.new(
        hand_off.run_id, bucket, key, obj["ETag"], int(obj.get("ContentLength", 0))
    )
    if request_id:
        manifest.request_ids.append(request_id)
    # The manifest as read is the run's previous state: it holds predict's earlier attempts at this event.
    begin_attempt(manifest, manifest, "predict", event_id, config.max_retries)
    with mf.recording_failure(s3, config.output_bucket, manifest, "forecast"):
        _forecast(s3, store, key, obj, hand_off, manifest, config, models, references, started, sfn)
    return manifest


def _forecast(
    s3: Any,
    store: DynamoHistoryStore,
    key: str,
    obj: dict[str, Any],
    hand_off: HandOff,
    manifest: RunManifest,
    config: ForecastConfig,
    models: ModelCache,
    references: ReferenceObjects,
    started: float,
    sfn: Any = None,
) -> None:
    steps = manifest.steps
    kind = hand_off.kind
    t0 = time.perf_counter()
    cleaned = pd.read_csv(obj["Body"], parse_dates=["date"])
    origin_hint = pd.Timestamp(hand_off.origin) if hand_off.origin else None
    if origin_hint is None and kind is FileKind.REQUEST:  # written without the ETL's hand-off
        span = store.date_range()
        first_wanted = pd.Timestamp(cleaned["date"].min()).normalize()
        origin_hint = runs.request_origin(first_wanted, span[1] if span else None)
    origin, targets = forecast_targets(cleaned, kind, config.horizon, origin_hint)
    steps["read_processed_seconds"] = round(time.perf_counter() - t0, 3)
    if sfn is not None and 0 < config.shard_rows < len(targets):
        from grocery_forecast.pipeline import shards

        pool_history = config.pool_over_history and store.series_index_complete()
        manifest.pooled_over = pooled_over(config, pool_history, manifest)
        shards.start(
            s3,
            sfn,
            key,
            hand_off,
            origin,
            targets,
            manifest,
            config,
            started,
            history_start(store),
            pool_history,
        )
        return

    t0 = time.perf_counter()
    model = models.get(s3, config.models_bucket, config.model_dir)
    reference = references.reference(s3, config.processed_bucket)
    steps["load_model_seconds"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    panel = read_history(store, targets, origin, int(model.spec.lookback_days))
    steps["read_history_seconds"] = round(time.perf_counter() - t0, 3)

    pooled = None
    if config.pool_over_history:
        t0 = time.perf_counter()
        pooled = pooled_over_history(store, panel, origin, model, reference)
        steps["pool_history_seconds"] = round(time.perf_counter() - t0, 3)
    manifest.pooled_over = pooled_over(config, pooled is not None, manifest)

    t0 = time.perf_counter()
    forecast, fallback = forecast_frame(model, panel, origin, targets, reference, kind, pooled)
    steps["predict_seconds"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    out_key = write_forecast(s3, config.output_bucket, hand_off.run_id, forecast, str(models.version), origin)
    steps["write_forecast_seconds"] = round(time.perf_counter() - t0, 3)
    steps["forecast_seconds"] = round(time.perf_counter() - started, 3)

    manifest.status = RunStatus.SUCCEEDED
    manifest.finished_at = runs.utc_now()
    manifest.model_version = models.version
    manifest.fallback = fallback
    manifest.origin = str(origin.date())
    manifest.horizon_days = int((targets["date"].max() - origin).days)
    manifest.series_forecast = int(targets[["store_nbr", "item_nbr"]].drop_duplicates().shape[0])
    manifest.rows_forecast = len(forecast)
    manifest.history_series_found = int(np.count_nonzero(panel.recorded))
    manifest.output = f"s3://{config.output_bucket}/{out_key}"
    manifest.peak_memory_mb_predict = mf.invocation_peak_memory_mb()
    mf.save(s3, config.output_bucket, manifest)
