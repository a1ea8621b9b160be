"""NWRMSLE, Favorita's metric."""

from __future__ import annotations

import numpy as np
import pytest

from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group


def test_matches_a_hand_computation_with_weights() -> None:
    y, p, w = np.array([0.0, 3.0, 10.0]), np.array([1.0, 3.0, 4.0]), np.array([1.0, 1.25, 1.0])
    expected = np.sqrt((np.log(2) ** 2 + 0.0 + (np.log(5) - np.log(11)) ** 2) / 3.25)
    assert nwrmsle(y, p, w) == pytest.approx(expected)


def test_perfect_forecast_scores_zero_and_weights_default_to_one() -> None:
    y = np.array([0.0, 2.5, 7.0])
    assert nwrmsle(y, y) == 0.0
    assert nwrmsle(y, y + 1) == pytest.approx(nwrmsle(y, y + 1, np.ones(3)))


def test_negative_sales_and_forecasts_count_as_zero() -> None:
    assert nwrmsle(np.array([-3.0, 2.0]), np.array([0.0, -1.0])) == pytest.approx(
        nwrmsle([0.0, 2.0], [0.0, 0.0])
    )


def test_by_group_splits_rows_and_agrees_with_the_whole() -> None:
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 5.0, 4.0])
    groups = np.array([2, 1, 1, 2])
    scores = nwrmsle_by_group(y, p, None, groups)
    assert list(scores) == [1, 2]
    assert scores[2] == 0.0
    assert scores[1] == pytest.approx(nwrmsle(y[[1, 2]], p[[1, 2]]))


@pytest.mark.parametrize(
    ("y", "p", "w", "message"),
    [
        ([1.0], [1.0, 2.0], None, "length mismatch"),
        ([], [], None, "empty"),
        ([np.nan], [1.0], None, "finite"),
        ([1.0], [1.0], [0.0], "weights"),
    ],
)
def test_bad_input_raises(y: list, p: list, w: list | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nwrmsle(np.array(y), np.array(p), None if w is None else np.array(w))
