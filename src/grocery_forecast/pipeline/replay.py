"""Redrive dead-lettered events: what failed every attempt goes back to its function, once.

The dead-letter queue holds Lambda's on-failure records: the original S3 event
(``requestPayload``) and the function it was for (``requestContext.functionArn``). Replaying
invokes that function asynchronously with the same event, so Lambda's retries and the
dead-letter queue apply again, and deletes the message only once the invocation was accepted.
Replaying is idempotent: the same event twice in the queue is invoked once, and processing an
event again changes nothing that its first success would not have (same run id, same history).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from grocery_forecast.pipeline.attempts import event_id
from grocery_forecast.pipeline.ingest import REDRIVE_FIELD

__all__ = ["DeadLetter", "ReplayReport", "parse_dead_letter", "replay_dead_letters"]


@dataclass(frozen=True)
class DeadLetter:
    """One on-failure record: the function, the event, and why it failed."""

    function: str
    event: dict[str, Any]
    keys: tuple[str, ...]
    error: str
    receipt_handle: str

    @property
    def identity(self) -> str:
        if "Records" not in self.event and self.event.get("id"):
            # An EventBridge event (the monitor's): its id is the same on every retry of it.
            return f"{self.function}#{self.event['id']}"
        records = self.event.get("Records") or [{}]
        identity = self.function + "#" + ",".join(event_id(r) for r in records)
        # A failed sharded ingest's dead letters of one upload differ only in their redrive number:
        # each is its own attempt, not a copy of the other.
        redrive = self.event.get(REDRIVE_FIELD)
        return f"{identity}#r{redrive}" if redrive else identity


@dataclass
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    #: Messages left in the queue: not an on-failure record of this stack's functions.
    foreign: int = 0

    def summary(self) -> str:
        return (
            f"replayed {len(self.replayed)} event(s), {self.duplicates} duplicate(s) removed, "
            f"{self.foreign} message(s) left in the queue (not from this stack)"
        )


def parse_dead_letter(message: dict[str, Any]) -> DeadLetter | None:
    """The record in one SQS message, or None when it is not a Lambda on-failure record."""
    try:
        body = json.loads(message["Body"])
        function = str(body["requestContext"]["functionArn"]).split(":function:")[-1].split(":")[0]
        event = body["requestPayload"]
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    keys = tuple(  # as S3 notifications send them: URL-encoded
        unquote_plus(str(((r.get("s3") or {}).get("object") or {}).get("key", "?")))
        for r in event.get("Records") or []
    )
    detail = event.get("detail")
    if not keys and isinstance(detail, dict):  # EventBridge: the S3 key as is, or the workflow execution
        keys = (str((detail.get("object") or {}).get("key") or detail.get("executionArn") or "?"),)
    response = body.get("responsePayload") or {}
    error = str(response.get("errorMessage") or (body.get("responseContext") or {}).get("functionError", ""))
    return DeadLetter(function, event, keys, error, message["ReceiptHandle"])


def replay_dead_letters(
    sqs: Any,
    lambda_client: Any,
    queue_url: str,
    functions: Collection[str],
    *,
    dry_run: bool = False,
    on_message: Callable[[DeadLetter], None] | None = None,
) -> ReplayReport:
    """Invoke each dead-lettered event of ``functions`` again (asynchronously), then delete it.

    Args:
        functions: Names of the functions whose records may be replayed; other messages stay.
        dry_run: List what would be replayed; leave the queue as it is.
    """
    report = ReplayReport()
    seen: set[str] = set()
    received: set[str] = set()
    while True:
        # Hidden while this pass runs; a message not deleted (foreign, a crash) comes back later. A dry
        # run hides them only briefly, and stops at the first message it has already seen.
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=10 if dry_run else 120,
        ).get("Messages", [])
        if not messages or any(m.get("MessageId", m["ReceiptHandle"]) in received for m in messages):
            return report
        received.update(m.get("MessageId", m["ReceiptHandle"]) for m in messages)
        for message in messages:
            letter = parse_dead_letter(message)
            if letter is None or letter.function not in functions:
                report.foreign += 1
                continue
            if on_message:
                on_message(letter)
            if letter.identity in seen:
                report.duplicates += 1
            else:
                seen.add(letter.identity)
                report.replayed.append(letter)
                if not dry_run:
                    lambda_client.invoke(
                        FunctionName=letter.function, InvocationType="Event", Payload=json.dumps(letter.event)
                    )
            if not dry_run:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=letter.receipt_handle)
