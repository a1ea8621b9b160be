"""Sales history in DynamoDB, compact enough that a forecast needs one read per series.

Layout of the history table (partition key ``series`` = ``"store#item"``, sort key ``bucket``):

* ``Y2017``: one item per series and calendar year. Attribute ``data`` holds 366 day-of-year
  slots of sales (little-endian float32, NaN = no row that day) followed by 366 promotion flags
  (int8), zlib-compressed: 1.8 KB raw, typically 0.3-0.7 KB stored, because the emulator's and
  DynamoDB's cost grows with item size. A 16-day forecast with a 16-week lookback reads one item
  per series (two early in the year) through BatchGetItem, instead of a Query or ~100 GetItems.
* ``__meta__ / dates``: earliest and latest date ever stored, so a forecast request can be
  anchored to the end of history.
* ``__lock__ / writer``: a lease held while a file's rows are merged into year buckets. Merging
  is read-modify-write; the lease keeps two uploads landing at once from overwriting each
  other's days (BatchWriteItem cannot be conditional).

Upserting is idempotent: a day's values are overwritten by the newest upload that contains it,
and uploading the same file twice writes identical bytes.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws.clients import error_code
from grocery_forecast.contract.schema import series_key
from grocery_forecast.forecasting.panel import SalesPanel

__all__ = [
    "DynamoHistoryStore",
    "HistoryLockTimeout",
    "UpsertStats",
    "YearBuckets",
    "decode_bucket",
    "encode_bucket",
    "panel_from_buckets",
]

log = logging.getLogger(__name__)

SLOTS = 366
META_KEY = {"series": {"S": "__meta__"}, "bucket": {"S": "dates"}}
LOCK_KEY = {"series": {"S": "__lock__"}, "bucket": {"S": "writer"}}
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


@dataclass(frozen=True)
class UpsertStats:
    rows: int
    series: int
    buckets_written: int
    buckets_existing: int
    seconds: float


def bucket_name(year: int) -> str:
    return f"Y{year:04d}"


def encode_bucket(sales: np.ndarray, promo: np.ndarray) -> dict[str, dict[str, Any]]:
    """Attribute values for one year bucket (without its key)."""
    raw = (
        np.ascontiguousarray(sales, dtype="<f4").tobytes()
        + np.ascontiguousarray(promo, dtype=np.int8).tobytes()
    )
    return {
        "data": {"B": zlib.compress(raw, 1)},
        "days": {"N": str(int(np.count_nonzero(~np.isnan(sales))))},
    }


def _raw(item: dict[str, dict[str, Any]]) -> bytes:
    raw = zlib.decompress(item["data"]["B"])
    if len(raw) != SLOTS * 5:
        raise ValueError(
            f"corrupt history bucket {item.get('series')}/{item.get('bucket')}: "
            f"{len(raw)} bytes, expected {SLOTS * 5}"
        )
    return raw


def _decode_many(items: list[dict[str, dict[str, Any]]]) -> tuple[np.ndarray, np.ndarray]:
    """``(sales float32[n, 366], promo int8[n, 366])`` of stored year buckets."""
    if not items:
        return np.zeros((0, SLOTS), np.float32), np.zeros((0, SLOTS), np.int8)
    block = np.frombuffer(b"".join(_raw(it) for it in items), dtype=np.uint8).reshape(len(items), SLOTS * 5)
    sales = block[:, : SLOTS * 4].copy().view("<f4").astype(np.float32)
    return sales, block[:, SLOTS * 4 :].view(np.int8).copy()


def decode_bucket(item: dict[str, dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(sales float32[366], promo int8[366])`` of one stored year bucket."""
    sales, promo = _decode_many([item])
    return sales[0], promo[0]


def _is_retryable(exc: Exception) -> bool:
    return error_code(exc) in _RETRYABLE


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
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        max_workers: int = 8,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self.table = table
        self.max_workers = max_workers
        self.max_attempts = max_attempts
        self._sleep = sleep

    # -- low-level batches -----------------------------------------------------------------------

    def _call(self, op: Callable[..., dict], **kwargs: Any) -> dict:
        """One API call, retried on throttling with jittered backoff."""
        for attempt in range(self.max_attempts):
            try:
                return op(**kwargs)
            except Exception as exc:
                if not _is_retryable(exc) or attempt == self.max_attempts - 1:
                    raise
                self._sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _get_batch(self, keys: list[dict]) -> list[dict]:
        found: list[dict] = []
        # Only what decoding needs: at 100,000 items, parsing responses is most of the client's CPU.
        request: dict[str, Any] = {
            self.table: {
                "Keys": keys,
                "ConsistentRead": True,
                "ProjectionExpression": "#s, #b, #d",
                "ExpressionAttributeNames": {"#s": "series", "#b": "bucket", "#d": "data"},
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

    def _write_batch(self, items: list[dict]) -> int:
        request = {self.table: [{"PutRequest": {"Item": it}} for it in items]}
        for attempt in range(self.max_attempts):
            resp = self._call(self._db.batch_write_item, RequestItems=request)
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

    def batch_get(self, keys: list[dict]) -> list[dict]:
        """Every existing item of ``keys`` (any order), 100 keys per call, concurrently."""
        chunks = [keys[i : i + _GET_BATCH] for i in range(0, len(keys), _GET_BATCH)]
        out: list[dict] = []
        for part in self._parallel(self._get_batch, chunks):
            out.extend(part)
        return out

    def batch_put(self, items: list[dict]) -> int:
        """Write ``items``, 25 per call, concurrently; unprocessed items are retried."""
        chunks = [items[i : i + _WRITE_BATCH] for i in range(0, len(items), _WRITE_BATCH)]
        return sum(self._parallel(self._write_batch, chunks))

    # -- the writer lease -------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self, wait_seconds: float = 240.0, lease_seconds: float = 960.0) -> Iterator[str]:
        """Hold the table's writer lease while merging; waits for other writers up to ``wait_seconds``.

        The lease expires by itself after ``lease_seconds`` (longer than any Lambda timeout), so a
        writer that died mid-merge cannot block the table forever.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        attempt = 0
        while True:
            now = time.time()
            try:
                self._call(
                    self._db.put_item,
                    TableName=self.table,
                    Item={**LOCK_KEY, "owner": {"S": owner}, "expires": {"N": f"{now + lease_seconds:.3f}"}},
                    ConditionExpression="attribute_not_exists(#o) OR #e < :now",
                    ExpressionAttributeNames={"#o": "owner", "#e": "expires"},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
                )
                break
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                if time.monotonic() > deadline:
                    raise HistoryLockTimeout(
                        f"{self.table}: another upload held the history writer lease for over "
                        f"{wait_seconds:.0f}s; this upload will be retried"
                    ) from None
                self._sleep(min(2.0, 0.1 * 2 ** min(attempt, 4)) * random.uniform(0.5, 1.5))
                attempt += 1
        try:
            yield owner
        finally:
            try:
                self._db.delete_item(
                    TableName=self.table,
                    Key=LOCK_KEY,
                    ConditionExpression="#o = :me",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":me": {"S": owner}},
                )
            except Exception as exc:  # the lease expired and someone else holds it now
                log.warning("history writer lease was lost before release: %s", exc)

    # -- dates ------------------------------------------------------------------------------------

    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(earliest, latest) date ever stored, or None for an empty history."""
        resp = self._call(self._db.get_item, TableName=self.table, Key=META_KEY, ConsistentRead=True)
        item = resp.get("Item")
        if not item:
            return None
        return pd.Timestamp(item["earliest"]["S"]), pd.Timestamp(item["latest"]["S"])

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
        self, frame: pd.DataFrame, *, lock_wait_seconds: float = 240.0, chunk_buckets: int = 250
    ) -> UpsertStats:
        """Merge cleaned actuals into the year buckets; each (date, store, item) overwrites its slot.

        Buckets are merged in chunks, each read, merged, encoded and written by one task of the
        thread pool, so reads, writes and the client's own CPU work overlap and memory stays
        bounded by the chunk, not the file. ``frame`` must be validated (no duplicate keys, finite
        sales): see ``cleaning.read_table``.
        """
        started = time.perf_counter()
        if frame.empty:
            return UpsertStats(0, 0, 0, 0, 0.0)
        dates = pd.to_datetime(frame["date"])
        years = dates.dt.year.to_numpy(dtype=np.int64)
        slots = dates.dt.day_of_year.to_numpy(dtype=np.int64) - 1
        sales = frame["unit_sales"].to_numpy(dtype=np.float32)
        promo = frame["onpromotion"].to_numpy(dtype=bool).astype(np.int8)
        groups = pd.MultiIndex.from_arrays(
            [frame["store_nbr"].to_numpy(dtype=np.int64), frame["item_nbr"].to_numpy(dtype=np.int64), years]
        )
        codes, uniques = pd.factorize(groups, sort=True)
        names = [
            series_key(s, i)
            for s, i in zip(uniques.get_level_values(0), uniques.get_level_values(1), strict=True)
        ]
        keys = [
            {"series": {"S": k}, "bucket": {"S": bucket_name(int(y))}}
            for k, y in zip(names, uniques.get_level_values(2), strict=True)
        ]
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(0, len(keys) + chunk_buckets, chunk_buckets))

        def merge_chunk(c: int) -> tuple[int, int]:
            g0 = c * chunk_buckets
            chunk_keys = keys[g0 : g0 + chunk_buckets]
            rows = order[bounds[c] : bounds[c + 1]]
            new_sales = np.full((len(chunk_keys), SLOTS), np.nan, dtype=np.float32)
            new_promo = np.zeros((len(chunk_keys), SLOTS), dtype=np.int8)
            new_sales[codes[rows] - g0, slots[rows]] = sales[rows]
            new_promo[codes[rows] - g0, slots[rows]] = promo[rows]
            existing = [
                it
                for part in range(0, len(chunk_keys), _GET_BATCH)
                for it in self._get_batch(chunk_keys[part : part + _GET_BATCH])
            ]
            if existing:
                local = {(k["series"]["S"], k["bucket"]["S"]): j for j, k in enumerate(chunk_keys)}
                at = np.fromiter(
                    (local[(it["series"]["S"], it["bucket"]["S"])] for it in existing),
                    dtype=np.int64,
                    count=len(existing),
                )
                old_sales, old_promo = _decode_many(existing)
                keep_old = np.isnan(new_sales[at])
                new_sales[at] = np.where(keep_old, old_sales, new_sales[at])
                new_promo[at] = np.where(keep_old, old_promo, new_promo[at])
            items = [{**key, **encode_bucket(new_sales[j], new_promo[j])} for j, key in enumerate(chunk_keys)]
            written = sum(
                self._write_batch(items[part : part + _WRITE_BATCH])
                for part in range(0, len(items), _WRITE_BATCH)
            )
            return written, len(existing)

        n_chunks = -(-len(keys) // chunk_buckets)
        with self.writer_lock(wait_seconds=lock_wait_seconds):
            done = list(self._parallel(merge_chunk, list(range(n_chunks))))
            self._extend_dates(dates.min().normalize(), dates.max().normalize())
        return UpsertStats(
            rows=len(frame),
            series=len(set(names)),
            buckets_written=sum(w for w, _ in done),
            buckets_existing=sum(e for _, e in done),
            seconds=time.perf_counter() - started,
        )

    # -- read -------------------------------------------------------------------------------------

    def scan_segment(self, segment: int, total_segments: int, first_year: int | None = None) -> YearBuckets:
        """Every year bucket in one parallel-Scan segment (from ``first_year`` on), decoded.

        Training reads the whole table; a parallel Scan lets ``total_segments`` workers (a Map
        state's iterations) each read a disjoint share, so no single function reads it all.
        The ``__meta__`` and ``__lock__`` rows are skipped.
        """
        if not 0 <= segment < total_segments:
            raise ValueError(f"segment must be within 0..{total_segments - 1}, got {segment}")
        kept: list[dict] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total_segments,
        }
        while True:
            page = self._call(self._db.scan, **kwargs)
            for item in page.get("Items", []):
                bucket = item["bucket"]["S"]
                if not bucket.startswith("Y") or not bucket[1:].isdigit():
                    continue  # __meta__/dates, __lock__/writer
                if first_year is not None and int(bucket[1:]) < first_year:
                    continue
                kept.append(item)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        sales, promo = _decode_many(kept)
        return YearBuckets(
            np.array([it["series"]["S"] for it in kept], dtype=object),
            np.array([int(it["bucket"]["S"][1:]) for it in kept], dtype=np.int32),
            sales,
            promo,
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
        pairs = pd.MultiIndex.from_arrays(
            [np.asarray(stores, dtype=np.int64), np.asarray(items, dtype=np.int64)]
        ).unique()
        pairs = pairs.sort_values()
        s_arr = pairs.get_level_values(0).to_numpy()
        i_arr = pairs.get_level_values(1).to_numpy()
        year_list = list(range(first.year, last.year + 1))
        names = [series_key(s, i) for s, i in zip(s_arr, i_arr, strict=True)]
        row_of = {name: r for r, name in enumerate(names)}
        keys = [{"series": {"S": name}, "bucket": {"S": bucket_name(y)}} for name in names for y in year_list]
        year_start = pd.Timestamp(year=year_list[0], month=1, day=1)
        # One block of 366 slots per year, laid out on the real calendar afterwards.
        block = np.full((len(names), len(year_list), SLOTS), np.nan, dtype=np.float32)
        pblock = np.zeros((len(names), len(year_list), SLOTS), dtype=np.int8)
        found = self.batch_get(keys)
        if found:
            r = np.fromiter((row_of[it["series"]["S"]] for it in found), dtype=np.int64, count=len(found))
            y = np.fromiter(
                (int(it["bucket"]["S"][1:]) - year_list[0] for it in found), dtype=np.int64, count=len(found)
            )
            block[r, y], pblock[r, y] = _decode_many(found)
        # Drop slot 366 of non-leap years so columns are consecutive calendar days.
        day_cols = [
            j * SLOTS + d
            for j, year in enumerate(year_list)
            for d in range(366 if pd.Timestamp(year=year, month=12, day=31).day_of_year == 366 else 365)
        ]
        sales = block.reshape(len(names), -1)[:, day_cols]
        promo = pblock.reshape(len(names), -1)[:, day_cols]
        panel = SalesPanel(year_start, s_arr.astype(np.int32), i_arr.astype(np.int64), sales, promo)
        return panel.window(first, last)


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
