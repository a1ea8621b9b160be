"""Reading a date range of a date-sorted train.csv without reading the rest."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.cleaning import CsvContractError, read_actuals
from grocery_forecast.contract.date_span import find_date_span


def _train_csv(path, days: int = 120, per_day: int = 300, with_id: bool = True, shuffle: bool = False):
    """A Kaggle-shaped train.csv, sorted by date unless ``shuffle``."""
    rng = np.random.default_rng(0)
    dates = np.repeat(pd.date_range("2017-01-01", periods=days).strftime("%Y-%m-%d"), per_day)
    frame = pd.DataFrame(
        {
            "date": dates,
            "store_nbr": np.tile(np.arange(per_day) % 7 + 1, days),
            "item_nbr": np.tile(np.arange(per_day) // 7 + 1000, days),
            "unit_sales": rng.integers(-1, 30, size=len(dates)).astype(float),
            "onpromotion": np.where(rng.random(len(dates)) < 0.1, "True", ""),
        }
    )
    if with_id:
        frame.insert(0, "id", np.arange(len(frame)))
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=1)
    frame.to_csv(path, index=False)
    return frame


def _full_scan(path, since, until) -> pd.DataFrame:
    """The reference: every row read and filtered (what a gzipped file gets)."""
    gz = path.with_suffix(".csv.gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert find_date_span(gz, since, until) is None
    return read_actuals(str(gz), since=since, until=until)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2017-02-10", "2017-03-01"),
        ("2017-04-20", None),
        (None, "2017-01-03"),
        ("2016-01-01", "2017-01-01"),
        ("2017-04-30", "2018-01-01"),
        ("2018-01-01", None),
    ],
)
def test_a_sorted_file_gives_the_rows_a_full_scan_gives(tmp_path, since, until) -> None:
    path = tmp_path / "train.csv"
    _train_csv(path)
    span = find_date_span(path, since, until)
    assert span is not None
    fast = read_actuals(str(path), since=since, until=until)
    pd.testing.assert_frame_equal(fast, _full_scan(path, since, until))
    if since == "2017-04-20":  # it really skipped: the span starts past most of the file
        assert span.start > 0.8 * path.stat().st_size


def test_line_numbers_in_errors_stay_those_of_the_whole_file(tmp_path) -> None:
    path = tmp_path / "train.csv"
    _train_csv(path, with_id=False)
    lines = path.read_text().splitlines()
    bad = 300 * 50 + 7  # a row of 2017-02-20 (0-based index in lines, header first)
    fields = lines[bad].split(",")
    lines[bad] = ",".join([fields[0], fields[1], fields[2], "lots", fields[4]])
    path.write_text("\n".join(lines) + "\n")
    assert find_date_span(path, "2017-02-01", None) is not None
    with pytest.raises(CsvContractError) as caught:
        read_actuals(str(path), since="2017-02-01")
    assert f"line {bad + 1}" in str(caught.value) and "unit_sales" in str(caught.value)


def test_an_unsorted_file_is_read_whole(tmp_path) -> None:
    path = tmp_path / "train.csv"
    _train_csv(path, shuffle=True)
    assert find_date_span(path, "2017-03-01", None) is None
    frame = read_actuals(str(path), since="2017-03-01")
    assert len(frame) == 300 * (120 - 59) and frame["date"].min() == pd.Timestamp("2017-03-01")


def test_no_range_or_no_date_column_means_no_span(tmp_path) -> None:
    path = tmp_path / "train.csv"
    _train_csv(path)
    assert find_date_span(path, None, None) is None
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert find_date_span(other, "2017-01-01", None) is None
