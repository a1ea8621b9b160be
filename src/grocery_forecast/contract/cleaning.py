"""Read Favorita CSVs as they come and turn them into typed, validated frames.

One reader serves the ETL Lambda (which must reject a bad file whole, naming the line and the
column), training (which streams a 125-million-row train.csv filtered by date) and the tests.
Everything is vectorised per chunk; memory is bounded by the chunk size plus the compact typed
result.
"""

from __future__ import annotations

import csv
import gzip
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from grocery_forecast.contract.schema import (
    ACTUALS_COLUMNS,
    FIRST_DATE,
    LAST_DATE,
    MAX_ABS_UNIT_SALES,
    MAX_ID,
    MAX_STORE_NBR,
    REFERENCE_TABLES,
    REQUEST_COLUMNS,
    FileKind,
)

__all__ = [
    "TRUTH_VALUES",
    "CsvContractError",
    "Problem",
    "clean_frame",
    "detect_kind",
    "iter_clean_chunks",
    "open_text",
    "read_actuals",
    "read_reference",
    "read_table",
    "type_reference",
]

DEFAULT_CHUNK_ROWS = 200_000
#: Problems listed per file before the report stops enumerating (the count stays exact).
MAX_PROBLEMS = 20

#: The truth values of every yes/no column (onpromotion, perishable, transferred), compared
#: case-insensitively after stripping spaces.
TRUTH_VALUES: dict[str, bool] = {
    "true": True,
    "t": True,
    "yes": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "0": False,
}
#: onpromotion may also be empty (Favorita before 2014): unknown, not false.
_PROMO_VALUES = {**{k: float(v) for k, v in TRUTH_VALUES.items()}, "": np.nan, "nan": np.nan}
_MAGIC_NOT_CSV = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (Excel .xlsx files are ZIP archives)",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in a file, phrased for the person who made the file."""

    message: str
    line: int | None = None
    column: str | None = None
    expected: str | None = None
    found: str | None = None

    def describe(self) -> str:
        where = ", ".join(
            p
            for p in (
                f"line {self.line}" if self.line else "",
                f"column {self.column!r}" if self.column else "",
            )
            if p
        )
        tail = f": expected {self.expected}" if self.expected else ""
        tail += f", found {self.found!r}" if self.found is not None else ""
        return f"{where}: {self.message}{tail}" if where else f"{self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class CsvContractError(ValueError):
    """A file broke the data contract. Nothing from it may be stored."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    total: int = 0
    #: What the file was taken for (from its header), when the header was readable.
    kind: str | None = None
    #: Data rows read before the file was rejected (all of them unless the file broke off).
    rows: int = 0

    def __post_init__(self) -> None:
        self.total = max(self.total, len(self.problems))
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.file}: rejected, {self.total} problem{'s' if self.total != 1 else ''}"
        lines = [head] + [f"  - {p.describe()}" for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"  - ... and {self.total - len(self.problems)} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "problem_count": self.total,
            "problems": [p.to_dict() for p in self.problems],
        }


# -- bytes to text ------------------------------------------------------------------------------


def open_text(raw: IO[bytes], name: str) -> IO[str]:
    """Text view of an uploaded object: gunzips ``.gz``, strips a UTF-8 BOM, refuses binaries.

    Decoding errors surface later as :class:`CsvContractError` through :func:`iter_clean_chunks`.
    """
    buffered: Any = (
        raw if isinstance(raw, io.BufferedIOBase) and hasattr(raw, "peek") else io.BufferedReader(raw)
    )
    head = buffered.peek(8)[:8]
    if head.startswith(b"\x1f\x8b"):
        buffered = io.BufferedReader(gzip.GzipFile(fileobj=buffered))
        head = buffered.peek(8)[:8]
    for magic, what in _MAGIC_NOT_CSV.items():
        if head.startswith(magic):
            raise CsvContractError(
                name, [Problem(f"not a CSV file: it is {what}", expected="comma-separated UTF-8 text")]
            )
    if b"\x00" in buffered.peek(4096)[:4096]:
        raise CsvContractError(
            name,
            [
                Problem(
                    "not a CSV file: it contains NUL bytes (binary data)",
                    expected="comma-separated UTF-8 text",
                )
            ],
        )
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")


# -- header ---------------------------------------------------------------------------------------


def detect_kind(columns: list[str], name: str) -> FileKind:
    """Actuals or forecast request, from the header alone.

    Raises:
        CsvContractError: naming the missing or unexpected columns, or a wrong delimiter.
    """
    cols = [c.strip() for c in columns]
    if len(cols) == 1:
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in cols[0]:
                raise CsvContractError(
                    name,
                    [
                        Problem(
                            f"the header is separated by {label}",
                            line=1,
                            expected="comma-separated columns " + ",".join(ACTUALS_COLUMNS),
                            found=cols[0][:120],
                        )
                    ],
                )
    present = set(cols)
    if len(present) != len(cols):
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        raise CsvContractError(name, [Problem("repeated column name", line=1, column=dupes[0])])
    if "unit_sales" in present:
        kind, required, optional = FileKind.ACTUALS, ACTUALS_COLUMNS, {"id"}
    elif "id" in present:
        kind, required, optional = FileKind.REQUEST, REQUEST_COLUMNS, set()
    else:
        raise CsvContractError(
            name,
            [
                Problem(
                    "header matches neither an actuals file nor a forecast request",
                    line=1,
                    expected=f"actuals: {','.join(ACTUALS_COLUMNS)} (optionally with id); "
                    f"request: {','.join(REQUEST_COLUMNS)}",
                    found=",".join(cols)[:200],
                )
            ],
        )
    missing = [c for c in required if c not in present]
    unexpected = [c for c in cols if c not in required and c not in optional]
    problems = [
        Problem("missing column", line=1, column=c, expected=f"columns {','.join(required)}") for c in missing
    ]
    problems += [
        Problem("unexpected column", line=1, column=c, expected=f"only {','.join(required)}")
        for c in unexpected
    ]
    if problems:
        raise CsvContractError(name, problems)
    return kind


# -- typed columns --------------------------------------------------------------------------------


class _Collector:
    """Gathers problems across chunks, keeping the first few and an exact count."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.total = 0
        self.rows = 0

    def add_mask(
        self, bad: np.ndarray, lines: np.ndarray, values: pd.Series, column: str, message: str, expected: str
    ) -> None:
        idx = np.flatnonzero(bad)
        self.total += len(idx)
        for i in idx[: max(0, MAX_PROBLEMS - len(self.problems))]:
            self.problems.append(
                Problem(
                    message, line=int(lines[i]), column=column, expected=expected, found=str(values.iloc[i])
                )
            )

    def add(self, problem: Problem, count: int = 1) -> None:
        self.total += count
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def raise_if_any(self) -> None:
        if self.total:
            raise CsvContractError(self.name, self.problems, self.total)


def _parse_int(
    raw: pd.Series, lines: np.ndarray, column: str, out: _Collector, *, positive: bool, maximum: int = MAX_ID
) -> np.ndarray:
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > maximum)
        if positive:
            bad |= values <= 0
    lowest = "1" if positive else f"-{maximum:,}"
    out.add_mask(
        bad, lines, raw, column, "not a whole number in range", f"a whole number from {lowest} to {maximum:,}"
    )
    return np.where(bad, 0, values).astype(np.int64)


def _parse_date(raw: pd.Series, lines: np.ndarray, out: _Collector) -> np.ndarray:
    text = raw.str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    out.add_mask(bad, lines, raw, "date", "unreadable date", "a date as YYYY-MM-DD")
    # Compared as ISO strings: a year like 9999 would overflow nanosecond timestamps silently.
    outside = ~bad & ((text < FIRST_DATE) | (text > LAST_DATE)).to_numpy()
    out.add_mask(outside, lines, raw, "date", "date out of range", f"a date from {FIRST_DATE} to {LAST_DATE}")
    return parsed.where(~(bad | outside)).to_numpy(dtype="datetime64[ns]")


def _parse_sales(raw: pd.Series, lines: np.ndarray, out: _Collector) -> np.ndarray:
    values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    out.add_mask(bad, lines, raw, "unit_sales", "not a finite number", "a number (negative for returns)")
    with np.errstate(invalid="ignore"):
        huge = ~bad & (np.abs(values) > MAX_ABS_UNIT_SALES)
    out.add_mask(
        huge,
        lines,
        raw,
        "unit_sales",
        "implausible quantity",
        f"at most {MAX_ABS_UNIT_SALES:,.0f} units (or kilos) per store, item and day",
    )
    return np.where(bad | huge, 0.0, values)


def _parse_promo(raw: pd.Series, lines: np.ndarray, out: _Collector) -> np.ndarray:
    mapped = raw.str.strip().str.lower().map(_PROMO_VALUES)
    known = raw.str.strip().str.lower().isin(_PROMO_VALUES.keys()).to_numpy()
    out.add_mask(~known, lines, raw, "onpromotion", "not a true/false value", "True, False or empty")
    # Unknown promotion (empty before 2014 in Favorita) reads as "not on promotion", as the
    # competition's best solutions did.
    return mapped.fillna(0.0).to_numpy(dtype=np.float64).astype(bool)


def clean_frame(
    raw: pd.DataFrame,
    kind: FileKind,
    name: str,
    lines: np.ndarray | None = None,
    out: _Collector | None = None,
) -> pd.DataFrame:
    """Type and validate one chunk of string columns.

    Args:
        raw: The chunk as read, every column a string (``dtype=str, keep_default_na=False``).
        kind: Actuals or request; decides the columns produced.
        name: The file name, for error messages.
        lines: The file line of each row (the header is line 1). Defaults to 2, 3, ...
        out: Collects problems across chunks; when omitted, problems raise at once.
    """
    collector = out or _Collector(name)
    raw = raw.rename(columns=lambda c: c.strip())
    lines = np.arange(2, 2 + len(raw), dtype=np.int64) if lines is None else np.asarray(lines, dtype=np.int64)
    raw = raw.reset_index(drop=True)
    cleaned: dict[str, Any] = {}
    if kind is FileKind.REQUEST or "id" in raw.columns:
        cleaned["id"] = _parse_int(raw["id"], lines, "id", collector, positive=False)
    cleaned["date"] = _parse_date(raw["date"], lines, collector)
    cleaned["store_nbr"] = _parse_int(
        raw["store_nbr"], lines, "store_nbr", collector, positive=True, maximum=MAX_STORE_NBR
    ).astype(np.int32)
    cleaned["item_nbr"] = _parse_int(raw["item_nbr"], lines, "item_nbr", collector, positive=True)
    if kind is FileKind.ACTUALS:
        cleaned["unit_sales"] = _parse_sales(raw["unit_sales"], lines, collector)
    cleaned["onpromotion"] = _parse_promo(raw["onpromotion"], lines, collector)
    if out is None:
        collector.raise_if_any()
    frame = pd.DataFrame(cleaned)
    frame["line"] = lines
    return frame


def _strict(reader: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Chunks of ``reader`` with pandas' parser warnings (silent data loss) raised as errors."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                chunk = next(reader)
            except StopIteration:
                return
        yield chunk


def iter_clean_chunks(
    text: IO[str],
    name: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    row_filter: Callable[[pd.DataFrame], pd.Series] | None = None,
    collector: _Collector | None = None,
    first_line: int = 2,
) -> Iterator[tuple[FileKind, pd.DataFrame]]:
    """Yield ``(kind, cleaned chunk)`` pairs; problems go to ``collector`` (or raise at once).

    ``row_filter`` sees the raw string chunk and keeps rows before they are parsed, which is how
    training skips years of a 125-million-row file cheaply (ISO dates compare as strings).
    """
    out = collector or _Collector(name)
    try:
        header_line = text.readline()
    except UnicodeDecodeError as exc:
        raise CsvContractError(
            name,
            [
                Problem(
                    f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} in the first block of the file)",
                    expected="UTF-8 text",
                )
            ],
        ) from None
    if not header_line.strip():
        raise CsvContractError(name, [Problem("the file is empty", expected="a header line and data rows")])
    header = next(csv.reader([header_line]))
    kind = detect_kind(header, name)
    line = first_line  # the first data row's line number (later when the caller skipped ahead)
    try:
        # index_col=False: a row with extra fields must not silently become an index; the
        # "loss of data" warning pandas gives instead is turned into a contract error below.
        reader = pd.read_csv(
            text,
            header=None,
            names=[c.strip() for c in header],
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
            engine="c",
            skip_blank_lines=True,
            index_col=False,
        )
        for raw in _strict(reader):
            lines = np.arange(line, line + len(raw), dtype=np.int64)
            line += len(raw)
            out.rows += len(raw)
            if row_filter is not None:
                keep = row_filter(raw).to_numpy()
                raw, lines = raw.loc[keep], lines[keep]
            # Empty chunks are yielded too: the caller learns the file's kind even when a filter
            # keeps nothing.
            yield kind, clean_frame(raw, kind, name, lines=lines, out=out)
    except UnicodeDecodeError as exc:
        raise CsvContractError(
            name,
            [
                Problem(
                    f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}) after line {line - 1}",
                    expected="UTF-8 text",
                )
            ],
        ) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        detail = (
            "a row has more fields than the header"
            if isinstance(exc, pd.errors.ParserWarning)
            else str(exc).strip()
        )
        raise CsvContractError(
            name,
            [Problem(f"malformed CSV: {detail}", expected=f"{len(header)} comma-separated fields per row")],
        ) from None
    except pd.errors.EmptyDataError:
        return


def read_table(
    raw: IO[bytes],
    name: str,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    row_filter: Callable[[pd.DataFrame], pd.Series] | None = None,
    progress: Callable[[int], None] | None = None,
    first_line: int = 2,
) -> tuple[FileKind, pd.DataFrame]:
    """Read a whole actuals or request file, validated, as one typed frame.

    Every chunk is checked before anything is returned, so a caller that writes only after this
    returns can never store half a bad file. Duplicate (date, store, item) rows are problems.

    Raises:
        CsvContractError: with every problem found (the first :data:`MAX_PROBLEMS` listed).
    """
    out = _Collector(name)
    text = open_text(raw, name)
    kind: FileKind | None = None
    chunks = []
    try:
        for chunk_kind, chunk in iter_clean_chunks(
            text, name, chunk_rows=chunk_rows, row_filter=row_filter, collector=out, first_line=first_line
        ):
            kind = chunk_kind
            chunks.append(chunk)
            if progress is not None:
                progress(len(chunk))
        if kind is None or (row_filter is None and sum(len(c) for c in chunks) == 0):
            out.add(
                Problem("the file has a header but no data rows", line=2, expected="at least one data row")
            )
        out.raise_if_any()
    except CsvContractError as error:
        error.kind = kind.value if kind else None
        error.rows = out.rows
        raise
    assert kind is not None
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    dupes = frame.duplicated(["date", "store_nbr", "item_nbr"], keep=False).to_numpy()
    if dupes.any():
        first_of = frame.loc[dupes].groupby(["date", "store_nbr", "item_nbr"])["line"].transform("min")
        dup_rows = frame.loc[dupes].assign(first=first_of)
        dup_rows = dup_rows[dup_rows["line"] != dup_rows["first"]]
        for row in dup_rows.head(MAX_PROBLEMS).itertuples():
            out.add(
                Problem(
                    "duplicate row for the same date, store and item",
                    line=int(row.line),
                    column="date,store_nbr,item_nbr",
                    expected=f"one row per date, store and item (first seen on line {int(row.first)})",
                    found=f"{pd.Timestamp(row.date).date()},{row.store_nbr},{row.item_nbr}",
                ),
                count=1,
            )
        out.total += max(0, len(dup_rows) - MAX_PROBLEMS)
    if kind is FileKind.REQUEST:
        # A forecast answers each id once; two rows with one id make the answer ambiguous.
        same_id = frame.duplicated("id", keep="first").to_numpy()
        first_seen = frame.groupby("id")["line"].transform("min").to_numpy()
        for i in np.flatnonzero(same_id)[:MAX_PROBLEMS]:
            out.add(
                Problem(
                    "duplicate id",
                    line=int(frame["line"].iat[i]),
                    column="id",
                    expected=f"a different id on every row (first seen on line {int(first_seen[i])})",
                    found=str(frame["id"].iat[i]),
                )
            )
        out.total += max(0, int(same_id.sum()) - MAX_PROBLEMS)
    if out.total:
        try:
            out.raise_if_any()
        except CsvContractError as error:
            error.kind, error.rows = kind.value, len(frame)
            raise
    return kind, frame


def read_actuals(
    path: str,
    *,
    since: str | None = None,
    until: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Load a Kaggle train.csv-format file (``.csv`` or ``.csv.gz``), optionally only ``since..until``.

    Dates are filtered on the raw ISO strings before parsing, so skipping years of a 125-million
    row file costs one string comparison per row; and a plain file sorted by date (Kaggle's is)
    is not even read outside the range (:func:`~grocery_forecast.contract.date_span.find_date_span`).
    """
    from grocery_forecast.contract.date_span import SpanReader, find_date_span

    def keep(raw: pd.DataFrame) -> pd.Series:
        dates = raw["date"].str.strip()
        mask = pd.Series(True, index=raw.index)
        if since:
            mask &= dates >= since
        if until:
            mask &= dates <= until
        return mask

    span = find_date_span(path, since, until)
    raw = io.BufferedReader(SpanReader(path, span), 1 << 20) if span else open(path, "rb")  # noqa: SIM115
    with raw as fh:
        kind, frame = read_table(
            fh,
            path,
            chunk_rows=chunk_rows,
            row_filter=keep if (since or until) else None,
            progress=progress,
            first_line=span.first_line if span else 2,
        )
    if kind is not FileKind.ACTUALS:
        raise CsvContractError(
            path,
            [
                Problem(
                    "this is a forecast request, not sales history",
                    line=1,
                    expected="columns " + ",".join(ACTUALS_COLUMNS),
                )
            ],
        )
    return frame.drop(columns=["line"])


# -- reference tables ------------------------------------------------------------------------------

#: Typed columns of the reference tables; every other column is free text.
_REFERENCE_TYPES: dict[str, str] = {
    "item_nbr": "id",
    "store_nbr": "id",
    "class": "int",
    "cluster": "int",
    "transactions": "int",
    "perishable": "flag",
    "transferred": "flag",
    "date": "date",
    "dcoilwtico": "number?",
}


#: Reference tables whose rows are keyed by one id, which must not repeat.
_REFERENCE_KEYS: dict[str, str] = {"items": "item_nbr", "stores": "store_nbr"}


def _unknown_table(table: str, name: str) -> CsvContractError:
    return CsvContractError(
        name,
        [
            Problem(
                f"unknown reference table {table!r}",
                expected="one of " + ", ".join(f"{t}.csv" for t in REFERENCE_TABLES),
            )
        ],
    )


def read_reference(raw: IO[bytes], table: str, name: str) -> pd.DataFrame:
    """Read and type one Favorita reference table (items, stores, holidays_events, oil, transactions).

    Raises:
        CsvContractError: unknown table name, wrong columns, or values of the wrong type.
    """
    from grocery_forecast.contract.fields import read_string_table

    spec = REFERENCE_TABLES.get(table)
    if spec is None:
        raise _unknown_table(table, name)
    text = open_text(raw, name)
    try:
        frame = read_string_table(text, name)
    except UnicodeDecodeError as exc:
        raise CsvContractError(
            name, [Problem(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x})", expected="UTF-8 text")]
        ) from None
    except pd.errors.EmptyDataError:
        raise CsvContractError(
            name, [Problem("the file is empty", expected="a header line and data rows")]
        ) from None
    except pd.errors.ParserError as exc:
        raise CsvContractError(
            name,
            [
                Problem(
                    f"malformed CSV: {exc}", expected=f"{len(spec.columns)} comma-separated fields per row"
                )
            ],
        ) from None
    if frame.empty:
        type_reference(frame, table, name)  # a wrong header is reported first
        raise CsvContractError(
            name,
            [Problem("the file has a header but no data rows", line=2, expected="at least one data row")],
        )
    return type_reference(frame, table, name)


def type_reference(frame: pd.DataFrame, table: str, name: str) -> pd.DataFrame:
    """Check and type a reference table: exactly its columns, ids and numbers where they belong,
    truth values from :data:`TRUTH_VALUES`, no id twice in items or stores.

    The one validation of reference tables: the ETL applies it to uploads, and
    :class:`~grocery_forecast.contract.reference.Reference` to the frames it is built from (training
    directories, the processed bucket). Values may be strings or already typed. Line numbers count
    a header line, as in the file.

    Raises:
        CsvContractError: naming every problem, up to :data:`MAX_PROBLEMS`.
    """
    spec = REFERENCE_TABLES.get(table)
    if spec is None:
        raise _unknown_table(table, name)
    frame = frame.rename(columns=lambda c: str(c).strip())
    cols = list(frame.columns)
    problems = [
        Problem("missing column", line=1, column=c, expected="columns " + ",".join(spec.columns))
        for c in spec.columns
        if c not in cols
    ]
    problems += [
        Problem("unexpected column", line=1, column=c, expected="only " + ",".join(spec.columns))
        for c in cols
        if c not in spec.columns
    ]
    if problems:
        raise CsvContractError(name, problems)
    out = _Collector(name)
    lines = np.arange(2, 2 + len(frame), dtype=np.int64)
    typed: dict[str, Any] = {}
    for col in spec.columns:
        raw_col = _as_text(frame[col])
        kind = _REFERENCE_TYPES.get(col, "text")
        if kind == "id":
            typed[col] = _parse_int(raw_col, lines, col, out, positive=True)
        elif kind == "int":
            typed[col] = _parse_int(raw_col, lines, col, out, positive=False)
        elif kind == "date":
            typed[col] = _parse_date(raw_col.rename(col), lines, out)
        elif kind == "flag":
            lowered = raw_col.str.strip().str.lower()
            ok = lowered.isin(TRUTH_VALUES.keys()).to_numpy()
            out.add_mask(
                ~ok, lines, raw_col, col, "not a true/false value", "True/False (or 1/0, t/f, yes/no)"
            )
            typed[col] = lowered.map(TRUTH_VALUES).fillna(False).to_numpy(dtype=bool)
        elif kind == "number?":
            values = pd.to_numeric(raw_col.str.strip().replace("", np.nan), errors="coerce")
            bad = (values.isna() & (raw_col.str.strip() != "")).to_numpy()
            out.add_mask(bad, lines, raw_col, col, "not a number", "a number or empty")
            typed[col] = values.to_numpy(dtype=np.float64)
        else:
            typed[col] = raw_col.str.strip().to_numpy()
    key = _REFERENCE_KEYS.get(table)
    if key is not None and not out.total:
        dup = pd.Series(typed[key]).duplicated().to_numpy()
        out.add_mask(
            dup, lines, _as_text(frame[key]), key, f"{key} appears more than once", f"one row per {key}"
        )
    out.raise_if_any()
    return pd.DataFrame(typed, columns=list(spec.columns))


def _as_text(values: pd.Series) -> pd.Series:
    """A column as strings: what a CSV reader gives, whatever the frame was built from."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d").astype(object)
    return values.astype(str).astype(object)
