"""The data contract at the door: every kind of bad file is named precisely, good files are typed."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.cleaning import CsvContractError, read_actuals, read_reference, read_table
from grocery_forecast.contract.schema import FileKind

HEADER = "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
GOOD = HEADER + "2017-01-01,1,103665,2.0,\n2017-01-01,1,105574,-1.5,True\n2017-01-02,1,105574,3.25,False\n"


def _read(data: bytes | str, name: str = "upload.csv"):
    return read_table(io.BytesIO(data.encode() if isinstance(data, str) else data), name)


def _problems(data: bytes | str, name: str = "upload.csv") -> CsvContractError:
    with pytest.raises(CsvContractError) as info:
        _read(data, name)
    assert info.value.file == name
    return info.value


def test_a_kaggle_train_file_is_typed_with_returns_kept_and_empty_promotion_false() -> None:
    kind, frame = _read(GOOD)
    assert kind is FileKind.ACTUALS
    assert frame["date"].dtype == "datetime64[ns]"
    assert frame["unit_sales"].tolist() == [2.0, -1.5, 3.25]
    assert frame["onpromotion"].tolist() == [False, True, False]
    assert frame["line"].tolist() == [2, 3, 4]


def test_the_id_column_of_train_csv_is_optional() -> None:
    kind, frame = _read("id,date,store_nbr,item_nbr,unit_sales,onpromotion\n7,2017-01-01,1,2,3,False\n")
    assert kind is FileKind.ACTUALS and frame["id"].tolist() == [7]


def test_a_forecast_request_is_recognised_from_its_header() -> None:
    kind, frame = _read("id,date,store_nbr,item_nbr,onpromotion\n125497040,2017-08-16,1,96995,False\n")
    assert kind is FileKind.REQUEST and "unit_sales" not in frame


def test_bom_and_gzip_are_accepted() -> None:
    assert len(_read(b"\xef\xbb\xbf" + GOOD.encode())[1]) == 3
    assert len(_read(gzip.compress(GOOD.encode()), "upload.csv.gz")[1]) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty"),
        (HEADER, "no data rows"),
        ("date;store_nbr;item_nbr;unit_sales;onpromotion\n2017-01-01;1;2;3;True\n", "semicolons"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\x00\x01\x02binary", "NUL"),
        (HEADER.encode() + b"2017-01-01,1,2,3\xff,True\n", "UTF-8"),
        ("date,store,item_nbr,unit_sales,onpromotion\n2017-01-01,1,2,3,True\n", "missing column"),
        ("a,b\n1,2\n", "neither an actuals file nor a forecast request"),
    ],
)
def test_files_that_are_not_the_contract_are_rejected_whole(data: bytes | str, message: str) -> None:
    assert message in str(_problems(data))


@pytest.mark.parametrize(
    ("row", "column", "found"),
    [
        ("2017-02-30,1,2,3,True", "date", "2017-02-30"),
        ("17/01/2017,1,2,3,True", "date", "17/01/2017"),
        ("2017-01-01,x,2,3,True", "store_nbr", "x"),
        ("2017-01-01,1,2.5,3,True", "item_nbr", "2.5"),
        ("2017-01-01,1,2,,True", "unit_sales", ""),
        ("2017-01-01,1,2,NaN,True", "unit_sales", "NaN"),
        ("2017-01-01,1,2,inf,True", "unit_sales", "inf"),
        ("2017-01-01,1,2,3,maybe", "onpromotion", "maybe"),
        # Values that parse but would be stored wrong: a year that overflows timestamps, a
        # quantity beyond float32's exact range, a store number beyond int32.
        ("9999-12-31,1,2,3,True", "date", "9999-12-31"),
        ("1900-01-01,1,2,3,True", "date", "1900-01-01"),
        ("2017-01-01,1,2,1e308,True", "unit_sales", "1e308"),
        ("2017-01-01,1,2,-2000000,True", "unit_sales", "-2000000"),
        ("2017-01-01,3000000000,2,3,True", "store_nbr", "3000000000"),
    ],
)
def test_a_bad_value_is_reported_with_its_line_column_and_expectation(
    row: str, column: str, found: str
) -> None:
    error = _problems(HEADER + "2017-01-01,1,1,1,False\n" + row + "\n")
    problem = error.problems[0]
    assert (problem.line, problem.column, problem.found) == (3, column, found)
    assert problem.expected
    assert f"line 3, column '{column}'" in str(error)


def test_a_request_with_one_id_on_two_rows_is_rejected() -> None:
    request = "id,date,store_nbr,item_nbr,onpromotion\n7,2017-08-16,1,2,False\n8,2017-08-16,1,3,False\n7,2017-08-17,1,2,False\n"
    error = _problems(request)
    assert (error.problems[0].line, error.problems[0].column, error.problems[0].found) == (4, "id", "7")
    assert "first seen on line 2" in str(error)


def test_duplicate_rows_name_both_lines() -> None:
    error = _problems(HEADER + "2017-01-01,1,2,3,True\n2017-01-02,1,2,3,True\n2017-01-01,1,2,4,False\n")
    assert error.problems[0].line == 4
    assert "line 2" in error.problems[0].expected


def test_problem_count_is_exact_even_when_the_list_is_capped() -> None:
    rows = "".join(f"2017-01-{(i % 28) + 1:02d},1,{i + 1},oops,True\n" for i in range(500))
    error = _problems(HEADER + rows)
    assert error.total == 500 and len(error.problems) == 20
    assert "and 480 more" in str(error)


def test_a_malformed_row_is_reported() -> None:
    assert "malformed CSV" in str(_problems(HEADER + "2017-01-01,1,2,3,True,extra,fields\n"))


def test_read_actuals_filters_by_date_before_parsing(tmp_path) -> None:
    path = tmp_path / "train.csv"
    # the bad row is outside the window: skipping it proves the filter runs before validation
    path.write_text(HEADER + "2016-12-31,1,2,oops,True\n2017-01-01,1,2,3,True\n2017-01-05,1,2,4,\n")
    frame = read_actuals(str(path), since="2017-01-01", until="2017-01-04")
    assert frame["date"].tolist() == [pd.Timestamp("2017-01-01")]
    assert "line" not in frame


def test_chunked_reading_keeps_line_numbers_across_chunks() -> None:
    rows = [f"2017-01-01,1,{i + 1},1,False" for i in range(25)]
    rows[17] = "2017-01-01,1,18,bad,False"
    with pytest.raises(CsvContractError) as info:
        read_table(io.BytesIO((HEADER + "\n".join(rows) + "\n").encode()), "x.csv", chunk_rows=4)
    assert info.value.problems[0].line == 19


def test_reference_tables_are_typed_and_checked() -> None:
    items = read_reference(
        io.BytesIO(b"item_nbr,family,class,perishable\n96995,GROCERY I,1093,0\n"), "items", "i.csv"
    )
    assert items["perishable"].dtype == np.bool_ and items["class"].tolist() == [1093]
    with pytest.raises(CsvContractError, match="perishable"):
        read_reference(io.BytesIO(b"item_nbr,family,class,perishable\n1,A,2,maybe\n"), "items", "i.csv")
    with pytest.raises(CsvContractError, match="unknown reference table"):
        read_reference(io.BytesIO(b"a\n1\n"), "prices", "prices.csv")
