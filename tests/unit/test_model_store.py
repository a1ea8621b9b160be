"""The model registry in the models bucket: publish, point ``current`` at a version, download, list;
switch models safely: refuse what this library cannot serve, restore the previous one, fail runs clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.model_store import ModelStoreError
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.contract import runs
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, run_forecast

from .fakes import FakeDynamo, FakeS3, _client_error

BUCKET = "models"


def _saved(tmp_path: Path, version: str, created_at: str = "2017-08-16T00:00:00") -> Path:
    directory = tmp_path / version
    directory.mkdir()
    (directory / "model.txt").write_text(f"booster {version}\n")
    (directory / "metadata.json").write_text(json.dumps({"version": version, "created_at": created_at}))
    return directory


def test_publishing_uploads_the_version_and_puts_it_in_service(tmp_path: Path) -> None:
    s3 = FakeS3()
    assert model_store.publish_model(s3, BUCKET, _saved(tmp_path, "v1")) == "v1"
    assert (BUCKET, runs.model_key("v1", "model.txt")) in s3.objects
    assert s3.puts[-2:] == [(BUCKET, runs.model_key("v1", "metadata.json")), (BUCKET, runs.CURRENT_MODEL_KEY)]
    assert model_store.current_version(s3, BUCKET) == "v1"


def test_publishing_without_switching_leaves_the_model_in_service(tmp_path: Path) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, "v1"))
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, "v2"), make_current=False)
    assert model_store.current_version(s3, BUCKET) == "v1"
    model_store.set_current(s3, BUCKET, "v2")
    assert model_store.current_version(s3, BUCKET) == "v2"


def test_a_directory_without_the_artifacts_is_not_published(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match=r"missing model\.txt, metadata\.json"):
        model_store.publish_model(FakeS3(), BUCKET, tmp_path)


def test_no_pointer_and_unknown_versions_are_clear_errors(tmp_path: Path) -> None:
    s3 = FakeS3()
    with pytest.raises(ModelStoreError, match="no model published"):
        model_store.current_version(s3, BUCKET)
    with pytest.raises(ModelStoreError, match="no model version 'v9'"):
        model_store.set_current(s3, BUCKET, "v9")


def test_download_fetches_once_and_names_a_missing_artifact(tmp_path: Path) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, "v1"))
    local = model_store.download_model(s3, BUCKET, "v1", tmp_path / "cache")
    assert (local / "model.txt").read_text() == "booster v1\n"
    s3.objects.clear()  # a second download is served from the local copy
    assert model_store.download_model(s3, BUCKET, "v1", tmp_path / "cache") == local
    s3.put_object(Bucket=BUCKET, Key=runs.model_key("v2", "metadata.json"), Body=b"{}")
    with pytest.raises(ModelStoreError, match=r"'v2' is incomplete: .*models/v2/model\.txt is missing"):
        model_store.download_model(s3, BUCKET, "v2", tmp_path / "cache")


def test_versions_are_listed_newest_first_skipping_unfinished_uploads(tmp_path: Path) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, "old", "2017-01-01T00:00:00"))
    model_store.publish_model(s3, BUCKET, _saved(tmp_path, "new", "2017-02-01T00:00:00"), make_current=False)
    s3.put_object(Bucket=BUCKET, Key=runs.model_key("partial", "model.txt"), Body=b"x")
    versions = model_store.list_versions(s3, BUCKET)
    assert [(v.version, v.current) for v in versions] == [("new", False), ("old", True)]


def _servable(tmp_path: Path, trained: ForecastModel, version: str, **changes) -> Path:
    directory = tmp_path / version
    trained.save(directory)
    meta = json.loads((directory / "metadata.json").read_text())
    meta.update(version=version, **changes)
    (directory / "metadata.json").write_text(json.dumps(meta))
    return directory


def test_models_use_refuses_an_artifact_this_library_cannot_serve(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _servable(tmp_path, trained, "good"))
    model_store.publish_model(
        s3, BUCKET, _servable(tmp_path, trained, "future", format=99), make_current=False
    )
    with pytest.raises(ModelStoreError, match=r"future cannot be served.*format 99"):
        model_store.use_version(s3, BUCKET, "future")
    assert model_store.current_version(s3, BUCKET) == "good", "the refused model must not be switched to"


def test_models_rollback_restores_the_previous_model(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _servable(tmp_path, trained, "v1"))
    model_store.publish_model(s3, BUCKET, _servable(tmp_path, trained, "v2"))
    assert model_store.rollback(s3, BUCKET) == "v1"
    assert model_store.current_version(s3, BUCKET) == "v1"
    assert model_store.rollback(s3, BUCKET) == "v2", "a second rollback undoes the first"


def test_rollback_without_a_previous_model_says_what_to_do(tmp_path, trained) -> None:
    s3 = FakeS3()
    model_store.publish_model(s3, BUCKET, _servable(tmp_path, trained, "only"))
    with pytest.raises(ModelStoreError, match="models use VERSION"):
        model_store.rollback(s3, BUCKET)


def test_a_version_in_current_json_that_is_a_path_is_refused() -> None:
    s3 = FakeS3()
    s3.put_object(Bucket=BUCKET, Key=runs.CURRENT_MODEL_KEY, Body=json.dumps({"version": "../../etc"}))
    with pytest.raises(ModelStoreError, match="not a model version name"):
        model_store.current_version(s3, BUCKET)


def test_access_denied_on_current_json_reads_as_no_model_published() -> None:
    class DeniedS3(FakeS3):
        def get_object(self, Bucket: str, Key: str) -> dict:
            raise _client_error("AccessDenied", "GetObject", 403)

    with pytest.raises(ModelStoreError, match=r"no model was published.*s3:ListBucket"):
        model_store.current_version(DeniedS3(), BUCKET)


def test_a_bad_model_fails_the_run_with_a_clear_manifest_error(tmp_path, trained) -> None:
    s3 = FakeS3()
    bad = _servable(tmp_path, trained, "broken", feature_names=["nonsense"])
    for name in runs.MODEL_ARTIFACT_FILES:  # put in service behind the CLI's back
        s3.put_object(Bucket=BUCKET, Key=runs.model_key("broken", name), Body=(bad / name).read_bytes())
    s3.put_object(Bucket=BUCKET, Key=runs.CURRENT_MODEL_KEY, Body=json.dumps({"version": "broken"}))
    s3.put_object(
        Bucket="processed",
        Key="actuals/a.csv",
        Body="date,store_nbr,item_nbr,unit_sales,onpromotion\n2017-03-01,1,10,3,False\n",
        Metadata={"run-id": "a-1"},
    )
    config = ForecastConfig("processed", BUCKET, "output", model_dir=tmp_path / "cache")
    store = DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)
    with pytest.raises(ModelStoreError):
        run_forecast(
            s3,
            store,
            "processed",
            "actuals/a.csv",
            config,
            models=ModelCache(),
            references=ReferenceObjects(),
        )
    manifest = json.loads(s3.text("output", "runs/a-1.json"))
    assert manifest["status"] == "failed"
    assert "broken cannot be served" in manifest["errors"][0] and "models rollback" in manifest["errors"][0]
