"""ForecastModel: training, prediction, the artifact and its compatibility checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.datagen import GeneratedData
from grocery_forecast.forecasting.features import feature_names
from grocery_forecast.forecasting.model import ForecastModel, ModelMismatchError, panel_sha256


def _targets(data: GeneratedData) -> pd.DataFrame:
    return data.test.drop(columns=["id"])


def test_predictions_are_non_negative_unit_sales_aligned_with_targets(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    targets = _targets(generated)
    pred = trained.predict(generated.panel, generated.panel.end, targets, generated.reference)
    assert pred.shape == (len(targets),) and np.all(pred >= 0) and np.isfinite(pred).all()
    # Forecasts track the truth behind the generated data: busy series get big forecasts.
    truth = generated.future_mean.reshape(-1)
    by_series = targets.assign(p=pred).groupby(["store_nbr", "item_nbr"], sort=False)["p"].mean().to_numpy()
    assert np.corrcoef(np.log1p(by_series), np.log1p(truth.reshape(-1, 16).mean(axis=1)))[0, 1] > 0.9


def test_metadata_records_what_is_needed_to_audit_and_serve(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    meta = trained.metadata
    assert meta["feature_names"] == feature_names(trained.spec)
    assert meta["training_window"]["end"] == str(generated.panel.end.date())
    assert meta["training_data_sha256"] == panel_sha256(generated.panel)
    assert meta["version"].endswith(meta["training_data_sha256"][:8])
    assert set(meta["category_maps"]) >= {"item_family", "store_nbr"}
    assert meta["best_iteration"] >= 1 and 0 < meta["validation"]["nwrmsle"] < 2
    json.dumps(meta)  # JSON-ready


def test_save_load_round_trip_predicts_identically(
    tmp_path: Path, trained: ForecastModel, generated: GeneratedData
) -> None:
    trained.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["metadata.json", "model.txt"]
    loaded = ForecastModel.load(tmp_path / "m")
    targets = _targets(generated)
    np.testing.assert_allclose(
        loaded.predict(generated.panel, generated.panel.end, targets, generated.reference),
        trained.predict(generated.panel, generated.panel.end, targets, generated.reference),
        rtol=1e-6,
    )


def test_a_model_whose_features_differ_from_the_library_is_refused(
    tmp_path: Path, trained: ForecastModel
) -> None:
    trained.save(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    meta["feature_names"] = [*meta["feature_names"][:-1], "sales_mean_w999"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError, match="sales_mean_w999"):
        ForecastModel.load(tmp_path)
    meta["feature_names"] = feature_names(trained.spec)
    meta["feature_spec"]["windows_v2"] = [3]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError, match="windows_v2"):
        ForecastModel.load(tmp_path)
    (tmp_path / "model.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.txt"):
        ForecastModel.load(tmp_path)


def test_category_codes_come_from_metadata_not_from_the_reference(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    ref = generated.reference
    targets = _targets(generated)
    expected = trained.predict(generated.panel, generated.panel.end, targets, ref)
    # A reference listing extra families and stores first would shift refit codes.
    items = pd.concat(
        [pd.DataFrame({"item_nbr": [1], "family": ["AAA"], "class": [1], "perishable": [0]}), ref.items]
    )
    stores = pd.concat(
        [
            pd.DataFrame(
                {"store_nbr": [999], "city": ["AAA"], "state": ["AAA"], "type": ["0"], "cluster": [1]}
            ),
            ref.stores,
        ]
    )
    other = Reference.from_frames(
        {
            "items": items.reset_index(drop=True),
            "stores": stores.reset_index(drop=True),
            "holidays_events": ref.holidays,
        }
    )
    np.testing.assert_allclose(
        trained.predict(generated.panel, generated.panel.end, targets, other), expected
    )


def test_unknown_series_and_items_still_get_forecasts(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    day = generated.panel.end + pd.Timedelta(days=1)
    targets = pd.DataFrame(
        {
            "store_nbr": [1, 77],
            "item_nbr": [424242, int(generated.panel.items[0])],
            "date": [day, day],
            "onpromotion": [True, False],
        }
    )
    pred = trained.predict(generated.panel, generated.panel.end, targets, Reference.empty())
    assert pred.shape == (2,) and np.all(pred >= 0)


def test_horizons_outside_the_trained_range_are_refused(
    trained: ForecastModel, generated: GeneratedData
) -> None:
    end = generated.panel.end
    targets = pd.DataFrame(
        {
            "store_nbr": [1],
            "item_nbr": [int(generated.panel.items[0])],
            "date": [end + pd.Timedelta(days=17)],
            "onpromotion": [False],
        }
    )
    with pytest.raises(ValueError, match=r"this model forecasts 1\.\.16"):
        trained.predict(generated.panel, end, targets, generated.reference)
    with pytest.raises(RuntimeError, match="not trained"):
        ForecastModel().predict(generated.panel, end, targets, generated.reference)


def test_the_blend_base_is_the_moving_median_dow_baseline_rebuilt_from_served_features() -> None:
    """The blend shrinks towards the strongest baseline: the very numbers it forecasts."""
    from grocery_forecast.forecasting.baselines import moving_median_dow
    from grocery_forecast.forecasting.features import FeatureSpec, build_features, fit_category_maps
    from grocery_forecast.forecasting.model import base_level

    from .conftest import tiny_panel, tiny_reference

    panel, reference = tiny_panel(days=130), tiny_reference()
    origin = panel.end - pd.Timedelta(days=16)
    history = panel.window(panel.start, origin)
    dates = pd.date_range(origin + pd.Timedelta(days=1), periods=16)
    targets = pd.DataFrame(
        {
            "store_nbr": np.repeat(history.stores.astype(np.int64), 16),
            "item_nbr": np.repeat(history.items, 16),
            "date": np.tile(dates.to_numpy(), history.n_series),
            "onpromotion": False,
        }
    )
    maps = fit_category_maps(reference, history)
    spec = FeatureSpec()
    served = build_features(history, origin, targets, reference, spec, maps).to_numpy(dtype=np.float32)
    base = base_level(served, feature_names(spec))
    np.testing.assert_allclose(base, np.log1p(moving_median_dow(history, origin, targets)), atol=1e-5)
    assert np.ptp(base[:16]) > 0  # the store's weekday profile moves it within the window


def test_blend_weights_are_least_squares_per_horizon_group_and_clipped() -> None:
    from grocery_forecast.forecasting.model import blend_weights

    rng = np.random.default_rng(0)
    n = 40_000
    horizon = rng.integers(1, 17, n)
    truth = rng.normal(1.0, 1.0, n)
    base = truth + rng.normal(0.0, 0.5, n)
    # The model is sharp early and noisy late: the best weight of the baseline grows with the horizon.
    pred = truth + rng.normal(0.0, 1.0, n) * np.where(horizon > 8, 0.8, 0.2)
    w = blend_weights(pred, base, truth, np.ones(n), horizon, group=8)
    assert list(w) == [str(h) for h in range(1, 17)]
    assert len({w[str(h)] for h in range(1, 9)}) == 1 and len({w[str(h)] for h in range(9, 17)}) == 1
    # Independent errors: the optimum is var(pred) / (var(pred) + var(base)).
    assert w["1"] == pytest.approx(0.04 / 0.29, abs=0.02) and w["16"] == pytest.approx(0.64 / 0.89, abs=0.02)
    # A baseline worse everywhere and in the same direction gets weight 0, not a negative one.
    assert blend_weights(truth, truth + 1.0, truth - 0.1, np.ones(n), horizon, group=4)["5"] == 0.0


def test_a_blended_model_shrinks_its_log_forecast_towards_the_baseline_by_the_saved_weights(
    tmp_path: Path, generated: GeneratedData
) -> None:
    from dataclasses import replace

    from grocery_forecast.forecasting.model import base_level

    from .conftest import FAST_CONFIG, FAST_PARAMS

    model = ForecastModel(config=replace(FAST_CONFIG, blend_group=4), params=FAST_PARAMS).fit(
        generated.panel, generated.reference
    )
    weights = model.metadata["blend_weights"]
    assert set(weights) == {str(h) for h in range(1, 17)} and all(0.0 <= v <= 1.0 for v in weights.values())
    assert model.metadata["validation"]["blended_nwrmsle"] <= model.metadata["validation"]["nwrmsle"] + 1e-9
    targets = _targets(generated)
    x = model.features(generated.panel, generated.panel.end, targets, generated.reference)
    x32 = x.to_numpy(dtype=np.float32)
    assert model.booster is not None
    raw, base = model.booster.predict(x32), base_level(x32, model.feature_names)
    w = np.array([weights[str(h)] for h in x["horizon"].astype(int)])
    expected = np.clip(np.expm1(raw + w * (base - raw)), 0.0, None)
    pred = model.predict(generated.panel, generated.panel.end, targets, generated.reference)
    np.testing.assert_allclose(pred, expected, rtol=1e-6)
    # The weights travel with the artifact.
    loaded = ForecastModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.predict(generated.panel, generated.panel.end, targets, generated.reference), pred, rtol=1e-6
    )


def test_horizon_weights_change_the_fit_but_not_the_reported_validation_weights(
    generated: GeneratedData,
) -> None:
    from dataclasses import replace

    from grocery_forecast.forecasting.model import TrainConfig

    from .conftest import FAST_CONFIG, FAST_PARAMS

    with pytest.raises(ValueError, match="horizon_weight"):
        TrainConfig(horizon_weight=-0.5)
    plain = ForecastModel(config=FAST_CONFIG, params=FAST_PARAMS).fit(generated.panel, generated.reference)
    tilted = ForecastModel(config=replace(FAST_CONFIG, horizon_weight=3.0), params=FAST_PARAMS).fit(
        generated.panel, generated.reference
    )
    targets = _targets(generated)
    a = plain.predict(generated.panel, generated.panel.end, targets, generated.reference)
    b = tilted.predict(generated.panel, generated.panel.end, targets, generated.reference)
    assert not np.allclose(a, b)
    # Both report the metric itself on the validation window: comparable numbers.
    assert abs(plain.metadata["validation"]["nwrmsle"] - tilted.metadata["validation"]["nwrmsle"]) < 0.05
