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
