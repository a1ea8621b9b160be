"""The forecast picture: the biggest series are drawn, and a PNG is written."""

from __future__ import annotations

import pandas as pd

from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.forecasting.plots import plot_forecast, top_series


def _forecast() -> pd.DataFrame:
    days = pd.date_range("2017-08-16", periods=3)
    rows = [(d, 1, item, float(item % 7)) for d in days for item in range(10, 20)]
    return pd.DataFrame(rows, columns=["date", "store_nbr", "item_nbr", "unit_sales"])


def test_top_series_are_the_largest_totals() -> None:
    # daily forecast = item % 7: item 13 sells 6 a day, items 12 and 19 sell 5
    assert top_series(_forecast(), 1)["item_nbr"].tolist() == [13]
    assert set(top_series(_forecast(), 3)["item_nbr"]) == {12, 13, 19}


def test_plot_forecast_writes_a_png(tmp_path) -> None:
    history = SalesPanel.from_frame(
        pd.DataFrame(
            {
                "date": pd.date_range("2017-08-01", periods=15).repeat(2),
                "store_nbr": 1,
                "item_nbr": [13, 19] * 15,
                "unit_sales": 2.0,
                "onpromotion": False,
            }
        )
    )
    path = plot_forecast(history, _forecast(), pd.Timestamp("2017-08-15"), tmp_path / "f.png", series=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
