"""SalesPanel: the one shape features are computed from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.forecasting.panel import SalesPanel


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2017-01-01", "2017-01-03", "2017-01-02"]),
            "store_nbr": [1, 1, 2],
            "item_nbr": [10, 10, 10],
            "unit_sales": [1.5, -2.0, 3.0],
            "onpromotion": [True, False, False],
        }
    )


def test_pivot_keeps_no_row_days_distinct_from_zero_sales() -> None:
    panel = SalesPanel.from_frame(_frame())
    assert (panel.n_series, panel.n_days) == (2, 3)
    np.testing.assert_array_equal(panel.sales[0], [1.5, np.nan, -2.0])
    np.testing.assert_array_equal(panel.sales_filled()[0], [1.5, 0.0, -2.0])
    np.testing.assert_array_equal(panel.promo[0], [1, 0, 0])


def test_round_trip_to_a_long_table() -> None:
    back = SalesPanel.from_frame(_frame()).to_frame()
    expected = _frame().sort_values(["date", "store_nbr", "item_nbr"], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_duplicate_keys_raise_naming_the_row() -> None:
    frame = pd.concat([_frame(), _frame().iloc[[0]]])
    with pytest.raises(ValueError, match="store 1, item 10 on 2017-01-01"):
        SalesPanel.from_frame(frame)


def test_window_pads_days_outside_the_panel_with_no_rows() -> None:
    window = SalesPanel.from_frame(_frame()).window("2016-12-31", "2017-01-02")
    np.testing.assert_array_equal(window.sales[0], [np.nan, 1.5, np.nan])
    assert window.start == pd.Timestamp("2016-12-31")


def test_index_of_finds_series_and_marks_missing_ones() -> None:
    panel = SalesPanel.from_frame(_frame())
    np.testing.assert_array_equal(panel.index_of([2, 1, 5], [10, 10, 10]), [1, 0, -1])


def test_from_frame_orders_series_by_store_then_item_and_refuses_duplicates() -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2017-01-02", "2017-01-01", "2017-01-01", "2017-01-03"]),
            "store_nbr": [2, 10, 2, 1],
            "item_nbr": [5, 3, 700000, 700000],
            "unit_sales": [1.0, 2.0, 3.0, 4.0],
            "onpromotion": [True, False, None, False],
        }
    )
    panel = SalesPanel.from_frame(frame)
    assert list(zip(panel.stores.tolist(), panel.items.tolist(), strict=True)) == [
        (1, 700000),
        (2, 5),
        (2, 700000),
        (10, 3),
    ]
    assert panel.sales[1, 1] == 1.0 and panel.promo[1, 1] == 1 and panel.sales[2, 0] == 3.0
    with pytest.raises(ValueError, match="duplicate rows for store 2, item 5 on 2017-01-02"):
        SalesPanel.from_frame(pd.concat([frame, frame.iloc[:1]]))


def test_a_shared_window_inside_the_panel_is_a_read_only_view() -> None:
    panel = SalesPanel.from_frame(_frame())
    assert not np.shares_memory(
        panel.window("2017-01-02", "2017-01-03").sales, panel.sales
    )  # default: a copy
    inside = panel.window("2017-01-02", "2017-01-03", share=True)
    assert np.shares_memory(inside.sales, panel.sales) and np.shares_memory(inside.promo, panel.promo)
    np.testing.assert_array_equal(inside.sales[0], [np.nan, -2.0])
    with pytest.raises(ValueError, match="read-only"):
        inside.sales[0, 0] = 1.0
    padded = panel.window("2017-01-02", "2017-01-05", share=True)
    assert not np.shares_memory(padded.sales, panel.sales)
    padded.sales[0, 0] = 1.0  # a padded window is the caller's own copy
    assert np.isnan(panel.sales[0, 1])
