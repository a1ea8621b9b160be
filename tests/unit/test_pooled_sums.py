"""Pooled item and store features of a forecast split into shards of series equal the unsplit ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from grocery_forecast.forecasting.datagen import GeneratedData
from grocery_forecast.forecasting.features import FeatureSpec, PooledSums, build_features, pooled_sums
from grocery_forecast.forecasting.model import ForecastModel

SPEC = FeatureSpec()


def _shards(generated: GeneratedData, n: int) -> list[np.ndarray]:
    """Row positions of ``generated.test`` in ``n`` contiguous store/item groups."""
    test = generated.test.sort_values(["store_nbr", "item_nbr"], kind="stable")
    series = test.groupby(["store_nbr", "item_nbr"], sort=False).ngroup().to_numpy()
    bounds = np.array_split(np.arange(series.max() + 1), n)
    return [test.index.to_numpy()[np.isin(series, b)] for b in bounds]


def test_merged_sums_of_shards_give_the_features_of_the_whole(generated: GeneratedData) -> None:
    panel, test, reference = generated.panel, generated.test, generated.reference
    origin = panel.end
    whole = build_features(panel, origin, test, reference, SPEC)
    parts = []
    for rows in _shards(generated, 4):
        targets = test.loc[rows]
        sub = panel.take(np.unique(panel.index_of(targets["store_nbr"], targets["item_nbr"])))
        parts.append((sub, targets, pooled_sums(sub, origin, SPEC)))
    total = PooledSums.merge([p[2] for p in parts])
    for sub, targets, own in parts:
        got = build_features(sub, origin, targets, reference, SPEC, pooled=total)
        pd.testing.assert_frame_equal(got, whole.loc[targets.index], rtol=1e-6)
        alone = build_features(sub, origin, targets, reference, SPEC, pooled=own)
        assert not np.allclose(alone["item_sales_mean_w28"], whole.loc[targets.index, "item_sales_mean_w28"])


def test_sharded_predictions_equal_the_unsharded_ones(
    generated: GeneratedData, trained: ForecastModel
) -> None:
    panel, test, reference = generated.panel, generated.test, generated.reference
    whole = trained.predict(panel, panel.end, test, reference)
    shards = _shards(generated, 3)
    subs = [
        panel.take(np.unique(panel.index_of(test.loc[r, "store_nbr"], test.loc[r, "item_nbr"])))
        for r in shards
    ]
    total = PooledSums.merge([pooled_sums(sub, panel.end, trained.spec) for sub in subs])
    got = np.empty(len(test))
    for rows, sub in zip(shards, subs, strict=True):
        got[rows] = trained.predict(sub, panel.end, test.loc[rows], reference, pooled=total)
    np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-6)


def test_no_series_recorded_on_the_origin_day_pools_every_series(generated: GeneratedData) -> None:
    test, reference = generated.test, generated.reference
    panel = generated.panel.take(np.arange(generated.panel.n_series))  # a copy: the fixture is shared
    origin = panel.end
    panel.sales[:, panel.day_index(origin)] = np.nan
    whole = build_features(panel, origin, test, reference, SPEC)
    shards = _shards(generated, 2)
    subs = [
        panel.take(np.unique(panel.index_of(test.loc[r, "store_nbr"], test.loc[r, "item_nbr"])))
        for r in shards
    ]
    total = PooledSums.merge([pooled_sums(sub, origin, SPEC) for sub in subs])
    assert total.recorded == 0
    for rows, sub in zip(shards, subs, strict=True):
        got = build_features(sub, origin, test.loc[rows], reference, SPEC, pooled=total)
        pd.testing.assert_frame_equal(got, whole.loc[rows], rtol=1e-6)
