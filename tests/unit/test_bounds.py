"""Bounded input: size, line length and rows are checked on the decompressed stream as it is read."""

from __future__ import annotations

import gzip
import io

import pytest

from grocery_forecast.contract.bounds import BoundedReader, InputLimits
from grocery_forecast.contract.cleaning import CsvContractError, read_table

HEADER = b"date,store_nbr,item_nbr,unit_sales,onpromotion\n"
ROWS = b"".join(b"2017-01-%02d,1,%d,3,False\n" % (d, i) for d in range(1, 29) for i in range(1, 200))


def _read(data: bytes, limits: InputLimits | None = None, name: str = "f.csv"):
    return read_table(io.BufferedReader(BoundedReader(io.BytesIO(data), name, limits), 1 << 16), name)


def test_files_within_the_limits_read_as_before_plain_or_gzipped() -> None:
    assert len(_read(HEADER + ROWS)[1]) == 28 * 199
    assert len(_read(gzip.compress(HEADER + ROWS), name="f.csv.gz")[1]) == 28 * 199


def test_a_gzip_bomb_stops_at_the_decompressed_size_limit() -> None:
    bomb = gzip.compress(HEADER + b"2017-01-01,1,1,3,False\n" * 200_000)  # 4.6 MB from ~20 kB
    with pytest.raises(CsvContractError, match="larger than 1,000,000 bytes"):
        _read(bomb, InputLimits(max_bytes=1_000_000), "bomb.csv.gz")


def test_a_line_over_the_limit_is_named_by_its_number() -> None:
    data = HEADER + ROWS.replace(b"2017-01-05,1,7,3,False", b"2017-01-05,1,7,3,False" + b"x" * 300)
    with pytest.raises(CsvContractError) as caught:
        _read(data, InputLimits(max_line_bytes=200))
    assert caught.value.problems[0].line == 4 * 199 + 6 + 2


def test_a_file_without_line_breaks_stops_at_the_line_limit() -> None:
    with pytest.raises(CsvContractError, match="longer than 200 bytes"):
        _read(b"a" * 100_000, InputLimits(max_line_bytes=200))


def test_rows_past_the_limit_are_refused_with_what_to_do() -> None:
    with pytest.raises(CsvContractError) as caught:
        _read(HEADER + ROWS, InputLimits(max_rows=1000))
    assert "more than 1,000 rows" in str(caught.value) and "split the file" in str(caught.value)
