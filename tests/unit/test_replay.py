"""``grocery-forecast replay``: dead-lettered events go back to their function once, and leave the queue."""

from __future__ import annotations

import json

from grocery_forecast.contract.runs import RunManifest
from grocery_forecast.pipeline.attempts import begin_attempt
from grocery_forecast.pipeline.replay import replay_dead_letters

QUEUE = "https://sqs/dlq"


def _record(key: str, sequencer: str) -> dict:
    return {
        "s3": {"bucket": {"name": "raw"}, "object": {"key": key, "versionId": "v1", "sequencer": sequencer}}
    }


def _letter(function: str, key: str, sequencer: str = "01") -> str:
    return json.dumps(
        {
            "requestContext": {
                "functionArn": f"arn:aws:lambda:us-east-1:1:function:{function}",
                "condition": "RetriesExhausted",
            },
            "requestPayload": {"Records": [_record(key, sequencer)]},
            "responsePayload": {"errorMessage": "table is gone"},
        }
    )


class FakeSqs:
    def __init__(self, bodies: list[str]) -> None:
        self.messages = {f"r{i}": b for i, b in enumerate(bodies)}
        self.hidden: set[str] = set()

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **_) -> dict:
        ready = [h for h in self.messages if h not in self.hidden][:MaxNumberOfMessages]
        self.hidden.update(ready)
        return {"Messages": [{"Body": self.messages[h], "ReceiptHandle": h} for h in ready]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        del self.messages[ReceiptHandle]


class FakeLambda:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict:
        self.calls.append((FunctionName, InvocationType, json.loads(Payload)))
        return {"StatusCode": 202}


def test_replay_redrives_dead_lettered_events_once_and_empties_the_queue() -> None:
    sqs = FakeSqs([_letter("etl", "a.csv"), _letter("etl", "a.csv"), _letter("predict", "actuals/b.csv")])
    lam = FakeLambda()
    report = replay_dead_letters(sqs, lam, QUEUE, {"etl", "predict"})
    assert [(f, t) for f, t, _ in lam.calls] == [("etl", "Event"), ("predict", "Event")]
    assert lam.calls[0][2] == {"Records": [_record("a.csv", "01")]}, "the original event, unchanged"
    assert (len(report.replayed), report.duplicates, sqs.messages) == (2, 1, {})


def test_replay_is_idempotent_a_second_run_finds_nothing() -> None:
    sqs, lam = FakeSqs([_letter("etl", "a.csv")]), FakeLambda()
    replay_dead_letters(sqs, lam, QUEUE, {"etl"})
    sqs.hidden.clear()
    again = replay_dead_letters(sqs, lam, QUEUE, {"etl"})
    assert len(lam.calls) == 1 and not again.replayed


def test_replay_leaves_foreign_messages_and_a_dry_run_changes_nothing() -> None:
    sqs, lam = FakeSqs(["not json", _letter("someone-else", "x.csv"), _letter("etl", "a.csv")]), FakeLambda()
    report = replay_dead_letters(sqs, lam, QUEUE, {"etl"}, dry_run=True)
    assert (len(report.replayed), report.foreign, lam.calls, len(sqs.messages)) == (1, 2, [], 3)


def test_a_replayed_event_gets_lambdas_retries_again() -> None:
    manifest = RunManifest.new("a-1", "raw", "a.csv", "e", 1)
    statuses = []
    for _ in range(6):  # three attempts of the upload, then three of its replay
        previous = RunManifest.from_dict(json.loads(json.dumps(manifest.to_dict())))  # as stored
        begin_attempt(manifest, previous, "etl", "raw|a.csv|v1|01", retries=2)
        statuses.append((manifest.attempt, manifest.attempts_allowed, manifest.retries_left))
    assert statuses == [(1, 3, 2), (2, 3, 1), (3, 3, 0), (4, 6, 2), (5, 6, 1), (6, 6, 0)]


def _eventbridge_letter(event_id: str, key: str) -> str:
    return json.dumps(
        {
            "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:gf-monitor"},
            "requestPayload": {
                "id": event_id,
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": "processed"}, "object": {"key": key}},
            },
            "responsePayload": {"errorMessage": "throttled"},
        }
    )


def test_the_monitors_eventbridge_events_are_replayed_once_each() -> None:
    # GIVEN two different EventBridge events of the monitor, one of them dead-lettered twice
    sqs = FakeSqs(
        [
            _eventbridge_letter("e-1", "actuals/a.csv"),
            _eventbridge_letter("e-2", "actuals/b.csv"),
            _eventbridge_letter("e-1", "actuals/a.csv"),
        ]
    )
    lam = FakeLambda()
    seen: list[str] = []
    # WHEN replayed
    report = replay_dead_letters(sqs, lam, QUEUE, {"gf-monitor"}, on_message=lambda m: seen.extend(m.keys))
    # THEN each event goes back once, as it was, and the queue is empty
    assert [call[2]["id"] for call in lam.calls] == ["e-1", "e-2"] and report.duplicates == 1
    assert seen == ["actuals/a.csv", "actuals/b.csv", "actuals/a.csv"] and not sqs.messages


def test_two_redrives_of_one_failed_sharded_ingest_are_two_letters_not_a_duplicate() -> None:
    # GIVEN the dead letters of a sharded ingest's first and second redrive (same S3 event)
    def redrive(n: int) -> str:
        body = json.loads(_letter("gf-etl", "uploads/big.csv"))
        body["requestPayload"]["ingest_redrive"] = n
        return json.dumps(body)

    sqs, lam = FakeSqs([redrive(1), redrive(2), redrive(2)]), FakeLambda()
    # WHEN replayed
    report = replay_dead_letters(sqs, lam, QUEUE, {"gf-etl"})
    # THEN both go back (the newer is the one that can still run), the copy of the second once
    assert [call[2]["ingest_redrive"] for call in lam.calls] == [1, 2] and report.duplicates == 1
    assert not sqs.messages
