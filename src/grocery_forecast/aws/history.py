"""Sales history in DynamoDB, compact enough that a forecast needs one read per series.

Layout of the history table (partition key ``series`` = ``"store#item"``, sort key ``bucket``):

* ``Y2017``: one item per series and calendar year. Attribute ``data`` is zlib-compressed
  (because the emulator's and DynamoDB's cost grows with item size):

  - format 3 (written for a bucket whose days all come from one upload: every bucket of a new
    series, every bucket a backfill writes): one byte ``0x03``, 366 day-of-year slots of sales
    (little-endian float32, NaN = no row that day), 366 promotion flags (int8), then that upload's
    stamp once (little-endian int64; see :func:`grocery_forecast.contract.runs.upload_stamp`): the
    stamp of every day with a row, days without one have none (0). 1,839 bytes raw; one day of one
    upload 47 B stored, a year of one upload's sales about 0.47 KB;
  - format 2 (written for a bucket holding days of several uploads, or days of format 1 next to
    an upload's): byte ``0x02``, the same sales and promotions, then 366 upload stamps (int64,
    0 = none) stored as 8 byte planes (all high bytes first) so the stamps of a bucket, mostly a
    few uploads', compress to little: 4.8 KB raw; with the last 60 days from daily uploads 1.1 KB
    stored, a whole year of daily uploads 3.2 KB (each stamp is about 6 bytes of entropy: the
    millisecond of the upload and its tie-break), still one 4 KB read unit but up to 4 write units;
  - format 1 (read only, items written before upload stamps): the sales and promotions without
    the leading byte, 1,830 bytes; its days count as stamp 0, older than any upload.

  Formats 2 and 3 are one layout to the merge (per-day stamps); which one is written is decided
  per bucket by its stamps, so a bucket moves between them as uploads land. Format 3 exists for
  speed: a one-day bucket of a new series was 106 B stored in format 2 and cost twice the client
  CPU to encode, on the 100,000 buckets of a Favorita day. Code older than format 3 cannot read
  it (a rollback past it needs the buckets rewritten).

  A 16-day forecast with a 16-week lookback reads one item per series (two early in the year)
  through BatchGetItem, instead of a Query or ~100 GetItems.
* ``__meta__ / dates``: earliest and latest date ever stored, so a forecast request can be
  anchored to the end of history; and ``partitions``, the number of series partitions (writer
  leases, ``ingest_partitions``) history is written with, with the count before it and when it
  changed (:meth:`DynamoHistoryStore.use_partitions`): two writers using different partitionings
  would take different leases for one series.
* ``__index__ / Y2017#00003``: the series index, one item per calendar year and store: attribute
  ``items``, a number set of the items of that store with a bucket in that year. An upload adds
  its series (``ADD``: a set union, so a retry or a second merge of the same file changes nothing)
  before it writes their buckets, so every bucket is indexed. A forecast reads the index of the
  years it looks back over (one Query a year) and then those series' buckets (BatchGetItem), to pool the
  item, store, class and family features over every series as training does, without a Scan of
  every year of the table. ``__meta__``'s ``series_index`` says the index is complete: set by the
  first merge into an empty table, or by :meth:`DynamoHistoryStore.build_series_index` for a table
  written before the index existed.
* ``__lock__ / writer-NNNN``: the writer lease of one partition of the series (one partition,
  ``writer-0000``, today; a sharded ingest would take one per partition), held while a file's rows
  are merged into year buckets. Merging is read-modify-write; the lease keeps two uploads landing
  at once from overwriting each other's days (BatchWriteItem cannot be conditional).
  See :class:`WriterLease`.

**Upload order, not processing order.** A merge keeps a stored day unless the upload being
merged has a row for it *and* a stamp at least as new as the day's: for every store-item-day the
value comes from the most recently uploaded file that holds it, whichever order retries, replays
and concurrent invocations merge in. The same upload merged twice writes identical bytes, so a
retry completes a half-done merge.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws.clients import connection_lost, error_code
from grocery_forecast.contract.schema import series_key
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "DynamoHistoryStore",
    "HistoryLockTimeout",
    "LeaseLost",
    "PartitionCountMismatch",
    "UpsertStats",
    "WriterLease",
    "YearBuckets",
    "decode_bucket",
    "decode_stamps",
    "encode_bucket",
    "lease_key",
    "panel_from_buckets",
]

log = logging.getLogger(__name__)

SLOTS = 366
META_KEY = {"series": {"S": "__meta__"}, "bucket": {"S": "dates"}}
LEASE_SERIES = "__lock__"
INDEX_SERIES = "__index__"
#: The item format written for a bucket whose days all come from one upload (the leading byte of
#: the decompressed ``data``); a bucket of several uploads' days is written in format 2 (per-day
#: stamps, ``_FORMAT_PLANES``); format 1 had no leading byte. All three are read.
FORMAT = 3
_FORMAT_PLANES = 2
_V1_BYTES = SLOTS * 5
_PREFIX = 1 + SLOTS * 5  # the format byte, sales and promotions: the same in formats 2 and 3
_V2_BYTES = _PREFIX + SLOTS * 8
_V3_BYTES = _PREFIX + 8
#: A writer stops writing this long before its lease expires, unless it renews it first: room
#: for one BatchWriteItem call already sent to land, and for the clocks of two Lambdas to differ.
FENCE_SECONDS = 10.0
_GET_BATCH = 100
_WRITE_BATCH = 25
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}


class HistoryLockTimeout(RuntimeError):
    """Another upload held the history writer lease for longer than we could wait."""


class LeaseLost(RuntimeError):
    """This writer's lease expired or was taken: it must not write another batch (fencing).

    Raised instead of writing, so the attempt fails and Lambda retries it; the retry merges the
    whole file again under a new lease, which completes whatever this attempt left half done.
    """


class PartitionCountMismatch(RuntimeError):
    """History is being written with another number of series partitions than this writer's.

    Writers of different partition counts would hash one series to different writer leases and
    could merge it at once. Raised before anything is written; the attempt is retried, and goes
    through once the writers of the other count are done (or the count is set back).
    """


#: The partition count is changed in one transaction with a check that no writer lease is held,
#: which DynamoDB allows for up to 100 items: the meta item and this many leases.
_ATOMIC_LEASE_CHECKS = 99


def lease_key(partition: int = 0) -> dict[str, dict[str, str]]:
    """The lease item of one partition of the series (``__lock__ / writer-0000`` today)."""
    if not 0 <= partition <= 9999:
        raise ValueError(f"lease partition must be 0..9999, not {partition}")
    return {"series": {"S": LEASE_SERIES}, "bucket": {"S": f"writer-{partition:04d}"}}


def _transient(exc: Exception) -> bool:
    """A throttle, a 5xx, or a request whose response never came (it may have been applied)."""
    if _is_retryable(exc):
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - botocore ships with boto3 and the Lambda runtime
        return False
    return isinstance(exc, BotoConnectionError | HTTPClientError)


class WriterLease:
    """The writer lease of one partition, held by one invocation (see :meth:`DynamoHistoryStore.writer_lock`).

    The lease item holds the ``owner`` token and the epoch second it ``expires``. It never outlives
    the invocation that holds it: ``expires`` is at most the invocation's ``deadline`` (Lambda kills
    it then), so a writer killed at any instant blocks others until its own deadline at the latest.
    Within that it is short (``lease_seconds``) and renewed as the merge goes. Before every batch
    write the writer calls :meth:`guard`, which renews the lease when less than half of it is left
    and raises :class:`LeaseLost` when it cannot: once expired (or taken), a writer writes nothing
    more. Renewal is conditional on the owner token and an unexpired lease, so a writer cannot
    resurrect a lease another writer may already have taken.
    """

    def __init__(
        self,
        store: DynamoHistoryStore,
        owner: str,
        partition: int,
        lease_seconds: float,
        deadline: float | None,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self.owner = owner
        self.partition = partition
        self.key = lease_key(partition)
        self.lease_seconds = lease_seconds
        self.deadline = deadline
        self._clock = clock
        self.expires = 0.0
        self.renewals = 0
        self._mutex = threading.Lock()

    def _until(self, now: float) -> float:
        until = now + self.lease_seconds
        return until if self.deadline is None else min(until, self.deadline)

    def guard(self) -> None:
        """Renew the lease if it is running out; raise :class:`LeaseLost` if it cannot be held
        until at least ``FENCE_SECONDS`` from now (so the next batch lands inside it)."""
        with self._mutex:
            now = self._clock()
            if self.expires - now > max(FENCE_SECONDS, self.lease_seconds / 2):
                return
            until = self._until(now)
            if until - now <= FENCE_SECONDS:
                raise LeaseLost(
                    f"history writer lease {self.key['bucket']['S']}: the invocation ends in "
                    f"{until - now:.1f}s, too soon to write another batch; the retry will merge the file"
                )
            if now >= self.expires:
                raise LeaseLost(
                    f"history writer lease {self.key['bucket']['S']} expired {now - self.expires:.1f}s "
                    "ago; nothing more is written, the retry will merge the file"
                )
            self._store._renew(self, now, until)
            self.expires = until
            self.renewals += 1


@dataclass(frozen=True)
class UpsertStats:
    rows: int
    series: int
    buckets_written: int
    buckets_existing: int
    seconds: float


def bucket_name(year: int) -> str:
    return f"Y{year:04d}"


def _planes(stamps: np.ndarray) -> np.ndarray:
    """int64 stamps ``[n, 366]`` as 8 byte planes per row, most significant first (they compress
    where values repeat): ``uint8[n, 8 * 366]``."""
    big = np.ascontiguousarray(stamps, dtype=">i8").view(np.uint8).reshape(len(stamps), SLOTS, 8)
    return np.ascontiguousarray(big.transpose(0, 2, 1)).reshape(len(stamps), 8 * SLOTS)


def _encode_many(
    sales: np.ndarray, promo: np.ndarray, stamps: np.ndarray | None = None
) -> tuple[list[bytes], list[int]]:
    """The compressed ``data`` and the day count of many year buckets (``[n, 366]`` arrays).

    Laid out for the whole chunk at once, so a bucket costs one ``zlib.compress`` and no other
    per-item Python work (the daily ingest encodes 100,000 buckets: the per-bucket form took 26 us
    each, a tenth of the merge). A bucket whose days all come from one upload (every day with a row
    has the same stamp, every other day 0: each bucket of a new series, every bucket a backfill
    writes) is written in format 3, its one stamp stored once; any other in format 2, per-day stamps.
    """
    n = len(sales)
    sales = np.ascontiguousarray(sales, dtype="<f4").reshape(n, SLOTS)
    has_row = ~np.isnan(sales)
    block = np.empty((n, _V3_BYTES), dtype=np.uint8)
    block[:, 0] = FORMAT
    block[:, 1 : 1 + SLOTS * 4] = sales.view(np.uint8)
    block[:, 1 + SLOTS * 4 : _PREFIX] = np.asarray(promo, dtype=np.int8).reshape(n, SLOTS).view(np.uint8)
    if stamps is None:
        one = np.zeros(n, dtype=np.int64)
        several = np.zeros(n, dtype=bool)
    else:
        stamps = np.asarray(stamps, dtype=np.int64).reshape(n, SLOTS)
        one = stamps.max(axis=1, initial=0)
        several = (stamps != np.where(has_row, one[:, None], 0)).any(axis=1)
    block[:, _PREFIX:] = one.astype("<i8").view(np.uint8).reshape(n, 8)
    flat = block.reshape(-1).data
    data = [zlib.compress(flat[j * _V3_BYTES : (j + 1) * _V3_BYTES], 1) for j in range(n)]
    rows = np.flatnonzero(several)
    if rows.size:
        assert stamps is not None
        full = np.empty((rows.size, _V2_BYTES), dtype=np.uint8)
        full[:, :_PREFIX] = block[rows, :_PREFIX]
        full[:, 0] = _FORMAT_PLANES
        full[:, _PREFIX:] = _planes(stamps[rows])
        flat = full.reshape(-1).data
        for k, j in enumerate(rows.tolist()):
            data[j] = zlib.compress(flat[k * _V2_BYTES : (k + 1) * _V2_BYTES], 1)
    return data, np.count_nonzero(has_row, axis=1).tolist()


def encode_bucket(
    sales: np.ndarray, promo: np.ndarray, stamps: np.ndarray | None = None
) -> dict[str, dict[str, Any]]:
    """Attribute values for one year bucket (without its key), in format 3 (one stamp) or 2.

    ``stamps`` are the upload stamps of the days (0 = none); all 0 when not given.
    """
    data, days = _encode_many(
        np.asarray(sales).reshape(1, SLOTS),
        np.asarray(promo).reshape(1, SLOTS),
        None if stamps is None else np.asarray(stamps).reshape(1, SLOTS),
    )
    return {"data": {"B": data[0]}, "days": {"N": str(days[0])}}


def _raw(item: dict[str, dict[str, Any]]) -> bytes:
    """The decompressed ``data``, checked: a format-1 item gets a leading ``0x01`` (so the sales and
    promotions of every format are at the same offsets); formats 2 and 3 are as stored."""
    raw = zlib.decompress(item["data"]["B"])
    if (len(raw) == _V3_BYTES and raw[0] == FORMAT) or (len(raw) == _V2_BYTES and raw[0] == _FORMAT_PLANES):
        return raw
    if len(raw) == _V1_BYTES:
        return b"\x01" + raw
    raise ValueError(
        f"corrupt history bucket {item.get('series')}/{item.get('bucket')}: {len(raw)} bytes, expected "
        f"{_V3_BYTES} (format {FORMAT}), {_V2_BYTES} (format {_FORMAT_PLANES}) or {_V1_BYTES} (format 1)"
    )


def _decode_many(
    items: list[dict[str, dict[str, Any]]], *, with_stamps: bool = False
) -> tuple[np.ndarray, ...]:
    """``(sales float32[n, 366], promo int8[n, 366])`` of stored year buckets of any format, and
    their stamps ``int64[n, 366]`` when ``with_stamps``."""
    if not items:
        empty = (np.zeros((0, SLOTS), np.float32), np.zeros((0, SLOTS), np.int8))
        return (*empty, np.zeros((0, SLOTS), np.int64)) if with_stamps else empty
    raws = [_raw(it) for it in items]
    n = len(raws)
    block = np.frombuffer(b"".join(raw[:_PREFIX] for raw in raws), dtype=np.uint8).reshape(n, _PREFIX)
    sales = block[:, 1 : 1 + SLOTS * 4].copy().view("<f4").astype(np.float32)
    promo = block[:, 1 + SLOTS * 4 : _PREFIX].view(np.int8).copy()
    if not with_stamps:
        return sales, promo
    stamps = np.zeros((n, SLOTS), dtype=np.int64)  # format 1: 0, older than any upload
    kind = block[:, 0]
    rows = np.flatnonzero(kind == _FORMAT_PLANES)
    if rows.size:
        planes = np.frombuffer(b"".join(raws[j][_PREFIX:] for j in rows), dtype=np.uint8)
        big = np.ascontiguousarray(planes.reshape(rows.size, 8, SLOTS).transpose(0, 2, 1))
        stamps[rows] = big.view(">i8").reshape(rows.size, SLOTS)
    rows = np.flatnonzero(kind == FORMAT)
    if rows.size:
        one = np.frombuffer(b"".join(raws[j][_PREFIX:] for j in rows), dtype="<i8")
        stamps[rows] = np.where(np.isnan(sales[rows]), 0, one[:, None])
    return sales, promo, stamps


def decode_bucket(item: dict[str, dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(sales float32[366], promo int8[366])`` of one stored year bucket (any format)."""
    sales, promo = _decode_many([item])
    return sales[0], promo[0]


def decode_stamps(item: dict[str, dict[str, Any]]) -> np.ndarray:
    """The upload stamps ``int64[366]`` of one stored year bucket's days (0 = none, or format 1)."""
    return _decode_many([item], with_stamps=True)[2][0]


def _is_year_bucket(item: dict[str, dict[str, Any]]) -> bool:
    """Whether a stored item is a series' year bucket, not one of the table's own rows
    (``__meta__``, the ``__lock__`` leases: their series start with ``__``, no store#item does)."""
    series, bucket = item["series"]["S"], item["bucket"]["S"]
    return not series.startswith("__") and len(bucket) == 5 and bucket[0] == "Y" and bucket[1:].isdigit()


def index_bucket(year: int, store: int) -> str:
    """Sort key of the series index item of ``store`` in ``year`` (``Y2017#00003``): the years in
    order, so one Query over a key range reads a year's index (or some stores' of it)."""
    return f"Y{int(year):04d}#{int(store):05d}"


def _is_retryable(exc: Exception) -> bool:
    """Throttling and service faults, and a dropped or timed-out connection (botocore does not retry
    these for the store: see :func:`grocery_forecast.aws.clients.dynamodb_client_config`)."""
    return error_code(exc) in _RETRYABLE or connection_lost(exc)


def _backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff (the AWS architecture blog's recommendation)."""
    return random.uniform(0, min(cap, base * (2**attempt)))


@dataclass(frozen=True)
class YearBuckets:
    """Decoded year buckets of many series, as a Scan segment returns them (training reads these).

    Attributes:
        series: ``"store#item"`` keys, one per bucket.
        years: The calendar year of each bucket.
        sales: ``float32[n, 366]`` day-of-year slots (NaN = no row that day).
        promo: ``int8[n, 366]``.
    """

    series: np.ndarray
    years: np.ndarray
    sales: np.ndarray
    promo: np.ndarray

    def __len__(self) -> int:
        return len(self.series)


class DynamoHistoryStore:
    """The history table behind a small interface: upsert a cleaned frame, read a panel.

    Args:
        client: A boto3 DynamoDB *client* (the low-level API skips Decimal conversion, which
            matters at 100,000 items). Created by the caller, never at import; see
            :func:`grocery_forecast.aws.clients.dynamodb_client_config` for the settings that keep
            its CPU cost down.
        table: Table name.
        max_workers: Concurrent BatchGetItem/BatchWriteItem calls. Defaults to 8.
        max_attempts: Tries per batch before unprocessed keys/items are an error. Defaults to 10.
        sleep: How to wait between retries. Defaults to time.sleep.
        clock: Epoch seconds, for the writer lease (shared by every writer: compare
            ``FENCE_SECONDS``). Defaults to time.time.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_workers: int = 8,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        partitions: int | None = None,
    ) -> None:
        self._db = client
        self.table = table
        self.max_workers = max_workers
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        #: The partition count this store's writers merge with: each writer lease taken checks that
        #: history is still written with it (None: no check). See :meth:`use_partitions`.
        self.partitions = partitions

    @property
    def client(self) -> Any:
        """The DynamoDB client this store calls."""
        return self._db

    def with_client(self, client: Any) -> DynamoHistoryStore:
        """The same table and settings through another client (e.g. a test's fault-injecting proxy)."""
        return DynamoHistoryStore(
            client,
            self.table,
            max_workers=self.max_workers,
            max_attempts=self.max_attempts,
            sleep=self._sleep,
            clock=self._clock,
            partitions=self.partitions,
        )

    def with_partitions(self, partitions: int | None) -> DynamoHistoryStore:
        """The same store, whose writers merge with ``partitions`` partitions (checked per lease)."""
        store = copy.copy(self)  # a subclass (a test's fake) stays one
        store.partitions = partitions
        return store

    # -- low-level batches -----------------------------------------------------------------------

    def _call(self, op: Callable[..., dict], guard: Callable[[], None] | None = None, **kwargs: Any) -> dict:
        """One API call, retried on throttling with jittered backoff; ``guard`` runs before every try."""
        for attempt in range(self.max_attempts):
            if guard is not None:
                guard()
            try:
                return op(**kwargs)
            except Exception as exc:
                if not _is_retryable(exc) or attempt == self.max_attempts - 1:
                    raise
                self._sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _get_batch(self, keys: list[dict], attribute: str = "data", consistent: bool = True) -> list[dict]:
        found: list[dict] = []
        # Only what decoding needs: at 100,000 items, parsing responses is most of the client's CPU.
        request: dict[str, Any] = {
            self.table: {
                "Keys": keys,
                "ConsistentRead": consistent,
                "ProjectionExpression": "#s, #b, #d",
                "ExpressionAttributeNames": {"#s": "series", "#b": "bucket", "#d": attribute},
            }
        }
        for attempt in range(self.max_attempts):
            resp = self._call(self._db.batch_get_item, RequestItems=request)
            found.extend(resp.get("Responses", {}).get(self.table, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return found
            self._sleep(_backoff(attempt))
        raise RuntimeError(
            f"{self.table}: {len(request[self.table]['Keys'])} keys still unprocessed "
            f"after {self.max_attempts} BatchGetItem attempts"
        )

    def _write_batch(self, items: list[dict], guard: Callable[[], None] | None = None) -> int:
        """Write up to 25 items; unprocessed ones again. ``guard`` (the writer lease's fence) runs
        before every BatchWriteItem call, retries included."""
        request = {self.table: [{"PutRequest": {"Item": it}} for it in items]}
        for attempt in range(self.max_attempts):
            resp = self._call(self._db.batch_write_item, guard=guard, RequestItems=request)
            request = resp.get("UnprocessedItems") or {}
            if not request:
                return len(items)
            self._sleep(_backoff(attempt))
        raise RuntimeError(
            f"{self.table}: {len(request[self.table])} items still unprocessed "
            f"after {self.max_attempts} BatchWriteItem attempts"
        )

    def _parallel(self, fn: Callable[[Any], Any], chunks: Sequence[Any]) -> Iterator[Any]:
        if len(chunks) <= 1 or self.max_workers <= 1:
            yield from map(fn, chunks)
            return
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            yield from pool.map(fn, chunks)

    def batch_get(self, keys: list[dict], attribute: str = "data", consistent: bool = True) -> list[dict]:
        """Every existing item of ``keys`` (any order) with its keys and ``attribute``, 100 keys per
        call, concurrently."""
        chunks = [keys[i : i + _GET_BATCH] for i in range(0, len(keys), _GET_BATCH)]
        out: list[dict] = []
        for part in self._parallel(lambda chunk: self._get_batch(chunk, attribute, consistent), chunks):
            out.extend(part)
        return out

    def batch_put(self, items: list[dict]) -> int:
        """Write ``items``, 25 per call, concurrently; unprocessed items are retried."""
        chunks = [items[i : i + _WRITE_BATCH] for i in range(0, len(items), _WRITE_BATCH)]
        return sum(self._parallel(self._write_batch, chunks))

    # -- the writer lease -------------------------------------------------------------------------

    def _lease_call(self, op: Callable[..., dict], attempts: int = 6, **kwargs: Any) -> dict:
        """One lease request, retried on throttling *and* on a lost response (the same request
        again: every lease request is safe to repeat, see :meth:`writer_lock`)."""
        for attempt in range(attempts):
            try:
                return op(**kwargs)
            except Exception as exc:
                if not _transient(exc) or attempt == attempts - 1:
                    raise
                log.warning(
                    "history lease request %s failed (%s); retrying", getattr(op, "__name__", op), exc
                )
                self._sleep(_backoff(attempt, base=0.1))
        raise AssertionError("unreachable")

    def _renew(self, lease: WriterLease, now: float, until: float) -> None:
        try:
            self._lease_call(
                self._db.update_item,
                TableName=self.table,
                Key=lease.key,
                UpdateExpression="SET #e = :until",
                ConditionExpression="#o = :me AND #e > :now",
                ExpressionAttributeNames={"#o": "owner", "#e": "expires"},
                ExpressionAttributeValues={
                    ":me": {"S": lease.owner},
                    ":now": {"N": f"{now:.3f}"},
                    ":until": {"N": f"{until:.3f}"},
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(
                    f"history writer lease {lease.key['bucket']['S']} expired or was taken by another "
                    "writer; nothing more is written, the retry will merge the file"
                ) from None
            raise

    @contextmanager
    def writer_lock(
        self,
        wait_seconds: float = 240.0,
        lease_seconds: float = 60.0,
        *,
        owner: str | None = None,
        deadline: float | None = None,
        partition: int = 0,
    ) -> Iterator[WriterLease]:
        """Hold the writer lease of ``partition`` while merging; waits for other writers up to
        ``wait_seconds`` (and never past half the time to ``deadline``).

        Args:
            wait_seconds: How long to wait for another writer's lease. Defaults to 240.
            lease_seconds: Length of the lease and of each renewal. Defaults to 60.
            owner: The token that identifies this invocation's attempt (e.g. run id and Lambda
                request id). Acquiring succeeds when the lease is free, expired, or already this
                owner's, so a PutItem applied whose response was lost, sent again, finds its own
                lease and goes on instead of waiting for itself. Defaults to a fresh random token.
            deadline: Epoch second at which the invocation ends (Lambda kills it at its timeout:
                ``time.time() + context.get_remaining_time_in_millis() / 1000``). The lease never
                outlives it. None (a process without a deadline): leases of ``lease_seconds``.
            partition: Which partition's lease (0 today; a sharded ingest takes one per partition).

        The release is retried on transient errors; a release that still fails leaves a lease that
        expires by itself within ``lease_seconds``.
        """
        lease = WriterLease(self, owner or uuid.uuid4().hex, partition, lease_seconds, deadline, self._clock)
        started = self._clock()
        give_up = started + wait_seconds
        if deadline is not None:
            give_up = min(give_up, started + max(0.0, (deadline - started) / 2))
        attempt = 0
        while True:
            now = self._clock()
            until = lease._until(now)
            if until - now <= FENCE_SECONDS:
                raise HistoryLockTimeout(
                    f"{self.table}: the invocation ends in {until - now:.0f}s, too soon to merge; "
                    "this upload will be retried"
                )
            try:
                self._lease_call(
                    self._db.put_item,
                    TableName=self.table,
                    Item={**lease.key, "owner": {"S": lease.owner}, "expires": {"N": f"{until:.3f}"}},
                    ConditionExpression="attribute_not_exists(#o) OR #e < :now OR #o = :me",
                    ExpressionAttributeNames={"#o": "owner", "#e": "expires"},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, ":me": {"S": lease.owner}},
                )
                lease.expires = until
                break
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                if self._clock() >= give_up:
                    raise HistoryLockTimeout(
                        f"{self.table}: another upload held the history writer lease for over "
                        f"{self._clock() - started:.0f}s; this upload will be retried"
                    ) from None
                self._sleep(min(2.0, 0.1 * 2 ** min(attempt, 4)) * random.uniform(0.5, 1.5))
                attempt += 1
        try:
            if self.partitions is not None:
                # After the lease is held (a count change needs every lease free, atomically): a
                # count changed before it was taken is seen here, one changed after cannot happen.
                stored = self.stored_partitions()
                if stored is not None and stored != self.partitions:
                    raise PartitionCountMismatch(
                        f"{self.table}: history is written with {stored} series partitions now, this "
                        f"writer with {self.partitions} (ingest_partitions changed since the upload was "
                        "planned): nothing was written; the attempt fails, a redrive plans it again"
                    )
            yield lease
        finally:
            self._release(lease)

    def _release(self, lease: WriterLease) -> None:
        try:
            self._lease_call(
                self._db.delete_item,
                TableName=self.table,
                Key=lease.key,
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": lease.owner}},
            )
        except Exception as exc:  # expired and taken by someone else, or DynamoDB unreachable
            log.warning("history writer lease %s not released: %s", lease.key["bucket"]["S"], exc)

    def leases(self) -> list[dict[str, Any]]:
        """The lease items present (held, or left by a writer that died: they expire by themselves)."""
        found = self._query_all(
            KeyConditionExpression="#s = :lock",
            ExpressionAttributeNames={"#s": "series"},
            ExpressionAttributeValues={":lock": {"S": LEASE_SERIES}},
        )
        return [
            {"partition": it["bucket"]["S"], "owner": it["owner"]["S"], "expires": float(it["expires"]["N"])}
            for it in found
        ]

    def _query_all(self, **kwargs: Any) -> list[dict]:
        """Every item a (strongly consistent) Query of this table returns, page after page."""
        kwargs = {"TableName": self.table, "ConsistentRead": True, **kwargs}
        out: list[dict] = []
        while True:
            page = self._call(self._db.query, **kwargs)
            out.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- dates ------------------------------------------------------------------------------------

    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(earliest, latest) date ever stored, or None for an empty history."""
        resp = self._call(self._db.get_item, TableName=self.table, Key=META_KEY, ConsistentRead=True)
        item = resp.get("Item")
        if not item or "earliest" not in item or "latest" not in item:
            return None  # nothing merged yet (the meta item may hold the partition count only)
        return pd.Timestamp(item["earliest"]["S"]), pd.Timestamp(item["latest"]["S"])

    # -- partitions -------------------------------------------------------------------------------

    def stored_partitions(self) -> int | None:
        """The series partition count history is written with (None: never recorded)."""
        resp = self._call(self._db.get_item, TableName=self.table, Key=META_KEY, ConsistentRead=True)
        found = (resp.get("Item") or {}).get("partitions")
        return int(found["N"]) if found else None

    def _held_leases(self, count: int, now: float) -> list[str]:
        held = []
        for p in range(count):
            item = self._call(
                self._db.get_item, TableName=self.table, Key=lease_key(p), ConsistentRead=True
            ).get("Item")
            if item and float(item["expires"]["N"]) > now:
                held.append(item["bucket"]["S"])
        return held

    def use_partitions(
        self, partitions: int, variable: str = "ingest_partitions", attempts: int = 5
    ) -> DynamoHistoryStore:
        """Write history with ``partitions`` series partitions from now on; the store to merge with.

        When history is written with another count, the count changes only while no writer lease
        of either count is held: in one transaction that updates ``__meta__`` and checks every
        lease is free or expired (up to 99 leases; beyond, the leases are read first and a writer
        that takes one between that read and the update is the race left). A lease held means a run
        with the other count is merging: :class:`PartitionCountMismatch` names ``variable`` and
        both counts, and the caller's attempt is retried later. The change is recorded (the count
        before it, and when). Writers of the returned store check the count again with each lease.
        """
        for _ in range(attempts):
            stored = self.stored_partitions()
            if stored == partitions:
                return self.with_partitions(partitions)
            now = self._clock()
            leases = max(partitions, stored or 0)
            held = self._held_leases(leases, now)
            if held:
                raise PartitionCountMismatch(
                    f"{variable} is {partitions} for this upload, but history is being written with "
                    f"{stored if stored is not None else 'an unrecorded number of'} series partitions: "
                    f"writer lease(s) {', '.join(held[:5])}{' ...' if len(held) > 5 else ''} are held. "
                    f"Nothing was written; the upload is retried, and goes through once that run has "
                    f"merged (or set {variable} back to {stored})"
                )
            names = {"#p": "partitions", "#at": "partitions_changed_at"}
            values: dict[str, Any] = {":n": {"N": str(partitions)}, ":now": {"N": f"{now:.3f}"}}
            update = "SET #p = :n, #at = :now"
            condition = "attribute_not_exists(#p)"
            if stored is not None:
                names["#prev"] = "partitions_before"
                values[":old"] = {"N": str(stored)}
                update += ", #prev = :old"
                condition = "#p = :old"
            checks = [
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": lease_key(p),
                        "ConditionExpression": "attribute_not_exists(#o) OR #e < :now",
                        "ExpressionAttributeNames": {"#o": "owner", "#e": "expires"},
                        "ExpressionAttributeValues": {":now": {"N": f"{now:.3f}"}},
                    }
                }
                for p in range(min(leases, _ATOMIC_LEASE_CHECKS))
            ]
            try:
                self._call(
                    self._db.transact_write_items,
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": META_KEY,
                                "UpdateExpression": update,
                                "ConditionExpression": condition,
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": values,
                            }
                        },
                        *checks,
                    ],
                )
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                continue  # a lease was taken or the count changed meanwhile: look again
            log.warning(
                "history series partitions changed",
                extra={"table": self.table, "partitions": partitions, "before": stored},
            )
            return self.with_partitions(partitions)
        raise PartitionCountMismatch(
            f"{variable} is {partitions} for this upload, but the partition count history is written "
            f"with kept changing or its writer leases stayed held over {attempts} tries: the upload is retried"
        )

    def _extend_dates(self, first: pd.Timestamp, last: pd.Timestamp) -> None:
        for attr, value, op in (("earliest", first, ">"), ("latest", last, "<")):
            try:
                self._call(
                    self._db.update_item,
                    TableName=self.table,
                    Key=META_KEY,
                    UpdateExpression="SET #a = :v",
                    ConditionExpression=f"attribute_not_exists(#a) OR #a {op} :v",
                    ExpressionAttributeNames={"#a": attr},
                    ExpressionAttributeValues={":v": {"S": value.strftime("%Y-%m-%d")}},
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise

    # -- upsert -----------------------------------------------------------------------------------

    def upsert(
        self,
        frame: pd.DataFrame,
        *,
        stamp: int = 0,
        owner: str | None = None,
        deadline: float | None = None,
        partition: int = 0,
        lock_wait_seconds: float = 240.0,
        chunk_buckets: int = 200,
        lease: WriterLease | None = None,
    ) -> UpsertStats:
        """Merge cleaned actuals into the year buckets, in upload order.

        Each (date, store, item) of ``frame`` replaces the stored day unless the stored day comes
        from a later upload (a larger stamp); days the frame has no row for are kept. So the
        result does not depend on the order uploads are merged in, and merging the same upload
        again (a retry completing a killed attempt's half-done merge) writes identical bytes.

        Buckets are merged in chunks, each read, merged, encoded and written by one task of the
        thread pool, so reads, writes and the client's own CPU work overlap and memory stays
        bounded by the chunk, not the file. ``frame`` must be validated (no duplicate keys, finite
        sales): see ``cleaning.read_table``.

        Args:
            frame: Cleaned actuals.
            stamp: The upload's :func:`~grocery_forecast.contract.runs.upload_stamp`. Defaults to 0:
                stamp-less merges replace each other in the order they run.
            owner: The writer lease's owner token (see :meth:`writer_lock`).
            deadline: Epoch second the invocation ends; the lease never outlives it.
            partition: The lease partition (0 today).
            lock_wait_seconds: How long to wait for another writer's lease. Defaults to 240.
            chunk_buckets: Buckets per merge task. Defaults to 200: a multiple of both the 100 keys
                of a BatchGetItem and the 25 items of a BatchWriteItem, so no call goes out part
                full (250 sent 1,200 BatchGetItem calls for 100,000 buckets instead of 1,000).
            lease: A writer lease of ``partition`` the caller already holds (:meth:`writer_lock`):
                merged under it, neither acquired nor released here. A sharded ingest's merge task
                merges its partition's sub-buckets one after another under one lease. Defaults to
                None: the lease is acquired for this call.
        """
        started = time.perf_counter()
        if frame.empty:
            return UpsertStats(0, 0, 0, 0, 0.0)
        dates = pd.to_datetime(frame["date"])
        years = dates.dt.year.to_numpy(dtype=np.int64)
        slots = dates.dt.day_of_year.to_numpy(dtype=np.int64) - 1
        sales = frame["unit_sales"].to_numpy(dtype=np.float32)
        promo = frame["onpromotion"].to_numpy(dtype=bool).astype(np.int8)
        stores = frame["store_nbr"].to_numpy(dtype=np.int64)
        item_nbrs = frame["item_nbr"].to_numpy(dtype=np.int64)
        # Rows grouped by bucket (store, item, year), buckets in key order: one lexsort, not a
        # MultiIndex factorize (a tenth of the time at 100,000 rows).
        order = np.lexsort((years, item_nbrs, stores))
        s_o, i_o, y_o = stores[order], item_nbrs[order], years[order]
        new_bucket = np.ones(len(order), dtype=bool)
        new_bucket[1:] = (s_o[1:] != s_o[:-1]) | (i_o[1:] != i_o[:-1]) | (y_o[1:] != y_o[:-1])
        firsts = np.flatnonzero(new_bucket)
        b_store, b_item, b_year = s_o[firsts], i_o[firsts], y_o[firsts]
        code_sorted = np.cumsum(new_bucket) - 1  # bucket of each row, in ``order``
        n_buckets = len(firsts)
        n_series = 1 + int(np.count_nonzero((b_store[1:] != b_store[:-1]) | (b_item[1:] != b_item[:-1])))
        bounds = np.searchsorted(code_sorted, np.arange(0, n_buckets + chunk_buckets, chunk_buckets))

        def merge_chunk(c: int, lease: WriterLease) -> tuple[int, int]:
            g0 = c * chunk_buckets
            g1 = min(g0 + chunk_buckets, n_buckets)
            # The keys are built here, per chunk, so their Python work overlaps other chunks' calls.
            chunk_keys = [
                {"series": {"S": series_key(s, i)}, "bucket": {"S": bucket_name(y)}}
                for s, i, y in zip(
                    b_store[g0:g1].tolist(), b_item[g0:g1].tolist(), b_year[g0:g1].tolist(), strict=True
                )
            ]
            rows = order[bounds[c] : bounds[c + 1]]
            at_row = code_sorted[bounds[c] : bounds[c + 1]] - g0
            new_sales = np.full((len(chunk_keys), SLOTS), np.nan, dtype=np.float32)
            new_promo = np.zeros((len(chunk_keys), SLOTS), dtype=np.int8)
            new_stamps = np.zeros((len(chunk_keys), SLOTS), dtype=np.int64)
            new_sales[at_row, slots[rows]] = sales[rows]
            new_promo[at_row, slots[rows]] = promo[rows]
            new_stamps[at_row, slots[rows]] = stamp
            existing = [
                it
                for part in range(0, len(chunk_keys), _GET_BATCH)
                for it in self._get_batch(chunk_keys[part : part + _GET_BATCH])
            ]
            # Buckets that do not exist yet (all of a new series') are written as built: only the
            # ones BatchGetItem returned are decoded and merged.
            if existing:
                local = {(k["series"]["S"], k["bucket"]["S"]): j for j, k in enumerate(chunk_keys)}
                at = np.fromiter(
                    (local[(it["series"]["S"], it["bucket"]["S"])] for it in existing),
                    dtype=np.int64,
                    count=len(existing),
                )
                old_sales, old_promo, old_stamps = _decode_many(existing, with_stamps=True)
                # A stored day stays unless this upload has a row for it and is not older.
                keep_old = np.isnan(new_sales[at]) | (old_stamps > stamp)
                new_sales[at] = np.where(keep_old, old_sales, new_sales[at])
                new_promo[at] = np.where(keep_old, old_promo, new_promo[at])
                new_stamps[at] = np.where(keep_old, old_stamps, new_stamps[at])
            data, days = _encode_many(new_sales, new_promo, new_stamps)
            items = [
                {**key, "data": {"B": blob}, "days": {"N": str(d)}}
                for key, blob, d in zip(chunk_keys, data, days, strict=True)
            ]
            written = 0
            for part in range(0, len(items), _WRITE_BATCH):
                # fencing: no BatchWriteItem call (retries included) outside a held lease
                written += self._write_batch(items[part : part + _WRITE_BATCH], guard=lease.guard)
            return written, len(existing)

        n_chunks = -(-n_buckets // chunk_buckets)
        if lease is not None and lease.partition != partition:
            raise ValueError(f"lease of partition {lease.partition} given to merge partition {partition}")
        held = (
            nullcontext(lease)
            if lease is not None
            else self.writer_lock(
                wait_seconds=lock_wait_seconds, owner=owner, deadline=deadline, partition=partition
            )
        )
        with held as holding:
            # Indexed before any bucket is written: a bucket is never on the table unindexed.
            self._index_series(b_store, b_item, b_year, guard=holding.guard)
            done = list(self._parallel(lambda c: merge_chunk(c, holding), list(range(n_chunks))))
            self._extend_dates(dates.min().normalize(), dates.max().normalize())
        return UpsertStats(
            rows=len(frame),
            series=n_series,
            buckets_written=sum(w for w, _ in done),
            buckets_existing=sum(e for _, e in done),
            seconds=time.perf_counter() - started,
        )

    # -- series index -----------------------------------------------------------------------------

    #: Items added to one index item per UpdateItem: a store-year's new items in one call (a
    #: Favorita store carries about 4,000; 5,000 numbers are a request of about 50 KB).
    _INDEX_ADD = 5000

    def _index_series(
        self,
        stores: np.ndarray,
        items: np.ndarray,
        years: np.ndarray,
        guard: Callable[[], None] | None = None,
    ) -> None:
        """Add the series of buckets ``(stores, items, years)`` to the series index (idempotent).

        The index items of the store-years are read first (BatchGetItem) and only the items they
        lack are added: an UpdateItem is charged for the whole item (a Favorita store-year is about
        28 KB), and a daily file mostly brings series the index holds already, so most days write
        nothing. The read may be stale (eventually consistent): sets only grow, so a stale read
        can cost a redundant ADD, never a missing one. An index item holds one store's items of
        one year, within DynamoDB's 400 KB item limit up to about 60,000 items per store.

        The first merge into an empty table marks the index complete (``series_index`` on
        ``__meta__``, set only while no date range is recorded, i.e. nothing has been merged).
        """
        self._mark_index_complete(only_if_empty=True, guard=guard)
        frame = pd.DataFrame({"year": years, "store": stores, "item": items}).drop_duplicates()
        wanted = {
            index_bucket(year, store): np.unique(group["item"].to_numpy(np.int64))
            for (year, store), group in frame.groupby(["year", "store"], sort=True)
        }
        held = {
            it["bucket"]["S"]: np.array(it["items"]["NS"], dtype=np.int64)
            for it in self.batch_get(
                [{"series": {"S": INDEX_SERIES}, "bucket": {"S": b}} for b in wanted],
                "items",
                consistent=False,
            )
            if "items" in it
        }
        calls = []
        for bucket, want in wanted.items():
            missing = np.setdiff1d(want, held.get(bucket, np.zeros(0, np.int64)), assume_unique=True)
            for a in range(0, len(missing), self._INDEX_ADD):
                calls.append((bucket, missing[a : a + self._INDEX_ADD]))

        def add(call: tuple[str, np.ndarray]) -> None:
            bucket, chunk = call
            self._call(
                self._db.update_item,
                guard,
                TableName=self.table,
                Key={"series": {"S": INDEX_SERIES}, "bucket": {"S": bucket}},
                UpdateExpression="ADD #i :i",
                ExpressionAttributeNames={"#i": "items"},
                ExpressionAttributeValues={":i": {"NS": [str(i) for i in chunk.tolist()]}},
            )

        list(self._parallel(add, calls))

    def _mark_index_complete(self, only_if_empty: bool, guard: Callable[[], None] | None = None) -> None:
        """Mark the series index complete on ``__meta__``; ``only_if_empty``: only while nothing has
        been merged (no date range recorded), i.e. for the first merge into an empty table."""
        condition = (
            {
                "ConditionExpression": "attribute_not_exists(#e)",
                "ExpressionAttributeNames": {"#x": "series_index", "#e": "earliest"},
            }
            if only_if_empty
            else {"ExpressionAttributeNames": {"#x": "series_index"}}
        )
        try:
            self._call(
                self._db.update_item,
                guard,
                TableName=self.table,
                Key=META_KEY,
                UpdateExpression="SET #x = :x",
                ExpressionAttributeValues={":x": {"S": "complete"}},
                **condition,
            )
        except Exception as exc:
            if not only_if_empty or error_code(exc) != "ConditionalCheckFailedException":
                raise

    def series_index_complete(self) -> bool:
        """Whether the series index names every series of the table (an empty table's does)."""
        meta = self._call(self._db.get_item, TableName=self.table, Key=META_KEY, ConsistentRead=True).get(
            "Item"
        )
        return not meta or "earliest" not in meta or "series_index" in meta

    def series_index(
        self, first_year: int, last_year: int, stores: tuple[int | None, int | None] = (None, None)
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Every series with a bucket in ``first_year..last_year``: ``(stores, items)`` sorted by
        (store, item); empty for an empty table, None when the index is not complete (a table
        written before it existed: see :meth:`build_series_index`).

        ``stores``: only the stores in ``[from, to]`` (None: open), one Query a year over their
        keys, so a shard of a sharded forecast reads its own stores' index items.
        """
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if not self.series_index_complete():
            return None
        low, high = stores
        stores_found: list[np.ndarray] = []
        items: list[np.ndarray] = []
        for year in range(int(first_year), int(last_year) + 1):
            for it in self._query_all(
                KeyConditionExpression="#s = :s AND #b BETWEEN :lo AND :hi",
                ExpressionAttributeNames={"#s": "series", "#b": "bucket"},
                ExpressionAttributeValues={
                    ":s": {"S": INDEX_SERIES},
                    ":lo": {"S": f"Y{year:04d}#" if low is None else index_bucket(year, low)},
                    # "~" sorts after every store number
                    ":hi": {"S": f"Y{year:04d}#~" if high is None else index_bucket(year, high)},
                },
            ):
                found = np.array(it["items"]["NS"], dtype=np.int64)
                items.append(found)
                stores_found.append(np.full(len(found), int(it["bucket"]["S"].split("#", 1)[1]), np.int64))
        if not items:
            return empty
        pairs = np.unique(np.column_stack([np.concatenate(stores_found), np.concatenate(items)]), axis=0)
        return pairs[:, 0], pairs[:, 1]

    def build_series_index(self, total_segments: int = 4) -> int:
        """Index every series of a table written before the series index existed; the series count.

        A keys-only parallel Scan of the whole table, once; uploads merging meanwhile index their
        own series as they go (a set union: order does not matter), so the index is marked
        complete only after every bucket the Scan saw is in it.
        """

        def keys(segment: int) -> list[tuple[str, str]]:
            pages = self._year_bucket_pages(
                segment,
                total_segments,
                ProjectionExpression="#s, #b",
                ExpressionAttributeNames={"#s": "series", "#b": "bucket"},
            )
            return [(it["series"]["S"], it["bucket"]["S"]) for page in pages for it in page]

        found = [k for part in self._parallel(keys, list(range(total_segments))) for k in part]
        if found:
            split = np.array([name.split("#", 1) for name, _ in found], dtype=np.int64).reshape(-1, 2)
            years = np.array([int(bucket[1:]) for _, bucket in found], dtype=np.int64)
            self._index_series(split[:, 0], split[:, 1], years)
        self._mark_index_complete(only_if_empty=False)
        return len({name for name, _ in found})

    # -- read -------------------------------------------------------------------------------------

    def _year_bucket_pages(self, segment: int, total_segments: int, **extra: Any) -> Iterator[list[dict]]:
        """The year buckets of one parallel-Scan segment, page by page: the table's own rows
        (``__meta__``, the ``__lock__`` leases, the ``__index__``) skipped."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total_segments,
            **extra,
        }
        while True:
            page = self._call(self._db.scan, **kwargs)
            yield [it for it in page.get("Items", []) if _is_year_bucket(it)]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_segment(self, segment: int, total_segments: int, first_year: int | None = None) -> YearBuckets:
        """Every year bucket in one parallel-Scan segment (from ``first_year`` on), decoded.

        Training reads the whole table; a parallel Scan lets ``total_segments`` workers (a Map
        state's iterations) each read a disjoint share, so no single function reads it all.
        Only year buckets (``Y####`` of a ``store#item`` series) are kept: the ``__meta__ / dates``
        row and every writer lease (``__lock__ / writer-NNNN``, one per partition, present while a
        merge runs or until a dead writer's lease expires) are skipped. Buckets of either format
        are decoded as every other read decodes them (:func:`_decode_many`: format 1 = no stamps);
        the upload stamps are not returned, training needs only the values.
        """
        if not 0 <= segment < total_segments:
            raise ValueError(f"segment must be within 0..{total_segments - 1}, got {segment}")
        series: list[str] = []
        years: list[int] = []
        sales: list[np.ndarray] = [np.zeros((0, SLOTS), np.float32)]
        promo: list[np.ndarray] = [np.zeros((0, SLOTS), np.int8)]
        for page in self._year_bucket_pages(segment, total_segments):
            kept = [it for it in page if first_year is None or int(it["bucket"]["S"][1:]) >= first_year]
            # Decoded page by page: a format-2 item decompresses to 4.8 KB of which training keeps
            # 1.8 KB, so the segment is never held decompressed whole.
            page_sales, page_promo = _decode_many(kept)
            sales.append(page_sales)
            promo.append(page_promo)
            series.extend(it["series"]["S"] for it in kept)
            years.extend(int(it["bucket"]["S"][1:]) for it in kept)
        return YearBuckets(
            np.array(series, dtype=object),
            np.array(years, dtype=np.int32),
            np.concatenate(sales),
            np.concatenate(promo),
        )

    def read_panel(
        self,
        stores: Sequence[int] | np.ndarray,
        items: Sequence[int] | np.ndarray,
        first: pd.Timestamp | str,
        last: pd.Timestamp | str,
    ) -> SalesPanel:
        """History of the given series over ``[first, last]``, one row per distinct series asked.

        Series with no stored history come back as all-NaN rows, so callers can still index them.
        """
        first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
        if last < first:
            raise ValueError(f"empty window: {first.date()} .. {last.date()}")
        pairs = pd.MultiIndex.from_arrays(
            [np.asarray(stores, dtype=np.int64), np.asarray(items, dtype=np.int64)]
        ).unique()
        pairs = pairs.sort_values()
        s_arr = pairs.get_level_values(0).to_numpy()
        i_arr = pairs.get_level_values(1).to_numpy()
        n_days = (last - first).days + 1
        # Per year of the window: its day-of-year slots and the window's columns they land in.
        spans: dict[int, tuple[int, int, int]] = {}
        for year in range(first.year, last.year + 1):
            a = max(first, pd.Timestamp(year=year, month=1, day=1))
            b = min(last, pd.Timestamp(year=year, month=12, day=31))
            spans[year] = (a.day_of_year - 1, b.day_of_year, (a - first).days)  # slot from, slot to, column
        sales = np.full((len(s_arr), n_days), np.nan, dtype=np.float32)
        promo = np.zeros((len(s_arr), n_days), dtype=np.int8)
        per_call = max(1, _GET_BATCH // len(spans))  # series per BatchGetItem: one key per year each

        def fetch(first_row: int) -> None:
            # The keys are built per call and each call's items decoded into the window as they arrive
            # and dropped: memory holds the window's days, not whole years of every series, the raw
            # responses or a key per series and year.
            rows_asked = range(first_row, min(first_row + per_call, len(s_arr)))
            row_of = {series_key(s_arr[r], i_arr[r]): r for r in rows_asked}
            found = self._get_batch(
                [{"series": {"S": name}, "bucket": {"S": bucket_name(y)}} for name in row_of for y in spans]
            )
            if not found:
                return
            got_sales, got_promo = _decode_many(found)
            rows = np.fromiter((row_of[it["series"]["S"]] for it in found), dtype=np.int64, count=len(found))
            years = np.fromiter(
                (int(it["bucket"]["S"][1:]) for it in found), dtype=np.int64, count=len(found)
            )
            for year, (lo, hi, col) in spans.items():
                at = np.flatnonzero(years == year)
                if at.size:
                    sales[rows[at], col : col + hi - lo] = got_sales[at, lo:hi]
                    promo[rows[at], col : col + hi - lo] = got_promo[at, lo:hi]

        for _ in self._parallel(fetch, list(range(0, len(s_arr), per_call))):
            pass
        return SalesPanel(first, s_arr.astype(np.int32), i_arr.astype(np.int64), sales, promo)


def panel_from_buckets(
    buckets: YearBuckets, first: pd.Timestamp | str, last: pd.Timestamp | str
) -> SalesPanel:
    """Lay decoded year buckets out as a :class:`SalesPanel` over ``[first, last]``.

    One row per series that has a bucket in the window's years, sorted by (store, item) as
    :meth:`DynamoHistoryStore.read_panel` sorts them, so a panel read by Scan and one read by
    BatchGetItem are the same arrays.
    """
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    year_list = list(range(first.year, last.year + 1))
    inside = (buckets.years >= year_list[0]) & (buckets.years <= year_list[-1])
    names = buckets.series[inside]
    if len(names) == 0:
        return SalesPanel.empty(first, (last - first).days + 1)
    split = np.array([name.split("#", 1) for name in names], dtype=np.int64).reshape(-1, 2)
    pairs = pd.MultiIndex.from_arrays([split[:, 0], split[:, 1]])
    codes, uniques = pd.factorize(pairs, sort=True)
    n = len(uniques)
    block = np.full((n, len(year_list), SLOTS), np.nan, dtype=np.float32)
    pblock = np.zeros((n, len(year_list), SLOTS), dtype=np.int8)
    y = buckets.years[inside] - year_list[0]
    block[codes, y] = buckets.sales[inside]
    pblock[codes, y] = buckets.promo[inside]
    day_cols = [
        j * SLOTS + d
        for j, year in enumerate(year_list)
        for d in range(366 if pd.Timestamp(year=year, month=12, day=31).day_of_year == 366 else 365)
    ]
    sales = block.reshape(n, -1)[:, day_cols]
    promo = pblock.reshape(n, -1)[:, day_cols]
    year_start = pd.Timestamp(year=year_list[0], month=1, day=1)
    panel = SalesPanel(
        year_start,
        np.asarray(uniques.get_level_values(0), dtype=np.int32),
        np.asarray(uniques.get_level_values(1), dtype=np.int64),
        sales,
        promo,
    )
    return panel.window(first, last)
