"""Versioned model artifacts in the models bucket, with a pointer to the one in service.

Layout: ``models/<version>/model.txt`` + ``models/<version>/metadata.json`` and
``models/current.json`` = ``{"version": ...}``. Versions are immutable; switching the model in
service (or rolling back) rewrites only the pointer, which the prediction Lambda reads on every
invocation so a switch takes effect at the next upload without a redeploy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grocery_forecast.aws.clients import is_missing
from grocery_forecast.contract.runs import CURRENT_MODEL_KEY, MODEL_ARTIFACT_FILES, MODELS_PREFIX, model_key

__all__ = [
    "ModelStoreError",
    "current_version",
    "download_model",
    "list_versions",
    "publish_model",
    "set_current",
]


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


def set_current(s3: Any, bucket: str, version: str) -> None:
    """Point the prediction Lambda at ``version`` (which must exist)."""
    try:
        s3.head_object(Bucket=bucket, Key=model_key(version, "metadata.json"))
    except Exception as exc:
        if is_missing(exc):
            raise ModelStoreError(f"no model version {version!r} in s3://{bucket}/{MODELS_PREFIX}") from None
        raise
    body = json.dumps({"version": version, "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    s3.put_object(Bucket=bucket, Key=CURRENT_MODEL_KEY, Body=body.encode(), ContentType="application/json")


def current_version(s3: Any, bucket: str) -> str:
    """The version in service. Raises ModelStoreError when none was ever published."""
    try:
        body = s3.get_object(Bucket=bucket, Key=CURRENT_MODEL_KEY)["Body"].read()
    except Exception as exc:
        if is_missing(exc):
            raise ModelStoreError(
                f"no model published in s3://{bucket}/ (missing {CURRENT_MODEL_KEY}); "
                "train and publish one with `grocery-forecast train --publish` or `make up`"
            ) from None
        raise
    return str(json.loads(body)["version"])


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
                    f"s3://{bucket}/{MODELS_PREFIX}{version}/{name} is missing"
                ) from None
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
