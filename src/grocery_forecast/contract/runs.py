"""The run contract between the steps: bucket layout, file kinds, run identity, the run manifest,
and the S3 metadata the ETL hands to predict.

One module owns every name two steps must agree on, so the ETL, predict, the CLI, the tests and
Terraform (see ``tests/unit/test_terraform_contract.py``) cannot drift apart. Pure: no boto3 here;
reading and writing the manifest in S3 is ``grocery_forecast.pipeline.manifest``.

A run is identified by the uploaded object's key and ETag, so uploading the same bytes to the
same key twice is the same run (same manifest, same processed and forecast keys), which is what makes
re-uploads change nothing. The ETL writes the manifest; the prediction step completes it.
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from grocery_forecast.contract.keys import fit_key
from grocery_forecast.contract.schema import FileKind

__all__ = [
    "ACCURACY_PREFIX",
    "ACTUALS_PREFIX",
    "CURRENT_MODEL_KEY",
    "FINAL_STATUSES",
    "FORECASTS_PREFIX",
    "INGEST_PREFIX",
    "MODELS_PREFIX",
    "MODEL_ARTIFACT_FILES",
    "PROCESSED_SUFFIX",
    "REFERENCE_PREFIX",
    "REJECTED_PREFIX",
    "REQUESTS_PREFIX",
    "RUNS_PREFIX",
    "SHARDS_PREFIX",
    "UPLOAD_SUFFIXES",
    "HandOff",
    "RunInput",
    "RunManifest",
    "RunStatus",
    "StepAttempt",
    "accuracy_day_prefix",
    "accuracy_key",
    "decode_metadata",
    "encode_metadata",
    "forecast_key",
    "ingest_prefix",
    "is_reference_upload",
    "manifest_key",
    "model_key",
    "processed_key",
    "processed_kind",
    "reference_key",
    "reference_table_name",
    "rejected_key",
    "request_origin",
    "run_id_for",
    "shard_key",
    "shard_prefix",
    "upload_stamp",
    "utc_now",
]

# -- bucket layout --------------------------------------------------------------------------------
# Terraform's notification filters and IAM resources name the same prefixes and suffixes; the
# unit test test_terraform_contract.py fails when one side changes without the other.

#: Raw bucket: the names the ETL reads, compared case-insensitively (SALES.CSV is a CSV). Every
#: upload reaches the ETL (S3 suffix filters are case-sensitive, so the raw notification has
#: none); any other name is answered with a rejection report.
UPLOAD_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
#: Raw bucket: reference tables are uploaded under this prefix. Processed bucket: their cleaned copies.
REFERENCE_PREFIX = "reference/"
#: Processed bucket: cleaned actuals and forecast requests, each one triggering predict.
ACTUALS_PREFIX = "actuals/"
REQUESTS_PREFIX = "requests/"
#: Processed bucket: every cleaned file ends in lower-case ``.csv`` (predict's notification suffix
#: filter, which is case-sensitive).
PROCESSED_SUFFIX = ".csv"
#: Processed bucket: a sharded forecast's working files, ``shards/<run_id>/…`` (plan, shard list,
#: shard inputs, history panels, pooled sums, shard forecasts, task statuses). Predict reads and
#: writes only here besides the cleaned files; the workflow's state machine reads the shard list.
SHARDS_PREFIX = "shards/"
#: Processed bucket: the sharded ingest of an actuals upload too large for one invocation
#: (grocery_forecast.pipeline.ingest): its plan, parts by series partition and task statuses.
INGEST_PREFIX = "ingest/"
#: Output bucket: run manifests, forecasts, error reports of rejected uploads.
RUNS_PREFIX = "runs/"
FORECASTS_PREFIX = "forecasts/"
REJECTED_PREFIX = "rejected/"
#: Output bucket: realized accuracy, ``accuracy/days/<day>/<forecast run>.json``: one record per
#: forecast run and target day, written by the monitor once that day's actuals arrived.
ACCURACY_PREFIX = "accuracy/"
#: Models bucket: ``models/<version>/{model.txt,metadata.json}`` and the pointer to the one in service.
MODELS_PREFIX = "models/"
CURRENT_MODEL_KEY = f"{MODELS_PREFIX}current.json"
MODEL_ARTIFACT_FILES: tuple[str, ...] = ("model.txt", "metadata.json")

_PROCESSED_PREFIX = {FileKind.ACTUALS: ACTUALS_PREFIX, FileKind.REQUEST: REQUESTS_PREFIX}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _strip_upload_suffix(name: str) -> str:
    for ext in sorted(UPLOAD_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _stem(key: str) -> str:
    name = _strip_upload_suffix(key.rsplit("/", 1)[-1])
    return _UNSAFE.sub("-", name).strip("-")[:60] or "upload"


def run_id_for(key: str, etag: str) -> str:
    """``<file stem>-<12 hex>``: readable, and the same for the same bytes at the same key."""
    digest = hashlib.sha256(f"{key}\n{etag.strip(chr(34))}".encode()).hexdigest()[:12]
    return f"{_stem(key)}-{digest}"


#: What a Step Functions execution name may not hold when its workflow logs to CloudWatch Logs.
_NOT_IN_EXECUTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(run_id: str, suffix: str, readable: int = 55) -> str:
    """A Step Functions execution name for a run: the end of its id for a reader, then ``suffix``.

    Step Functions takes 1-80 characters, and with CloudWatch Logs logging on (the workflows log)
    only letters, digits, ``-`` and ``_``: a run id keeps the ``.`` of its file name, so those go.
    """
    part = _NOT_IN_EXECUTION_NAME.sub("-", run_id)[-readable:].strip("-")
    name = f"{part}-{suffix}" if part else suffix
    if not 1 <= len(name) <= 80 or _NOT_IN_EXECUTION_NAME.search(name):
        raise ValueError(f"not a Step Functions execution name (1-80 of A-Z a-z 0-9 - _): {name!r}")
    return name


#: Most shards one sharded workflow takes. Its Distributed Map has no ResultWriter: Step Functions
#: gathers every child's output (a few bytes each) into one state result, and a result over 256 KiB
#: fails the run (States.DataLimitExceeded). 10,000 leaves a margin of ten.
MAX_SHARDS = 10_000


def check_shard_count(count: int, what: str, setting: str) -> None:
    """Refuse a plan of more shards than :data:`MAX_SHARDS`, naming the setting that sizes them."""
    if count > MAX_SHARDS:
        raise ValueError(
            f"{what} would take {count:,} shards, more than the {MAX_SHARDS:,} a sharded workflow "
            f"takes (Step Functions caps a state's result at 256 KiB): raise {setting}"
        )


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of a standard state machine: known before
    the start, so a second delivery can find the execution a first one started."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def is_reference_upload(key: str) -> bool:
    """Whether a raw-bucket key is a reference table upload (the only kind decided by location)."""
    return key.startswith(REFERENCE_PREFIX)


def reference_table_name(key: str) -> str:
    """``reference/items.csv.gz`` -> ``items``."""
    return _strip_upload_suffix(key.rsplit("/", 1)[-1]).lower()


def reference_key(table: str) -> str:
    """Where the cleaned copy of a reference table lives in the processed bucket."""
    return f"{REFERENCE_PREFIX}{table}.csv"


def processed_key(kind: FileKind, key: str, run_id: str) -> str:
    """Where the ETL writes the cleaned file of run ``run_id``: ``actuals/…`` or ``requests/…``,
    the upload's path and stem, the run id's hash part, and lower-case ``.csv``
    (``uploads/SALES.CSV.GZ`` -> ``actuals/uploads/SALES.<12 hex>.csv``), at most S3's 1024 bytes.

    One key per run: ``x.csv`` and ``x.csv.gz``, or two files uploaded to one key, are two runs,
    and a shared processed key would let the second overwrite the first before predict reads it
    (predict completes the run named in the object's metadata; the other would never finish).
    """
    tail = f".{run_id.rsplit('-', 1)[-1]}{PROCESSED_SUFFIX}"
    name = _strip_upload_suffix(key) + tail
    return fit_key(f"{_PROCESSED_PREFIX[FileKind(kind)]}{name}", keep_suffix=tail)


def processed_kind(key: str) -> FileKind:
    """The kind of a processed-bucket key, for objects written without :class:`HandOff` metadata."""
    return FileKind.ACTUALS if key.startswith(ACTUALS_PREFIX) else FileKind.REQUEST


def manifest_key(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}.json"


def forecast_key(run_id: str) -> str:
    return f"{FORECASTS_PREFIX}{run_id}/forecast.csv"


def rejected_key(key: str, run_id: str) -> str:
    """The error report of run ``run_id``: ``rejected/<key>.<run hash>.json``
    (``uploads/bad.csv`` -> ``rejected/uploads/bad.csv.<12 hex>.json``), at most S3's 1024 bytes
    (a long key is shortened with a hash).

    One report per run, as with :func:`processed_key`: two files put to one key are two runs, and
    a shared report key would let the second's report replace the first's, which its manifest
    still names. The same bytes uploaded again are the same run, and get the same report.
    """
    tail = f".{run_id.rsplit('-', 1)[-1]}.json"
    return fit_key(f"{REJECTED_PREFIX}{key}{tail}", keep_suffix=tail)


def accuracy_day_prefix(day: str) -> str:
    """``accuracy/days/<YYYY-MM-DD>/``: every forecast run scored on ``day``."""
    return f"{ACCURACY_PREFIX}days/{day}/"


def accuracy_key(day: str, forecast_run: str) -> str:
    """The realized accuracy of ``forecast_run`` on ``day``; scoring the day again replaces it."""
    return f"{accuracy_day_prefix(day)}{forecast_run}.json"


def model_key(version: str, name: str) -> str:
    return f"{MODELS_PREFIX}{version}/{name}"


def shard_prefix(run_id: str) -> str:
    """Where a sharded forecast of ``run_id`` keeps its working files in the processed bucket."""
    return f"{SHARDS_PREFIX}{run_id}/"


def shard_key(run_id: str, name: str) -> str:
    """``shards/<run_id>/<name>``: ``plan.json``, ``shards.json``, ``input/00000.csv``, ..."""
    return f"{shard_prefix(run_id)}{name}"


def ingest_prefix(run_id: str, stamp: int, redrive: int = 0) -> str:
    """Where one sharded ingest of a run keeps its files: per upload stamp, so a re-upload of the same
    bytes (a new upload, a newer stamp) never shares files with a workflow still running; and per
    redrive of a failed ingest (``redrive`` > 0: ``<stamp>-r<n>/``), so the redriven execution's task
    statuses start afresh beside the failed one's, which stay to be read."""
    suffix = f"-r{redrive}" if redrive else ""
    return f"{INGEST_PREFIX}{run_id}/{stamp}{suffix}/"


# -- upload order ---------------------------------------------------------------------------------

#: Upload stamps count milliseconds from 2000-01-01T00:00:00Z; with 42 bits they reach past 2139.
_STAMP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: Low bits of a stamp: the tie-break between uploads S3 finished in the same millisecond.
STAMP_TIE_BITS = 21


def upload_stamp(uploaded_at: datetime | str, sequencer: str | None = None, version: str = "") -> int:
    """The place of one upload in *upload order*, as one non-negative int64 (larger = later).

    Upload order is the order in which S3 finished storing the objects: the S3 event's
    ``eventTime`` (the time S3 completed the PutObject, in milliseconds) in the high bits. Two
    uploads S3 finished in the same millisecond are ordered by the event's ``sequencer``, which
    S3 makes increase for successive events of one key (its low 21 bits, so that order holds
    unless the sequencer moved by over two million within that millisecond); without a sequencer,
    by a hash of the object version: arbitrary, but the same on every retry and replay, so every
    day still ends up with one upload's value whatever the processing order. Across different
    keys in the same millisecond there is no "first": the tie-break only makes the choice stable.

    Args:
        uploaded_at: The event's ``eventTime`` (ISO 8601, e.g. ``2017-08-15T10:00:00.123Z``), or the
            object's LastModified when there is no event (its one-second resolution then orders
            uploads of different seconds only).
        sequencer: The event's ``s3.object.sequencer`` (hex), when there is one.
        version: The object version (or ETag), the tie-break without a sequencer.
    """
    if isinstance(uploaded_at, str):
        uploaded_at = datetime.fromisoformat(uploaded_at.replace("Z", "+00:00"))
    if uploaded_at.tzinfo is None:
        uploaded_at = uploaded_at.replace(tzinfo=UTC)
    ms = max(0, (uploaded_at - _STAMP_EPOCH) // timedelta(milliseconds=1))
    mask = (1 << STAMP_TIE_BITS) - 1
    tie: int | None = None
    if sequencer:
        try:
            tie = int(sequencer, 16) & mask
        except ValueError:
            tie = None
    if tie is None:
        tie = int.from_bytes(hashlib.sha256(version.encode()).digest()[:4], "big") & mask
    return (ms << STAMP_TIE_BITS) | tie


# -- the forecast origin --------------------------------------------------------------------------


_D = TypeVar("_D", bound=date)


def request_origin(first_wanted: _D, history_latest: _D | None) -> _D:
    """The origin a forecast request is forecast from: the end of history, or the day before the
    first requested date when that is earlier (a back-test of days already in history).

    Without history (a request processed without the ETL's hand-off) the day before the first
    requested date.
    """
    day_before = first_wanted - timedelta(days=1)
    return day_before if history_latest is None else min(history_latest, day_before)


# -- S3 user metadata -----------------------------------------------------------------------------


#: S3 refuses user metadata over 2 KB (names and values, as sent); the hand-off keeps below this,
#: leaving room for a few more fields (e.g. the sharded ingest's ``content``).
HAND_OFF_METADATA_BYTES = 1800


def metadata_bytes(metadata: dict[str, str]) -> int:
    """What S3 counts against its 2 KB user-metadata limit: every name and value, UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())


def encode_metadata(values: dict[str, str]) -> dict[str, str]:
    """S3 user metadata must be ASCII: percent-encode every value (``año`` -> ``a%C3%B1o``)."""
    return {name: quote(str(value), safe="/-_.:@()+ ") for name, value in values.items()}


def decode_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """Inverse of :func:`encode_metadata`, with lower-cased names (S3 lower-cases them anyway)."""
    return {name.lower(): unquote(value) for name, value in (metadata or {}).items()}


@dataclass(frozen=True)
class HandOff:
    """What the ETL tells predict about a cleaned file, as the processed object's user metadata."""

    run_id: str
    kind: FileKind
    source_key: str | None  # None when it did not fit the metadata: the run's manifest holds it
    source_etag: str
    origin: str | None = None  # forecast requests: the origin the ETL anchored to the end of history

    def to_metadata(self) -> dict[str, str]:
        values = {"run-id": self.run_id, "kind": self.kind.value, "source-etag": self.source_etag}
        if self.source_key is not None:
            values["source-key"] = self.source_key
        if self.origin:
            values["origin"] = self.origin
        encoded = encode_metadata(values)
        if metadata_bytes(encoded) > HAND_OFF_METADATA_BYTES:
            # A long non-ASCII name triples when percent-encoded (1,024 bytes of it would be 3 KB):
            # S3 would refuse the put. The source key is for a reader only; the run manifest, which
            # the run id finds, holds it in full.
            encoded.pop("source-key", None)
        return encoded

    @classmethod
    def from_object(cls, key: str, etag: str, metadata: dict[str, str] | None) -> HandOff:
        """Read the hand-off of a processed object; objects written before it (or by hand) fall back
        to what the key and ETag say."""
        meta = decode_metadata(metadata)
        return cls(
            run_id=meta.get("run-id") or run_id_for(key, etag),
            kind=FileKind(meta["kind"]) if meta.get("kind") else processed_kind(key),
            # The ETL's hand-off leaves the source key out only when it is too long to fit; an
            # object without a hand-off (written before it, or by hand) is its own source.
            source_key=meta.get("source-key") or (None if meta.get("run-id") else key),
            source_etag=meta.get("source-etag", etag.strip('"')),
            origin=meta.get("origin") or None,
        )


# -- the run manifest -----------------------------------------------------------------------------


class RunStatus(enum.StrEnum):
    """Where a run is. The ETL moves it to FORECASTING, REJECTED or SUCCEEDED (reference tables);
    predict to SUCCEEDED; either step to RETRYING when it raises and Lambda will invoke it again,
    to FAILED when it raises on the last attempt."""

    STARTED = "started"
    RETRYING = "retrying"
    FORECASTING = "forecasting"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


#: Statuses after which nothing more happens to a run (until the same file is uploaded again).
FINAL_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.SUCCEEDED, RunStatus.REJECTED, RunStatus.FAILED})


@dataclass
class RunInput:
    bucket: str
    key: str
    etag: str
    size_bytes: int = 0
    #: The S3 object version the event named (versioned raw bucket): a client waits for exactly its upload.
    version_id: str | None = None
    #: When S3 finished storing the upload (the event's eventTime, else the object's LastModified)
    #: and its :func:`upload_stamp`, which orders its days against other uploads' in history.
    uploaded_at: str | None = None
    upload_stamp: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunInput:
        return cls(
            str(doc.get("bucket", "")),
            str(doc.get("key", "")),
            str(doc.get("etag", "")),
            int(doc.get("size_bytes", 0) or 0),
            str(doc["version_id"]) if doc.get("version_id") else None,
            str(doc["uploaded_at"]) if doc.get("uploaded_at") else None,
            int(doc["upload_stamp"]) if doc.get("upload_stamp") is not None else None,
        )


@dataclass
class StepAttempt:
    """The attempts of one step (``etl``, ``predict``) at one S3 event."""

    event: str | None
    number: int


@dataclass
class RunManifest:
    """``runs/<run_id>.json``: one document per upload describing what it did.

    The JSON keys are the field names; fields left ``None`` are not written. Keys this version
    does not know are kept in ``extra`` and written back, so old and newer manifests round-trip.
    """

    run_id: str
    input: RunInput
    status: RunStatus = RunStatus.STARTED
    started_at: str = field(default_factory=utc_now)
    steps: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    updated_epoch: float | None = None
    # attempts across Lambda's retries (grocery_forecast.pipeline.attempts): this step's attempt
    # number, how many it gets, how many are left, and per step the event it counted
    attempt: int | None = None
    attempts_allowed: int | None = None
    retries_left: int | None = None
    attempts: dict[str, StepAttempt] = field(default_factory=dict)
    # the ETL
    kind: str | None = None
    table: str | None = None
    rows_in: int | None = None
    rows_rejected: int | None = None
    problem_count: int | None = None
    series: int | None = None
    date_range: list[str] | None = None
    history: dict[str, int] | None = None
    request: dict[str, Any] | None = None
    processed: str | None = None
    report: str | None = None
    peak_memory_mb_etl: float | None = None
    # predict
    finished_at: str | None = None
    model_version: str | None = None
    #: why the forecast is a baseline's, not the model's (a history shorter than the model's
    #: minimum: grocery_forecast.pipeline.forecast.forecast_frame); None when the model forecast
    fallback: str | None = None
    origin: str | None = None
    horizon_days: int | None = None
    series_forecast: int | None = None
    rows_forecast: int | None = None
    history_series_found: int | None = None
    #: what the pooled item, store, class and family features were averaged over: ``history``
    #: (every series of the history table, as training pools) or ``upload`` (the upload's series:
    #: pooling over the history switched off, or its series index not complete; see warnings)
    pooled_over: str | None = None
    output: str | None = None
    #: the largest peak of the run's predict invocations (of a sharded one: plan, shards, pool, combine)
    peak_memory_mb_predict: float | None = None
    #: a forecast run as the sharded workflow (grocery_forecast.pipeline.shards): ``shard_count``,
    #: ``shard_rows``, ``execution_arn``, the ``plan``/``pool``/``combine`` invocations'
    #: ``{peak_memory_mb, seconds}`` and per shard its rows, series, status, attempts per phase,
    #: errors, peak memory and seconds. Its steps add ``plan_seconds``, ``combine_seconds`` and
    #: ``workflow_seconds`` (plan to CSV); ``forecast_seconds`` is its longest single invocation.
    sharded: dict[str, Any] | None = None
    #: an actuals upload ingested as the sharded workflow (grocery_forecast.pipeline.ingest):
    #: ``shard_count``, ``partitions``, ``shard_bytes``, ``execution_arn``, the ``plan``/``verdict``/
    #: ``finish`` invocations' ``{peak_memory_mb, seconds}``, per shard its bytes, lines, rows, status,
    #: attempts, errors, peak memory and seconds, and per partition the same for its check and merge.
    ingest: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        run_id: str,
        bucket: str,
        key: str,
        etag: str,
        size: int,
        request_id: str | None = None,
        version_id: str | None = None,
    ) -> RunManifest:
        return cls(
            run_id=run_id,
            input=RunInput(bucket, key, etag.strip('"'), int(size), version_id or None),
            request_ids=[request_id] if request_id else [],
        )

    @property
    def final(self) -> bool:
        return self.status.final

    def fail(self, message: str) -> None:
        """Record a failed attempt: RETRYING while Lambda will invoke the step again, else FAILED."""
        self.status = RunStatus.RETRYING if self.retries_left else RunStatus.FAILED
        self.errors.append(message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "input":
                value = value.to_dict()
            elif f.name == "status":
                value = value.value
            elif f.name == "attempts":
                if not value:
                    continue
                value = {step: asdict(attempt) for step, attempt in value.items()}
            out[f.name] = value
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunManifest:
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in doc.items() if k in known}
        values["input"] = RunInput.from_dict(dict(doc.get("input") or {}))
        values["attempts"] = {
            str(step): StepAttempt(
                str(a["event"]) if a.get("event") is not None else None, int(a.get("number", 0) or 0)
            )
            for step, a in dict(doc.get("attempts") or {}).items()
            if isinstance(a, dict)
        }
        values["status"] = RunStatus(doc.get("status", RunStatus.STARTED))
        for name in ("errors", "warnings", "request_ids"):
            values[name] = list(doc.get(name) or [])
        values["steps"] = dict(doc.get("steps") or {})
        values["run_id"] = str(doc.get("run_id", ""))
        return cls(**values, extra={k: v for k, v in doc.items() if k not in known})
