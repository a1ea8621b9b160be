"""Favorita's side tables (items, stores, holidays) as typed frames with vectorised look-ups.

Features, sample weights and the metric all need item and store attributes and holiday flags.
Keeping the parsing and the look-ups here means training (which reads a directory) and the
prediction Lambda (which reads the same CSV bytes from S3 into frames) interpret the tables
identically. Look-ups never fail on unknown items or stores: a brand-new item gets missing
attributes, which LightGBM treats as "unknown", instead of crashing a forecast run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.contract.cleaning import CsvContractError, type_reference
from grocery_forecast.contract.schema import PERISHABLE_WEIGHT, REFERENCE_TABLES

__all__ = ["HOLIDAY_FLAGS", "Reference", "ReferenceTableError"]

#: Known-in-advance calendar flags derived from holidays_events, in feature order.
HOLIDAY_FLAGS: tuple[str, ...] = (
    "holiday_national",
    "holiday_additional",
    "holiday_regional",
    "holiday_local",
    "event_national",
    "work_day",
)

#: Holiday ``type`` values that make a day off (``Holiday`` only when not transferred away).
#: ``Additional`` days (the run-up to Christmas, New Year's Eve) are flagged on their own: they
#: are shopping days, not days off.
_DAY_OFF_TYPES = frozenset({"Holiday", "Transfer", "Additional", "Bridge"})


class ReferenceTableError(ValueError):
    """A reference table is missing or does not follow the Favorita layout (the problems are those
    :func:`~grocery_forecast.contract.cleaning.type_reference` finds in an upload)."""


def _typed(frames: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    try:
        return type_reference(frames[name], name, f"{name}.csv")
    except CsvContractError as exc:
        raise ReferenceTableError(str(exc)) from exc


def _read_table_file(path: Path) -> pd.DataFrame:
    """A reference file's string columns, exactly its header's (never shifted by an extra field)."""
    from grocery_forecast.contract.cleaning import CsvContractError, open_text
    from grocery_forecast.contract.fields import read_string_table

    with open(path, "rb") as raw:
        try:
            return read_string_table(open_text(raw, str(path)), str(path))
        except CsvContractError as exc:
            raise ReferenceTableError(str(exc)) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ReferenceTableError(f"{path}: malformed CSV: {exc}") from None


def _find_table(directory: Path, name: str) -> Path | None:
    for suffix in (".csv", ".csv.gz"):
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Reference:
    """Items, stores and holidays, cleaned and indexed for vectorised look-ups.

    Attributes:
        items: One row per item, indexed by ``item_nbr``: family, class, perishable.
        stores: One row per store, indexed by ``store_nbr``: city, state, type, cluster.
        holidays: holidays_events rows with parsed dates and boolean ``transferred``.
    """

    items: pd.DataFrame
    stores: pd.DataFrame
    holidays: pd.DataFrame

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame]) -> Reference:
        """Build from raw frames keyed ``items``, ``stores`` and ``holidays_events``.

        This is how the prediction Lambda builds it from CSV bytes fetched from S3; values may
        be strings (as read with ``dtype=str``) or already typed. Validated by the same
        :func:`~grocery_forecast.contract.cleaning.type_reference` as an uploaded table.

        Raises:
            ReferenceTableError: If a required table or column is missing or a value is malformed.
        """
        missing = [n for n, t in REFERENCE_TABLES.items() if t.required and n not in frames]
        if missing:
            raise ReferenceTableError(
                f"missing reference table{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                f"(got {', '.join(sorted(frames)) or 'none'})"
            )
        items = _typed(frames, "items").astype({"perishable": np.int64})
        stores = _typed(frames, "stores")
        holidays = _typed(frames, "holidays_events")
        return cls(
            items=items.set_index("item_nbr", drop=False).sort_index(),
            stores=stores.set_index("store_nbr", drop=False).sort_index(),
            holidays=holidays,
        )

    @classmethod
    def from_dir(cls, path: str | Path) -> Reference:
        """Read ``items.csv``, ``stores.csv`` and ``holidays_events.csv`` (or ``.csv.gz``) from a directory.

        Raises:
            ReferenceTableError: If the directory or a required file is missing or malformed.
        """
        directory = Path(path)
        if not directory.is_dir():
            raise ReferenceTableError(f"reference directory not found: {directory}")
        frames: dict[str, pd.DataFrame] = {}
        for name, table in REFERENCE_TABLES.items():
            if not table.required:
                continue
            found = _find_table(directory, name)
            if found is None:
                raise ReferenceTableError(f"{directory}: missing {name}.csv (required reference table)")
            frames[name] = _read_table_file(found)
        return cls.from_frames(frames)

    @classmethod
    def empty(cls) -> Reference:
        """A reference with no rows: every attribute is unknown, every weight 1.0."""
        return cls.from_frames(
            {n: pd.DataFrame(columns=list(t.columns)) for n, t in REFERENCE_TABLES.items()}
        )

    # -- look-ups ----------------------------------------------------------------------------------

    def item_attributes(self, item_nbrs: np.ndarray) -> pd.DataFrame:
        """family, class, perishable for each item (NaN / missing where the item is unknown)."""
        return self.items.reindex(np.asarray(item_nbrs, dtype=np.int64))[["family", "class", "perishable"]]

    def store_attributes(self, store_nbrs: np.ndarray) -> pd.DataFrame:
        """city, state, type, cluster for each store (missing where the store is unknown)."""
        return self.stores.reindex(np.asarray(store_nbrs, dtype=np.int64))[
            ["city", "state", "type", "cluster"]
        ]

    def perishable_weights(self, item_nbrs: np.ndarray) -> np.ndarray:
        """Favorita's metric weights: :data:`PERISHABLE_WEIGHT` for perishable items, 1.0 otherwise.

        Unknown items weigh 1.0, as the competition scored only catalogued items.
        """
        perishable = self.item_attributes(item_nbrs)["perishable"].to_numpy(dtype=np.float64)
        return np.where(perishable == 1, PERISHABLE_WEIGHT, 1.0)

    def holiday_flags(self, dates: np.ndarray, store_nbrs: np.ndarray) -> dict[str, np.ndarray]:
        """Known-in-advance holiday flags for each (date, store) pair, as ``int8`` arrays.

        A holiday moved to another day (``transferred=True``) is an ordinary day; the day it moved
        to (``Transfer``) and ``Bridge`` days are days off; national ``Additional`` days (the days
        around Christmas and New Year) get their own flag. Regional holidays match
        the store's state, local ones its city; unknown stores get only national flags.

        Args:
            dates: Target dates (anything ``pd.to_datetime`` reads), one per row.
            store_nbrs: Store of each row.
        """
        days = pd.to_datetime(np.asarray(dates)).normalize()
        stores = np.asarray(store_nbrs, dtype=np.int64)
        n = len(days)
        flags = {name: np.zeros(n, dtype=np.int8) for name in HOLIDAY_FLAGS}
        if n == 0 or self.holidays.empty:
            return flags
        # Resolve on the small grid of distinct (date, store) pairs, then gather.
        day_codes, uniq_days = pd.factorize(days)
        store_codes, uniq_stores = pd.factorize(stores)
        attrs = self.store_attributes(np.asarray(uniq_stores))
        city = attrs["city"].to_numpy(dtype=object)
        state = attrs["state"].to_numpy(dtype=object)
        h = self.holidays[self.holidays["date"].isin(uniq_days)]
        day_pos = pd.Index(uniq_days).get_indexer(h["date"])
        off = h["type"].isin(_DAY_OFF_TYPES).to_numpy() & ~h["transferred"].to_numpy(dtype=bool)
        grid = {name: np.zeros((len(uniq_days), len(uniq_stores)), dtype=np.int8) for name in HOLIDAY_FLAGS}
        locale = h["locale"].to_numpy(dtype=object)
        name = h["locale_name"].to_numpy(dtype=object)
        kind = h["type"].to_numpy(dtype=object)
        for k in range(len(h)):
            d = day_pos[k]
            if locale[k] == "National":
                if off[k] and kind[k] == "Additional":
                    grid["holiday_additional"][d, :] = 1
                elif off[k]:
                    grid["holiday_national"][d, :] = 1
                elif kind[k] == "Event":
                    grid["event_national"][d, :] = 1
                elif kind[k] == "Work Day":
                    grid["work_day"][d, :] = 1
            elif off[k] and locale[k] == "Regional":
                grid["holiday_regional"][d, state == name[k]] = 1
            elif off[k] and locale[k] == "Local":
                grid["holiday_local"][d, city == name[k]] = 1
        for key in HOLIDAY_FLAGS:
            flags[key] = grid[key][day_codes, store_codes]
        return flags

    def category_values(self) -> dict[str, list]:
        """The sorted distinct values of each categorical attribute, the basis of category maps."""
        return {
            "item_family": sorted(self.items["family"].unique().tolist()),
            "store_nbr": sorted(int(s) for s in self.stores["store_nbr"].unique()),
            "store_type": sorted(self.stores["type"].unique().tolist()),
            "store_city": sorted(self.stores["city"].unique().tolist()),
            "store_state": sorted(self.stores["state"].unique().tolist()),
        }
