"""The sharded ingest: an actuals upload too large for one invocation, spread over a Step Functions workflow.

An actuals object larger than ``INGEST_SHARD_BYTES`` would take the ETL function past its memory
(it holds the typed rows of the file) and, at Kaggle's 125 M rows, past its 15-minute timeout. The
ETL invocation that receives it only *plans* it (:func:`start`): byte ranges of the plain object
(or, for a ``.csv.gz``, which cannot be read from the middle, plain parts it writes while
decompressing in bounded memory, :func:`split_gzip`), a plan and the shard and partition lists
under ``ingest/<run>/<stamp>/`` in the processed bucket, and starts the state machine, which runs
the same function on each task (:func:`run_task`)::

    ValidateShards (Distributed Map over shards.json)  each shard reads its lines (ranged GET), checks
        │                                              and cleans them with the single path's contract
        │                                              code and writes its rows by series partition
        │                                              and sub-bucket
    CheckPartitions (Distributed Map over partitions)  each partition gathers its rows from every shard,
        │                                              one sub-bucket at a time, and finds duplicate
        │                                              store-item-days across shards
    Verdict                                            any problem anywhere: one report, the run ends
        │                                              rejected and history is untouched
    MergePartitions (Distributed Map over partitions)  each partition merges into history under its
        │                                              own writer lease, with the upload's stamp, one
        │                                              sub-bucket after another
    Finish                                             the manifest, and the hand-off that starts the
                                                       forecast: one row per series on the last day
    (any state failing) -> RecordFailure -> Fail       the run ends ``failed`` naming each task's errors;
                                                       the upload goes to the dead-letter queue

**Failure and redrive.** A task failing all its retries ends the run ``failed``; the manifest's
``ingest.history_changed`` says what reached history: ``False`` (no merge ran: a shard or a
partition check failed), ``"partial"`` (a merge failed: the partitions merged are listed in
``partitions_merged``, the failed one may be part-way) or ``True`` (every partition merged, the
finish failed). Either way the fail task sends a record shaped
like Lambda's on-failure destination record (the upload's S3 event, the ETL function's ARN) to the
dead-letter queue, as the single path's failed invocation does, so ``grocery-forecast replay`` redrives
it: the upload is planned and run again by a new execution (its name and files carry the redrive
number; the event carries ``ingest_redrive``), with the upload's own stamp, so merging the
partitions that were merged already writes the same bytes again and the upload keeps its place in
upload order (uploading the file again would make it newer than corrections uploaded since).

A partition task's memory is bounded by its sub-bucket, not by the file: the plan gives each
partition enough sub-buckets (a second hash of the series, :func:`series_subbucket`) that none holds
more than ``INGEST_BUCKET_ROWS`` rows (by default what fits the function's memory size), whatever
the file's size or the partition count.

Line numbers in reports are file-wide: a shard counts its lines, and problems found in shard ``i``
are shifted by the lines of shards ``0 .. i-1``. Each task writes ``status/<phase>-<n>.json``
(attempts, errors, peak memory, seconds), and the manifest lists them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import pandas as pd

from grocery_forecast.aws.clients import error_code, execution_status
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.s3io import StreamingReader, csv_bytes, get_json, put_json, put_json_unless
from grocery_forecast.contract import runs
from grocery_forecast.contract.bounds import (
    FUTURE_SLACK_DAYS,
    MAX_LINE_BYTES,
    BoundedReader,
    InputLimits,
)
from grocery_forecast.contract.cleaning import (
    MAX_PROBLEMS,
    CsvContractError,
    Problem,
    _Collector,
    detect_kind,
    iter_clean_chunks,
    open_text,
)
from grocery_forecast.contract.ingest_plan import (
    DEFAULT_MEMORY_MB,
    MAX_SHARDED_BYTES,
    LineRange,
    bucket_rows_for_memory,
    gzip_plain_size,
    plan_buckets,
    plan_ranges,
    range_to_read,
    series_partition,
    series_subbucket,
)
from grocery_forecast.contract.runs import HandOff, RunManifest, RunStatus
from grocery_forecast.contract.schema import FileKind
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.manifest import invocation_peak_memory_mb, reset_peak_memory

__all__ = [
    "REDRIVE_FIELD",
    "IngestFault",
    "IngestSettings",
    "TaskContext",
    "already_started",
    "execution_name",
    "read_header",
    "run_task",
    "should_shard",
    "split_gzip",
    "start",
]

log = logging.getLogger(__name__)

#: A ``.csv.gz`` is split when its compressed size is over shard_bytes / this (CSV compresses 5-8x).
GZIP_RATIO = 4
#: Decompressed bytes a second the planning invocation splits a ``.csv.gz`` at, the parts' uploads
#: included: measured 38 MB/s decompressing and cutting on the shared 2-core machine (to a stub),
#: and S3 takes the parts at about 100 MB/s on AWS, so about 27 MB/s in all; a little under it.
GZIP_SPLIT_BYTES_PER_SECOND = 25_000_000
#: Share of the invocation's remaining time the split may take (the benches' and e2e tests' limit).
GZIP_SPLIT_TIME_SHARE = 0.8
#: No upload stays below this on the sharded path: the rows limit of the plan (Kaggle's is 125 M).
_UNBOUNDED_ROWS = 10**10
_SHARD_LIMITS = InputLimits(max_bytes=MAX_SHARDED_BYTES, max_rows=_UNBOUNDED_ROWS)
#: The field of a redriven upload's event (next to its ``Records``) that numbers the redrive.
REDRIVE_FIELD = "ingest_redrive"


class IngestFault(RuntimeError):
    """A fault injected on purpose (``ETL_FAULT_MARKER`` with ``-shard-<n>`` or ``-merge-<n>`` in the
    key), to exercise retries and redrives."""


@dataclass(frozen=True)
class IngestSettings:
    """How the ETL shards: read from the function's environment (set by Terraform)."""

    #: Actuals objects larger than this go through the sharded workflow (0: never).
    shard_bytes: int = 0
    #: Partitions of the series, each merged under its own writer lease.
    partitions: int = 1
    #: The ingest workflow's state machine.
    state_machine_arn: str = ""
    #: Rows a partition's check or merge holds at once (one sub-bucket's): bounds their memory.
    bucket_rows: int = bucket_rows_for_memory(DEFAULT_MEMORY_MB)
    #: The dead-letter queue a failed ingest's upload is sent to, for ``grocery-forecast replay``.
    dead_letter_queue_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        """``INGEST_BUCKET_ROWS`` unset or 0: derived from the function's memory size
        (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, which Lambda and MiniStack set)."""
        memory = int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0) or DEFAULT_MEMORY_MB
        return cls(
            int(environ.get("INGEST_SHARD_BYTES", "0") or 0),
            max(1, int(environ.get("INGEST_PARTITIONS", "1") or 1)),
            environ.get("INGEST_STATE_MACHINE_ARN", ""),
            bucket_rows=int(environ.get("INGEST_BUCKET_ROWS", "0") or 0) or bucket_rows_for_memory(memory),
            dead_letter_queue_url=environ.get("DEAD_LETTER_QUEUE_URL", ""),
        )


def should_shard(key: str, size: int, settings: IngestSettings) -> bool:
    """Whether an upload of ``size`` stored bytes goes through the workflow (actuals only: the
    caller checks the header). A ``.csv.gz`` counts at :data:`GZIP_RATIO` times its size."""
    if settings.shard_bytes <= 0 or runs.is_reference_upload(key):
        return False
    gz = key.lower().endswith(".gz")
    return size * (GZIP_RATIO if gz else 1) > settings.shard_bytes


def execution_name(run_id: str, stamp: int, redrive: int = 0) -> str:
    """The workflow execution's name for one upload (run id and upload stamp) and redrive number.

    Deterministic, so StartExecution itself refuses a second execution for an upload S3 delivered
    twice (``ExecutionAlreadyExists``), or for one redrive delivered twice; a redrive of a failed
    execution (``redrive`` > 0) gets a new name, so it runs. Step Functions allows 1-80 characters of
    letters, digits, ``-`` and ``_``: the end of the run id for a reader, then a hash that tells
    uploads and redrives apart.
    """
    digest = hashlib.sha256((f"{run_id}/{stamp}" + (f"/r{redrive}" if redrive else "")).encode()).hexdigest()[
        :20
    ]
    return runs.execution_name(run_id, digest)


def already_started(sfn: Any, previous: RunManifest | None, manifest: RunManifest, redrive: int = 0) -> bool:
    """Whether the upload of ``manifest`` (same run, same upload stamp, same ``redrive``) already has its
    workflow execution.

    ``previous`` is the run's manifest before this delivery. S3 delivers an event at least once: a
    second delivery of the same upload must neither start a second execution nor rewrite the
    manifest the first one is completing. An execution that ended counts too: its own tasks
    recorded the run's outcome, and the same upload cannot be ingested again under its name.
    """
    done = (previous.ingest or {}) if previous is not None else {}
    base = runs.ingest_prefix(manifest.run_id, manifest.input.upload_stamp or 0, redrive)
    arn = done.get("execution_arn")
    return bool(arn) and done.get("base") == base and execution_status(sfn, str(arn)) is not None


def superseded_by_redrive(previous: RunManifest | None, manifest: RunManifest, redrive: int = 0) -> bool:
    """Whether a later redrive of the same upload (same stamp) has already started its execution.

    S3 and SQS deliver at least once, so the upload's original event, or an older redrive's, can
    arrive after a newer redrive took over the run. Handled as new, it would rewrite the manifest and
    point it back at its own, long failed execution, and the newer execution, no longer the run's
    current one, would finish without closing the run: the upload never forecast.
    """
    done = (previous.ingest or {}) if previous is not None else {}
    return (
        previous is not None
        and bool(done.get("execution_arn"))
        and (previous.input.upload_stamp or 0) == (manifest.input.upload_stamp or 0)
        and int(done.get("redrive", 0) or 0) > redrive
    )


def read_header(head: bytes, name: str) -> tuple[bytes, FileKind]:
    """The header line (with its newline) at the start of ``head`` and the file's kind.

    Raises:
        CsvContractError: no line break within the line limit, or a header of no known kind.
    """
    nl = head.find(b"\n")
    if nl < 0 or nl > MAX_LINE_BYTES:
        raise CsvContractError(
            name,
            [
                Problem(
                    f"a line is longer than {MAX_LINE_BYTES:,} bytes (a file without line breaks, or not a CSV)",
                    line=1,
                    expected=f"rows of at most {MAX_LINE_BYTES:,} bytes, one per line",
                )
            ],
        )
    line = head[: nl + 1]
    text = line.decode("utf-8-sig", errors="replace")
    return line, detect_kind(next(csv.reader([text])), name)


# -- planning -----------------------------------------------------------------------------------


def _too_slow_to_split(name: str, plain_bytes: int, budget: float, *, estimated: bool) -> CsvContractError:
    """The rejection of a ``.csv.gz`` the planning invocation cannot decompress and split in time."""
    rate = GZIP_SPLIT_BYTES_PER_SECOND
    fits = int(budget * rate)
    what = (
        f"the gzip file decompresses to about {plain_bytes / 1e9:.2f} GB (its trailer), more than"
        if estimated
        else f"splitting the gzip file had reached {plain_bytes / 1e9:.2f} GB decompressed, and not its end, within"
    )
    return CsvContractError(
        name,
        [
            Problem(
                f"{what} this function can decompress and cut into shards in {budget:.0f} s "
                f"({GZIP_SPLIT_TIME_SHARE:.0%} of its remaining time, at about {rate / 1e6:.0f} MB/s)",
                expected=f"a .csv.gz of at most about {fits / 1e9:.2f} GB decompressed: upload the plain "
                ".csv (it is sharded by byte ranges, with no decompression), or split the file into "
                "smaller .csv.gz files, or raise etl_timeout_seconds",
            )
        ],
        kind=FileKind.ACTUALS.value,
    )


def split_gzip(
    s3: Any,
    body: Any,
    bucket: str,
    prefix: str,
    name: str,
    part_bytes: int,
    stop_at: float | None = None,
) -> tuple[bytes, FileKind, list[dict[str, Any]]]:
    """Decompress a ``.csv.gz`` upload in bounded memory into plain parts of about ``part_bytes``,
    each cut after a newline, written to ``<prefix>split/NNNNN.csv``.

    Returns the header line, the file's kind and the parts (bucket, key, size); a file that is not
    actuals is not split (no parts). Memory holds one part; the contract's bounds (line length, the
    sharded path's size) apply as the stream is read, and a corrupt gzip stream is a rejection.
    ``stop_at`` (epoch seconds): past it the split gives up with a rejection naming what to
    upload instead, rather than being killed by Lambda's timeout mid-split and retried in vain (a
    gzip stream cannot be resumed in another invocation without decompressing it from the start).
    """
    split_started = time.time()
    reader = io.BufferedReader(BoundedReader(StreamingReader(body), name, _SHARD_LIMITS), 1 << 20)
    parts: list[dict[str, Any]] = []
    try:
        header, kind = read_header(reader.readline(MAX_LINE_BYTES + 2), name)
        if kind is not FileKind.ACTUALS:
            return header, kind, parts
        buffer = bytearray()

        def flush(data: bytes) -> None:
            key = f"{prefix}split/{len(parts):05d}.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv")
            parts.append({"bucket": bucket, "key": key, "size": len(data)})

        while block := reader.read(1 << 20):
            buffer += block
            while len(buffer) >= part_bytes:
                # the last newline within part_bytes; past it only when one line is longer
                cut = buffer.rfind(b"\n", 0, part_bytes) + 1 or buffer.find(b"\n", part_bytes) + 1
                if not cut:
                    break
                if stop_at is not None and time.time() > stop_at:
                    done = sum(int(p["size"]) for p in parts) + len(buffer)
                    raise _too_slow_to_split(name, done, stop_at - split_started, estimated=False)
                flush(bytes(buffer[:cut]))
                del buffer[:cut]
        if buffer:
            flush(bytes(buffer))
    finally:
        reader.close()
    return header, kind, parts


def start(
    s3: Any,
    sfn: Any,
    obj: Mapping[str, Any],
    manifest: RunManifest,
    settings: IngestSettings,
    processed_bucket: str,
    output_bucket: str,
    uploaded_at: datetime | None,
    started: float,
    event: Mapping[str, Any] | None = None,
    redrive: int = 0,
    store: DynamoHistoryStore | None = None,
    deadline: float | None = None,
) -> bool:
    """Plan the sharded ingest of the object ``obj`` (a ``get_object`` response) and start the workflow.

    Returns False, having read only the header, when the file is not actuals (a request or another
    table stays on the single path, which bounds it). Raises :class:`CsvContractError` for a file
    the contract refuses before any shard runs (too large, a header of no known kind). ``event`` is
    the upload's S3 event record, kept in the plan so a failed ingest can be dead-lettered as the
    event itself; ``redrive`` numbers a redrive of a failed ingest (0: the upload's first execution).
    With ``store`` (the history), the plan's partition count becomes the one history is written
    with, or :class:`PartitionCountMismatch` refuses it while writers of another count hold leases.
    ``deadline`` (the epoch second Lambda ends this invocation) bounds the split of a ``.csv.gz``: one
    that cannot be split before it is refused.
    """
    bucket, key = manifest.input.bucket, manifest.input.key
    stamp = manifest.input.upload_stamp or 0
    base = runs.ingest_prefix(manifest.run_id, stamp, redrive)
    if not settings.state_machine_arn:
        raise RuntimeError(
            f"{key} is over INGEST_SHARD_BYTES={settings.shard_bytes}, but the ETL function has no "
            "INGEST_STATE_MACHINE_ARN to shard it with"
        )
    name = execution_name(manifest.run_id, stamp, redrive)
    arn = runs.execution_arn(settings.state_machine_arn, name)
    if execution_status(sfn, arn) is not None:
        # The same upload (same stamp) delivered again, whose manifest has lost the execution (two
        # deliveries at once): planning again would rewrite files the execution is reading.
        _record_started(s3, manifest, output_bucket, base, arn, {"redrive": redrive} if redrive else None)
        log.info("sharded ingest already started", extra={"run_id": manifest.run_id, "execution": arn})
        return True
    t0 = time.perf_counter()
    size = int(obj.get("ContentLength", 0))
    body = obj["Body"]
    head = body.read(2) if size else b""
    estimate = None  # a .csv.gz's decompressed size from its trailer
    if head[:2] == b"\x1f\x8b":
        stop_at = None
        if deadline is not None:
            budget = GZIP_SPLIT_TIME_SHARE * max(0.0, deadline - time.time())
            stop_at = time.time() + budget
            estimate = _gzip_plain_size(s3, obj, manifest)
            if estimate is not None and estimate > budget * GZIP_SPLIT_BYTES_PER_SECOND:
                body.close()
                raise _too_slow_to_split(key, estimate, budget, estimated=True)
        header, kind, parts = split_gzip(
            s3, _Prefixed(head, body), processed_bucket, base, key, settings.shard_bytes, stop_at
        )
        if kind is not FileKind.ACTUALS:
            return False
        plain_bytes = len(header) + sum(int(p["size"]) for p in parts)
        sources = [
            {
                "bucket": p["bucket"],
                "key": p["key"],
                "version": None,
                "size": p["size"],
                "start": 0,
                "end": p["size"],
            }
            for p in parts
        ]
    else:
        head += body.read(MAX_LINE_BYTES + 2 - len(head))
        body.close()
        header, kind = read_header(head, key)
        if kind is not FileKind.ACTUALS:
            return False
        if size > MAX_SHARDED_BYTES:
            raise CsvContractError(
                key,
                [
                    Problem(
                        f"the file is larger than {MAX_SHARDED_BYTES:,} bytes",
                        expected=f"at most {MAX_SHARDED_BYTES:,} bytes per file: split the file into parts "
                        "below the limit and upload each (one year or one store per file works)",
                    )
                ],
                kind=kind.value,
            )
        sources = [
            {
                "bucket": bucket,
                "key": key,
                "version": manifest.input.version_id,
                "size": size,
                "start": a,
                "end": b,
            }
            for a, b in plan_ranges(len(header), size, settings.shard_bytes)
        ]
        plain_bytes = size
    runs.check_shard_count(len(sources), key, f"INGEST_SHARD_BYTES ({settings.shard_bytes:,})")
    buckets = plan_buckets(plain_bytes - len(header), settings.partitions, settings.bucket_rows)
    shards = [{"index": i, **s} for i, s in enumerate(sources)] or [
        {
            "index": 0,
            "bucket": bucket,
            "key": key,
            "version": None,
            "size": len(header),
            "start": len(header),
            "end": len(header),
        }
    ]
    if store is not None:
        store.use_partitions(settings.partitions)
    plan = {
        "run_id": manifest.run_id,
        "base": base,
        "bucket": processed_bucket,
        "output_bucket": output_bucket,
        "input_key": key,
        "header": base64.b64encode(header).decode(),
        "stamp": stamp,
        "uploaded_at": uploaded_at.isoformat() if uploaded_at is not None else None,
        "partitions": settings.partitions,
        "buckets": buckets,
        "bucket_rows": settings.bucket_rows,
        "shard_bytes": settings.shard_bytes,
        "shards": shards,
        "started_epoch": time.time() - (time.perf_counter() - started),
        "redrive": redrive,
        "event": dict(event) if event is not None else _event_of(manifest),
    }
    put_json(s3, processed_bucket, f"{base}plan.json", plan)
    for list_name, items in (
        ("shards.json", [{"index": s["index"]} for s in shards]),
        ("partitions.json", [{"partition": p} for p in range(settings.partitions)]),
    ):
        s3.put_object(
            Bucket=processed_bucket,
            Key=f"{base}{list_name}",
            Body=json.dumps(items).encode(),
            ContentType="application/json",
        )
    try:
        arn = sfn.start_execution(
            stateMachineArn=settings.state_machine_arn,
            name=name,
            input=json.dumps(
                {
                    "run_id": manifest.run_id,
                    "bucket": processed_bucket,
                    "base": base,
                    "shard_list_key": f"{base}shards.json",
                    "partition_list_key": f"{base}partitions.json",
                }
            ),
        )["executionArn"]
    except Exception as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
        # Another delivery of the same upload started it between our check and here.
        log.info("sharded ingest already started", extra={"run_id": manifest.run_id, "execution": arn})
    manifest.kind = FileKind.ACTUALS.value
    manifest.steps["plan_seconds"] = round(time.perf_counter() - t0, 3)
    _record_started(
        s3,
        manifest,
        output_bucket,
        base,
        arn,
        {
            "shard_count": len(shards),
            "partitions": settings.partitions,
            "buckets": buckets,
            "bucket_rows": settings.bucket_rows,
            "plain_bytes": plain_bytes,
            **({"gzip_trailer_bytes": estimate} if estimate is not None else {}),
            "shard_bytes": settings.shard_bytes,
            **({"redrive": redrive} if redrive else {}),
            "plan": {
                "peak_memory_mb": invocation_peak_memory_mb(),
                "seconds": round(time.perf_counter() - started, 3),
            },
        },
    )
    log.info("sharded ingest started", extra={"run_id": manifest.run_id, "shards": len(shards)})
    return True


def _event_of(manifest: RunManifest) -> dict[str, Any]:
    """An S3 event record for the upload of ``manifest``, when the caller had none (the library called
    directly): what a redrive needs to read the same object version with the same upload stamp."""
    obj: dict[str, Any] = {"key": quote_plus(manifest.input.key, safe="/"), "eTag": manifest.input.etag}
    if manifest.input.version_id:
        obj["versionId"] = manifest.input.version_id
    if manifest.input.upload_stamp is not None:
        obj["sequencer"] = f"{manifest.input.upload_stamp & ((1 << runs.STAMP_TIE_BITS) - 1):016X}"
    record: dict[str, Any] = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": manifest.input.bucket}, "object": obj},
    }
    if manifest.input.uploaded_at:
        record["eventTime"] = manifest.input.uploaded_at
    return record


def _version(manifest: RunManifest) -> dict[str, str]:
    return {"VersionId": manifest.input.version_id} if manifest.input.version_id else {}


def _gzip_plain_size(s3: Any, obj: Mapping[str, Any], manifest: RunManifest) -> int | None:
    """The upload's decompressed size from its gzip trailer (a ranged GET of its last 4 bytes), or
    None when it cannot be read cheaply (then only the split's own deadline check applies).

    Reads the event's object version. MiniStack 1.5.33 answers a ranged GET *by version* with the
    whole object: then the key's current object is asked instead, and used only if its ETag is
    the upload's (the same bytes; a newer upload to the key is not this one).
    """
    size = int(obj.get("ContentLength", 0))
    if size < 22:  # a gzip header (10) and trailer (8) and at least an empty deflate block
        return None
    bucket, key = manifest.input.bucket, manifest.input.key
    rng = f"bytes={size - 4}-{size - 1}"
    for extra in (_version(manifest), {}):
        resp = s3.get_object(Bucket=bucket, Key=key, Range=rng, **extra)
        if not resp.get("ContentRange"):
            resp["Body"].close()  # the whole object: not worth reading for 4 bytes
            if not extra:
                return None
            continue
        trailer = resp["Body"].read()
        if str(resp.get("ETag", "")).strip('"') != manifest.input.etag or len(trailer) != 4:
            return None
        return gzip_plain_size(size, trailer)
    return None


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read) followed by the rest of ``body``."""

    def __init__(self, head: bytes, body: Any) -> None:
        self._head, self._body = head, body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _record_started(
    s3: Any,
    manifest: RunManifest,
    output_bucket: str,
    base: str,
    execution_arn: str,
    details: Mapping[str, Any] | None,
) -> None:
    """Save the manifest naming the run's current execution: only that execution's tasks may write it."""
    manifest.kind = FileKind.ACTUALS.value
    manifest.ingest = {**(details or {}), "base": base, "execution_arn": execution_arn}
    mf.save(s3, output_bucket, manifest)


# -- tasks of the state machine -----------------------------------------------------------------


@dataclass(frozen=True)
class TaskContext:
    """What a task works with: clients, the history store, the invocation's deadline and id, and
    where a failed ingest's upload is dead-lettered (the queue, and the function a redrive invokes)."""

    s3: Any
    store: DynamoHistoryStore
    deadline: float | None = None
    request_id: str = ""
    fault_marker: str = ""
    references: Any = None
    sqs: Any = None
    dead_letter_queue_url: str = ""
    function_arn: str = ""


def run_task(event: Mapping[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """One task of the workflow: ``validate_shard``, ``check_partition``, ``verdict``,
    ``merge_partition``, ``finish`` or ``fail``."""
    reset_peak_memory()
    task, bucket, base = event["task"], event["bucket"], event["base"]
    plan = get_json(ctx.s3, bucket, f"{base}plan.json")
    if plan is None:
        raise RuntimeError(f"no ingest plan at s3://{bucket}/{base}plan.json")
    attempt = int(event.get("attempt", 0))
    if task == "validate_shard":
        index = int(event["index"])
        return _tracked(
            ctx, plan, "shard", index, attempt, lambda: _validate_shard(ctx, plan, index, attempt)
        )
    if task == "check_partition":
        p = int(event["partition"])
        return _tracked(ctx, plan, "check", p, attempt, lambda: _check_partition(ctx, plan, p))
    if task == "merge_partition":
        p = int(event["partition"])

        def merge() -> dict[str, Any]:
            _inject_merge_fault(ctx, plan, p)
            # Each lease taken checks that history is still written with the plan's partition count.
            partitioned = replace(ctx, store=ctx.store.with_partitions(int(plan["partitions"])))
            return _merge_partition(partitioned, plan, p)

        return _tracked(ctx, plan, "merge", p, attempt, merge)
    execution = event.get("execution")
    if task == "verdict":
        return _verdict(ctx, plan, execution)
    if task == "finish":
        return _finish(ctx, plan, None, execution)
    if task == "fail":
        return _finish(ctx, plan, event.get("error") or {}, execution)
    raise ValueError(f"unknown ingest task {task!r}")


def _status_key(plan: Mapping[str, Any], phase: str, n: int) -> str:
    return f"{plan['base']}status/{phase}-{n:05d}.json"


def _tracked(
    ctx: TaskContext, plan: Mapping[str, Any], phase: str, n: int, attempt: int, work: Any
) -> dict[str, Any]:
    """Run ``work`` and write its status (attempts, errors so far, peak memory, seconds), even when it raises.

    Attempts of one task can overlap (Step Functions retries a task whose invocation it gave up on,
    which may still be running), so the status is written only if no newer attempt's is stored: a
    conditional write (:func:`put_json_unless`), so an attempt finishing late cannot overwrite the
    status of the attempt that replaced it, whichever finishes first.
    """
    t0 = time.perf_counter()
    key = _status_key(plan, phase, n)
    previous = get_json(ctx.s3, plan["bucket"], key) or {}
    errors = list(previous.get("errors", [])) if previous.get("attempts", 0) < attempt + 1 else []
    status: dict[str, Any] = {"n": n, "phase": phase, "attempts": attempt + 1, "errors": errors}
    try:
        status.update(work())
        status["status"] = "succeeded"
    except Exception as exc:
        status.update(
            status="failed", errors=[*errors, f"attempt {attempt + 1}: {type(exc).__name__}: {exc}"]
        )
        raise
    finally:
        status.update(peak_memory_mb=invocation_peak_memory_mb(), seconds=round(time.perf_counter() - t0, 3))
        if not put_json_unless(
            ctx.s3, plan["bucket"], key, status, lambda stored: int(stored.get("attempts", 0)) > attempt + 1
        ):
            log.warning(
                "stale task attempt: a newer attempt's status is kept",
                extra={"run_id": plan["run_id"], "phase": phase, "n": n, "attempt": attempt + 1},
            )
    return {"n": n}


def _inject_fault(ctx: TaskContext, plan: Mapping[str, Any], index: int, attempt: int) -> None:
    """With ``ETL_FAULT_MARKER=<marker>`` (the local root only), an upload whose key holds
    ``<marker>-shard-<n>`` has the validation of its shard 1 (0 when it has one) fail ``n`` times."""
    marker = ctx.fault_marker
    found = re.search(rf"{re.escape(marker)}-shard-(\d+)", plan["input_key"]) if marker else None
    target = min(1, len(plan["shards"]) - 1)
    if found and index == target and attempt < int(found.group(1)):
        raise IngestFault(f"injected fault ({marker}-shard) on attempt {attempt + 1}")


def _inject_merge_fault(ctx: TaskContext, plan: Mapping[str, Any], p: int) -> None:
    """With ``ETL_FAULT_MARKER=<marker>`` (the local root only), an upload whose key holds
    ``<marker>-merge-<n>`` has the merge of its last partition fail, before it writes anything, in
    every attempt of its first ``n`` executions: the workflow's retries cannot recover from it, a
    redrive (``grocery-forecast replay``) after the ``n``-th can. The other partitions merge."""
    marker = ctx.fault_marker
    found = re.search(rf"{re.escape(marker)}-merge-(\d+)", plan["input_key"]) if marker else None
    if found and p == int(plan["partitions"]) - 1 and int(plan.get("redrive", 0)) < int(found.group(1)):
        raise IngestFault(
            f"injected fault ({marker}-merge) in partition {p}, redrive {plan.get('redrive', 0)}"
        )


def _shard_stream(
    ctx: TaskContext, plan: Mapping[str, Any], shard: Mapping[str, Any]
) -> tuple[Any, LineRange]:
    """The shard's text (the file's header, then the lines it owns) and its line counter."""
    first, last = range_to_read(int(shard["start"]), int(shard["end"]), int(shard["size"]))
    extra = {"VersionId": shard["version"]} if shard.get("version") else {}
    if shard["end"] > shard["start"]:
        resp = ctx.s3.get_object(
            Bucket=shard["bucket"], Key=shard["key"], Range=f"bytes={first}-{last}", **extra
        )
        body = resp["Body"]
        if not resp.get("ContentRange"):
            # The whole object came back (MiniStack 1.5.33 ignores Range on a GET by VersionId; AWS
            # answers 206 with a Content-Range): skip to the range, streaming, so the shard is the same.
            _skip(body, first)
    else:
        body = io.BytesIO(b"")
    lines = LineRange(body, first, int(shard["start"]), int(shard["end"]))
    header = base64.b64decode(plan["header"])
    raw = _Prefixed(header, io.BufferedReader(lines, 1 << 20))
    bounded = io.BufferedReader(BoundedReader(raw, plan["input_key"], _SHARD_LIMITS), 1 << 20)
    return open_text(bounded, plan["input_key"]), lines


def _skip(body: Any, count: int) -> None:
    """Read and drop the first ``count`` bytes of ``body``, a block at a time."""
    while count > 0:
        data = body.read(min(count, 1 << 20))
        if not data:
            return
        count -= len(data)


def _validate_shard(ctx: TaskContext, plan: Mapping[str, Any], index: int, attempt: int) -> dict[str, Any]:
    _inject_fault(ctx, plan, index, attempt)
    shard = plan["shards"][index]
    name = plan["input_key"]
    out = _Collector(name)
    last_ok = (
        pd.Timestamp(datetime.fromisoformat(plan["uploaded_at"]).date())
        + pd.Timedelta(days=FUTURE_SLACK_DAYS)
        if plan.get("uploaded_at")
        else None
    )
    parts: dict[tuple[int, int], list[pd.DataFrame]] = {}
    buckets = _buckets(plan)
    text, lines = _shard_stream(ctx, plan, shard)
    first_date = last_date = None
    try:
        for kind, chunk in iter_clean_chunks(text, name, collector=out):
            if kind is not FileKind.ACTUALS:  # the plan read the same header: cannot happen
                raise RuntimeError(f"shard {index} of {name} is not actuals")
            if chunk.empty:
                continue
            if last_ok is not None:
                late = (chunk["date"] > last_ok).to_numpy()
                out.add_mask(
                    late,
                    chunk["line"].to_numpy(),
                    chunk["date"].dt.strftime("%Y-%m-%d"),
                    "date",
                    "sales dated after the day of upload",
                    f"a date up to {last_ok.date()} (uploaded {str(plan['uploaded_at'])[:10]}, one day of slack)",
                )
            if out.total:
                continue  # a rejected file writes nothing: keep checking, stop collecting rows
            lo, hi = chunk["date"].min(), chunk["date"].max()
            first_date = lo if first_date is None else min(first_date, lo)
            last_date = hi if last_date is None else max(last_date, hi)
            part = series_partition(chunk["store_nbr"], chunk["item_nbr"], int(plan["partitions"]))
            sub = series_subbucket(chunk["store_nbr"], chunk["item_nbr"], buckets)
            for (p, b), rows in chunk.groupby([part, sub], sort=False):
                parts.setdefault((int(p), int(b)), []).append(rows)
    except CsvContractError as error:  # a fatal problem (malformed row, long line): the rest is not read
        out.problems.extend(error.problems[: max(0, MAX_PROBLEMS - len(out.problems))])
        out.total += error.total
    finally:
        lines.drain()
        text.close()
    written: list[list[int]] = []
    if not out.total:
        for (p, b), frames in sorted(parts.items()):
            frame = pd.concat(frames, ignore_index=True)
            _put_rows(ctx.s3, plan["bucket"], _part_key(plan, p, b, index), frame)
            written.append([p, b, len(frame)])
    return {
        "index": index,
        "bytes": int(shard["end"]) - int(shard["start"]),
        "lines": lines.lines,
        "rows": out.rows,
        "partitions_written": sorted({p for p, _, _ in written}),
        # [partition, sub-bucket, rows] of every part written: what each check task gathers
        "parts_written": written,
        "problem_count": out.total,
        "problems": [pr.to_dict() for pr in out.problems],
        "date_range": None
        if first_date is None or last_date is None
        else [str(first_date.date()), str(last_date.date())],
    }


def _put_rows(s3: Any, bucket: str, key: str, frame: pd.DataFrame, with_lines: bool = True) -> None:
    arrays = {
        "date": frame["date"].to_numpy(dtype="datetime64[D]").astype(np.int32),
        "store_nbr": frame["store_nbr"].to_numpy(dtype=np.int32),
        "item_nbr": frame["item_nbr"].to_numpy(dtype=np.int64),
        "unit_sales": frame["unit_sales"].to_numpy(dtype=np.float64),
        "onpromotion": frame["onpromotion"].to_numpy(dtype=bool),
    }
    if with_lines:
        arrays["line"] = frame["line"].to_numpy(dtype=np.int64)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue(), ContentType="application/octet-stream")


def _get_rows(s3: Any, bucket: str, key: str) -> pd.DataFrame:
    with np.load(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["date"] = arrays["date"].astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DataFrame(arrays)


def _line_offsets(ctx: TaskContext, plan: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    """Every shard's status and the lines before it (shard i's local line L is file line L + offset[i])."""
    statuses = [
        get_json(ctx.s3, plan["bucket"], _status_key(plan, "shard", s["index"])) or {} for s in plan["shards"]
    ]
    offsets = np.r_[0, np.cumsum([int(s.get("lines", 0)) for s in statuses])[:-1]].astype(int).tolist()
    return statuses, offsets


def _buckets(plan: Mapping[str, Any]) -> int:
    """Sub-buckets per partition (a plan written before they existed has one)."""
    return int(plan.get("buckets", 1))


def _part_key(plan: Mapping[str, Any], p: int, b: int, shard: int) -> str:
    """Rows of partition ``p``, sub-bucket ``b``, from shard ``shard``."""
    return f"{plan['base']}parts/p-{p:04d}/b-{b:04d}/s-{shard:05d}.npz"


def _checked_key(plan: Mapping[str, Any], p: int, b: int) -> str:
    """The checked rows of partition ``p``, sub-bucket ``b``, that its merge reads."""
    return f"{plan['base']}partitions/p-{p:04d}/b-{b:04d}.npz"


def _check_partition(ctx: TaskContext, plan: Mapping[str, Any], p: int) -> dict[str, Any]:
    """Gather partition ``p``'s rows from every shard, with file-wide lines; find duplicate days.

    One sub-bucket at a time: memory holds one sub-bucket's rows (at most the plan's
    ``bucket_rows``), not the partition's. A series lies in one sub-bucket, so a duplicate day is
    always within one and is found exactly; the problems of all of them are merged in line order.
    """
    statuses, offsets = _line_offsets(ctx, plan)
    keys = ["date", "store_nbr", "item_nbr"]
    problems: list[dict[str, Any]] = []
    total = rows_total = 0
    bucket_rows: list[int] = []
    stores: set[int] = set()
    items: set[int] = set()
    series_parts: list[pd.DataFrame] = []
    first = last = None
    for b in range(_buckets(plan)):
        frames = []
        for status, offset in zip(statuses, offsets, strict=True):
            if not _wrote(status, p, b):
                continue
            frame = _get_rows(ctx.s3, plan["bucket"], _part_key(plan, p, b, int(status["index"])))
            frame["line"] += offset
            frames.append(frame)
        if not frames:
            bucket_rows.append(0)
            continue
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        del frames
        bucket_rows.append(len(frame))
        rows_total += len(frame)
        dupes = frame.duplicated(keys, keep=False).to_numpy()
        if dupes.any():
            found = frame.loc[dupes].assign(first=lambda f: f.groupby(keys)["line"].transform("min"))
            found = found[found["line"] != found["first"]].sort_values("line")
            total += len(found)
            problems += [
                Problem(
                    "duplicate row for the same date, store and item",
                    line=int(r.line),
                    column="date,store_nbr,item_nbr",
                    expected=f"one row per date, store and item (first seen on line {int(r.first)})",
                    found=f"{pd.Timestamp(r.date).date()},{r.store_nbr},{r.item_nbr}",
                ).to_dict()
                for r in found.head(MAX_PROBLEMS).itertuples()
            ]
            problems = sorted(problems, key=lambda pr: pr["line"])[:MAX_PROBLEMS]
        elif not total:
            # a rejected partition writes nothing more (the verdict rejects the file)
            _put_rows(ctx.s3, plan["bucket"], _checked_key(plan, p, b), frame, with_lines=False)
        series_parts.append(frame[["store_nbr", "item_nbr"]].drop_duplicates())
        stores.update(int(v) for v in frame["store_nbr"].unique())
        items.update(int(v) for v in frame["item_nbr"].unique())
        lo, hi = frame["date"].min(), frame["date"].max()
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
        del frame
    if not rows_total:
        return {
            "partition": p,
            "rows": 0,
            "series": 0,
            "buckets": bucket_rows,
            "stores": [],
            "items": [],
            "problem_count": 0,
            "problems": [],
        }
    series = pd.concat(series_parts, ignore_index=True)
    if not total:
        buf = io.BytesIO()
        np.savez(buf, store_nbr=series["store_nbr"].to_numpy(), item_nbr=series["item_nbr"].to_numpy())
        ctx.s3.put_object(
            Bucket=plan["bucket"], Key=f"{plan['base']}series/p-{p:04d}.npz", Body=buf.getvalue()
        )
    assert first is not None and last is not None
    return {
        "partition": p,
        "rows": rows_total,
        "series": len(series),
        # rows of each sub-bucket: the merge skips the empty ones, the manifest lists the largest
        "buckets": bucket_rows,
        "stores": sorted(stores),
        "items": sorted(items),
        "date_range": [str(first.date()), str(last.date())],
        "problem_count": total,
        "problems": problems,
    }


def _wrote(status: Mapping[str, Any], p: int, b: int) -> bool:
    """Whether the shard of ``status`` wrote a part of partition ``p``, sub-bucket ``b``."""
    if "parts_written" in status:
        return any(int(q) == p and int(c) == b for q, c, _ in status["parts_written"])
    return b == 0 and p in status.get("partitions_written", [])


def _merge_partition(ctx: TaskContext, plan: Mapping[str, Any], p: int) -> dict[str, Any]:
    """Merge partition ``p`` into history under lease ``writer-p``, with the upload's stamp.

    The partition's sub-buckets are merged one after another under the one lease (held from the
    first to the last), so memory holds one sub-bucket and no other writer merges the partition's
    series in between.
    """
    check = get_json(ctx.s3, plan["bucket"], _status_key(plan, "check", p)) or {}
    if not check.get("rows"):
        return {"partition": p, "rows": 0, "buckets_written": 0, "buckets_existing": 0}
    sizes = check.get("buckets") or [check["rows"]]
    rows = written = existing = 0
    with ctx.store.writer_lock(
        owner=f"{plan['run_id']}/p{p}/{ctx.request_id or uuid.uuid4().hex}",
        deadline=ctx.deadline,
        partition=p,
    ) as lease:
        for b, size in enumerate(sizes):
            if not size:
                continue
            lease.guard()  # renewed before a sub-bucket is read, so it does not lapse while loading
            key = (
                _checked_key(plan, p, b) if "buckets" in check else f"{plan['base']}partitions/p-{p:04d}.npz"
            )
            frame = _get_rows(ctx.s3, plan["bucket"], key)
            stats = ctx.store.upsert(frame, stamp=int(plan["stamp"]), partition=p, lease=lease)
            del frame
            rows += stats.rows
            written += stats.buckets_written
            existing += stats.buckets_existing
    return {"partition": p, "rows": rows, "buckets_written": written, "buckets_existing": existing}


def _statuses(ctx: TaskContext, plan: Mapping[str, Any], phase: str) -> list[dict[str, Any]]:
    count = len(plan["shards"]) if phase == "shard" else int(plan["partitions"])
    return [get_json(ctx.s3, plan["bucket"], _status_key(plan, phase, n)) or {} for n in range(count)]


def _problems(ctx: TaskContext, plan: Mapping[str, Any]) -> tuple[list[Problem], int, int]:
    """Every shard's and partition's problems with file-wide lines, in file order; their count; the rows."""
    shards, offsets = _line_offsets(ctx, plan)
    found: list[Problem] = []
    total = 0
    for status, offset in zip(shards, offsets, strict=True):
        total += int(status.get("problem_count", 0))
        for pr in status.get("problems", []):
            line = pr.get("line")
            # Line 1 of a shard is the file's header (a problem there is the header's).
            found.append(Problem(**{**pr, "line": line + offset if line and line > 1 else line}))
    for status in _statuses(ctx, plan, "check"):
        total += int(status.get("problem_count", 0))
        found.extend(Problem(**pr) for pr in status.get("problems", []))
    found.sort(key=lambda pr: pr.line or 0)
    rows = sum(int(s.get("rows", 0)) for s in shards)
    return found[:MAX_PROBLEMS], total, rows


def _current(manifest: RunManifest, plan: Mapping[str, Any], execution: str | None) -> bool:
    """Whether the execution ``execution`` (the state machine's ``$$.Execution.Id``; None from an
    older definition: the plan's base decides) may still write the run's outcome.

    Uploading the same bytes to the same key again is the same run with a newer stamp and a new
    execution; the older one, still running, must not overwrite what the newer one decides, nor
    change a run that has ended (a late failure flipping ``forecasting`` or ``succeeded``).
    """
    if manifest.status.final:
        return False
    ingest = manifest.ingest or {}
    if execution:
        return bool(ingest.get("execution_arn") == execution)
    return bool(ingest.get("base") == plan["base"])


def _verdict(ctx: TaskContext, plan: Mapping[str, Any], execution: str | None = None) -> dict[str, Any]:
    """Reject the file (one report, nothing written to history) if any shard or partition found a problem.

    An execution that is no longer the run's current one (:func:`_current`) stops here, writing
    nothing: the state machine takes ``accepted: false`` to its end without merging.
    """
    t0 = time.perf_counter()
    manifest = _manifest(ctx, plan)
    if not _current(manifest, plan, execution):
        log.warning(
            "stale ingest execution stopped", extra={"run_id": plan["run_id"], "execution": execution}
        )
        return {"accepted": False, "stale": True}
    problems, total, rows = _problems(ctx, plan)
    if rows == 0 and not total:
        problems, total = (
            [Problem("the file has a header but no data rows", line=2, expected="at least one data row")],
            1,
        )
    if not total:
        _record_invocation(ctx, plan, "verdict", t0)
        return {"accepted": True}
    error = CsvContractError(plan["input_key"], problems, total, kind=FileKind.ACTUALS.value, rows=rows)
    report = {
        **error.to_dict(),
        "bucket": manifest.input.bucket,
        "key": manifest.input.key,
        "etag": manifest.input.etag,
        "run_id": manifest.run_id,
        "rejected_at": runs.utc_now(),
        "message": str(error),
        "history_changed": False,
        "shards": len(plan["shards"]),
    }
    report_key = runs.rejected_key(manifest.input.key, manifest.run_id)
    put_json(ctx.s3, plan["output_bucket"], report_key, report)
    manifest.kind = FileKind.ACTUALS.value
    manifest.status = RunStatus.REJECTED
    manifest.errors = [str(error)]
    manifest.report = f"s3://{plan['output_bucket']}/{report_key}"
    manifest.rows_in = manifest.rows_rejected = rows
    manifest.problem_count = total
    _record_invocation(ctx, plan, "verdict", t0)
    _summarise(ctx, plan, manifest)
    manifest.finished_at = runs.utc_now()
    mf.save(ctx.s3, plan["output_bucket"], manifest)
    return {"accepted": False}


def _record_invocation(ctx: TaskContext, plan: Mapping[str, Any], name: str, t0: float) -> None:
    put_json(
        ctx.s3,
        plan["bucket"],
        f"{plan['base']}status/{name}.json",
        {"peak_memory_mb": invocation_peak_memory_mb(), "seconds": round(time.perf_counter() - t0, 3)},
    )


def _manifest(ctx: TaskContext, plan: Mapping[str, Any]) -> RunManifest:
    found = mf.load(ctx.s3, plan["output_bucket"], plan["run_id"])
    if found is None:
        raise RuntimeError(f"run {plan['run_id']} has no manifest")
    return found


def _summarise(ctx: TaskContext, plan: Mapping[str, Any], manifest: RunManifest) -> None:
    """List every shard and partition in the manifest; record the largest peak and longest invocation."""
    shards = _statuses(ctx, plan, "shard")
    checks = _statuses(ctx, plan, "check")
    merges = _statuses(ctx, plan, "merge")

    def entry(s: Mapping[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
        return {
            **{k: s.get(k) for k in keep if k in s},
            "status": s.get("status", "not run"),
            "attempts": s.get("attempts", 0),
            "errors": s.get("errors", []),
            "peak_memory_mb": s.get("peak_memory_mb", 0.0),
            "seconds": s.get("seconds", 0.0),
        }

    ingest = dict(manifest.ingest or {})
    ingest["shards"] = [
        {"index": n, **entry(s, ("bytes", "lines", "rows", "problem_count"))} for n, s in enumerate(shards)
    ]
    ingest["partition_runs"] = [
        {
            "partition": n,
            "rows": c.get("rows", 0),
            "series": c.get("series", 0),
            # rows of each sub-bucket (what the check and merge held at once)
            "buckets": c.get("buckets", []),
            "check": entry(c, ()),
            "merge": entry(m, ("buckets_written", "buckets_existing")),
        }
        for n, (c, m) in enumerate(zip(checks, merges, strict=True))
    ]
    for name in ("verdict", "finish"):
        doc = get_json(ctx.s3, plan["bucket"], f"{plan['base']}status/{name}.json")
        if doc:
            ingest[name] = doc
    invocations = [
        ingest.get("plan") or {},
        ingest.get("verdict") or {},
        ingest.get("finish") or {},
        *shards,
        *checks,
        *merges,
    ]
    manifest.ingest = ingest
    manifest.peak_memory_mb_etl = max(float(i.get("peak_memory_mb", 0) or 0) for i in invocations)
    manifest.steps["etl_seconds"] = max(float(i.get("seconds", 0) or 0) for i in invocations)
    manifest.steps["ingest_workflow_seconds"] = round(time.time() - float(plan["started_epoch"]), 3)


def _finish(
    ctx: TaskContext, plan: Mapping[str, Any], error: Mapping[str, Any] | None, execution: str | None = None
) -> dict[str, Any]:
    """Complete the run: the hand-off that starts the forecast (``error`` None), or the failure.

    Only the run's current execution does (:func:`_current`): a stale one writes neither the
    manifest nor the hand-off.
    """
    t0 = time.perf_counter()
    manifest = _manifest(ctx, plan)
    if not _current(manifest, plan, execution):
        log.warning("stale ingest execution ended", extra={"run_id": plan["run_id"], "execution": execution})
        return {"status": "stale"}
    if error is not None:
        _summarise(ctx, plan, manifest)
        done = manifest.ingest or {}
        failed = [
            f"shard {sh['index']}: {e}"
            for sh in done.get("shards", [])
            if sh["status"] != "succeeded"
            for e in sh["errors"]
        ]
        failed += [
            f"partition {pr['partition']} ({phase}): {e}"
            for pr in done.get("partition_runs", [])
            for phase in ("check", "merge")
            if pr[phase]["status"] == "failed"
            for e in pr[phase]["errors"]
        ]
        merges = _statuses(ctx, plan, "merge")
        merged = [p for p, m in enumerate(merges) if m.get("status") == "succeeded"]
        # Past an accepted verdict a merge may have written even when it failed, or when Lambda killed
        # it (a timeout or out-of-memory ends it before it writes its status): say "partial" then.
        accepted = get_json(ctx.s3, plan["bucket"], f"{plan['base']}status/verdict.json") is not None
        changed: bool | str = False
        if any(merges) or accepted:
            changed = True if len(merged) == len(merges) else "partial"
        manifest.history = {
            "buckets_written": sum(int(merges[p].get("buckets_written", 0)) for p in merged),
            "buckets_existing": sum(int(merges[p].get("buckets_existing", 0)) for p in merged),
        }
        reason = f"etl: sharded ingest failed ({error.get('Error', 'unknown')}): " + (
            "; ".join(failed) if failed else str(error.get("Cause", ""))[:500]
        )
        queued = _dead_letter(ctx, plan, manifest, reason, execution)
        manifest.ingest = {
            **(manifest.ingest or {}),
            "history_changed": changed,
            "partitions_merged": merged,
            "dead_letter": queued,
        }
        if changed == "partial":
            reason += (
                f"; history partly changed: partitions {', '.join(map(str, merged)) or 'none'} of "
                f"{len(merges)} merged, the others not or part-way"
            )
        elif changed:
            reason += "; history changed: every partition merged"
        reason += (
            ": the upload is in the dead-letter queue, `grocery-forecast replay` redrives it"
            if queued == "queued"
            else f": not dead-lettered ({queued}), upload the file again"
        )
        manifest.retries_left = 0
        manifest.fail(reason)
        manifest.finished_at = runs.utc_now()
        mf.save(ctx.s3, plan["output_bucket"], manifest)
        return {"status": "failed", "history_changed": changed, "dead_letter": queued}
    checks = _statuses(ctx, plan, "check")
    merges = _statuses(ctx, plan, "merge")
    series = []
    last = None
    first = None
    for p, c in enumerate(checks):
        if not c.get("rows"):
            continue
        lo, hi = (pd.Timestamp(d) for d in c["date_range"])
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
        body = ctx.s3.get_object(Bucket=plan["bucket"], Key=f"{plan['base']}series/p-{p:04d}.npz")["Body"]
        with np.load(io.BytesIO(body.read())) as data:
            series.append(pd.DataFrame({"store_nbr": data["store_nbr"], "item_nbr": data["item_nbr"]}))
    assert first is not None and last is not None, "the verdict rejects a file without rows"
    handoff_rows = pd.concat(series, ignore_index=True).sort_values(["store_nbr", "item_nbr"])
    handoff_rows.insert(0, "date", last)
    manifest.kind = FileKind.ACTUALS.value
    manifest.rows_in = sum(int(c.get("rows", 0)) for c in checks)
    manifest.rows_rejected = 0
    manifest.series = len(handoff_rows)
    manifest.date_range = [str(first.date()), str(last.date())]
    manifest.history = {
        "buckets_written": sum(int(m.get("buckets_written", 0)) for m in merges),
        "buckets_existing": sum(int(m.get("buckets_existing", 0)) for m in merges),
    }
    if ctx.references is not None:
        manifest.warnings = _unknown_ids(ctx, plan, checks)
    out_key = runs.processed_key(FileKind.ACTUALS, plan["input_key"], plan["run_id"])
    hand_off = HandOff(plan["run_id"], FileKind.ACTUALS, plan["input_key"], manifest.input.etag, None)
    manifest.processed = f"s3://{plan['bucket']}/{out_key}"
    manifest.status = RunStatus.FORECASTING
    _record_invocation(ctx, plan, "finish", t0)
    _summarise(ctx, plan, manifest)
    mf.save(ctx.s3, plan["output_bucket"], manifest)
    # The hand-off holds what the forecast of an actuals upload reads: its series and its last day
    # (forecast_targets), not 23 M rows the predict function would have to parse.
    ctx.s3.put_object(
        Bucket=plan["bucket"],
        Key=out_key,
        Body=csv_bytes(handoff_rows),
        ContentType="text/csv",
        Metadata={**hand_off.to_metadata(), "content": "series"},
    )
    return {"status": "forecasting", "rows": manifest.rows_in}


def _dead_letter(
    ctx: TaskContext, plan: Mapping[str, Any], manifest: RunManifest, reason: str, execution: str | None
) -> str:
    """Send the upload's event to the dead-letter queue as Lambda's on-failure destination would
    (:mod:`grocery_forecast.pipeline.replay` reads it), numbered as the next redrive. Returns
    ``"queued"``, or why it was not (no queue configured, the send failed): the run's failure says so.
    """
    if ctx.sqs is None or not ctx.dead_letter_queue_url or not ctx.function_arn:
        return "no dead-letter queue configured"
    redrive = int(plan.get("redrive", 0)) + 1
    record = {
        "version": "1.0",
        "timestamp": runs.utc_now(),
        "requestContext": {
            "requestId": ctx.request_id,
            "functionArn": ctx.function_arn,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"Records": [plan.get("event") or _event_of(manifest)], REDRIVE_FIELD: redrive},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": "ShardedIngestFailed",
            "errorMessage": reason[:2000],
            "execution": execution,
        },
    }
    try:
        ctx.sqs.send_message(QueueUrl=ctx.dead_letter_queue_url, MessageBody=json.dumps(record))
    except Exception as exc:  # the failure is still recorded; the operator re-uploads
        log.error("failed ingest not dead-lettered", extra={"run_id": plan["run_id"], "error": str(exc)})
        return f"the send failed: {type(exc).__name__}: {exc}"[:300]
    log.warning("failed ingest dead-lettered", extra={"run_id": plan["run_id"], "redrive": redrive})
    return "queued"


def _unknown_ids(ctx: TaskContext, plan: Mapping[str, Any], checks: list[dict[str, Any]]) -> list[str]:
    warnings = []
    for table, column, field in (("stores", "store_nbr", "stores"), ("items", "item_nbr", "items")):
        known = ctx.references.ids(ctx.s3, plan["bucket"], table, column)
        if known is None:
            warnings.append(f"no {runs.reference_key(table)} uploaded yet: {column} values were not checked")
            continue
        ids = np.unique(np.concatenate([np.asarray(c.get(field, []), dtype=np.int64) for c in checks]))
        unknown = np.setdiff1d(ids, known)
        if len(unknown):
            warnings.append(
                f"{len(unknown)} {column} value(s) not in {table}.csv: "
                + ", ".join(map(str, unknown[:10]))
                + (" ..." if len(unknown) > 10 else "")
            )
    return warnings
