"""Switching models safely: refuse what this library cannot serve, restore the previous one, fail runs clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, ReferenceCache, run_forecast

from .fakes import FakeDynamo, FakeS3, _client_error

BUCKET = "models"


def _saved(tmp_path: Path, trained: ForecastModel, version: str, **changes) -> Path:
    directory = tmp_path / version
    trained.save(directory)
    meta = json.loads((directory / "metadata.json").read_text())
    meta.update(version=version, **changes)
    (directory / "metadata.json").write_text(json.dumps(meta))
    return directory


def test_models_use_refuses_an_artifact_this_library_cannot_serve(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, trained, "good"))
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, trained, "future", format=99), make_current=False)
    with pytest.raises(model_store.ModelStoreError, match=r"future cannot be served.*format 99"):
        model_store.use_version(s3, BUCKET, "future")
    assert model_store.current_version(s3, BUCKET) == "good", "the refused model must not be switched to"


def test_models_rollback_restores_the_previous_model(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, trained, "v1"))
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, trained, "v2"))
    assert model_store.rollback(s3, BUCKET) == "v1"
    assert model_store.current_version(s3, BUCKET) == "v1"
    assert model_store.rollback(s3, BUCKET) == "v2", "a second rollback undoes the first"


def test_rollback_without_a_previous_model_says_what_to_do(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, trained, "only"))
    with pytest.raises(model_store.ModelStoreError, match="models use VERSION"):
        model_store.rollback(s3, BUCKET)


def test_a_version_in_current_json_that_is_a_path_is_refused() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket=BUCKET, Key=model_store.CURRENT_KEY, Body=json.dumps({"version": "../../etc"}))
    with pytest.raises(model_store.ModelStoreError, match="not a model version name"):
        model_store.current_version(s3, BUCKET)


def test_access_denied_on_current_json_reads_as_no_model_published() -> None:
    class DeniedS3(FakeS3):
        def get_object(self, Bucket: str, Key: str) -> dict:
            raise _client_error("AccessDenied", "GetObject", 403)

    with pytest.raises(model_store.ModelStoreError, match=r"no model was published.*s3:ListBucket"):
        model_store.current_version(DeniedS3(), BUCKET)


def test_a_bad_model_fails_the_run_with_a_clear_manifest_error(tmp_path, trained) -> None:
    s3 = FakeS3()
    bad = _saved(tmp_path, trained, "broken", feature_names=["nonsense"])
    for name in model_store.ARTIFACT_FILES:  # put in service behind the CLI's back
        s3.put_object(Bucket=BUCKET, Key=f"models/broken/{name}", Body=(bad / name).read_bytes())
    s3.put_object(Bucket=BUCKET, Key=model_store.CURRENT_KEY, Body=json.dumps({"version": "broken"}))
    s3.put_object(
        Bucket="processed",
        Key="actuals/a.csv",
        Body="date,store_nbr,item_nbr,unit_sales,onpromotion\n2017-03-01,1,10,3,False\n",
        Metadata={"run-id": "a-1"},
    )
    config = ForecastConfig("processed", BUCKET, "output", model_dir=tmp_path / "cache")
    store = DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)
    with pytest.raises(model_store.ModelStoreError):
        run_forecast(
            s3, store, "processed", "actuals/a.csv", config, models=ModelCache(), references=ReferenceCache()
        )
    manifest = json.loads(s3.text("output", "runs/a-1.json"))
    assert manifest["status"] == "failed"
    assert "broken cannot be served" in manifest["errors"][0] and "models rollback" in manifest["errors"][0]
