"""Features: values by hand, no leakage, lookback parity, short histories, unseen series, speed."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.features import (
    CATEGORICAL_FEATURES,
    FeatureSpec,
    build_features,
    encode_categories,
    feature_names,
    fit_category_maps,
)
from grocery_forecast.forecasting.panel import SalesPanel

from .conftest import tiny_panel, tiny_reference

SPEC = FeatureSpec()


def _targets(panel: SalesPanel, origin: pd.Timestamp, days: int = 16, promo: bool = False) -> pd.DataFrame:
    dates = pd.date_range(origin + pd.Timedelta(days=1), periods=days, freq="D")
    return pd.DataFrame(
        {
            "store_nbr": np.repeat(panel.stores, days),
            "item_nbr": np.repeat(panel.items, days),
            "date": np.tile(dates.to_numpy(), panel.n_series),
            "onpromotion": promo,
        }
    )


def _log(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(np.nan_to_num(values, nan=0.0), 0, None))


def test_names_are_derived_from_the_spec_and_match_the_frame() -> None:
    names = feature_names(SPEC)
    assert "sales_mean_w28" in names and "dow_mean_k4" in names and names[0] == "horizon"
    assert len(names) == len(set(names))
    assert feature_names(FeatureSpec(windows=(5,)))[1] == "sales_mean_w5"
    assert FeatureSpec.from_dict(SPEC.to_dict()) == SPEC
    assert SPEC.lookback_days == 112
    panel = tiny_panel()
    frame = build_features(panel, panel.end, _targets(panel, panel.end), tiny_reference(), SPEC)
    assert list(frame.columns) == names and len(frame) == 3 * 16
    assert all(frame[c].dtype == np.float32 for c in frame.columns)


def test_values_match_a_hand_computation() -> None:
    panel = tiny_panel(days=60)
    origin = panel.end - pd.Timedelta(days=5)
    o = panel.day_index(origin)
    targets = _targets(panel, origin, days=3, promo=True)
    frame = build_features(panel, origin, targets, tiny_reference(), SPEC)
    row = frame.iloc[3 * 2 + 1]  # series 2 = (store 2, item 10), 2 days ahead
    x = _log(panel.sales[2, : o + 1])
    assert row["horizon"] == 2
    assert row["sales_mean_w7"] == pytest.approx(x[-7:].mean(), rel=1e-5)
    assert row["sales_mean_w112"] == pytest.approx(x.mean(), rel=1e-5)  # only o + 1 < 112 days exist
    assert row["sales_nz_frac_w28"] == pytest.approx((x[-28:] > 0).mean(), rel=1e-5)
    assert row["sales_nz_mean_w28"] == pytest.approx(x[-28:][x[-28:] > 0].mean(), rel=1e-5)
    assert row["sales_lag_1"] == pytest.approx(x[-1], rel=1e-5)
    assert row["sales_lag_3"] == pytest.approx(x[-3], rel=1e-5)
    target_day = o + 2
    same_weekday = [target_day - 7 * k for k in range(1, 5)]
    assert row["dow_mean_k4"] == pytest.approx(_log(panel.sales[2, same_weekday]).mean(), rel=1e-5)
    last_sale = np.flatnonzero(x > 0)[-1]
    assert row["days_since_sale"] == o - last_sale
    assert row["history_days"] == o + 1
    assert row["onpromotion"] == 1.0
    # Item 10 is sold by stores 1 and 2: the item mean pools both, rows on the origin day or not.
    expected = np.mean([_log(panel.sales[s, o - 27 : o + 1]).mean() for s in (0, 2)])
    assert row["item_sales_mean_w28"] == pytest.approx(expected, rel=1e-5)
    # Series 0 had promotions 10..8 days before the panel's end = 5..3 days before the origin.
    assert frame.iloc[0]["promo_sum_w14"] == 3
    assert row["store_cluster"] == 2 and row["perishable"] == 0
    calendar = frame.iloc[0]
    day = origin + pd.Timedelta(days=1)
    assert calendar["day_of_week"] == day.day_of_week and calendar["day_of_month"] == day.day


def test_pooled_features_do_not_depend_on_which_series_have_a_row_on_the_origin_day() -> None:
    """A slow item keeps its item level on a day none of its stores sold it, and an upload holding
    one store is served the same pooled features as training built from every store (given the
    sums over the whole history, as a sharded forecast's pool step hands them over)."""
    from grocery_forecast.forecasting.features import pooled_sums

    panel = tiny_panel(days=60)
    origin = panel.end
    o = panel.day_index(origin)
    panel.sales[2, o] = 0.0  # (2, 10) sold nothing on the origin day: a row of zero ...
    targets = _targets(panel, origin)
    reference = tiny_reference()
    with_row = build_features(panel, origin, targets, reference, SPEC)
    panel.sales[2, o] = np.nan  # ... or no row at all, as in Favorita's files: the same thing
    full = build_features(panel, origin, targets, reference, SPEC)
    pooled = [
        c
        for c in full.columns
        if c.startswith(("item_", "store_")) and c not in ("item_family", "item_class")
    ]
    pooled = [c for c in pooled if c not in CATEGORICAL_FEATURES and c != "store_cluster"]
    assert pooled
    pd.testing.assert_frame_equal(with_row[pooled], full[pooled])
    # Item 10's level pools both of its stores, (2, 10) included although it has no row today.
    x = [_log(panel.sales[s, o - 27 : o + 1]).mean() for s in (0, 2)]
    assert full.loc[0, "item_sales_mean_w28"] == pytest.approx(np.mean(x), rel=1e-5)
    # An upload of store 1 only: its own panel would pool store 1 alone ...
    uploaded = panel.take(np.array([0, 1]))
    own = targets.iloc[: 2 * 16].reset_index(drop=True)
    alone = build_features(uploaded, origin, own, reference, SPEC)
    assert not np.allclose(alone["item_sales_mean_w28"], full.iloc[: 2 * 16]["item_sales_mean_w28"])
    # ... the sums over the whole history give it exactly what training computed.
    served = build_features(
        uploaded, origin, own, reference, SPEC, pooled=pooled_sums(panel, origin, SPEC, reference)
    )
    pd.testing.assert_frame_equal(served, full.iloc[: 2 * 16].reset_index(drop=True))
    # A series with no record in the whole lookback is not part of any pool.
    quiet = panel.take(np.arange(3))
    quiet.sales[2, :] = np.nan
    without = build_features(quiet, origin, targets, reference, SPEC)
    assert without.loc[0, "item_sales_mean_w28"] == pytest.approx(x[0], rel=1e-5)


def test_no_leakage_from_the_target_days_or_anything_after_the_origin() -> None:
    panel = tiny_panel(days=60)
    origin = panel.end - pd.Timedelta(days=16)
    targets = _targets(panel, origin)
    before = build_features(panel, origin, targets, tiny_reference(), SPEC)
    changed = SalesPanel(panel.start, panel.stores, panel.items, panel.sales.copy(), panel.promo.copy())
    changed.sales[:, panel.day_index(origin) + 1 :] = 999.0
    changed.promo[:, panel.day_index(origin) + 1 :] = 1
    after = build_features(changed, origin, targets, tiny_reference(), SPEC)
    pd.testing.assert_frame_equal(before, after)
    with pytest.raises(ValueError, match="not after the forecast origin"):
        build_features(panel, origin, _targets(panel, origin - pd.Timedelta(days=1)), tiny_reference(), SPEC)


def test_a_panel_of_exactly_the_lookback_gives_the_same_features_as_years() -> None:
    panel = tiny_panel(days=400)
    origin = panel.end
    targets = _targets(panel, origin)
    full = build_features(panel, origin, targets, tiny_reference(), SPEC)
    lookback = panel.window(origin - pd.Timedelta(days=SPEC.lookback_days - 1), origin)
    short = build_features(lookback, origin, targets, tiny_reference(), SPEC)
    pd.testing.assert_frame_equal(full, short)


def test_short_history_fills_windows_partly() -> None:
    panel = tiny_panel(days=10)
    frame = build_features(panel, panel.end, _targets(panel, panel.end, days=2), tiny_reference(), SPEC)
    x = _log(panel.sales[0])
    assert frame.iloc[0]["sales_mean_w28"] == pytest.approx(x.mean(), rel=1e-5)
    assert frame.iloc[0]["history_days"] == 10
    assert frame.iloc[0]["dow_mean_k4"] == pytest.approx(x[-7], rel=1e-5)  # one same weekday so far
    assert frame.notna().any(axis=1).all()
    # An origin before the panel starts: no history at all, but still a row per target.
    early = pd.Timestamp(panel.start) - pd.Timedelta(days=3)
    frame = build_features(panel, early, _targets(panel, early, days=2), tiny_reference(), SPEC)
    assert frame["sales_mean_w7"].isna().all() and (frame["history_days"] == 0).all()


def test_unseen_series_get_rows_like_an_empty_series_plus_their_item_level() -> None:
    panel = tiny_panel(days=60)
    empty = SalesPanel(
        panel.start,
        np.append(panel.stores, 2).astype(np.int32),
        np.append(panel.items, 20),
        np.vstack([panel.sales, np.full((1, 60), np.nan, np.float32)]),
        np.vstack([panel.promo, np.zeros((1, 60), np.int8)]),
    )
    origin = panel.end - pd.Timedelta(days=2)  # item 20 (store 1, every third day) has a row on it
    targets = pd.DataFrame(
        {"store_nbr": [2], "item_nbr": [20], "date": [origin + pd.Timedelta(days=1)], "onpromotion": [0]}
    )
    unseen = build_features(panel, origin, targets, tiny_reference(), SPEC)
    seen_empty = build_features(empty, origin, targets, tiny_reference(), SPEC)
    history = [n for n in feature_names(SPEC) if n.startswith(("sales_", "dow_", "days_", "promo_"))]
    pd.testing.assert_frame_equal(unseen[history], seen_empty[history])
    # No history of its own is unknown, not zero sales: the model falls back on item, class, family, store.
    assert np.isnan(unseen.iloc[0]["sales_mean_w7"]) and np.isnan(unseen.iloc[0]["days_since_sale"])
    assert unseen.iloc[0]["history_days"] == 58 and not np.isnan(unseen.iloc[0]["family_sales_mean_w28"])
    assert unseen.iloc[0]["item_sales_mean_w28"] == pytest.approx(
        _log(panel.sales[1, -30:-2]).mean(), rel=1e-5
    )  # item 20 sells in store 1


def test_category_codes_come_from_the_maps_passed_in() -> None:
    ref = tiny_reference()
    panel = tiny_panel()
    maps = fit_category_maps(ref, panel)
    assert set(CATEGORICAL_FEATURES) <= set(maps)
    targets = _targets(panel, panel.end, days=1)
    base = build_features(panel, panel.end, targets, ref, SPEC, maps)
    # A reference with an extra family would shift codes if they were refit; with saved maps they do not.
    items = pd.concat(
        [ref.items, pd.DataFrame({"item_nbr": [5], "family": ["AAA"], "class": [1], "perishable": [0]})]
    )
    other = Reference.from_frames({"items": items, "stores": ref.stores, "holidays_events": ref.holidays})
    again = build_features(panel, panel.end, targets, other, SPEC, maps)
    pd.testing.assert_frame_equal(base, again)
    refit = build_features(panel, panel.end, targets, other, SPEC)
    assert not refit["item_family"].equals(base["item_family"])
    codes = encode_categories(np.array(["B", "Z", None], dtype=object), ["A", "B"])
    assert codes[0] == 1 and np.isnan(codes[1]) and np.isnan(codes[2])


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        FeatureSpec(windows=(0, 7))
    with pytest.raises(ValueError, match="unknown feature spec"):
        FeatureSpec.from_dict({"windows": [7], "colour": [1]})


def test_100k_target_rows_build_in_well_under_a_few_seconds() -> None:
    rng = np.random.default_rng(1)
    n, days = 6_250, SPEC.lookback_days
    sales = rng.poisson(1.5, size=(n, days)).astype(np.float32)
    sales[sales == 0] = np.nan
    panel = SalesPanel(
        pd.Timestamp("2017-01-01"),
        (np.arange(n) % 54 + 1).astype(np.int32),
        np.arange(n, dtype=np.int64) + 1000,
        sales,
        (rng.random((n, days)) < 0.1).astype(np.int8),
    )
    targets = _targets(panel, panel.end)
    ref = tiny_reference()
    maps = fit_category_maps(ref, panel)
    started = time.perf_counter()
    frame = build_features(panel, panel.end, targets, ref, SPEC, maps)
    elapsed = time.perf_counter() - started
    assert len(frame) == 100_000
    assert elapsed < 3.0, f"feature building took {elapsed:.2f}s for 100k rows"
