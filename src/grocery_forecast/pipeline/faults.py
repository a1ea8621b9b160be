"""Test-only faults in the ETL's history merge, to prove on the deployed stack that nothing is lost.

Off unless the function's environment sets ``ETL_FAULT_MARKER`` (Terraform's ``etl_fault_marker``,
which only the local root passes; the aws root cannot, see ``tests/unit/test_terraform_roots.py``).
Then an upload whose key holds ``<marker>-<kind>-<n>`` has the fault ``kind`` injected into its first
``n`` attempts, so Lambda's retries must recover from it:

* ``kill``: the process dies (``os._exit``) right after the first BatchWriteItem of the merge,
  holding the writer lease and leaving the merge half done, as a crash or an out-of-memory kill
  would. The invocation's deadline is brought forward to ``SIMULATED_SECONDS``, so the lease it
  leaves behind blocks others for seconds, not the emulator's 300 s function timeout.
* ``timeout``: the same short deadline, and the writer stalls after its first batch until past
  it; fencing must then refuse its next batch (on AWS, Lambda would have killed it there).
* ``lostack``: the writer lease's conditional PutItem is applied, but its response is lost once
  (a ReadTimeoutError): sending it again must find the writer's own lease, not wait for it.

The faults wrap the DynamoDB client of one attempt; the library's code runs unchanged.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

from grocery_forecast.aws.history import LEASE_SERIES, DynamoHistoryStore

__all__ = ["FAULT_ENV", "KINDS", "SIMULATED_SECONDS", "EtlFault"]

FAULT_ENV = "ETL_FAULT_MARKER"
KINDS: tuple[str, ...] = ("kill", "timeout", "lostack")
#: The invocation a ``kill`` or ``timeout`` fault simulates lasts this long (from the fault's start).
SIMULATED_SECONDS = 15.0


@dataclass(frozen=True)
class EtlFault:
    """One fault asked for by an upload's key: ``kind`` in its first ``attempts`` attempts."""

    kind: str
    attempts: int

    @classmethod
    def for_key(cls, key: str, marker: str) -> EtlFault | None:
        """The fault ``key`` asks for, or None (always None when ``marker`` is empty: production)."""
        if not marker:
            return None
        found = re.search(rf"{re.escape(marker)}-({'|'.join(KINDS)})-(\d+)", key)
        return cls(found.group(1), int(found.group(2))) if found else None

    def applies(self, attempt: int) -> bool:
        return attempt <= self.attempts

    def deadline(self, deadline: float | None) -> float | None:
        """The invocation's deadline as the fault simulates it."""
        if self.kind == "lostack":
            return deadline
        short = time.time() + SIMULATED_SECONDS
        return short if deadline is None else min(deadline, short)

    def arm(self, store: DynamoHistoryStore, deadline: float | None) -> DynamoHistoryStore:
        """``store`` through a client that injects this fault."""
        return store.with_client(_FaultyDynamo(store.client, self.kind, deadline))


class _FaultyDynamo:
    """A DynamoDB client that passes every call through, and injects one fault."""

    def __init__(self, client: Any, kind: str, deadline: float | None) -> None:
        self._client = client
        self._kind = kind
        self._deadline = deadline
        self._armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, **kwargs: Any) -> dict:
        out = self._client.batch_write_item(**kwargs)
        if self._armed and self._kind in ("kill", "timeout"):
            self._armed = False
            if self._kind == "kill":
                os._exit(137)  # as SIGKILL would: no finally, no lease release, no manifest
            time.sleep(max(0.0, (self._deadline or time.time()) - time.time()) + 1.0)
        return out

    def put_item(self, **kwargs: Any) -> dict:
        out = self._client.put_item(**kwargs)
        if self._armed and self._kind == "lostack" and kwargs["Item"]["series"]["S"] == LEASE_SERIES:
            self._armed = False
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url="injected: the lease PutItem's response was lost")
        return out
