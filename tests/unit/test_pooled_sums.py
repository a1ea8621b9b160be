"""Pooled item, store, class and family features of a forecast split into shards of series equal the unsplit ones."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.forecasting.datagen import GeneratedData
from grocery_forecast.forecasting.features import FeatureSpec, PooledSums, build_features, pooled_sums
from grocery_forecast.forecasting.model import ForecastModel

SPEC = FeatureSpec()
#: Pooled columns each shard alone gets wrong: every kind of pool (item, store, class, family).
GROUP_COLUMNS = (
    "item_sales_mean_w28",
    "store_sales_mean_w28",
    "store_class_sales_mean_w28",
    "class_sales_mean_w28",
    "store_family_sales_mean_w28",
    "family_sales_mean_w28",
)


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
        parts.append((sub, targets, pooled_sums(sub, origin, SPEC, reference)))
    total = PooledSums.merge([p[2] for p in parts])
    differs = dict.fromkeys(GROUP_COLUMNS, False)
    for sub, targets, own in parts:
        got = build_features(sub, origin, targets, reference, SPEC, pooled=total)
        pd.testing.assert_frame_equal(got, whole.loc[targets.index], rtol=1e-6)
        alone = build_features(sub, origin, targets, reference, SPEC, pooled=own)
        for name in GROUP_COLUMNS:
            differs[name] |= not np.allclose(alone[name], whole.loc[targets.index, name], equal_nan=True)
    assert all(differs.values()), differs  # a shard's own sums would not do, for any kind of pool


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
    total = PooledSums.merge([pooled_sums(sub, panel.end, trained.spec, reference) for sub in subs])
    got = np.empty(len(test))
    for rows, sub in zip(shards, subs, strict=True):
        got[rows] = trained.predict(sub, panel.end, test.loc[rows], reference, pooled=total)
    np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-6)


def test_no_series_recorded_in_the_lookback_pools_every_series(generated: GeneratedData) -> None:
    test, reference = generated.test, generated.reference
    panel = generated.panel.take(np.arange(generated.panel.n_series))  # a copy: the fixture is shared
    origin = panel.end
    o = panel.day_index(origin)
    panel.sales[:, o - SPEC.lookback_days + 1 : o + 1] = np.nan
    whole = build_features(panel, origin, test, reference, SPEC)
    shards = _shards(generated, 2)
    subs = [
        panel.take(np.unique(panel.index_of(test.loc[r, "store_nbr"], test.loc[r, "item_nbr"])))
        for r in shards
    ]
    total = PooledSums.merge([pooled_sums(sub, origin, SPEC, reference) for sub in subs])
    assert total.recorded == 0
    for rows, sub in zip(shards, subs, strict=True):
        got = build_features(sub, origin, test.loc[rows], reference, SPEC, pooled=total)
        pd.testing.assert_frame_equal(got, whole.loc[rows], rtol=1e-6)


def test_class_and_family_levels_from_merged_sums_equal_the_means_over_all_series(
    generated: GeneratedData,
) -> None:
    """The group sums survive the shard hand-off (npz on S3) and mean what the features say."""
    from grocery_forecast.pipeline.shards import _sums_arrays, _sums_from_arrays

    panel, test, reference = generated.panel, generated.test, generated.reference
    origin = panel.end
    subs = [
        panel.take(np.unique(panel.index_of(test.loc[r, "store_nbr"], test.loc[r, "item_nbr"])))
        for r in _shards(generated, 3)
    ]
    parts = []
    for sub in subs:
        buf = io.BytesIO()
        np.savez(buf, **_sums_arrays(pooled_sums(sub, origin, SPEC, reference)))
        with np.load(io.BytesIO(buf.getvalue())) as data:  # no pickle: keys are plain strings
            parts.append(_sums_from_arrays({name: data[name] for name in data.files}))
    total = PooledSums.merge(parts)
    assert total.group_keys.dtype.kind == "U" and "class=" in total.group_keys[0]
    got = build_features(panel, origin, test, reference, SPEC, pooled=total)
    pd.testing.assert_frame_equal(got, build_features(panel, origin, test, reference, SPEC), rtol=1e-6)
    # By hand: the mean 28-day log1p sales of the series recorded in the lookback, per store and class.
    o = panel.day_index(origin)
    recorded = ~np.all(np.isnan(panel.sales[:, max(o - SPEC.lookback_days + 1, 0) : o + 1]), axis=1)
    window = np.nan_to_num(panel.sales[:, panel.day_index(origin) - 27 : panel.day_index(origin) + 1])
    level = pd.DataFrame(
        {
            "store_nbr": panel.stores.astype(np.int64),
            "class": reference.item_attributes(panel.items)["class"].to_numpy(),
            "level": np.log1p(np.clip(window, 0, None)).mean(axis=1),
        }
    )[recorded]
    by_class = level.groupby("class")["level"].mean()
    by_store_class = level.groupby(["store_nbr", "class"])["level"].mean()
    row = got.index[got["store_class_sales_mean_w28"].notna()][0]
    cls = reference.item_attributes(test.loc[[row], "item_nbr"].to_numpy())["class"].iloc[0]
    store = int(test.loc[row, "store_nbr"])
    assert got.loc[row, "class_sales_mean_w28"] == pytest.approx(by_class[cls], rel=1e-5)
    assert got.loc[row, "store_class_sales_mean_w28"] == pytest.approx(by_store_class[(store, cls)], rel=1e-5)
    # An item the reference does not know belongs to no class or family: unknown, not zero.
    unknown = test.iloc[:1].assign(item_nbr=-1)
    cold = build_features(panel, origin, unknown, reference, SPEC, pooled=total)
    assert cold[[c for c in GROUP_COLUMNS if "class" in c or "family" in c]].isna().all(axis=None)
