"""Read a CSV whose every row must fit its header, as string columns, without shifting a column.

pandas reads a file whose rows have one field more than the header by turning the first column
into the index: every value lands one column to the right of its name. Here the header decides
the columns: a trailing *empty* field on rows (a trailing comma, as some exports write) is
dropped; a row with a value beyond the header is a contract error naming its line.
"""

from __future__ import annotations

import csv
import warnings
from typing import IO

import pandas as pd

from grocery_forecast.contract.cleaning import MAX_PROBLEMS, CsvContractError, Problem

__all__ = ["read_string_table"]

_EXTRA = "\x00extra"


def read_string_table(text: IO[str], name: str) -> pd.DataFrame:
    """Every column of ``text`` as strings (empty stays ``""``), columns exactly the header's.

    Raises:
        pandas.errors.EmptyDataError: The file is empty.
        pandas.errors.ParserError: A row has two or more fields beyond the header, or is malformed.
        UnicodeDecodeError: Not UTF-8 (from the text stream).
        CsvContractError: A row has a non-empty field beyond the header, or a column name repeats.
    """
    header_line = text.readline()
    if not header_line.strip():
        raise pd.errors.EmptyDataError("No columns to parse from file")
    header = next(csv.reader([header_line]))
    repeated = sorted({c.strip() for c in header if [h.strip() for h in header].count(c.strip()) > 1})
    if repeated:
        raise CsvContractError(name, [Problem("repeated column name", line=1, column=repeated[0])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(
                text,
                header=None,
                names=[*header, _EXTRA],
                dtype=str,
                keep_default_na=False,
                engine="c",
                index_col=False,
            )
        except pd.errors.ParserWarning:
            raise pd.errors.ParserError(
                f"a row has two or more fields beyond the header's {len(header)}"
            ) from None
    extra = frame.pop(_EXTRA).fillna("")
    beyond = (extra.str.strip() != "").to_numpy()
    if beyond.any():
        lines = (frame.index.to_numpy() + 2)[beyond]
        raise CsvContractError(
            name,
            [
                Problem(
                    "a row has more fields than the header",
                    line=int(line),
                    expected=f"{len(header)} comma-separated fields: {','.join(h.strip() for h in header)}",
                    found=str(value)[:80],
                )
                for line, value in zip(lines[:MAX_PROBLEMS], extra[beyond][:MAX_PROBLEMS], strict=False)
            ],
            total=int(beyond.sum()),
        )
    return frame
