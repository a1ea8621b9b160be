"""Small S3 helpers shared by the Lambdas and the CLI: stream an object, write CSV and JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from grocery_forecast.aws.clients import error_code, is_missing

__all__ = ["StreamingReader", "csv_bytes", "get_json", "put_csv", "put_json", "put_json_unless"]

#: What S3 answers a conditional PutObject whose condition no longer holds: the object changed
#: (412), another conditional write to the key is in flight (409), or it was deleted (If-Match, 404).
_LOST_RACE = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})


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
        if is_missing(exc):
            return None
        raise


def put_json_unless(
    s3: Any,
    bucket: str,
    key: str,
    document: dict[str, Any],
    keep_stored: Callable[[dict[str, Any]], bool],
    attempts: int = 8,
) -> bool:
    """Write ``document`` unless the stored one must stay (``keep_stored(stored)``), atomically.

    A compare-and-swap on S3's conditional writes: read the object and its ETag, decide, then put
    with ``If-Match`` that ETag (``If-None-Match: *`` when there was none), so a writer that changed
    the key in between makes the put fail and the decision is taken again on what it wrote. Returns
    whether ``document`` was written. Raises RuntimeError when the key keeps changing under us.
    """
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    for _ in range(attempts):
        try:
            current = s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if not is_missing(exc):
                raise
            condition = {"IfNoneMatch": "*"}
        else:
            if keep_stored(json.loads(current["Body"].read())):
                return False
            condition = {"IfMatch": current["ETag"]}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)
            return True
        except Exception as exc:
            if error_code(exc) not in _LOST_RACE:
                raise
    raise RuntimeError(f"s3://{bucket}/{key} changed under {attempts} conditional writes in a row")
