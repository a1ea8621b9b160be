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

import numpy as np
import pandas as pd

__all__ = ["SalesPanel", "read_sales"]


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

    def sales_filled(self) -> np.ndarray:
        """Sales with absent rows as zeros: the Favorita reading of "no row"."""
        return np.nan_to_num(self.sales, nan=0.0)

    # -- slicing -------------------------------------------------------------------------------

    def take(self, rows: np.ndarray) -> SalesPanel:
        """A panel of the given rows (series), same dates."""
        rows = np.asarray(rows, dtype=np.int64)
        return SalesPanel(self.start, self.stores[rows], self.items[rows], self.sales[rows], self.promo[rows])

    def window(self, first: pd.Timestamp | str, last: pd.Timestamp | str) -> SalesPanel:
        """The panel restricted (or padded with no-row days) to ``[first, last]``."""
        first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
        if last < first:
            raise ValueError(f"empty window: {first.date()} .. {last.date()}")
        n_days = (last - first).days + 1
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
