"""A dense store-item x day view of sales history, the shape features are computed from.

Favorita's best solutions pivot the long sales table into one row per series and one column per
day, because every window statistic then becomes a vectorised slice. The history store returns
this shape, training builds it from CSV files, and the feature module consumes only this shape,
so training and the prediction Lambda see identical inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from grocery_forecast.contract.stream import ActualsChunk

__all__ = ["SalesPanel", "read_panel", "read_sales"]


@dataclass(frozen=True)
class SalesPanel:
    """Daily sales of many store-item series over one contiguous date range.

    Attributes:
        start: The date of column 0 (a midnight ``pd.Timestamp``).
        stores: ``int32`` store numbers, one per row.
        items: ``int64`` item numbers, one per row.
        sales: ``float32`` array ``(n_series, n_days)``. ``NaN`` means no row was recorded for that
            store-item-day; Favorita treats that as zero sales, but keeping it distinct lets
            features tell "before this series existed" from "sold nothing".
        promo: ``int8`` array of the same shape: 1 on promotion, 0 otherwise (or unknown).
    """

    start: pd.Timestamp
    stores: np.ndarray
    items: np.ndarray
    sales: np.ndarray
    promo: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.stores)
        if len(self.items) != n or self.sales.shape[0] != n or self.promo.shape != self.sales.shape:
            raise ValueError(
                f"panel arrays disagree: {n} stores, {len(self.items)} items, "
                f"sales {self.sales.shape}, promo {self.promo.shape}"
            )

    # -- shape ---------------------------------------------------------------------------------

    @property
    def n_series(self) -> int:
        return int(self.sales.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.sales.shape[1])

    @property
    def end(self) -> pd.Timestamp:
        """The last date covered (inclusive)."""
        return self.start + pd.Timedelta(days=self.n_days - 1)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.n_days, freq="D")

    def day_index(self, day: pd.Timestamp | str) -> int:
        """Column of ``day``; may be negative or past the end for dates outside the panel."""
        return int((pd.Timestamp(day).normalize() - self.start).days)

    # -- lookups -------------------------------------------------------------------------------

    def index_of(self, stores: Iterable[int], items: Iterable[int]) -> np.ndarray:
        """Row of each (store, item) pair, ``-1`` where the panel has no such series."""
        lookup = pd.MultiIndex.from_arrays([self.stores.astype(np.int64), self.items.astype(np.int64)])
        wanted = pd.MultiIndex.from_arrays(
            [
                np.asarray(list(stores) if not isinstance(stores, np.ndarray) else stores, dtype=np.int64),
                np.asarray(list(items) if not isinstance(items, np.ndarray) else items, dtype=np.int64),
            ]
        )
        return np.asarray(lookup.get_indexer(wanted), dtype=np.int64)

    @property
    def recorded(self) -> np.ndarray:
        """Per series, whether it has a row at all: a window can cut a series to none, and a
        store-item that never sold (a grid's, a generated assortment's) has none."""
        return ~np.all(np.isnan(self.sales), axis=1)

    def sales_filled(self) -> np.ndarray:
        """Sales with absent rows as zeros: the Favorita reading of "no row"."""
        return np.nan_to_num(self.sales, nan=0.0)

    # -- slicing -------------------------------------------------------------------------------

    def take(self, rows: np.ndarray) -> SalesPanel:
        """A panel of the given rows (series), same dates."""
        rows = np.asarray(rows, dtype=np.int64)
        return SalesPanel(self.start, self.stores[rows], self.items[rows], self.sales[rows], self.promo[rows])

    def window(
        self, first: pd.Timestamp | str, last: pd.Timestamp | str, *, share: bool = False
    ) -> SalesPanel:
        """The panel restricted (or padded with no-row days) to ``[first, last]``.

        Args:
            first: First day of the window.
            last: Last day of the window.
            share: Return read-only views of this panel's arrays when the window lies inside it,
                instead of a copy. A backtest cutting two years at Favorita's size at its cutoff
                saves 0.8 GB; but a view keeps the whole panel alive, so a caller that cuts a few
                weeks out of a larger block to let the block go (the history store) wants the
                copy. A window reaching outside the panel is always a new, padded copy.
                Defaults to False.
        """
        first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
        if last < first:
            raise ValueError(f"empty window: {first.date()} .. {last.date()}")
        n_days = (last - first).days + 1
        lo = self.day_index(first)
        if share and lo >= 0 and lo + n_days <= self.n_days:
            sales, promo = self.sales[:, lo : lo + n_days], self.promo[:, lo : lo + n_days]
            sales.flags.writeable = promo.flags.writeable = False
            return SalesPanel(first, self.stores, self.items, sales, promo)
        sales = np.full((self.n_series, n_days), np.nan, dtype=np.float32)
        promo = np.zeros((self.n_series, n_days), dtype=np.int8)
        src_lo, src_hi = self.day_index(first), self.day_index(last) + 1
        lo, hi = max(src_lo, 0), min(src_hi, self.n_days)
        if lo < hi:
            sales[:, lo - src_lo : hi - src_lo] = self.sales[:, lo:hi]
            promo[:, lo - src_lo : hi - src_lo] = self.promo[:, lo:hi]
        return SalesPanel(first, self.stores, self.items, sales, promo)

    # -- conversion ----------------------------------------------------------------------------

    @classmethod
    def empty(cls, start: pd.Timestamp | str, n_days: int) -> SalesPanel:
        return cls(
            pd.Timestamp(start).normalize(),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int64),
            np.zeros((0, n_days), dtype=np.float32),
            np.zeros((0, n_days), dtype=np.int8),
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        start: pd.Timestamp | str | None = None,
        end: pd.Timestamp | str | None = None,
    ) -> SalesPanel:
        """Pivot a long sales table into a panel.

        Args:
            frame: Cleaned rows with ``date`` (datetime64), ``store_nbr``, ``item_nbr``,
                ``unit_sales`` and ``onpromotion`` (bool or 0/1).
            start: First date of the panel. Defaults to the earliest date in ``frame``.
            end: Last date of the panel. Defaults to the latest date in ``frame``.

        Raises:
            ValueError: If a (date, store, item) appears twice: the caller must decide which wins.
        """
        dates = pd.to_datetime(frame["date"]).dt.normalize()
        if (start is None or end is None) and frame.empty:
            raise ValueError("cannot infer the date range of an empty frame; pass start and end")
        first = pd.Timestamp(start).normalize() if start is not None else dates.min()
        last = pd.Timestamp(end).normalize() if end is not None else dates.max()
        n_days = (last - first).days + 1
        inside = ((dates >= first) & (dates <= last)).to_numpy()
        stores = frame["store_nbr"].to_numpy(dtype=np.int64)[inside]
        items = frame["item_nbr"].to_numpy(dtype=np.int64)[inside]
        day = ((dates[inside] - first).dt.days).to_numpy(dtype=np.int64)
        codes, u_stores, u_items = _series_codes(stores, items)
        flat = codes * n_days + day
        ordered = np.sort(flat)  # a plain sort: numpy's hash-based unique took 17 s a million rows here
        if (ordered[1:] == ordered[:-1]).any():
            dup = pd.Series(flat).duplicated(keep=False).to_numpy()
            i = int(np.flatnonzero(dup)[0])
            raise ValueError(
                f"duplicate rows for store {stores[i]}, item {items[i]} on "
                f"{(first + pd.Timedelta(days=int(day[i]))).date()}"
            )
        n = len(u_stores)
        sales = np.full(n * n_days, np.nan, dtype=np.float32)
        promo = np.zeros(n * n_days, dtype=np.int8)
        sales[flat] = frame["unit_sales"].to_numpy(dtype=np.float32)[inside]
        promo_values = frame["onpromotion"].to_numpy()[inside]
        promo[flat] = np.asarray(pd.Series(promo_values).fillna(False).astype(bool), dtype=np.int8)
        return cls(
            first,
            u_stores.astype(np.int32),
            u_items,
            sales.reshape(n, n_days),
            promo.reshape(n, n_days),
        )

    def to_frame(self) -> pd.DataFrame:
        """The recorded rows (no-row days dropped) as a long table, sorted by date, store, item."""
        rows, days = np.nonzero(~np.isnan(self.sales))
        frame = pd.DataFrame(
            {
                "date": self.start + pd.to_timedelta(days, unit="D"),
                "store_nbr": self.stores[rows],
                "item_nbr": self.items[rows],
                "unit_sales": self.sales[rows, days].astype(np.float64),
                "onpromotion": self.promo[rows, days].astype(bool),
            }
        )
        return frame.sort_values(["date", "store_nbr", "item_nbr"], ignore_index=True)


def _estimate_rows(path: Path) -> int | None:
    """Rows in a CSV from its size and the mean length of its first lines (None for gzip)."""
    if path.suffix == ".gz":
        return None
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = head.count(b"\n")
    if lines < 2:
        return None
    return int(path.stat().st_size / (len(head) / lines))


def read_sales(
    path: str | Path, since: str | None = None, until: str | None = None, *, progress: bool = False
) -> pd.DataFrame:
    """Read and clean a train.csv-format file (``.csv`` or ``.csv.gz``), keeping ``since..until`` only.

    Args:
        path: The sales file.
        since: First day to keep (YYYY-MM-DD). Defaults to the first in the file.
        until: Last day to keep. Defaults to the last in the file.
        progress: Show a progress bar on stderr. Defaults to False.

    Raises:
        FileNotFoundError: If the file is missing.
        CsvContractError: If it breaks the data contract.
        ValueError: If it has no rows in range.
    """
    from tqdm.auto import tqdm

    from grocery_forecast.contract.cleaning import DEFAULT_CHUNK_ROWS, read_actuals

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sales file not found: {path}")
    total = _estimate_rows(path)
    if total and (since or until):
        from grocery_forecast.contract.date_span import find_date_span

        span = find_date_span(path, since, until)  # what read_actuals will read, when bisectable
        if span is not None:
            total = int(total * (span.end - span.start) / max(path.stat().st_size, 1))
    kept = 0
    window = f" {since or '…'}..{until or '…'}" if since or until else ""
    with tqdm(
        total=total, desc=f"reading {path.name}{window}", unit="row", unit_scale=True, disable=not progress
    ) as bar:

        def step(rows: int) -> None:
            nonlocal kept
            kept += rows
            read = DEFAULT_CHUNK_ROWS if since or until else rows  # rows read, not kept
            bar.update(min(read, total - bar.n) if total else read)
            bar.set_postfix(kept=f"{kept:,}", refresh=False)

        frame = read_actuals(str(path), since=since, until=until, progress=step)
        if total is not None:
            bar.n = max(bar.n, total) if since or until else bar.n
            bar.refresh()
    if frame.empty:
        raise ValueError(f"{path}: no sales rows{' between ' + window.strip() if window else ''}")
    return frame


def read_panel(
    path: str | Path,
    since: str | None = None,
    until: str | None = None,
    *,
    chunk_rows: int | None = None,
    progress: bool = False,
) -> SalesPanel:
    """Read a train.csv-format file (``.csv`` or ``.csv.gz``) straight into a panel, in chunks.

    The same rows, values and refusals as ``SalesPanel.from_frame(read_sales(path, since, until))``,
    without the long frame in between: each chunk is scattered into preallocated float32/int8
    arrays, so memory is about the panel plus one chunk whatever the file's length (two years at
    Favorita's size: 210,000 series x 731 days = 0.8 GB, where the long frame route peaked at
    12.4 GB). The panel spans the first to the last day with a kept row; series are ordered by
    store, then item.

    Args:
        path: The sales file.
        since: First day to keep (YYYY-MM-DD). Defaults to the first in the file.
        until: Last day to keep. Defaults to the last in the file.
        chunk_rows: Rows per chunk. Defaults to the stream reader's.
        progress: Show a progress bar on stderr. Defaults to False.

    Raises:
        FileNotFoundError: If the file is missing.
        CsvContractError: If it breaks the data contract (a repeated date, store and item too).
        ValueError: If it has no rows in range.
    """
    from tqdm.auto import tqdm

    from grocery_forecast.contract.stream import STREAM_CHUNK_ROWS, stream_actuals

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sales file not found: {path}")
    builder = _PanelBuilder(*_day_hint(path, since, until))
    window = f" {since or '…'}..{until or '…'}" if since or until else ""
    with tqdm(
        total=_estimate_rows(path) if not (since or until) else None,
        desc=f"reading {path.name}{window}",
        unit="row",
        unit_scale=True,
        disable=not progress,
    ) as bar:
        stream_actuals(
            path,
            builder,
            since=since,
            until=until,
            chunk_rows=chunk_rows or STREAM_CHUNK_ROWS,
            progress=bar.update,
        )
    if builder.rows == 0:
        raise ValueError(f"{path}: no sales rows{' between ' + window.strip() if window else ''}")
    return builder.panel()


_EPOCH = pd.Timestamp("1970-01-01")


def _day_hint(path: Path, since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """Days (since 1970) the panel will probably span, so its arrays are allocated once.

    ``since``/``until`` bound it; otherwise the dates of the first and last rows of a plain file
    (exact for a file sorted by date, as Kaggle's is; a guess the builder grows from otherwise).
    """

    def day(text: str | bytes | None) -> int | None:
        try:
            value = text.decode() if isinstance(text, bytes) else text
            return int((pd.Timestamp(str(value).strip()) - _EPOCH).days) if value else None
        except (ValueError, UnicodeDecodeError):
            return None

    first, last = day(since), day(until)
    if (first is None or last is None) and path.suffix != ".gz":
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return first, last
            fh.seek(0)
            head = fh.read(1 << 14).splitlines()
            fh.seek(max(path.stat().st_size - (1 << 14), 0))
            tail = fh.read().splitlines()
        if len(head) >= 2 and tail:
            columns = [c.strip() for c in head[0].removeprefix(b"\xef\xbb\xbf").split(b",")]
            if b"date" in columns:
                at = columns.index(b"date")
                fields_first, fields_last = head[1].split(b","), tail[-1].split(b",")
                if first is None and len(fields_first) > at:
                    first = day(fields_first[at])
                if last is None and len(fields_last) > at:
                    last = day(fields_last[at])
    if first is not None and last is not None and last < first:
        first, last = last, first
    return first, last


class _Codes:
    """Numbers values in the order they are first seen; keeps them sorted for vectorised lookup."""

    def __init__(self) -> None:
        self.sorted = np.zeros(0, dtype=np.int64)
        self.code_of_sorted = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=np.int64)  # by code

    def __len__(self) -> int:
        return len(self.values)

    def codes(self, values: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(values, return_inverse=True)
        at = np.searchsorted(self.sorted, uniq)
        known = at < len(self.sorted)
        known[known] = self.sorted[at[known]] == uniq[known]
        code_of_uniq = np.empty(len(uniq), dtype=np.int64)
        code_of_uniq[known] = self.code_of_sorted[at[known]]
        new = uniq[~known]
        if len(new):
            fresh = np.arange(len(self.values), len(self.values) + len(new), dtype=np.int64)
            code_of_uniq[~known] = fresh
            self.values = np.concatenate([self.values, new])
            merged = np.concatenate([self.sorted, new])
            order = np.argsort(merged, kind="stable")
            self.sorted = merged[order]
            self.code_of_sorted = np.concatenate([self.code_of_sorted, fresh])[order]
        return code_of_uniq[inverse.reshape(-1)]


class _PanelBuilder:
    """A panel under construction: chunks of rows scattered into growable 2-D arrays.

    Rows are series in the order first seen, columns days from ``lo``; both axes grow by half
    again when a chunk falls outside (a file not sorted by date, a new series), so the arrays are
    copied a logarithmic number of times. :meth:`panel` trims and orders them once at the end.
    """

    def __init__(self, first_day: int | None = None, last_day: int | None = None) -> None:
        self._hint = (first_day, last_day)
        self.reset()

    def reset(self) -> None:
        self.stores, self.items, self.series = _Codes(), _Codes(), _Codes()
        first, last = self._hint
        self.lo = first if first is not None else (last if last is not None else 0)
        width = (last - first + 1) if first is not None and last is not None else 64
        self.sales = np.full((1024, width), np.nan, dtype=np.float32)
        self.promo = np.zeros((1024, width), dtype=np.int8)
        self.series_store = np.zeros(1024, dtype=np.int64)
        self.series_item = np.zeros(1024, dtype=np.int64)
        self.first_seen: int | None = None
        self.last_seen: int | None = None
        self.rows = 0

    def _grow(self, n_series: int, day_lo: int, day_hi: int) -> None:
        rows, width = self.sales.shape
        hi = self.lo + width
        new_rows = rows if n_series <= rows else max(n_series, rows + rows // 4)
        new_lo, new_hi = self.lo, hi
        if day_lo < self.lo:
            new_lo = min(day_lo, self.lo - width // 2)
        if day_hi > hi:
            new_hi = max(day_hi, hi + width // 2)
        if (new_lo, new_hi) == (self.lo, hi):
            if new_rows > rows:
                # More series, same days: extend the arrays in place. realloc of a block this size
                # remaps pages instead of copying, so the old and new arrays never coexist.
                self.sales.resize((new_rows, width), refcheck=False)
                self.sales[rows:] = np.nan
                self.promo.resize((new_rows, width), refcheck=False)  # zero-filled
                self.series_store = np.resize(self.series_store, new_rows)
                self.series_item = np.resize(self.series_item, new_rows)
            return
        # More days (a file not sorted by date, or no hint): a copy, a logarithmic number of times.
        sales = np.full((new_rows, new_hi - new_lo), np.nan, dtype=np.float32)
        promo = np.zeros((new_rows, new_hi - new_lo), dtype=np.int8)
        at = self.lo - new_lo
        sales[:rows, at : at + width] = self.sales
        promo[:rows, at : at + width] = self.promo
        self.sales, self.promo, self.lo = sales, promo, new_lo
        if new_rows > rows:
            self.series_store = np.resize(self.series_store, new_rows)
            self.series_item = np.resize(self.series_item, new_rows)

    def add(self, chunk: ActualsChunk) -> np.ndarray:
        """Scatter the rows; returns the positions of repeated (day, store, item) rows, not stored."""
        n = len(chunk.day)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        store_code = self.stores.codes(chunk.store)
        item_code = self.items.codes(chunk.item)
        before = len(self.series)
        series = self.series.codes(store_code * (1 << 31) + item_code)  # both codes < 2**31
        day_lo, day_hi = int(chunk.day.min()), int(chunk.day.max()) + 1
        self._grow(len(self.series), day_lo, day_hi)
        if len(self.series) > before:
            new = self.series.values[before:]
            self.series_store[before : len(self.series)] = self.stores.values[new >> 31]
            self.series_item[before : len(self.series)] = self.items.values[new & ((1 << 31) - 1)]
        width = self.sales.shape[1]
        flat = series * width + (chunk.day.astype(np.int64) - self.lo)
        sales_flat, promo_flat = self.sales.reshape(-1), self.promo.reshape(-1)
        repeated = ~np.isnan(sales_flat[flat])
        order = np.argsort(flat, kind="stable")
        same = np.zeros(n, dtype=bool)
        same[order[1:]] = flat[order[1:]] == flat[order[:-1]]
        dupes = np.flatnonzero(repeated | same)
        ok = np.ones(n, dtype=bool)
        ok[dupes] = False
        sales_flat[flat[ok]] = chunk.sales[ok]
        promo_flat[flat[ok]] = chunk.promo[ok]
        self.first_seen = day_lo if self.first_seen is None else min(self.first_seen, day_lo)
        self.last_seen = day_hi - 1 if self.last_seen is None else max(self.last_seen, day_hi - 1)
        self.rows += int(ok.sum())
        return dupes

    def panel(self) -> SalesPanel:
        """The rows so far as a panel: first to last day seen, series by store then item."""
        assert self.first_seen is not None and self.last_seen is not None
        n = len(self.series)
        stores, items = self.series_store[:n], self.series_item[:n]
        order = np.lexsort((items, stores))
        a, b = self.first_seen - self.lo, self.last_seen - self.lo + 1
        if a == 0 and b == self.sales.shape[1]:
            # The days are exact (the usual case: the first and last rows of a sorted file gave
            # them): order the rows in place and give the spare rows back, no second panel.
            _permute_rows(self.sales, order)
            _permute_rows(self.promo, order)
            self.sales.resize((n, b), refcheck=False)
            self.promo.resize((n, b), refcheck=False)
            sales, promo = self.sales, self.promo
        else:
            sales = np.take(self.sales[:, a:b], order, axis=0)
            promo = np.take(self.promo[:, a:b], order, axis=0)
        # Let the builder's arrays go before returning.
        self.sales = np.zeros((0, 0), dtype=np.float32)
        self.promo = np.zeros((0, 0), dtype=np.int8)
        return SalesPanel(
            _EPOCH + pd.Timedelta(days=self.first_seen),
            stores[order].astype(np.int32),
            items[order].astype(np.int64),
            sales,
            promo,
        )


def _permute_rows(array: np.ndarray, order: np.ndarray) -> None:
    """``array[: len(order)] = array[order]`` in place, one row of scratch: each cycle of the
    permutation is walked once (a Python step per row, about a second for 210,000 rows)."""
    moved = np.flatnonzero(order != np.arange(len(order)))
    if not len(moved):
        return
    done = np.zeros(len(order), dtype=bool)
    for start in moved.tolist():
        if done[start]:
            continue
        held = array[start].copy()
        at = start
        while True:
            done[at] = True
            source = int(order[at])
            if source == start:
                array[at] = held
                break
            array[at] = array[source]
            at = source


def _series_codes(stores: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's series number (series sorted by store, then item) and the series' stores and items.

    Both keys fit one int64 (``store * (max item + 1) + item``), so one sort of plain integers
    does what factorizing a pandas MultiIndex did with per-row tuples: at 86 M rows (two years at
    Favorita's size) that took over 15 GB and minutes; this takes a few hundred MB.
    """
    if len(items) and (items.min() < 0 or stores.min() < 0):
        pairs = pd.MultiIndex.from_arrays([stores, items])  # keys a single int64 cannot order
        codes, uniques = pd.factorize(pairs, sort=True)
        return (
            codes.astype(np.int64),
            np.asarray(uniques.get_level_values(0), dtype=np.int64),
            np.asarray(uniques.get_level_values(1), dtype=np.int64),
        )
    base = int(items.max()) + 1 if len(items) else 1
    keys, codes = np.unique(stores * base + items, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), keys // base, keys % base
