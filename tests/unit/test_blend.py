"""The model's size and its blend: trees sized to the history, the output stacked with strong baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.forecasting.baselines import moving_median, moving_median_dow
from grocery_forecast.forecasting.datagen import GeneratedData
from grocery_forecast.forecasting.features import FeatureSpec, feature_names
from grocery_forecast.forecasting.model import (
    BLEND_ANCHORS,
    BLEND_MIN_HISTORY_DAYS,
    DEFAULT_PARAMS,
    ForecastModel,
    _anchors,
    _fit_blend,
    scaled_params,
)


def test_trees_shrink_on_a_few_weeks_of_few_series_and_keep_their_size_at_favorita_scale() -> None:
    weeks = scaled_params(DEFAULT_PARAMS, cells=500 * 21)
    assert (weeks["num_leaves"], weeks["min_data_in_leaf"]) == (10, 26)
    tiny = scaled_params(DEFAULT_PARAMS, cells=54 * 14)
    assert (tiny["num_leaves"], tiny["min_data_in_leaf"]) == (7, 20)
    favorita = scaled_params(DEFAULT_PARAMS, cells=210_000 * 365)
    assert favorita == DEFAULT_PARAMS
    # What the caller set is kept as given.
    fixed = scaled_params(DEFAULT_PARAMS, cells=500 * 21, fixed=frozenset({"num_leaves"}))
    assert (fixed["num_leaves"], fixed["min_data_in_leaf"]) == (63, 26)


def _rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Feature rows whose level features all say ``level``, and a truth near that level."""
    names = feature_names(FeatureSpec())
    x = np.zeros((n, len(names)), dtype=np.float32)
    col = {name: i for i, name in enumerate(names)}
    level = rng.uniform(0.0, 3.0, n)
    for name in names:
        if name.startswith(("sales_mean_w", "dow_mean_k")):
            x[:, col[name]] = level
    x[:, col["history_days"]] = 200
    horizon = rng.integers(1, 17, n)
    x[:, col["horizon"]] = horizon
    truth = level + rng.normal(0.0, 0.3, n)
    return x, names, truth, horizon


def test_the_blend_follows_the_model_where_it_knows_more_and_an_anchor_where_it_does_not() -> None:
    rng = np.random.default_rng(0)
    x, names, truth, horizon = _rows(rng, 20_000)
    weight = np.ones(len(truth))
    # A model that knows most of what the anchors miss keeps nearly all the weight.
    sharp = _fit_blend(truth + rng.normal(0, 0.05, len(truth)), x, names, truth, weight, horizon)
    assert sharp is not None and sharp["parts"] == ["model", *BLEND_ANCHORS]
    assert sharp["weights_all_horizons"][0] > 0.9
    assert all(w[0] > 0.85 and abs(sum(w) - 1) < 1e-3 for w in sharp["weights"].values())
    # A model that is mostly noise hands the forecast to the anchors, and the blend beats both.
    noisy = _fit_blend(truth + rng.normal(0, 1.0, len(truth)), x, names, truth, weight, horizon)
    assert noisy is not None and noisy["weights_all_horizons"][0] < 0.15
    scores = noisy["validation_nwrmsle"]
    assert scores["blended"] <= min(scores[p] for p in noisy["parts"]) + 1e-9
    assert all(min(w) >= 0 for w in noisy["weights"].values())


def test_a_horizon_with_few_validation_rows_leans_on_the_weights_of_all_horizons() -> None:
    rng = np.random.default_rng(1)
    x, names, truth, horizon = _rows(rng, 20_000)
    pred = truth + rng.normal(0, 0.5, len(truth))
    # Horizon 16 gets 20 rows on which the model happens to be exact.
    few = np.flatnonzero(horizon == 16)[:20]
    keep = np.ones(len(truth), bool)
    keep[np.flatnonzero(horizon == 16)[20:]] = False
    pred[few] = truth[few]
    blend = _fit_blend(pred[keep], x[keep], names, truth[keep], np.ones(keep.sum()), horizon[keep])
    assert blend is not None
    assert abs(blend["weights"]["16"][0] - blend["weights_all_horizons"][0]) < 0.1


def test_the_moving_median_anchor_is_the_moving_median_baseline_rebuilt_from_the_features(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    targets = generated.test.drop(columns=["id"])
    x = trained.features(generated.panel, generated.panel.end, targets, generated.reference)
    anchor = _anchors(x.to_numpy(dtype=np.float32), trained.feature_names)["moving_median"]
    expected = np.log1p(moving_median(generated.panel, generated.panel.end, targets))
    # A store-item with no record in the lookback has no anchor (the model alone forecasts it,
    # where the baseline says zero); the rest agree.
    known = np.isfinite(anchor)
    assert known.mean() > 0.9 and np.all(expected[~known] == 0)
    np.testing.assert_allclose(anchor[known], expected[known], atol=1e-5)


def test_the_weekday_anchors_are_the_store_profile_and_the_target_weekday_mean_rebuilt_from_the_features(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    targets = generated.test.drop(columns=["id"])
    x = trained.features(generated.panel, generated.panel.end, targets, generated.reference)
    anchors = _anchors(x.to_numpy(dtype=np.float32), trained.feature_names)
    known = np.isfinite(anchors["moving_median"])
    # moving_median_dow: the level shifted by its store's weekday profile. The feature pools the
    # profile over the store's series recorded in the lookback, the baseline over all of them: the
    # same to within 0.01, while the shift itself is up to 0.19 (a wrong sign or weekday shows).
    shift = anchors["moving_median_dow"] - anchors["moving_median"]
    assert np.abs(shift[known]).max() > 0.1
    baseline = np.log1p(moving_median_dow(generated.panel, generated.panel.end, targets))
    assert np.abs(anchors["moving_median_dow"][known] - baseline[known]).max() < 0.01
    # dow_mean: the mean log1p sales of the target's weekday over the last four weeks.
    panel, end = generated.panel, generated.panel.day_index(generated.panel.end)
    rows = panel.index_of(targets["store_nbr"].to_numpy(), targets["item_nbr"].to_numpy())
    ahead = (pd.to_datetime(targets["date"]) - panel.end).dt.days.to_numpy()
    last_same_weekday = end + ahead - 7 * ((ahead + 6) // 7)
    cols = last_same_weekday[:, None] - 7 * np.arange(4)[None, :]
    sales = np.log1p(np.clip(np.nan_to_num(panel.sales[rows[:, None], cols], nan=0.0), 0, None))
    np.testing.assert_allclose(anchors["dow_mean"][known], sales.mean(axis=1)[known], atol=1e-5)


def test_each_horizon_gets_its_own_weights_where_its_rows_say_so() -> None:
    rng = np.random.default_rng(2)
    x, names, truth, horizon = _rows(rng, 64_000)
    near = horizon <= 8
    # The model knows the near horizons and is noise far ahead, where the anchors know as much as ever.
    pred = np.where(near, truth + rng.normal(0, 0.05, len(truth)), truth + rng.normal(0, 1.5, len(truth)))
    blend = _fit_blend(pred, x, names, truth, np.ones(len(truth)), horizon)
    assert blend is not None
    # (each shrunk a third of the way to the all-horizon weight: 4,000 rows against a prior of 2,000)
    assert min(blend["weights"][str(h)][0] for h in range(1, 9)) > 0.6
    assert max(blend["weights"][str(h)][0] for h in range(9, 17)) < 0.4


def test_a_store_item_without_history_gets_the_booster_output_alone(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    day = generated.panel.end + pd.Timedelta(days=1)
    new = pd.DataFrame({"store_nbr": [1], "item_nbr": [999_999_999], "date": [day], "onpromotion": [False]})
    x = trained.features(generated.panel, generated.panel.end, new, generated.reference)
    raw = trained.booster.predict(x.to_numpy(dtype=np.float32))
    served = trained.predict(generated.panel, generated.panel.end, new, generated.reference)
    np.testing.assert_allclose(served, np.clip(np.expm1(raw), 0, None), rtol=1e-6)


def test_a_spec_without_the_median_windows_trains_without_a_blend() -> None:
    names = feature_names(FeatureSpec(windows=(3, 5)))
    x = np.zeros((100, len(names)), dtype=np.float32)
    assert _anchors(x, names) == {}
    assert _fit_blend(np.zeros(100), x, names, np.zeros(100), np.ones(100), np.ones(100, int)) is None


def test_predictions_are_the_blend_of_booster_and_anchors_and_a_format_4_artifact_serves_the_booster(
    tmp_path: Path, trained: ForecastModel, generated: GeneratedData
) -> None:
    blend = trained.metadata["blend"]
    assert blend is not None and set(blend["weights"]) == {str(h) for h in range(1, 17)}
    targets = generated.test.drop(columns=["id"])
    x = trained.features(generated.panel, generated.panel.end, targets, generated.reference)
    x = x.to_numpy(dtype=np.float32)
    raw = trained.booster.predict(x)
    anchors = _anchors(x, trained.feature_names)
    ahead = (pd.to_datetime(targets["date"]) - generated.panel.end).dt.days.to_numpy()
    parts = np.column_stack([raw, *(anchors[name] for name in blend["parts"][1:])])
    weights = np.array([blend["weights"][str(h)] for h in ahead])
    # Rows with no anchor (no record in the lookback) get the booster's output alone.
    blended = np.where(np.isfinite(parts).all(axis=1), np.sum(parts * weights, axis=1), raw)
    expected = np.clip(np.expm1(blended), 0, None)
    served = trained.predict(generated.panel, generated.panel.end, targets, generated.reference)
    np.testing.assert_allclose(served, expected, rtol=1e-5)
    # An artifact of the format before the blend still loads and serves its booster's output.
    trained.save(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    meta["format"] = 4
    del meta["blend"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    old = ForecastModel.load(tmp_path)
    np.testing.assert_allclose(
        old.predict(generated.panel, generated.panel.end, targets, generated.reference),
        np.clip(np.expm1(raw), 0, None),
        rtol=1e-5,
    )


@pytest.mark.parametrize("fmt", [3, 6])
def test_artifact_formats_this_library_does_not_serve_are_refused(
    tmp_path: Path, trained: ForecastModel, fmt: int
) -> None:
    trained.save(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    meta["format"] = fmt
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"format {fmt} is not one this library serves"):
        ForecastModel.load(tmp_path)


def test_the_blend_is_fitted_on_rows_with_a_week_of_history_as_served_forecasts_have() -> None:
    """Origins 3-6 days into a history judge the baselines at their weakest: they do not set the weights."""
    rng = np.random.default_rng(2)
    x, names, truth, horizon = _rows(rng, 20_000)
    young = rng.random(len(truth)) < 0.5
    x[young, names.index("history_days")] = rng.integers(3, BLEND_MIN_HISTORY_DAYS, young.sum())
    # On the young rows the model is exact; on the rows like a served forecast's it is noise.
    pred = np.where(young, truth, truth + rng.normal(0, 1.0, len(truth)))
    blend = _fit_blend(pred, x, names, truth, np.ones(len(truth)), horizon)
    assert blend is not None and blend["validation_rows"] == (~young).sum()
    assert blend["weights_all_horizons"][0] < 0.15


def test_a_spec_looking_back_under_a_week_still_gets_a_blend() -> None:
    """history_days is capped at the lookback: the floor follows it instead of leaving no row."""
    rng = np.random.default_rng(3)
    x, names, truth, horizon = _rows(rng, 5_000)
    x[:, names.index("history_days")] = 3
    blend = _fit_blend(truth + rng.normal(0, 1.0, len(truth)), x, names, truth, np.ones(len(truth)), horizon)
    assert blend is not None and blend["validation_rows"] == len(truth)
