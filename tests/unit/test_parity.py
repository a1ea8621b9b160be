"""Train/serve parity: one origin built the training way and the serving way gives the same features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.contract.schema import FileKind
from grocery_forecast.forecasting.baselines import moving_median
from grocery_forecast.forecasting.features import FeatureSpec, build_features
from grocery_forecast.forecasting.panel import SalesPanel
from grocery_forecast.pipeline.forecast import fallback_reason, forecast_frame, read_history

from .conftest import tiny_panel, tiny_reference
from .fakes import FakeDynamo

SPEC = FeatureSpec()


def _stored(panel: SalesPanel) -> DynamoHistoryStore:
    store = DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)
    store.upsert(panel.to_frame())
    return store


def _targets(panel: SalesPanel, origin: pd.Timestamp, days: int = 16) -> pd.DataFrame:
    dates = pd.date_range(origin + pd.Timedelta(days=1), periods=days)
    return pd.DataFrame(
        {
            "store_nbr": np.repeat(panel.stores.astype(np.int64), days),
            "item_nbr": np.repeat(panel.items, days),
            "date": np.tile(dates.to_numpy(), panel.n_series),
            "onpromotion": False,
        }
    )


def test_days_before_the_first_stored_day_are_unknown_in_serving_as_in_training() -> None:
    # 60 days of history, shorter than the 112-day lookback the serving step reads.
    panel = tiny_panel(days=60)
    origin = panel.end
    targets = _targets(panel, origin)
    reference = tiny_reference()
    training = build_features(panel, origin, targets, reference, SPEC)
    served_panel = read_history(_stored(panel), targets, origin, SPEC.lookback_days)
    serving = build_features(served_panel, origin, targets, reference, SPEC)
    pd.testing.assert_frame_equal(serving, training)
    assert training["history_days"].iloc[0] == 60
    # The old read (the whole lookback, days before the first stored day as days without sales)
    # would have told the model 112 days of history and diluted every long window.
    padded = panel.window(origin - pd.Timedelta(days=SPEC.lookback_days - 1), origin)
    old = build_features(padded, origin, targets, reference, SPEC)
    assert old["history_days"].iloc[0] == SPEC.lookback_days
    assert not np.allclose(old["sales_mean_w112"], training["sales_mean_w112"])


def test_serving_falls_back_to_moving_median_below_two_weeks_and_says_why() -> None:
    reference_panel = tiny_panel(days=10)
    origin = reference_panel.end
    targets = _targets(reference_panel, origin)
    served = read_history(_stored(reference_panel), targets, origin, SPEC.lookback_days)
    # The model is not consulted below the minimum (None would fail if it were).
    forecast, reason = forecast_frame(None, served, origin, targets, None, "actuals")
    assert reason is not None and "history of 10 days" in reason and "moving_median" in reason
    assert reason == fallback_reason(served, origin)
    np.testing.assert_allclose(
        forecast["unit_sales"], moving_median(reference_panel, origin, targets), atol=5e-5
    )
    long_panel = tiny_panel(days=14)
    served = read_history(_stored(long_panel), targets, long_panel.end, SPEC.lookback_days)
    assert fallback_reason(served, long_panel.end) is None


def test_sales_uploads_forecast_with_promotions_unknown_as_training_showed_the_model() -> None:
    from grocery_forecast.forecasting.features import feature_names, fit_category_maps
    from grocery_forecast.forecasting.model import TrainConfig, _training_set
    from grocery_forecast.pipeline.forecast import forecast_targets

    panel, reference = tiny_panel(days=60), tiny_reference()
    names = feature_names(SPEC)
    config = TrainConfig(max_origins=6, unknown_promo_share=0.3)
    data = _training_set(panel, panel.end, reference, SPEC, fit_category_maps(reference, panel), config, None)
    known = data.x[:, names.index("promo_known")]
    promo = data.x[:, names.index("onpromotion")]
    assert set(np.unique(known)) == {0.0, 1.0} and 0.2 < (known == 0).mean() < 0.4
    assert np.isnan(promo[known == 0]).all() and not np.isnan(promo[known == 1]).any()
    # Serving a sales upload: every future promotion is unknown, encoded the same way.
    origin, targets = forecast_targets(panel.to_frame(), FileKind.ACTUALS, 16)
    served = build_features(panel, origin, targets, reference, SPEC)
    assert (served["promo_known"] == 0).all() and served["onpromotion"].isna().all()
    # A forecast request (test.csv) carries its promotions: known.
    request = targets.drop(columns="promo_known").assign(onpromotion=True, id=range(len(targets)))
    _, rows = forecast_targets(request, FileKind.REQUEST, 16, origin)
    served = build_features(panel, origin, rows, reference, SPEC)
    assert (served["promo_known"] == 1).all() and (served["onpromotion"] == 1).all()


def test_window_promotions_are_the_same_from_the_panel_in_training_and_from_a_request() -> None:
    from grocery_forecast.forecasting.features import _assemble, _series_block, fit_category_maps
    from grocery_forecast.forecasting.model import _window_promo

    panel, reference = tiny_panel(days=60), tiny_reference()
    origin = panel.end - pd.Timedelta(days=16)
    # Training path: every (series, day ahead), promotions of the window read from the panel.
    series = np.repeat(np.arange(panel.n_series), 16)
    ahead = np.tile(np.arange(1, 17), panel.n_series)
    col = panel.day_index(origin) + ahead
    maps = fit_category_maps(reference, panel)
    training = _assemble(
        _series_block(panel, origin, SPEC, reference),
        series,
        panel.stores[series].astype(np.int64),
        panel.items[series],
        ahead,
        panel.promo[series, col].astype(np.float32),
        reference,
        SPEC,
        maps,
        None,
        None,
        _window_promo(panel, origin, series),
    )
    # Serving path: a request (test.csv) with the same rows and their promotions.
    request = pd.DataFrame(
        {
            "store_nbr": panel.stores[series].astype(np.int64),
            "item_nbr": panel.items[series],
            "date": origin + pd.to_timedelta(ahead, unit="D"),
            "onpromotion": panel.promo[series, col].astype(bool),
        }
    )
    serving = build_features(panel.window(panel.start, origin), origin, request, reference, SPEC, maps)
    pd.testing.assert_frame_equal(serving.reset_index(drop=True), training)
    # Series (1, 10) is on promotion 10..8 days before the panel's end: days 7..9 after the origin.
    first = training.iloc[:16]  # its rows, 1..16 days ahead
    assert first["window_promo_days"].tolist() == [3.0] * 16
    assert first["window_days_to_promo"].iloc[0] == 6 and first["window_promo_next_day"].iloc[5] == 1
    assert first["window_promo_before"].iloc[9] == 3 and first["window_promo_after"].iloc[0] == 3
    assert first["window_days_since_promo"].iloc[10] == 2 and np.isnan(
        first["window_days_since_promo"].iloc[0]
    )
