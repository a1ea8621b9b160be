"""read_panel: a sales file streamed straight into the panel, equal to the long-frame route."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.cleaning import CsvContractError, read_actuals
from grocery_forecast.forecasting.datagen import GeneratorConfig, generate, write_dataset
from grocery_forecast.forecasting.panel import SalesPanel, read_panel, read_sales

from .conftest import FAVORITA_DIR


def _assert_same(a: SalesPanel, b: SalesPanel) -> None:
    assert a.start == b.start
    for name in ("stores", "items", "sales", "promo"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stream")
    write_dataset(out, generate(GeneratorConfig(seed=3, stores=3, items=25, days=90)))
    return out / "train.csv"


def _shuffled(src: Path, dst: Path, seed: int = 0) -> Path:
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    frame = frame.sample(frac=1.0, random_state=seed)
    frame.to_csv(dst, index=False, lineterminator="\n")
    return dst


def test_streamed_panel_equals_the_long_frame_route(train_csv: Path) -> None:
    expected = SalesPanel.from_frame(read_sales(train_csv))
    _assert_same(read_panel(train_csv, chunk_rows=777), expected)


@pytest.mark.skipif(
    not (FAVORITA_DIR / "train_sample.csv").exists(), reason="real Favorita sample not available"
)
def test_the_real_favorita_sample_reads_the_same() -> None:
    """Real quirks: ids, empty promotions (before 2014), returns, kilos, sparse series; a window
    (the whole 4.6 years make a 68,000 x 1,688 panel: 0.6 GB twice, too much for a unit test)."""
    path = FAVORITA_DIR / "train_sample.csv"
    for since, until in (("2013-06-01", "2014-03-01"), ("2017-03-01", None)):
        expected = SalesPanel.from_frame(read_sales(path, since, until))
        _assert_same(read_panel(path, since, until, chunk_rows=30_000), expected)


def test_unsorted_rows_and_gzip_give_the_same_panel(train_csv: Path, tmp_path: Path) -> None:
    """Rows in any order grow both axes of the arrays (new series, days before and after)."""
    shuffled = _shuffled(train_csv, tmp_path / "train.csv")
    zipped = tmp_path / "train.csv.gz"
    zipped.write_bytes(gzip.compress(shuffled.read_bytes()))
    expected = SalesPanel.from_frame(read_sales(train_csv))
    _assert_same(read_panel(shuffled, chunk_rows=500), expected)
    _assert_same(read_panel(zipped, chunk_rows=500), expected)


def test_a_date_window_keeps_the_same_days(train_csv: Path, tmp_path: Path) -> None:
    shuffled = _shuffled(train_csv, tmp_path / "train.csv", seed=1)
    expected = SalesPanel.from_frame(read_sales(train_csv, "2016-09-01", "2016-10-15"))
    _assert_same(read_panel(train_csv, "2016-09-01", "2016-10-15", chunk_rows=1000), expected)
    _assert_same(read_panel(shuffled, "2016-09-01", "2016-10-15", chunk_rows=1000), expected)


def test_values_only_the_contract_reader_accepts_take_the_validating_path(tmp_path: Path) -> None:
    """Spaces, 't'/'yes', empty promotions, '3.0' as a store: accepted as read_actuals accepts them."""
    path = tmp_path / "odd.csv"
    path.write_text(
        "date,store_nbr,item_nbr,unit_sales,onpromotion\n"
        "2017-01-02, 1 ,10,1.5,t\n"
        "2017-01-01,3.0,10,2,\n"
        " 2017-01-03,1,10,-1,yes\n"
        "2017-01-01,1,11,0.25,False\n"
    )
    expected = SalesPanel.from_frame(read_sales(path))
    _assert_same(read_panel(path), expected)
    np.testing.assert_array_equal(expected.promo[0], [0, 1, 1])


def test_duplicate_rows_are_refused_naming_the_later_line(train_csv: Path, tmp_path: Path) -> None:
    lines = train_csv.read_text().splitlines()
    path = tmp_path / "dup.csv"
    # The duplicate of line 3 comes many chunks later: only the panel can see it.
    path.write_text("\n".join([*lines, lines[2]]) + "\n")
    with pytest.raises(CsvContractError) as info:
        read_panel(path, chunk_rows=500)
    problems = info.value.problems
    assert [(p.line, p.column) for p in problems] == [(len(lines) + 1, "date,store_nbr,item_nbr")]
    assert "duplicate row" in problems[0].message
    with pytest.raises(CsvContractError):  # the long-frame route refuses the same file
        read_actuals(str(path))


def test_a_bad_file_gets_the_contract_readers_problems(train_csv: Path, tmp_path: Path) -> None:
    lines = train_csv.read_text().splitlines()
    lines[5] = lines[5].replace("False", "maybe").replace("True", "maybe")
    lines[4000] = ",".join(f if i != 4 else "lots" for i, f in enumerate(lines[4000].split(",")))
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CsvContractError) as streamed:
        read_panel(path, chunk_rows=1000)
    with pytest.raises(CsvContractError) as whole:
        read_actuals(str(path))

    def problems(error: CsvContractError) -> list[dict]:
        return sorted((p.to_dict() for p in error.problems), key=lambda d: d["line"])

    assert problems(streamed.value) == problems(whole.value)
    assert {p.line for p in streamed.value.problems} == {6, 4001}


def test_a_forecast_request_is_refused(train_csv: Path) -> None:
    with pytest.raises(CsvContractError, match="forecast request"):
        read_panel(train_csv.with_name("test.csv"))


def test_no_rows_in_the_window_is_a_value_error(train_csv: Path) -> None:
    with pytest.raises(ValueError, match="no sales rows"):
        read_panel(train_csv, "2030-01-01", "2030-02-01")


def _dense_file(path: Path, n_series: int, n_days: int, keep: float, seed: int) -> None:
    """Every store-item-day of a panel (``keep`` of them), sorted by date; first and last day full."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_days), n_series)
    series = np.tile(np.arange(n_series), n_days)
    kept = (rng.random(len(day)) < keep) | (day == 0) | (day == n_days - 1)
    dates = pd.date_range("2016-01-01", periods=n_days).strftime("%Y-%m-%d").to_numpy()
    pd.DataFrame(
        {
            "date": dates[day[kept]],
            "store_nbr": 1 + series[kept] % 7,
            "item_nbr": 100 + series[kept] // 7,
            "unit_sales": np.round(rng.gamma(2.0, 3.0, size=int(kept.sum())), 2),
            "onpromotion": np.where(rng.random(int(kept.sum())) < 0.1, "True", "False"),
        }
    ).to_csv(path, index=False, lineterminator="\n")


def _traced_peak(path: Path) -> tuple[int, SalesPanel]:
    tracemalloc.start()
    try:
        panel = read_panel(path, chunk_rows=5_000)
        return tracemalloc.get_traced_memory()[1], panel
    finally:
        tracemalloc.stop()


def test_reading_memory_does_not_grow_with_the_number_of_rows(tmp_path: Path) -> None:
    """Same panel, ten times the rows: the peak stays about the panel plus one chunk.

    The long-frame route holds every row (its peak grew with the file: 12.4 GB for 86 M rows);
    the streamed one holds the panel's arrays and one chunk.
    """
    sparse, dense = tmp_path / "sparse.csv", tmp_path / "dense.csv"
    _dense_file(sparse, 500, 300, keep=0.08, seed=1)
    _dense_file(dense, 500, 300, keep=1.0, seed=2)
    assert dense.stat().st_size > 8 * sparse.stat().st_size
    read_panel(sparse)  # the first call's imports are not the reader's memory
    peak_sparse, panel_sparse = _traced_peak(sparse)
    peak_dense, panel = _traced_peak(dense)
    assert panel.sales.shape == panel_sparse.sales.shape == (500, 300)
    panel_bytes = panel.sales.nbytes + panel.promo.nbytes
    assert peak_dense < 1.3 * peak_sparse, (peak_sparse, peak_dense)
    assert peak_dense < 3 * panel_bytes + 8_000_000, (peak_dense, panel_bytes)
    tracemalloc.start()
    try:
        read_actuals(str(dense))
        frame_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frame_peak > 3 * peak_dense, (frame_peak, peak_dense)
