"""Keys derived from an uploaded key (processed copy, rejection report) always fit S3's 1024 bytes.

Part of the run contract (``grocery_forecast.contract.runs`` builds every derived key with it).

A raw key may use all of S3's 1024 bytes (UTF-8); the ETL prefixes it (``actuals/…``,
``rejected/….json``), which would push it past the limit and fail every attempt. A derived key
that would not fit keeps its head and tail and gets a hash of the whole in between, so it stays
unique, readable and under the limit.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_KEY_BYTES", "fit_key"]

#: S3's limit on the UTF-8 length of an object key.
MAX_KEY_BYTES = 1024


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits ``max_bytes`` (never half a character)."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def fit_key(key: str, *, keep_suffix: str = "", max_bytes: int = MAX_KEY_BYTES) -> str:
    """``key`` unchanged when it fits, else ``<head>~<16 hex of sha256(key)><keep_suffix>``.

    Args:
        key: The derived key.
        keep_suffix: An ending to preserve (e.g. ``.csv``, which the predict trigger filters on).
        max_bytes: Defaults to S3's 1024.
    """
    if len(key.encode()) <= max_bytes:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    tail = f"~{digest}{keep_suffix}"
    return _cut(key, max_bytes - len(tail.encode())) + tail
