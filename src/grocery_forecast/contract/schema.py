"""The data contract: which CSV files the pipeline accepts and what their columns mean.

Everything that names a column, a file kind or a default horizon lives here, so the ETL, the
features, training and the tests agree on one definition of the Favorita format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ACTUALS_COLUMNS",
    "DEFAULT_HORIZON",
    "FIRST_DATE",
    "LAST_DATE",
    "MAX_ABS_UNIT_SALES",
    "MAX_HORIZON",
    "MAX_ID",
    "MAX_STORE_NBR",
    "PERISHABLE_WEIGHT",
    "REFERENCE_TABLES",
    "REQUEST_COLUMNS",
    "FileKind",
    "ReferenceTable",
    "series_key",
]

#: Days ahead forecast after an actuals upload (the Kaggle test window is 16 days).
DEFAULT_HORIZON = 16
#: Longest horizon the model is trained for; requests further out are rejected.
MAX_HORIZON = 16
#: Favorita's NWRMSLE weight for perishable items (1.0 otherwise).
PERISHABLE_WEIGHT = 1.25

#: Dates the pipeline stores: anything outside is a typo (9999-12-31, 0017-08-15), not history.
FIRST_DATE = "1970-01-01"
LAST_DATE = "2099-12-31"
#: Largest plausible |unit_sales| of one store-item-day (Favorita's largest is 89,440): a bigger
#: value is a unit or a parsing mistake, and beyond float32's exact range in the history blobs.
MAX_ABS_UNIT_SALES = 1_000_000.0
#: Largest store_nbr (history and panels keep it as int32) and item_nbr / id (exact in float64).
MAX_STORE_NBR = 2**31 - 1
MAX_ID = 2**53

#: Kaggle train.csv without its optional leading ``id`` column.
ACTUALS_COLUMNS: tuple[str, ...] = ("date", "store_nbr", "item_nbr", "unit_sales", "onpromotion")
#: Kaggle test.csv: a forecast request, one row per (date, store, item) to forecast.
REQUEST_COLUMNS: tuple[str, ...] = ("id", "date", "store_nbr", "item_nbr", "onpromotion")


class FileKind(enum.StrEnum):
    """What an uploaded CSV is, decided from its header (never from its name alone)."""

    ACTUALS = "actuals"
    REQUEST = "request"
    REFERENCE = "reference"


@dataclass(frozen=True)
class ReferenceTable:
    """A Favorita side table uploaded once under the reference prefix."""

    name: str
    columns: tuple[str, ...]
    required: bool


REFERENCE_TABLES: dict[str, ReferenceTable] = {
    t.name: t
    for t in (
        ReferenceTable("items", ("item_nbr", "family", "class", "perishable"), required=True),
        ReferenceTable("stores", ("store_nbr", "city", "state", "type", "cluster"), required=True),
        ReferenceTable(
            "holidays_events",
            ("date", "type", "locale", "locale_name", "description", "transferred"),
            required=True,
        ),
        ReferenceTable("oil", ("date", "dcoilwtico"), required=False),
        ReferenceTable("transactions", ("date", "store_nbr", "transactions"), required=False),
    )
}


def series_key(store_nbr: int, item_nbr: int) -> str:
    """The history table's partition key for one store-item series."""
    return f"{int(store_nbr)}#{int(item_nbr)}"
