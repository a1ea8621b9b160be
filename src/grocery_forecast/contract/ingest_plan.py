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
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np

from grocery_forecast.contract.bounds import MAX_LINE_BYTES

__all__ = [
    "MAX_PARTITIONS",
    "MAX_SHARDED_BYTES",
    "LineRange",
    "plan_ranges",
    "range_to_read",
    "series_partition",
]

#: Decompressed size of the largest actuals upload the sharded ingest takes: Kaggle's whole
#: train.csv (125 M rows) is 4.7 GB; beyond this the file is rejected with "split the file".
MAX_SHARDED_BYTES = 8 * 1024**3
#: Partitions of the series (leases writer-0000 .. writer-NNNN).
MAX_PARTITIONS = 1024


def series_partition(stores: Any, items: Any, partitions: int) -> np.ndarray:
    """The partition (0 .. ``partitions`` - 1) of each (store, item), stable across processes.

    A multiplicative hash of the two numbers in 64-bit unsigned arithmetic (wrapping), not
    Python's ``hash`` (salted per process): a shard task and a merge task in different containers
    must place a series in the same partition.
    """
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be 1..{MAX_PARTITIONS}, not {partitions}")
    s = np.asarray(stores, dtype=np.int64).astype(np.uint64)
    i = np.asarray(items, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = (s * np.uint64(0x9E3779B97F4A7C15)) ^ (i * np.uint64(0xC2B2AE3D27D4EB4F))
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(32)
    return (mixed % np.uint64(partitions)).astype(np.int64)


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
