"""Stream a sales file as compact typed column chunks, validated as :func:`read_actuals` validates it.

Training reads two years of Favorita-size history (86 M rows). :func:`~.cleaning.read_actuals`
parses every field as a Python string to name the line and column of any problem, then
concatenates a long frame: 739 s and a 12.4 GB peak at that size. This module gives the same
accepted rows as compact chunks (day number, store, item, float32 sales, bool promotion) for a
consumer that scatters them into a preallocated panel, so nothing the size of the file is held.

Two readers share the work:

* the **fast** one lets pandas' C parser type the numbers (dates and promotions are read as
  categories, so their strings are checked once per distinct value) and applies the contract's
  range checks to the typed columns. It accepts a strict subset of what the contract accepts and
  gives the same values: whenever it meets anything it would have to judge (a field that does not
  parse, a value out of range, a duplicate row), it gives up;
* the **validating** one then reads the file again through the contract's own chunk cleaner, which
  collects every problem with its line and column, and raises :class:`~.cleaning.CsvContractError`
  exactly as ``read_actuals`` would (duplicates are found by the consumer and reported by line).

So a good file costs one fast pass, and a bad one also the pass that explains what is wrong.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import pandas as pd

from grocery_forecast.contract.cleaning import (
    _PROMO_VALUES,
    CsvContractError,
    Problem,
    _Collector,
    detect_kind,
    iter_clean_chunks,
    open_text,
)
from grocery_forecast.contract.schema import (
    ACTUALS_COLUMNS,
    FIRST_DATE,
    LAST_DATE,
    MAX_ABS_UNIT_SALES,
    MAX_ID,
    MAX_STORE_NBR,
    FileKind,
)

__all__ = ["STREAM_CHUNK_ROWS", "ActualsChunk", "ChunkSink", "stream_actuals"]

#: Rows per chunk: about 30 MB of parser buffers and 10 MB of compact columns.
STREAM_CHUNK_ROWS = 1_000_000
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class ActualsChunk:
    """Accepted sales rows of one chunk, in file order.

    Attributes:
        day: ``int32`` days since 1970-01-01.
        store: ``int64`` store numbers.
        item: ``int64`` item numbers.
        sales: ``float32`` unit sales (the panel's precision).
        promo: ``bool`` on promotion (unknown reads as False, as in the contract).
    """

    day: np.ndarray
    store: np.ndarray
    item: np.ndarray
    sales: np.ndarray
    promo: np.ndarray

    def __len__(self) -> int:
        return len(self.day)


class ChunkSink(Protocol):
    """Where :func:`stream_actuals` puts the rows: a panel under construction."""

    def reset(self) -> None:
        """Forget every row added so far (the reader starts the file again)."""

    def add(self, chunk: ActualsChunk) -> np.ndarray:
        """Store the rows; return the positions in ``chunk`` of rows whose (day, store, item) the
        sink already holds or that repeat within the chunk (duplicates: the contract refuses them)."""
        ...


class _NeedsValidation(Exception):
    """The fast reader met something only the validating reader may judge."""


def stream_actuals(
    path: str | Path,
    sink: ChunkSink,
    *,
    since: str | None = None,
    until: str | None = None,
    chunk_rows: int = STREAM_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Feed every accepted row of a train.csv-format file (``.csv`` or ``.csv.gz``) to ``sink``.

    Rows outside ``since..until`` are skipped before they are judged, as in
    :func:`~.cleaning.read_actuals` (and a plain file sorted by date is not even read outside
    them).

    Args:
        path: The sales file.
        sink: Receives the chunks; reset when the fast reader gives up.
        since: First day to keep (YYYY-MM-DD). Defaults to no limit.
        until: Last day to keep. Defaults to no limit.
        chunk_rows: Rows per chunk. Defaults to :data:`STREAM_CHUNK_ROWS`.
        progress: Called with the rows read (kept or not) after each chunk.

    Returns:
        The number of rows kept.

    Raises:
        CsvContractError: If the file breaks the data contract (every problem, with lines), or is a
            forecast request.
    """
    path = str(path)
    try:
        return _stream(path, sink, since, until, chunk_rows, progress, fast=True)
    except _NeedsValidation:
        sink.reset()
        return _stream(path, sink, since, until, chunk_rows, progress, fast=False)


def _open(path: str, since: str | None, until: str | None) -> tuple[IO[bytes], int]:
    from grocery_forecast.contract.date_span import SpanReader, find_date_span

    span = find_date_span(path, since, until)
    if span:
        return io.BufferedReader(SpanReader(path, span), 1 << 20), span.first_line
    return open(path, "rb"), 2  # closed by the caller


def _date_filter(since: str | None, until: str | None) -> Callable[[pd.DataFrame], pd.Series] | None:
    """The contract's row filter: raw ISO strings compared after stripping."""
    if not (since or until):
        return None

    def keep(raw: pd.DataFrame) -> pd.Series:
        dates = raw["date"].str.strip()
        mask = pd.Series(True, index=raw.index)
        if since:
            mask &= dates >= since
        if until:
            mask &= dates <= until
        return mask

    return keep


def _stream(
    path: str,
    sink: ChunkSink,
    since: str | None,
    until: str | None,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    *,
    fast: bool,
) -> int:
    raw, first_line = _open(path, since, until)
    kept = 0
    with raw:
        try:
            text = open_text(raw, path)
        except CsvContractError:
            if fast:
                raise _NeedsValidation from None
            raise
        if fast:
            for chunk, read in _fast_chunks(text, path, since, until, chunk_rows):
                if len(chunk) and len(sink.add(chunk)):
                    raise _NeedsValidation
                kept += len(chunk)
                if progress is not None:
                    progress(read)
            if kept == 0 and not (since or until):
                raise _NeedsValidation  # "no data rows": the validating reader words it
            return kept
        out = _Collector(path)
        kind: FileKind | None = None
        try:
            for kind, frame in iter_clean_chunks(
                text,
                path,
                chunk_rows=chunk_rows,
                row_filter=_date_filter(since, until),
                collector=out,
                first_line=first_line,
            ):
                if kind is not FileKind.ACTUALS:
                    raise _request_error(path)
                kept += _add_validated(frame, sink, out)
                if progress is not None:
                    progress(len(frame))
            if kind is None or (not (since or until) and kept == 0 and out.total == 0):
                out.add(
                    Problem(
                        "the file has a header but no data rows", line=2, expected="at least one data row"
                    )
                )
            out.raise_if_any()
        except CsvContractError as error:
            error.kind = error.kind or (kind.value if kind else None)
            error.rows = out.rows
            raise
    return kept


def _request_error(path: str) -> CsvContractError:
    return CsvContractError(
        path,
        [
            Problem(
                "this is a forecast request, not sales history",
                line=1,
                expected="columns " + ",".join(ACTUALS_COLUMNS),
            )
        ],
        kind=FileKind.REQUEST.value,
    )


def _add_validated(frame: pd.DataFrame, sink: ChunkSink, out: _Collector) -> int:
    """Scatter a cleaned chunk's rows; duplicates become problems naming their line.

    Rows of a chunk that already has problems are not added: the file is refused anyway, and their
    placeholder values (0 for a bad number) would only produce false duplicates.
    """
    if out.total or frame.empty:
        return len(frame)
    chunk = ActualsChunk(
        day=((frame["date"].to_numpy(dtype="datetime64[D]") - _EPOCH).astype(np.int32)),
        store=frame["store_nbr"].to_numpy(dtype=np.int64),
        item=frame["item_nbr"].to_numpy(dtype=np.int64),
        sales=frame["unit_sales"].to_numpy(dtype=np.float32),
        promo=frame["onpromotion"].to_numpy(dtype=bool),
    )
    lines = frame["line"].to_numpy()
    for i in sink.add(chunk):
        out.add(
            Problem(
                "duplicate row for the same date, store and item",
                line=int(lines[i]),
                column="date,store_nbr,item_nbr",
                expected="one row per date, store and item (an earlier line has the same three)",
                found=f"{pd.Timestamp(frame['date'].iat[i]).date()},{chunk.store[i]},{chunk.item[i]}",
            )
        )
    return len(frame)


# -- the fast reader --------------------------------------------------------------------------------


def _fast_chunks(
    text: IO[str], path: str, since: str | None, until: str | None, chunk_rows: int
) -> Iterator[tuple[ActualsChunk, int]]:
    """``(accepted rows, rows read)`` per chunk; raises :class:`_NeedsValidation` at anything odd."""
    import csv

    header_line = text.readline()
    if not header_line.strip():
        raise _NeedsValidation
    header = [c.strip() for c in next(csv.reader([header_line]))]
    try:
        if detect_kind(header, path) is not FileKind.ACTUALS:
            raise _NeedsValidation
    except CsvContractError:
        raise _NeedsValidation from None
    dtypes: dict[str, object] = {
        "id": np.int64,
        "date": "category",
        "store_nbr": np.int64,
        "item_nbr": np.int64,
        "unit_sales": np.float64,
        "onpromotion": "category",
    }
    try:
        reader = pd.read_csv(
            text,
            header=None,
            names=header,
            dtype={c: dtypes[c] for c in header},
            keep_default_na=False,
            na_values=[],
            chunksize=chunk_rows,
            engine="c",
            skip_blank_lines=True,
            index_col=False,
        )
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                try:
                    raw = next(reader)
                except StopIteration:
                    return
            yield _typed_chunk(raw, since, until), len(raw)
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, pd.errors.ParserWarning):
        # pandas' ParserError and EmptyDataError are ValueErrors: a field that is not a number,
        # a row of the wrong width, a file that ends in the header.
        raise _NeedsValidation from None


def _category_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    cat = column.astype("category") if column.dtype != "category" else column
    return np.asarray(cat.cat.codes, dtype=np.int64), pd.Index(cat.cat.categories.astype(str))


def _typed_chunk(raw: pd.DataFrame, since: str | None, until: str | None) -> ActualsChunk:
    """The contract's checks on typed columns (dates and promotions once per distinct value)."""
    codes, categories = _category_codes(raw["date"])
    if (codes < 0).any():
        raise _NeedsValidation
    stripped = categories.str.strip()
    keep_cat = np.ones(len(categories), dtype=bool)
    if since:
        keep_cat &= np.asarray(stripped >= since)
    if until:
        keep_cat &= np.asarray(stripped <= until)
    parsed = pd.to_datetime(pd.Series(stripped), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy() | np.asarray(stripped < FIRST_DATE) | np.asarray(stripped > LAST_DATE)
    if (bad & keep_cat).any():
        raise _NeedsValidation
    day_of_cat = np.where(bad, 0, (parsed.to_numpy(dtype="datetime64[D]") - _EPOCH).astype(np.int64)).astype(
        np.int32
    )
    keep = keep_cat[codes]
    all_kept = bool(keep.all())

    def col(name: str) -> np.ndarray:
        values = raw[name].to_numpy()
        return values if all_kept else values[keep]

    store, item, sales = col("store_nbr"), col("item_nbr"), col("unit_sales")
    if len(store) and (store.min() < 1 or store.max() > MAX_STORE_NBR):
        raise _NeedsValidation
    if len(item) and (item.min() < 1 or item.max() > MAX_ID):
        raise _NeedsValidation
    if "id" in raw.columns:
        ids = col("id")
        if len(ids) and (ids.min() < -MAX_ID or ids.max() > MAX_ID):
            raise _NeedsValidation
    with np.errstate(invalid="ignore"):
        if not (np.isfinite(sales).all() and (np.abs(sales) <= MAX_ABS_UNIT_SALES).all()):
            raise _NeedsValidation
    p_codes, p_categories = _category_codes(raw["onpromotion"])
    if (p_codes < 0).any():
        raise _NeedsValidation
    lowered = p_categories.str.strip().str.lower()
    if not lowered.isin(list(_PROMO_VALUES)).all():
        raise _NeedsValidation
    promo_of_cat = np.nan_to_num(np.asarray(lowered.map(_PROMO_VALUES), dtype=np.float64), nan=0.0) != 0
    promo = promo_of_cat[p_codes if all_kept else p_codes[keep]]
    return ActualsChunk(
        day=day_of_cat[codes if all_kept else codes[keep]],
        store=np.asarray(store, dtype=np.int64),
        item=np.asarray(item, dtype=np.int64),
        sales=np.asarray(sales, dtype=np.float32),
        promo=promo,
    )
