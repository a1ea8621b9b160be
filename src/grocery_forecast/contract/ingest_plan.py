"""Cutting an actuals upload too large for one invocation into shards, and series into partitions.

Pure functions of bytes and numbers (no AWS), shared by the ETL's planning step, its shard tasks
and the single path, so the sharded ingest and the single path agree on two things:

* **Which lines a shard owns.** A plain CSV is cut into byte ranges ``[start, end)``; a shard owns
  every line whose first byte lies in its range. It reads from ``start - 1`` (to see whether a line
  starts exactly at ``start``) up to ``end + MAX_LINE_BYTES`` (the longest line the contract
  accepts may start just before ``end``), drops the partial line it begins in and stops after the
  line that holds byte ``end - 1``. Ranges need no look-ahead at planning time, so the plan is a
  few integers per shard whatever the file's size, and every line is read by exactly one shard
  (:class:`LineRange`).
* **Which partition a series belongs to** (:func:`series_partition`): a fixed arithmetic hash of
  (store, item), so every process, Python version and the single path place a series alike. Each
  partition has its own history writer lease (``__lock__ / writer-NNNN``), so partitions of one
  upload merge side by side and two writers never read-modify-write the same series at once.
* **Which sub-bucket of its partition a series belongs to** (:func:`series_subbucket`, a second
  fixed hash). A partition's check and merge hold its rows from every shard at once; a bigger file
  or fewer partitions would take that past the function's memory. The plan, which knows the file's
  size, gives each partition enough sub-buckets (:func:`plan_buckets`) that none holds more than
  ``bucket_rows`` rows even if every line were as short as the contract allows, and the tasks take
  one sub-bucket at a time. All rows of a series share one sub-bucket, so duplicate days are still
  found exactly, and the sub-buckets of a partition share its one writer lease.
* **How large a ``.csv.gz`` is once decompressed** (:func:`gzip_plain_size`), from its trailer,
  so a file the planning invocation could not split before its timeout is refused up front.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np

from grocery_forecast.contract.bounds import MAX_LINE_BYTES

__all__ = [
    "DEFAULT_MEMORY_MB",
    "MAX_BUCKETS",
    "MAX_PARTITIONS",
    "MAX_SHARDED_BYTES",
    "MIN_ACTUALS_ROW_BYTES",
    "LineRange",
    "bucket_rows_for_memory",
    "gzip_plain_size",
    "plan_buckets",
    "plan_ranges",
    "range_to_read",
    "series_partition",
    "series_subbucket",
]

#: Decompressed size of the largest actuals upload the sharded ingest takes: Kaggle's whole
#: train.csv (125 M rows) is 4.7 GB; beyond this the file is rejected with "split the file".
MAX_SHARDED_BYTES = 8 * 1024**3
#: Partitions of the series (leases writer-0000 .. writer-NNNN).
MAX_PARTITIONS = 1024
#: Sub-buckets of one partition (a partition's check and merge take them one at a time).
MAX_BUCKETS = 4096
#: The shortest data line of an actuals file the contract accepts: ``2017-08-15,1,1,0,`` and its
#: newline (dates are ``YYYY-MM-DD``, every column present, ``onpromotion`` may be empty). So a
#: file of B bytes holds at most B / 18 rows, whatever its content: the plan's row bound.
MIN_ACTUALS_ROW_BYTES = 18
#: Memory size assumed when the function's own is unknown (the ETL function's default).
DEFAULT_MEMORY_MB = 2048
#: What a partition task holds per row of the sub-bucket it works on, at its peak, with a margin:
#: about 100 bytes traced by Python (the shards' frames, their concatenation, the duplicate test:
#: ``test_the_check_tasks_memory_stays_flat_as_the_file_grows_at_a_fixed_row_limit``) and 140-150
#: bytes resident on the emulator (the year bench before sub-buckets: a check of 5.8 M rows peaked
#: at 965 MB, a merge at 941 MB).
_TASK_BYTES_PER_ROW = 200
#: What a partition task holds besides its rows: the interpreter, pandas, numpy, boto3 (about
#: 120 MB resident on the emulator), S3 buffers and the history merge's chunks in flight.
_TASK_BASE_MB = 400
#: Hash fill: a sub-bucket is planned for this share of ``bucket_rows``, leaving the rest for the
#: unevenness of the hash (series of unequal length, an uneven draw of series).
_BUCKET_FILL = 0.8


def _mix(stores: Any, items: Any, a: int, b: int, c: int) -> np.ndarray:
    """A 64-bit mix of (store, item) with the constants ``a``, ``b``, ``c`` (wrapping arithmetic)."""
    s = np.asarray(stores, dtype=np.int64).astype(np.uint64)
    i = np.asarray(items, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = (s * np.uint64(a)) ^ (i * np.uint64(b))
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(c)
        mixed ^= mixed >> np.uint64(32)
    return mixed


def series_partition(stores: Any, items: Any, partitions: int) -> np.ndarray:
    """The partition (0 .. ``partitions`` - 1) of each (store, item), stable across processes.

    A multiplicative hash of the two numbers in 64-bit unsigned arithmetic (wrapping), not
    Python's ``hash`` (salted per process): a shard task and a merge task in different containers
    must place a series in the same partition.
    """
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be 1..{MAX_PARTITIONS}, not {partitions}")
    mixed = _mix(stores, items, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0xBF58476D1CE4E5B9)
    return (mixed % np.uint64(partitions)).astype(np.int64)


def series_subbucket(stores: Any, items: Any, buckets: int) -> np.ndarray:
    """The sub-bucket (0 .. ``buckets`` - 1) of each (store, item) within its partition, stable
    across processes.

    A second mix with other constants than :func:`series_partition`'s, so the series of one
    partition spread evenly over its sub-buckets (the first hash's residue would put them all in a
    few when ``buckets`` and the partition count share factors). A series is in exactly one.
    """
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1..{MAX_BUCKETS}, not {buckets}")
    mixed = _mix(stores, items, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0x94D049BB133111EB)
    return (mixed % np.uint64(buckets)).astype(np.int64)


def bucket_rows_for_memory(memory_mb: int) -> int:
    """Rows a partition task may hold at once in a function of ``memory_mb`` MB: what fits in 80% of
    it (the limit the benches and e2e tests hold every invocation to) after the task's base.

    2,048 MB (the ETL's default) gives 6.1 M rows (a peak of about 1.2 GB); below about 525 MB,
    the floor of 100,000.
    """
    usable = 0.8 * memory_mb - _TASK_BASE_MB
    return max(100_000, int(usable * 1e6 / _TASK_BYTES_PER_ROW) // 100_000 * 100_000)


def plan_buckets(plain_bytes: int, partitions: int, bucket_rows: int) -> int:
    """Sub-buckets per partition so that none holds more than ``bucket_rows`` rows.

    The rows are bounded by the decompressed size over :data:`MIN_ACTUALS_ROW_BYTES` (no read is
    needed, and no file can have more), split over ``partitions`` and filled to
    ``_BUCKET_FILL`` of ``bucket_rows`` to leave room for the hash's unevenness. Favorita's lines
    are about 40 bytes, so a Favorita file gets about twice the sub-buckets it needs: a few more
    small S3 objects, never an invocation over its memory.
    """
    if bucket_rows < 1:
        raise ValueError(f"bucket_rows must be >= 1, got {bucket_rows}")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be 1..{MAX_PARTITIONS}, not {partitions}")
    rows = -(-max(0, plain_bytes) // MIN_ACTUALS_ROW_BYTES)
    per_partition = -(-rows // partitions)
    need = -(-per_partition // max(1, int(bucket_rows * _BUCKET_FILL)))
    return int(min(MAX_BUCKETS, max(1, need)))


def gzip_plain_size(compressed_bytes: int, trailer: bytes) -> int:
    """The decompressed size of a gzip file of ``compressed_bytes`` bytes whose last 4 bytes are
    ``trailer`` (ISIZE: the size modulo 2**32, little-endian, RFC 1952).

    ISIZE wraps every 4 GiB, so the size is ISIZE + k * 2**32 for some k; deflate never shrinks
    data it cannot compress by more than its block headers, so the size is at least about the
    compressed size: this returns the smallest such value, exact for a file under 4 GiB
    decompressed and for one of up to 4 GiB more than its compressed size (CSV compresses 4-10
    times: a compressed file under about 450 MB). Beyond that it under-states the size by a
    multiple of 4 GiB. A file of several gzip members (``cat a.gz b.gz``) has the last member's
    ISIZE only, which can state it either way: the caller must not take it for more than an
    estimate (the split checks its own deadline as it goes).
    """
    if len(trailer) != 4:
        raise ValueError(f"the gzip trailer's ISIZE is 4 bytes, got {len(trailer)}")
    isize = int.from_bytes(trailer, "little")
    # stored blocks add 5 bytes per 65,535; the gzip header and trailer at least 18
    floor = max(0, compressed_bytes - 18 - 5 * (compressed_bytes // 65_535 + 1))
    if isize >= floor:
        return isize
    return isize + -(-(floor - isize) // 2**32) * 2**32


def plan_ranges(data_start: int, size: int, shard_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of about ``shard_bytes`` each covering ``data_start .. size``.

    ``data_start`` is the offset just after the header line's newline, so no shard owns the header.
    The ranges are not aligned to lines: :class:`LineRange` gives each line to the shard its first
    byte falls in, which needs no read at planning time.
    """
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be >= 1, got {shard_bytes}")
    if not 0 <= data_start <= size:
        raise ValueError(f"data_start {data_start} outside the object (size {size})")
    body = size - data_start
    if body == 0:
        return [(data_start, size)]
    count = -(-body // shard_bytes)
    edges = [data_start + (body * k) // count for k in range(count + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def range_to_read(start: int, end: int, size: int) -> tuple[int, int]:
    """The inclusive byte range to GET for the shard ``[start, end)`` of an object of ``size``
    bytes: one byte before it (is a line starting at ``start``?) to one line past it."""
    first = max(start - 1, 0)
    last = min(end + MAX_LINE_BYTES + 1, size) - 1
    return first, max(first, last)


class LineRange(io.RawIOBase):
    """The lines a shard ``[start, end)`` owns, from a stream that begins at byte ``read_from``.

    Drops the bytes before the first line that starts at or after ``start`` (nothing when
    ``start`` is 0) and stops after the line holding byte ``end - 1``; counts the newlines it
    passes on (``lines``) so the shards' line numbers can be made file-wide. ``\\r\\n`` line
    ends split like ``\\n`` ones (the ``\\r`` stays with its line).
    """

    def __init__(self, raw: Any, read_from: int, start: int, end: int, block: int = 1 << 20) -> None:
        if not read_from <= start <= end:
            raise ValueError(f"need read_from <= start <= end, got {read_from}, {start}, {end}")
        self._raw = raw
        self._pos = read_from  # absolute offset of the next byte of raw
        self._start, self._end = start, end
        self._block = block
        self._skipping = start > 0
        self._done = start >= end
        self._pending = b""
        #: Newlines passed on so far (complete lines this shard owns).
        self.lines = 0

    def readable(self) -> bool:
        return True

    def _next_block(self) -> bytes:
        data = self._raw.read(self._block)
        return bytes(data) if data else b""

    def _fill(self) -> None:
        while not self._pending and not self._done:
            data = self._next_block()
            if not data:
                self._done = True
                return
            begin = self._pos
            self._pos += len(data)
            if self._skipping:
                # A line starts after the first newline at or after byte start - 1.
                skip_from = max(0, self._start - 1 - begin)
                nl = data.find(b"\n", skip_from)
                if nl < 0:
                    continue
                self._skipping = False
                data, begin = data[nl + 1 :], begin + nl + 1
                if begin >= self._end:
                    self._done = True
                    return
            # Stop after the newline at or after byte end - 1: the next line starts at >= end.
            stop_from = max(0, self._end - 1 - begin)
            if stop_from < len(data):
                nl = data.find(b"\n", stop_from)
                if nl >= 0:
                    data = data[: nl + 1]
                    self._done = True
            self.lines += data.count(b"\n")
            self._pending = data

    def readinto(self, buffer: Any) -> int:
        self._fill()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> int:
        """Read what is left without keeping it; returns :attr:`lines` (all the shard's lines)."""
        self._pending = b""
        while not self._done:
            self._fill()
            self._pending = b""
        return self.lines

    def close(self) -> None:
        try:
            close = getattr(self._raw, "close", None)
            if close is not None:
                close()
        finally:
            super().close()
