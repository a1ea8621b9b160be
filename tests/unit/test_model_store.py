"""The model registry in the models bucket: publish, point ``current`` at a version, download, list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.model_store import ModelStoreError
from grocery_forecast.contract import runs

from .fakes import FakeS3

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
