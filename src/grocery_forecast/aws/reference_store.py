"""The cleaned reference tables in the processed bucket, cached per warm container.

The ETL (known store and item numbers) and predict (attributes and holidays for features) read
the same objects; both go through :class:`ReferenceObjects`, which re-reads an object only when
its ETag changes.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws.clients import access_denied, is_missing
from grocery_forecast.contract.reference import Reference
from grocery_forecast.contract.runs import reference_key
from grocery_forecast.contract.schema import REFERENCE_TABLES

__all__ = ["MissingReferenceTable", "ReferenceObjects"]


class MissingReferenceTable(RuntimeError):
    """A reference table the forecast needs was never uploaded."""


class ReferenceObjects:
    """ETag-checked cache of ``reference/<table>.csv`` objects (as string frames, the way they were
    validated) and of the :class:`Reference` built from them."""

    def __init__(self) -> None:
        self._frames: dict[tuple[str, str], tuple[str, pd.DataFrame]] = {}
        self._reference: tuple[tuple[str, ...], Reference] | None = None

    def _fetch(self, s3: Any, bucket: str, table: str) -> tuple[str, pd.DataFrame] | None:
        key = reference_key(table)
        try:
            etag = str(s3.head_object(Bucket=bucket, Key=key)["ETag"])
        except Exception as exc:
            if is_missing(exc):
                return None
            if access_denied(exc):
                raise RuntimeError(
                    f"access denied reading s3://{bucket}/{key}: probably not uploaded yet (upload {table}.csv "
                    "with `grocery-forecast reference upload DIR`), or the role lacks s3:GetObject on it. On AWS "
                    "a missing object reads as AccessDenied when the role may not s3:ListBucket reference/."
                ) from None
            raise
        cached = self._frames.get((bucket, table))
        if cached and cached[0] == etag:
            return cached
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        entry = (etag, pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False))
        self._frames[(bucket, table)] = entry
        return entry

    def frame(self, s3: Any, bucket: str, table: str) -> pd.DataFrame | None:
        """The table as stored (string columns), or None when it was never uploaded."""
        entry = self._fetch(s3, bucket, table)
        return None if entry is None else entry[1]

    def ids(self, s3: Any, bucket: str, table: str, column: str) -> np.ndarray | None:
        """One integer column of a table (e.g. the known ``store_nbr``), or None when it is missing."""
        frame = self.frame(s3, bucket, table)
        return None if frame is None else pd.to_numeric(frame[column]).to_numpy(dtype=np.int64)

    def reference(self, s3: Any, bucket: str) -> Reference:
        """Items, stores and holidays as a :class:`Reference`, rebuilt only when one of them changed.

        Raises:
            MissingReferenceTable: naming the table to upload.
        """
        entries = {}
        for name, table in REFERENCE_TABLES.items():
            if not table.required:
                continue
            entry = self._fetch(s3, bucket, name)
            if entry is None:
                raise MissingReferenceTable(
                    f"reference table s3://{bucket}/{reference_key(name)} is missing: upload "
                    f"{name}.csv with `grocery-forecast reference upload DIR` (or `make up`)"
                )
            entries[name] = entry
        etags = tuple(etag for etag, _ in entries.values())
        if self._reference is None or self._reference[0] != etags:
            self._reference = (etags, Reference.from_frames({n: f for n, (_, f) in entries.items()}))
        return self._reference[1]
