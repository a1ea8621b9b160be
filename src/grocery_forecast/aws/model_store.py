"""Versioned model artifacts in the models bucket, with a pointer to the one in service.

Layout: ``models/<version>/model.txt`` + ``models/<version>/metadata.json`` and
``models/current.json`` = ``{"version": ...}``. Versions are immutable; switching the model in
service (or rolling back) rewrites only the pointer, which the prediction Lambda reads on every
invocation so a switch takes effect at the next upload without a redeploy.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grocery_forecast.aws.clients import access_denied, is_missing
from grocery_forecast.contract.runs import CURRENT_MODEL_KEY, MODEL_ARTIFACT_FILES, MODELS_PREFIX, model_key

__all__ = [
    "ModelStoreError",
    "current_version",
    "download_model",
    "list_versions",
    "load_servable",
    "previous_version",
    "publish_model",
    "rollback",
    "set_current",
    "use_version",
]

#: A version names a folder in the bucket and in the function's /tmp: no slashes, no "..".
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ModelStoreError(RuntimeError):
    """The models bucket has no usable model (none published, or a version is incomplete)."""


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created_at: str
    current: bool
    metadata: dict[str, Any]


def publish_model(s3: Any, bucket: str, model_dir: Path, *, make_current: bool = True) -> str:
    """Upload a saved model directory as a new version; optionally point ``current`` at it.

    The version name comes from the model's own metadata, so the same trained model published
    twice lands in the same place.
    """
    model_dir = Path(model_dir)
    missing = [f for f in MODEL_ARTIFACT_FILES if not (model_dir / f).is_file()]
    if missing:
        raise ModelStoreError(f"{model_dir} is not a saved model: missing {', '.join(missing)}")
    metadata = json.loads((model_dir / "metadata.json").read_text())
    version = str(metadata.get("version") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    # metadata last: a version is complete once its metadata exists.
    for name in ("model.txt", "metadata.json"):
        s3.upload_file(str(model_dir / name), bucket, model_key(version, name))
    if make_current:
        set_current(s3, bucket, version)
    return version


def _check_version_name(version: str, where: str) -> str:
    if not _VERSION.match(version) or ".." in version:
        raise ModelStoreError(
            f"{where}: {version!r} is not a model version name (letters, digits, '.', '_', '-'; no '/' or '..')"
        )
    return version


def _denied(bucket: str, key: str, what: str) -> ModelStoreError:
    return ModelStoreError(
        f"access denied reading s3://{bucket}/{key}: {what}, or the role lacks s3:GetObject on it. On AWS a "
        "missing object reads as AccessDenied when the role may not s3:ListBucket the prefix."
    )


def set_current(s3: Any, bucket: str, version: str) -> None:
    """Point the prediction Lambda at ``version`` (which must exist); remembers the one it replaces
    as ``previous`` so :func:`rollback` can bring it back."""
    _check_version_name(version, "models use")
    try:
        s3.head_object(Bucket=bucket, Key=model_key(version, "metadata.json"))
    except Exception as exc:
        if is_missing(exc):
            raise ModelStoreError(f"no model version {version!r} in s3://{bucket}/{MODELS_PREFIX}") from None
        raise
    try:
        previous = current_version(s3, bucket)
    except ModelStoreError:
        previous = None
    document: dict[str, str | None] = {
        "version": version,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if previous and previous != version:
        document["previous"] = previous
    elif previous == version:
        # Re-selecting the version in service keeps the way back.
        document["previous"] = previous_version(s3, bucket)
    body = json.dumps({k: v for k, v in document.items() if v})
    s3.put_object(Bucket=bucket, Key=CURRENT_MODEL_KEY, Body=body.encode(), ContentType="application/json")


def _current_document(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=CURRENT_MODEL_KEY)["Body"].read()
    except Exception as exc:
        if is_missing(exc):
            raise ModelStoreError(
                f"no model published in s3://{bucket}/ (missing {CURRENT_MODEL_KEY}); "
                "train and publish one with `grocery-forecast train --publish` or `make up`"
            ) from None
        if access_denied(exc):
            raise _denied(bucket, CURRENT_MODEL_KEY, "probably no model was published yet") from None
        raise
    try:
        document = json.loads(body)
        str(document["version"])
    except (ValueError, KeyError, TypeError):
        raise ModelStoreError(
            f"s3://{bucket}/{CURRENT_MODEL_KEY} is not a model pointer ({body[:80]!r}); "
            "put a model in service with `grocery-forecast models use VERSION`"
        ) from None
    return dict(document)


def current_version(s3: Any, bucket: str) -> str:
    """The version in service. Raises ModelStoreError when none was ever published, or when the
    pointer names something that is not a version (it becomes a local path in the function)."""
    return _check_version_name(str(_current_document(s3, bucket)["version"]), CURRENT_MODEL_KEY)


def previous_version(s3: Any, bucket: str) -> str | None:
    """The version that was in service before the current one (None when unknown)."""
    try:
        previous = _current_document(s3, bucket).get("previous")
    except ModelStoreError:
        return None
    return _check_version_name(str(previous), CURRENT_MODEL_KEY) if previous else None


def load_servable(s3: Any, bucket: str, version: str, cache_dir: Path) -> Any:
    """Download ``version`` and load it with this library's model code.

    Raises:
        ModelStoreError: naming why this library cannot serve it (artifact format, features,
            category maps, an unreadable model.txt or metadata.json).
    """
    from grocery_forecast.forecasting.model import ForecastModel  # LightGBM only when needed

    local = download_model(s3, bucket, _check_version_name(version, "model version"), cache_dir)
    try:
        return ForecastModel.load(local)
    except Exception as exc:  # ModelMismatchError, LightGBM's parse errors, bad JSON: all "unservable"
        raise ModelStoreError(
            f"model {version} cannot be served by this library: {type(exc).__name__}: {exc}"
        ) from None


def use_version(s3: Any, bucket: str, version: str) -> None:
    """Put ``version`` in service only after this library loaded it: an artifact it cannot serve
    is refused before the switch, so it never fails forecasts."""
    with tempfile.TemporaryDirectory(prefix="gf-model-") as tmp:
        load_servable(s3, bucket, version, Path(tmp))
    set_current(s3, bucket, version)


def rollback(s3: Any, bucket: str) -> str:
    """Put the previous model back in service (checked like :func:`use_version`); returns it."""
    previous = previous_version(s3, bucket)
    if not previous:
        raise ModelStoreError(
            f"no previous model recorded in s3://{bucket}/{CURRENT_MODEL_KEY}; "
            "choose one with `grocery-forecast models list` and `models use VERSION`"
        )
    use_version(s3, bucket, previous)
    return previous


def download_model(s3: Any, bucket: str, version: str, dest: Path) -> Path:
    """Fetch a version's files into ``dest/<version>/`` (skipped when already there)."""
    target = Path(dest) / version
    if all((target / f).is_file() for f in MODEL_ARTIFACT_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in MODEL_ARTIFACT_FILES:
        tmp = target / f".{name}.part"
        try:
            s3.download_file(bucket, model_key(version, name), str(tmp))
        except Exception as exc:
            if is_missing(exc):
                raise ModelStoreError(
                    f"model version {version!r} is incomplete: "
                    f"s3://{bucket}/{model_key(version, name)} is missing"
                ) from None
            if access_denied(exc):
                raise _denied(bucket, model_key(version, name), "the version may be incomplete") from None
            raise
        tmp.replace(target / name)
    return target


def list_versions(s3: Any, bucket: str) -> list[ModelVersion]:
    """Every published version, newest first, with its metadata."""
    try:
        current = current_version(s3, bucket)
    except ModelStoreError:
        current = ""
    versions: list[ModelVersion] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=MODELS_PREFIX, Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            version = prefix["Prefix"][len(MODELS_PREFIX) :].rstrip("/")
            try:
                meta = json.loads(
                    s3.get_object(Bucket=bucket, Key=model_key(version, "metadata.json"))["Body"].read()
                )
            except Exception as exc:
                if is_missing(exc):
                    continue  # an upload in progress or an interrupted one
                raise
            versions.append(ModelVersion(version, str(meta.get("created_at", "")), version == current, meta))
    return sorted(versions, key=lambda v: (v.created_at, v.version), reverse=True)
