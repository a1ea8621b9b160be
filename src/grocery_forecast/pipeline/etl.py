"""The ETL step: one uploaded object in, validated history and a cleaned file out.

Order matters for "nothing half-written": the whole file is parsed and validated before the
first write; history is merged before the cleaned file (which triggers the forecast) is
written; a rejected file produces only an error report and a manifest, and stays where it was.
"""

from __future__ import annotations

import io
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import numpy as np
import pandas as pd

from grocery_forecast.aws.history import DynamoHistoryStore, UpsertStats
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.aws.s3io import StreamingReader, csv_bytes, put_csv, put_json
from grocery_forecast.contract import runs
from grocery_forecast.contract.bounds import (
    BoundedReader,
    InputLimitError,
    InputLimits,
    check_name,
    check_not_after_upload,
    date_error,
)
from grocery_forecast.contract.cleaning import CsvContractError, Problem, read_reference, read_table
from grocery_forecast.contract.ingest_plan import series_partition
from grocery_forecast.contract.runs import HandOff, RunManifest, RunStatus
from grocery_forecast.contract.schema import MAX_HORIZON, REFERENCE_TABLES, FileKind
from grocery_forecast.pipeline import faults, ingest
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.attempts import begin_attempt, max_retry_attempts

__all__ = ["EtlConfig", "run_etl"]

log = logging.getLogger(__name__)

_MAX_EXAMPLES = 10
#: A run in one of these has nothing left to redrive: its ingest finished (or was rejected).
_COMPLETED = frozenset({RunStatus.FORECASTING, RunStatus.SUCCEEDED, RunStatus.REJECTED})


@dataclass(frozen=True)
class EtlConfig:
    """Where the ETL writes. Read from the Lambda's environment (set by Terraform)."""

    processed_bucket: str
    output_bucket: str
    horizon: int = MAX_HORIZON
    #: Lambda's retries after a failed attempt: a failure is "retrying" until the last one.
    max_retries: int = 0
    limits: InputLimits = field(default_factory=InputLimits)
    #: Tests only (``grocery_forecast.pipeline.faults``): empty, the default, turns faults off.
    fault_marker: str = ""
    #: When an actuals upload goes through the sharded ingest workflow, and the series partitions
    #: (one writer lease each) that the single path merges by too.
    ingest: ingest.IngestSettings = field(default_factory=ingest.IngestSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EtlConfig:
        try:
            return cls(
                environ["PROCESSED_BUCKET"],
                environ["OUTPUT_BUCKET"],
                int(environ.get("FORECAST_HORIZON", MAX_HORIZON)),
                max_retry_attempts(environ),
                fault_marker=environ.get(faults.FAULT_ENV, ""),
                ingest=ingest.IngestSettings.from_env(environ),
            )
        except KeyError as exc:
            raise RuntimeError(
                f"the ETL function is missing its {exc.args[0]} environment variable"
            ) from None


def _unknown_ids_warnings(frame: pd.DataFrame, s3: Any, bucket: str, refs: ReferenceObjects) -> list[str]:
    warnings = []
    for table, column in (("stores", "store_nbr"), ("items", "item_nbr")):
        known = refs.ids(s3, bucket, table, column)
        if known is None:
            warnings.append(f"no {runs.reference_key(table)} uploaded yet: {column} values were not checked")
            continue
        unknown = np.setdiff1d(frame[column].unique(), known)
        if len(unknown):
            rows = int(frame[column].isin(unknown).sum())
            warnings.append(
                f"{len(unknown)} {column} value(s) not in {table}.csv ({rows} rows kept): "
                + ", ".join(map(str, unknown[:_MAX_EXAMPLES]))
                + (" ..." if len(unknown) > _MAX_EXAMPLES else "")
            )
    return warnings


def _check_request_horizon(
    frame: pd.DataFrame, key: str, store: DynamoHistoryStore, horizon: int
) -> dict[str, Any]:
    """Anchor a forecast request to the end of history; reject dates the model cannot reach."""
    span = store.date_range()
    if span is None:
        raise CsvContractError(
            key,
            [
                Problem(
                    "no sales history has been uploaded yet, so there is nothing to forecast from",
                    expected="an actuals upload before a forecast request",
                )
            ],
        )
    latest = span[1]
    origin = runs.request_origin(frame["date"].min(), latest)
    ahead = (frame["date"] - origin).dt.days.to_numpy()
    too_far = ahead > horizon
    if too_far.any():
        raise date_error(
            frame,
            too_far,
            key,
            "date beyond the forecast horizon",
            f"a date at most {horizon} days after the end of history "
            f"({origin.date()}), i.e. up to {(origin + pd.Timedelta(days=horizon)).date()}",
        )
    return {
        "origin": str(origin.date()),
        "history_latest": str(latest.date()),
        "max_days_ahead": int(ahead.max()),
    }


def _reject(s3: Any, config: EtlConfig, manifest: RunManifest, error: CsvContractError) -> None:
    report = {
        **error.to_dict(),
        "bucket": manifest.input.bucket,
        "key": manifest.input.key,
        "etag": manifest.input.etag,
        "run_id": manifest.run_id,
        "rejected_at": runs.utc_now(),
        "message": str(error),
        "history_changed": False,
    }
    report_key = runs.rejected_key(manifest.input.key, manifest.run_id)
    put_json(s3, config.output_bucket, report_key, report)
    manifest.status = RunStatus.REJECTED
    manifest.errors = [str(error)]
    manifest.report = f"s3://{config.output_bucket}/{report_key}"


def run_etl(
    s3: Any,
    store: DynamoHistoryStore,
    bucket: str,
    key: str,
    config: EtlConfig,
    *,
    request_id: str | None = None,
    references: ReferenceObjects | None = None,
    version_id: str | None = None,
    event_id: str | None = None,
    event_time: str | None = None,
    sequencer: str | None = None,
    deadline: float | None = None,
    sfn: Any = None,
    s3_event: Mapping[str, Any] | None = None,
    redrive: int = 0,
) -> RunManifest:
    """Validate, clean and store one uploaded object. Returns the run manifest it wrote.

    Raises only for faults worth retrying (AWS errors, a busy or lost history lease): a file that
    breaks the data contract is answered with an error report, not an exception, because retrying
    it cannot help. ``version_id`` (the event's object version, on the versioned raw bucket) is the
    version read, so each upload is processed as uploaded even when a newer one has replaced it at
    the key since, and is recorded so a client can wait for the run of exactly its upload;
    ``event_id`` numbers the attempts across Lambda's retries. ``event_time`` and ``sequencer``
    (the S3 event's) place the upload in upload order (:func:`runs.upload_stamp`; without them,
    the object's LastModified), which decides whose value a day of history keeps. ``deadline``
    (epoch seconds at which Lambda ends the invocation) bounds the history writer lease. An
    actuals object over ``config.ingest.shard_bytes`` is only planned here and handed to the
    sharded ingest workflow (``sfn``, the Step Functions client; :mod:`grocery_forecast.pipeline.ingest`).
    ``s3_event`` (the event record) is kept in its plan, so a failed ingest dead-letters the event
    itself; ``redrive`` > 0 is such a dead letter replayed (``ingest_redrive`` in the event): a new
    execution ingests the upload again, unless the run has completed since.
    """
    started = time.perf_counter()
    mf.reset_peak_memory()  # this invocation's peak, not a warm container's earlier ones
    # Without VersionId, S3 serves whatever is newest at the key: two uploads to one key in a row
    # would process the second twice and the first never.
    version = {"VersionId": version_id} if version_id else {}
    obj = s3.get_object(Bucket=bucket, Key=key, **version)
    etag = obj["ETag"].strip('"')
    run_id = runs.run_id_for(key, etag)
    manifest = RunManifest.new(
        run_id, bucket, key, etag, int(obj.get("ContentLength", 0)), request_id, version_id
    )
    last_modified = obj.get("LastModified")
    uploaded_at = event_time or (last_modified.isoformat() if last_modified is not None else None)
    if uploaded_at is not None:
        manifest.input.uploaded_at = uploaded_at
        manifest.input.upload_stamp = runs.upload_stamp(uploaded_at, sequencer, version_id or etag)
    writer = HistoryWriter(
        store,
        manifest.input.upload_stamp or 0,
        f"{run_id}/{request_id or uuid.uuid4().hex}",
        deadline,
        config.ingest.partitions,
    )
    previous = mf.load(s3, config.output_bucket, run_id)
    if sfn is not None and previous is not None and ingest.already_started(sfn, previous, manifest, redrive):
        # S3 delivered this upload again: its workflow execution owns the manifest; touch nothing.
        log.info("sharded ingest already started for this upload", extra={"run_id": run_id})
        return previous
    if previous is not None and ingest.superseded_by_redrive(previous, manifest, redrive):
        # The original event, or an older redrive's, arriving after a newer redrive took the run over.
        log.info("delivery superseded by a later redrive of the upload", extra={"run_id": run_id})
        return previous
    if (
        redrive
        and previous is not None
        and (
            previous.status in _COMPLETED
            or (previous.input.upload_stamp or 0) > (manifest.input.upload_stamp or 0)
        )
    ):
        # A dead letter replayed after the run completed (another redrive), or after the same bytes
        # were uploaded again (a newer stamp, which owns the run now): nothing to redo.
        log.info("redrive of a completed or superseded run ignored", extra={"run_id": run_id})
        return previous
    with mf.recording_failure(s3, config.output_bucket, manifest, "etl"):
        _start_attempt(s3, config, manifest, previous, event_id, redrive)

        def shard(body: Mapping[str, Any]) -> bool:
            """Hand the object (a ``get_object`` response) to the sharded ingest; False if not actuals."""
            assert sfn is not None
            return _sharded(
                s3,
                sfn,
                body,
                key,
                config,
                manifest,
                last_modified,
                started,
                deadline=deadline,
                event=s3_event,
                redrive=redrive,
                store=store,
            )

        if sfn is not None and ingest.should_shard(key, int(obj.get("ContentLength", 0)), config.ingest):
            if shard(obj):
                return manifest
            # Not actuals (a request, bounded by the single path): read it again from the start.
            obj = s3.get_object(Bucket=bucket, Key=key, **version)

        def shard_instead() -> bool:
            """Past the single path's bounds: an actuals file goes to the sharded ingest after all
            (its bytes under-stated its rows: short rows, or a .gz compressing more than GZIP_RATIO)."""
            settings = config.ingest
            if sfn is None or not settings.state_machine_arn or settings.shard_bytes <= 0:
                return False
            if runs.is_reference_upload(key):
                return False
            return shard(s3.get_object(Bucket=bucket, Key=key, **version))

        raw = io.BufferedReader(
            BoundedReader(StreamingReader(obj["Body"]), key, config.limits), buffer_size=1 << 20
        )
        fault = faults.EtlFault.for_key(key, config.fault_marker)
        if fault is not None and fault.applies(manifest.attempt or 1):
            log.warning("injecting the test fault %s into attempt %s", fault, manifest.attempt)
            writer = writer.faulty(fault)
        return _etl(
            s3,
            writer,
            raw,
            key,
            config,
            manifest,
            references or ReferenceObjects(),
            started,
            obj.get("LastModified"),
            shard_instead,
        )


def _sharded(
    s3: Any,
    sfn: Any,
    obj: Mapping[str, Any],
    key: str,
    config: EtlConfig,
    manifest: RunManifest,
    uploaded_at: datetime | None,
    started: float,
    deadline: float | None = None,
    event: Mapping[str, Any] | None = None,
    redrive: int = 0,
    store: DynamoHistoryStore | None = None,
) -> bool:
    """Hand a large actuals upload to the sharded ingest workflow; False when it is not actuals.
    ``deadline`` (the invocation's end) bounds the split of a ``.csv.gz``."""
    try:
        check_name(key)
        return ingest.start(
            s3,
            sfn,
            obj,
            manifest,
            config.ingest,
            config.processed_bucket,
            config.output_bucket,
            uploaded_at,
            started,
            event,
            redrive,
            store=store,
            deadline=deadline,
        )
    except CsvContractError as error:
        manifest.kind = manifest.kind or error.kind
        manifest.rows_in = manifest.rows_rejected = error.rows
        manifest.problem_count = error.total
        _reject(s3, config, manifest, error)
        manifest.steps["etl_seconds"] = round(time.perf_counter() - started, 3)
        mf.save(s3, config.output_bucket, manifest)
        return True


def _start_attempt(
    s3: Any,
    config: EtlConfig,
    manifest: RunManifest,
    previous: RunManifest | None,
    event_id: str | None,
    redrive: int = 0,
) -> None:
    """Number this attempt and write the manifest at once, so a run is visible from its start.

    ``previous`` is the run's manifest before this attempt. Its ``ingest`` is carried over when it
    belongs to this same upload (same stamp): the record of the workflow execution that owns the
    run must survive a retried attempt, or a second execution would start on the same files.
    """
    begin_attempt(manifest, previous, "etl", event_id, config.max_retries)
    done = (previous.ingest or {}) if previous is not None else {}
    if done.get("base") == runs.ingest_prefix(manifest.run_id, manifest.input.upload_stamp or 0, redrive):
        manifest.ingest = dict(done)
    mf.save(s3, config.output_bucket, manifest)


@dataclass(frozen=True)
class HistoryWriter:
    """How this attempt writes history: the store, the upload's stamp, the lease owner token
    (run id and Lambda request id: a lease request sent again finds its own lease) and the
    invocation's deadline (which the lease never outlives)."""

    store: DynamoHistoryStore
    stamp: int
    owner: str
    deadline: float | None
    #: Series partitions, one writer lease each: the single path merges partition by partition, so it
    #: and a sharded ingest (one task per partition) never read-modify-write a series at once.
    partitions: int = 1

    def upsert(self, frame: pd.DataFrame) -> UpsertStats:
        # History written with another partition count while its writers run: refused (retried).
        store = self.store.use_partitions(self.partitions)
        if self.partitions <= 1:
            return store.upsert(frame, stamp=self.stamp, owner=self.owner, deadline=self.deadline)
        parts = series_partition(frame["store_nbr"], frame["item_nbr"], self.partitions)
        done = [
            store.upsert(
                frame.loc[parts == p],
                stamp=self.stamp,
                owner=self.owner,
                deadline=self.deadline,
                partition=int(p),
            )
            for p in np.unique(parts)
        ]
        return UpsertStats(
            rows=sum(d.rows for d in done),
            series=sum(d.series for d in done),
            buckets_written=sum(d.buckets_written for d in done),
            buckets_existing=sum(d.buckets_existing for d in done),
            seconds=sum(d.seconds for d in done),
        )

    def faulty(self, fault: faults.EtlFault) -> HistoryWriter:
        deadline = fault.deadline(self.deadline)
        return HistoryWriter(
            fault.arm(self.store, deadline), self.stamp, self.owner, deadline, self.partitions
        )


def _etl(
    s3: Any,
    writer: HistoryWriter,
    raw: IO[bytes],
    key: str,
    config: EtlConfig,
    manifest: RunManifest,
    references: ReferenceObjects,
    started: float,
    uploaded_at: datetime | None = None,
    shard_instead: Callable[[], bool] | None = None,
) -> RunManifest:
    """The single path. ``shard_instead``, called when the file is past this path's size or row
    bound, hands it to the sharded ingest (True: done) rather than rejecting a valid file."""
    try:
        check_name(key)
        if runs.is_reference_upload(key):
            return _store_reference(s3, raw, key, config, manifest, started)
        t0 = time.perf_counter()
        try:
            kind, frame = read_table(raw, key)
        finally:
            raw.close()
        manifest.kind = kind.value
        manifest.rows_in = len(frame)
        manifest.steps["validate_seconds"] = round(time.perf_counter() - t0, 3)
        manifest.series = int(frame[["store_nbr", "item_nbr"]].drop_duplicates().shape[0])
        manifest.date_range = [str(frame["date"].min().date()), str(frame["date"].max().date())]
        manifest.warnings = _unknown_ids_warnings(frame, s3, config.processed_bucket, references)
        origin = None
        if kind is FileKind.ACTUALS and uploaded_at is not None:
            check_not_after_upload(frame, key, uploaded_at)
        if kind is FileKind.ACTUALS:
            t0 = time.perf_counter()
            stats = writer.upsert(frame)
            manifest.steps["history_upsert_seconds"] = round(time.perf_counter() - t0, 3)
            manifest.history = {
                "buckets_written": stats.buckets_written,
                "buckets_existing": stats.buckets_existing,
            }
            cleaned = frame[["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]]
        else:
            manifest.request = _check_request_horizon(frame, key, writer.store, config.horizon)
            origin = str(manifest.request["origin"])
            cleaned = frame[["id", "date", "store_nbr", "item_nbr", "onpromotion"]]
        hand_off = HandOff(manifest.run_id, kind, key, manifest.input.etag, origin)
        t0 = time.perf_counter()
        out_key = runs.processed_key(kind, key, manifest.run_id)
        body = csv_bytes(cleaned)
        manifest.steps["write_processed_seconds"] = round(time.perf_counter() - t0, 3)
        manifest.processed = f"s3://{config.processed_bucket}/{out_key}"
        manifest.rows_rejected = 0
        manifest.status = RunStatus.FORECASTING
        manifest.steps["etl_seconds"] = round(time.perf_counter() - started, 3)
        manifest.peak_memory_mb_etl = mf.invocation_peak_memory_mb()
        # The manifest first: the processed object triggers the forecast, which completes it.
        mf.save(s3, config.output_bucket, manifest)
        s3.put_object(
            Bucket=config.processed_bucket,
            Key=out_key,
            Body=body,
            ContentType="text/csv",
            Metadata=hand_off.to_metadata(),
        )
        return manifest
    except CsvContractError as error:
        if (
            isinstance(error, InputLimitError)
            and error.kind in (None, FileKind.ACTUALS.value)
            and shard_instead is not None
            and shard_instead()
        ):
            return manifest
        if manifest.kind is None:
            manifest.kind = error.kind
        if manifest.rows_in is None:
            manifest.rows_in = error.rows
        manifest.rows_rejected = manifest.rows_in
        manifest.problem_count = error.total
        _reject(s3, config, manifest, error)
    manifest.steps["etl_seconds"] = round(time.perf_counter() - started, 3)
    mf.save(s3, config.output_bucket, manifest)
    return manifest


def _store_reference(
    s3: Any, raw: IO[bytes], key: str, config: EtlConfig, manifest: RunManifest, started: float
) -> RunManifest:
    table = runs.reference_table_name(key)
    manifest.kind = FileKind.REFERENCE.value
    try:
        try:
            frame = read_reference(raw, table, key)
        finally:
            raw.close()
        out_key = runs.reference_key(table)
        hand_off = HandOff(manifest.run_id, FileKind.REFERENCE, key, manifest.input.etag)
        put_csv(s3, config.processed_bucket, out_key, frame, hand_off.to_metadata())
        manifest.status = RunStatus.SUCCEEDED
        manifest.rows_in = len(frame)
        manifest.rows_rejected = 0
        manifest.table = table
        manifest.processed = f"s3://{config.processed_bucket}/{out_key}"
        if table not in REFERENCE_TABLES or not REFERENCE_TABLES[table].required:
            manifest.warnings.append(f"{table}.csv is stored but not used by the current features")
    except CsvContractError as error:
        manifest.problem_count = error.total
        _reject(s3, config, manifest, error)
    manifest.steps["etl_seconds"] = round(time.perf_counter() - started, 3)
    mf.save(s3, config.output_bucket, manifest)
    return manifest
