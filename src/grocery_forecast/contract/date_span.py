"""Where a date range lies inside a date-sorted CSV, found by bisection on byte offsets.

Kaggle's train.csv holds 125 million rows sorted by date. Training on 2017 only needs its last
23 million: scanning the rest just to filter it out costs minutes of parsing. When the file is
plain (not gzipped) and sorted by date, bisection finds the first and last lines of the range in
a few dozen reads, and the reader starts there.

Sortedness is checked at evenly spaced points through the whole file before it is relied on; a
file that is not sorted at those points (or is gzipped, or has no date column) gets ``None`` and
is scanned in full by the caller, which is always correct, only slower.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO

__all__ = ["ByteSpan", "SpanReader", "find_date_span"]

_ISO_DATE = re.compile(rb"^\d{4}-\d{2}-\d{2}$")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ByteSpan:
    """The lines to read: ``header`` then bytes ``start``..``end`` of the file.

    Attributes:
        header: The header line, as in the file (BOM included, if any).
        start: Offset of the first line in range.
        end: Offset just past the last line in range.
        first_line: 1-based line number of the line at ``start`` (for error messages).
    """

    header: bytes
    start: int
    end: int
    first_line: int


class _Lines:
    """Random access to the lines of a binary file: the first complete line at or after an offset."""

    def __init__(self, fh: IO[bytes], data_start: int, size: int, date_column: int) -> None:
        self.fh, self.data_start, self.size, self.column = fh, data_start, size, date_column

    def at(self, pos: int) -> tuple[int, bytes | None]:
        """(offset of the first line starting at or after ``pos``, its date); date None at EOF.

        Raises:
            ValueError: The line has no ISO date in the date column.
        """
        if pos <= self.data_start:
            start = self.data_start
            self.fh.seek(start)
        else:
            self.fh.seek(pos - 1)
            self.fh.readline()  # the rest of the line ``pos - 1`` is on
            start = self.fh.tell()
        line = self.fh.readline()
        if not line:
            return self.size, None
        fields = line.rstrip(b"\r\n").split(b",")
        value = fields[self.column].strip() if len(fields) > self.column else b""
        if not _ISO_DATE.match(value):
            raise ValueError(f"no date at offset {start}")
        return start, value

    def first_at_or_after(self, target: bytes) -> int:
        """Offset of the first line whose date is >= ``target`` (file size if none)."""
        lo, hi = self.data_start, self.size
        while hi - lo > 1 << 16:
            mid = (lo + hi) // 2
            _, value = self.at(mid)
            if value is not None and value < target:
                lo = mid  # every line starting before the one at ``mid`` is earlier still
            else:
                hi = mid
        pos = lo
        while True:
            start, value = self.at(pos)
            if value is None or value >= target:
                return start
            pos = start + 1


def _count_lines(fh: IO[bytes], start: int, end: int) -> int:
    fh.seek(start)
    count, left = 0, end - start
    while left > 0:
        block = fh.read(min(left, 1 << 24))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


def find_date_span(
    path: str | Path, since: str | None, until: str | None, *, samples: int = 64
) -> ByteSpan | None:
    """The byte range holding the rows dated ``since``..``until`` (ISO dates, both inclusive).

    Returns:
        The span, or None when the file cannot be bisected (gzipped, no ``date`` column, not
        sorted by date at ``samples`` evenly spaced lines, or a line without a readable date
        at a probed point), in which case the caller reads the whole file.
    """
    if not since and not until:
        return None
    with open(path, "rb") as fh:
        header = fh.readline()
        if header.startswith(b"\x1f\x8b"):
            return None
        columns = [c.strip() for c in header.removeprefix(_BOM).rstrip(b"\r\n").split(b",")]
        if b"date" not in columns:
            return None
        size = fh.seek(0, io.SEEK_END)
        lines = _Lines(fh, len(header), size, columns.index(b"date"))
        try:
            step = max((size - len(header)) // samples, 1)
            probes = [lines.at(len(header) + k * step)[1] for k in range(samples)]
            probed = [p for p in probes if p is not None]
            if any(a > b for a, b in pairwise(probed)):
                return None
            start = lines.first_at_or_after(since.encode()) if since else len(header)
            if until:
                after = (date.fromisoformat(until) + timedelta(days=1)).isoformat().encode()
                end = lines.first_at_or_after(after)
            else:
                end = size
        except ValueError:
            return None
        end = max(end, start)
        first_line = 2 + _count_lines(fh, len(header), start)
    return ByteSpan(header, start, end, first_line)


class SpanReader(io.RawIOBase):
    """A file's header line followed by the bytes of one :class:`ByteSpan`, as one stream."""

    def __init__(self, path: str | Path, span: ByteSpan) -> None:
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(span.start)
        self._header = span.header
        self._left = span.end - span.start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._header:
            n = min(len(buffer), len(self._header))
            buffer[:n] = self._header[:n]
            self._header = self._header[n:]
            return n
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:n])
        self._left -= got or 0
        return got or 0

    def close(self) -> None:
        self._fh.close()
        super().close()
