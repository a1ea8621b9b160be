"""Baselines: what the model has to beat, computed from a SalesPanel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.forecasting.baselines import BASELINES, baseline_forecast, dow_mean, last_value, zeros
from grocery_forecast.forecasting.panel import SalesPanel


def _panel() -> SalesPanel:
    # One series over 35 days: value = day number, with a return on the last day of week 4.
    sales = np.arange(1, 36, dtype=np.float32)[None, :].copy()
    sales[0, 20] = np.nan  # no row: a zero
    sales[0, 34] = -2.0  # a return on the origin day
    return SalesPanel(
        pd.Timestamp("2017-01-01"),
        np.array([1], np.int32),
        np.array([10]),
        sales,
        np.zeros_like(sales, dtype=np.int8),
    )


def _targets(days: list[int], store: int = 1, item: int = 10) -> pd.DataFrame:
    dates = pd.Timestamp("2017-02-04") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"store_nbr": store, "item_nbr": item, "date": dates, "onpromotion": False})


def test_zeros_and_last_value() -> None:
    panel, origin = _panel(), pd.Timestamp("2017-02-04")  # day index 34
    targets = _targets([1, 5])
    assert zeros(panel, origin, targets).tolist() == [0.0, 0.0]
    assert last_value(panel, origin, targets).tolist() == [0.0, 0.0]  # a return clips to 0
    assert last_value(panel, origin - pd.Timedelta(days=1), _targets([0])).tolist() == [34.0]


def test_dow_mean_uses_the_last_four_same_weekdays_with_zeros() -> None:
    panel, origin = _panel(), pd.Timestamp("2017-02-04")
    # 1 day ahead: same weekday as day indexes 28, 21, 14, 7 -> values 29, 22, 15, 8.
    # 8 days ahead: same weekday, one more week back is not needed: still 28, 21, 14, 7.
    # 7 days ahead: the origin's weekday: 34 (return -> 0), 27, 20 (no row -> 0), 13.
    got = dow_mean(panel, origin, _targets([1, 8, 7]))
    np.testing.assert_allclose(got, [(29 + 22 + 15 + 8) / 4, (29 + 22 + 15 + 8) / 4, (0 + 28 + 0 + 14) / 4])


def test_dow_mean_on_short_history_averages_what_exists() -> None:
    panel = _panel().window("2017-01-22", "2017-02-04")  # 14 days: two of each weekday
    got = dow_mean(panel, pd.Timestamp("2017-02-04"), _targets([1]))
    np.testing.assert_allclose(got, [(29 + 22) / 2])


def test_unknown_series_forecast_zero_and_targets_must_follow_the_origin() -> None:
    panel, origin = _panel(), pd.Timestamp("2017-02-04")
    for name in BASELINES:
        assert baseline_forecast(name, panel, origin, _targets([1], item=99)).tolist() == [0.0]
    with pytest.raises(ValueError, match="after the forecast origin"):
        dow_mean(panel, origin, _targets([0]))
    with pytest.raises(KeyError, match="unknown baseline"):
        baseline_forecast("naive", panel, origin, _targets([1]))


def test_moving_median_is_the_median_of_log_window_means() -> None:
    from grocery_forecast.forecasting.baselines import moving_median

    panel, origin = _panel(), pd.Timestamp("2017-02-04")  # 35 known days: windows 7, 14, 28 fit
    x = np.log1p(np.clip(np.nan_to_num(panel.sales[0], nan=0.0), 0, None).astype(np.float64))[::-1]
    expected = np.expm1(np.median([x[:7].mean(), x[:14].mean(), x[:28].mean()]))
    got = moving_median(panel, origin, _targets([1, 9, 16]))
    np.testing.assert_allclose(got, [expected] * 3)
    # Five days known: no window fits, the mean over what exists.
    short = panel.window("2017-01-31", "2017-02-04")
    np.testing.assert_allclose(moving_median(short, origin, _targets([1])), [np.expm1(x[:5].mean())])


def test_moving_median_dow_adds_the_weekday_profile() -> None:
    from grocery_forecast.forecasting.baselines import moving_median, moving_median_dow

    # Sells 20 on Saturdays, 2 on other days, for 8 weeks: the profile lifts Saturdays only.
    days = 56
    sales = np.where(np.arange(days) % 7 == 6, 20.0, 2.0).astype(np.float32)[None, :]
    panel = SalesPanel(
        pd.Timestamp("2017-01-01"),
        np.array([1], np.int32),
        np.array([10]),
        sales,
        np.zeros_like(sales, np.int8),
    )
    origin = panel.end  # 2017-02-25, a Saturday (day 55: 55 % 7 == 6)
    assert origin.day_name() == "Saturday"
    flat = moving_median(
        panel, origin, _targets([1, 7], item=10).assign(date=[origin + pd.Timedelta(days=d) for d in (1, 7)])
    )
    got = moving_median_dow(
        panel, origin, _targets([1, 7]).assign(date=[origin + pd.Timedelta(days=d) for d in (1, 7)])
    )
    assert flat[0] == flat[1]
    np.testing.assert_allclose(got, [2.0, 20.0], rtol=1e-6)


def test_best_baseline_and_every_report_name() -> None:
    from grocery_forecast.forecasting.baselines import best_baseline

    assert list(BASELINES) == ["zeros", "last_value", "dow_mean", "moving_median", "moving_median_dow"]
    assert best_baseline({"zeros": 1.0, "dow_mean": 0.5, "moving_median": 0.4}) == "moving_median"
