"""Bounds of an upload, part of the data contract: size, line length, rows, name and dates.

An upload past a bound is rejected with a report naming the bound and what to do, before it can
exhaust the ETL function's memory. The checks run on the decompressed byte stream as it is read,
so a gzip bomb or a file without line breaks stops at the bound, not at an out-of-memory kill; a
corrupt or truncated gzip stream is a rejection too (retrying cannot repair it).
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.cleaning import MAX_PROBLEMS, CsvContractError, Problem
from grocery_forecast.contract.runs import UPLOAD_SUFFIXES

__all__ = [
    "FUTURE_SLACK_DAYS",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_LINE_BYTES",
    "MAX_ROWS",
    "BoundedReader",
    "InputLimitError",
    "InputLimits",
    "check_name",
    "check_not_after_upload",
    "date_error",
]

#: Decompressed size of one upload. 5 M rows of Favorita actuals are about 200 MB.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
#: One line (a row), in bytes. A Favorita row is under 60 bytes; reference rows under 200.
MAX_LINE_BYTES = 4096
#: Data rows (lines after the header) per file. The ETL holds a file's typed rows in memory: at
#: about 250 bytes a row at peak, 5 M rows stay well inside the 2048 MB function.
MAX_ROWS = 5_000_000
#: Actuals may be dated at most this many days after the day they were uploaded (time zones).
FUTURE_SLACK_DAYS = 1

_SPLIT = "split the file into parts below the limit and upload each (one day or one store per file works)"


@dataclass(frozen=True)
class InputLimits:
    """The bounds one upload must stay within. Defaults to the module constants."""

    max_bytes: int = MAX_DECOMPRESSED_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    max_rows: int = MAX_ROWS


def check_name(key: str) -> None:
    """Refuse an object whose name is not ``.csv`` or ``.csv.gz`` (in any letter case).

    Raises:
        CsvContractError: naming the suffixes read.
    """
    if not key.lower().endswith(UPLOAD_SUFFIXES):
        raise CsvContractError(
            key,
            [
                Problem(
                    "not a .csv or .csv.gz file name, so it was not read",
                    expected="a name ending in .csv or .csv.gz (any letter case)",
                    found=key.rsplit("/", 1)[-1][:120],
                )
            ],
        )


class InputLimitError(CsvContractError):
    """The file is past the size or row bound of the path reading it (not a malformed file): an
    actuals upload past the single path's bounds can still go through the sharded ingest."""


class BoundedReader(io.RawIOBase):
    """The decompressed bytes of an upload, stopping with a :class:`CsvContractError` at a bound.

    Gunzips when the stream starts with the gzip magic bytes (whatever the name says). Counts
    bytes, lines and the length of the current line on every read, vectorised per block.
    """

    def __init__(self, raw: io.RawIOBase | IO[bytes], name: str, limits: InputLimits | None = None) -> None:
        self.name = name
        self.limits = limits or InputLimits()
        buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        self._gzip = buffered.peek(2)[:2] == b"\x1f\x8b"
        self._src: Any = gzip.GzipFile(fileobj=buffered) if self._gzip else buffered
        self._bytes = 0
        self._lines = 0  # complete lines seen (the header included)
        self._line = 0  # bytes of the line in progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._src.readinto(buffer)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise self._error(
                f"the gzip data is corrupt or cut off ({exc}) after {self._bytes:,} bytes",
                "a complete gzip file: upload it again (an interrupted copy or download cuts it off), "
                "or upload the plain .csv",
            ) from None
        if not n:
            return 0
        self._bytes += n
        if self._bytes > self.limits.max_bytes:
            raise self._limit_error(
                f"the file is larger than {self.limits.max_bytes:,} bytes (decompressed)",
                f"at most {self.limits.max_bytes:,} bytes per file: {_SPLIT}",
            )
        newlines = np.flatnonzero(np.frombuffer(memoryview(buffer)[:n], dtype=np.uint8) == 0x0A)
        if len(newlines):
            limit = self.limits.max_line_bytes
            if self._line + int(newlines[0]) > limit:
                self._line_error(self._lines + 1)
            gaps = np.diff(newlines) - 1
            if gaps.size and int(gaps.max()) > limit:
                self._line_error(self._lines + 2 + int(np.argmax(gaps > limit)))
            self._line = n - int(newlines[-1]) - 1
            self._lines += len(newlines)
            if self._lines - 1 > self.limits.max_rows:
                raise self._limit_error(
                    f"the file has more than {self.limits.max_rows:,} rows",
                    f"at most {self.limits.max_rows:,} rows per file: {_SPLIT}",
                )
        else:
            self._line += n
        if self._line > self.limits.max_line_bytes:
            self._line_error(self._lines + 1)
        return n

    def _line_error(self, line: int | None) -> None:
        raise CsvContractError(
            self.name,
            [
                Problem(
                    f"a line is longer than {self.limits.max_line_bytes:,} bytes "
                    "(a file without line breaks, or not a CSV)",
                    line=line,
                    expected=f"rows of at most {self.limits.max_line_bytes:,} bytes, one per line",
                )
            ],
            rows=max(0, self._lines - 1),
        )

    def _error(self, message: str, expected: str) -> CsvContractError:
        return CsvContractError(
            self.name, [Problem(message, expected=expected)], rows=max(0, self._lines - 1)
        )

    def _limit_error(self, message: str, expected: str) -> InputLimitError:
        return InputLimitError(self.name, [Problem(message, expected=expected)], rows=max(0, self._lines - 1))

    def close(self) -> None:
        try:
            self._src.close()
        finally:
            super().close()


def check_not_after_upload(frame: pd.DataFrame, name: str, uploaded_at: datetime) -> None:
    """Refuse actuals dated after the day of upload (plus :data:`FUTURE_SLACK_DAYS` for time zones).

    ``uploaded_at`` is the object's S3 LastModified, so the check uses S3's clock, not the
    function's. A typo such as 2071 for 2017 would otherwise move the end of history for good.

    Raises:
        CsvContractError: naming the first rows dated too late.
    """
    last_ok = pd.Timestamp(uploaded_at.date() + timedelta(days=FUTURE_SLACK_DAYS))
    late = (frame["date"] > last_ok).to_numpy()
    if late.any():
        raise date_error(
            frame,
            late,
            name,
            "sales dated after the day of upload",
            f"a date up to {last_ok.date()} (uploaded {uploaded_at.date()}, one day of slack)",
            kind="actuals",
        )


def date_error(
    frame: pd.DataFrame, bad: np.ndarray, name: str, message: str, expected: str, kind: str | None = None
) -> CsvContractError:
    """A contract error listing the first rows of ``frame`` where ``bad`` holds, by line and date."""
    problems = [
        Problem(
            message,
            line=int(r.line),
            column="date",
            expected=expected,
            found=str(pd.Timestamp(r.date).date()),
        )
        for r in frame.loc[bad].head(MAX_PROBLEMS).itertuples()
    ]
    return CsvContractError(name, problems, total=int(bad.sum()), kind=kind, rows=len(frame))
