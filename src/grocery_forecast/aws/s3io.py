"""Small S3 helpers shared by the Lambdas and the CLI: stream an object, write CSV and JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

__all__ = ["StreamingReader", "access_denied", "csv_bytes", "error_code", "get_json", "put_csv", "put_json"]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def access_denied(exc: BaseException) -> bool:
    """A 403. On AWS a *missing* object is also a 403 when the caller may not s3:ListBucket."""
    return error_code(exc) in ("AccessDenied", "403", "Forbidden")


class StreamingReader(io.RawIOBase):
    """A raw, readable view of a botocore ``StreamingBody``, so it can be buffered and peeked.

    Reading through this keeps memory bounded by the chunk being parsed, not the object size.
    """

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV: ISO dates, no index, LF line ends."""
    return frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode()


def put_csv(
    s3: Any, bucket: str, key: str, frame: pd.DataFrame, metadata: dict[str, str] | None = None
) -> None:
    body = csv_bytes(frame)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv", Metadata=metadata or {})


def put_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON object's content, or None when the key does not exist."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
