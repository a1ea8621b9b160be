"""In-memory stand-ins for the two AWS clients the library talks to (S3 and DynamoDB).

They implement only the calls the library makes, with the same request and response shapes and
the same error codes, so library code runs unchanged against them. They can inject the faults
the library must survive: unprocessed batch items and throttling.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError


def _client_error(code: str, op: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op
    )


class _Body(io.BytesIO):
    """Like botocore's StreamingBody: read(n), read(), close()."""


class FakeS3:
    """Args:
    versioned: buckets with versioning on (like the raw bucket): every put keeps a new version,
        returns its ``VersionId``, and ``get_object(VersionId=...)`` reads that version.
    """

    def __init__(self, versioned: tuple[str, ...] = (), ranges_by_version: bool = True) -> None:
        #: False: like MiniStack 1.5.33, a GET by VersionId ignores Range and returns the whole object.
        self.ranges_by_version = ranges_by_version
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.versioned = frozenset(versioned)
        self.versions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.puts: list[tuple[str, str]] = []
        self.gets: list[tuple[str, str]] = []

    def put_object(
        self,
        Bucket: str,
        Key: str,
        Body: bytes | str,
        ContentType: str = "",
        Metadata: dict | None = None,
        IfMatch: str | None = None,
        IfNoneMatch: str | None = None,
        **_: Any,
    ) -> dict:
        data = Body.encode() if isinstance(Body, str) else bytes(Body)
        stored = self.objects.get((Bucket, Key))
        # conditional writes, as S3 answers them: 412, or 404 for If-Match on a missing key
        if IfNoneMatch == "*" and stored is not None:
            raise _client_error("PreconditionFailed", "PutObject", 412)
        if IfMatch is not None and stored is None:
            raise _client_error("NoSuchKey", "PutObject", 404)
        if IfMatch is not None and stored is not None and IfMatch not in ("*", stored["etag"]):
            raise _client_error("PreconditionFailed", "PutObject", 412)
        if not all(f"{k}{v}".isascii() for k, v in (Metadata or {}).items()):
            # S3 sends user metadata as HTTP headers: AWS refuses anything but ASCII
            raise _client_error("InvalidArgument", "PutObject")
        if sum(len(f"{k}{v}".encode()) for k, v in (Metadata or {}).items()) > 2048:
            # "The user-defined metadata is limited to 2 KB in size", names and values counted
            raise _client_error("MetadataTooLarge", "PutObject")
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        obj = {"data": data, "etag": etag, "metadata": dict(Metadata or {}), "modified": datetime.now(UTC)}
        self.objects[(Bucket, Key)] = obj
        self.puts.append((Bucket, Key))
        response = {"ETag": etag}
        if Bucket in self.versioned:
            version_id = f"v{len(self.versions) + 1}"
            self.versions[(Bucket, Key, version_id)] = obj
            response["VersionId"] = version_id
        self.stored(Bucket, Key, etag)
        return response

    def stored(self, bucket: str, key: str, etag: str) -> None:
        """Called after every put: a subclass reacts to uploads here, as S3 notifications would."""

    def _get(self, bucket: str, key: str, op: str, version_id: str | None = None) -> dict:
        if version_id is not None:
            try:
                return self.versions[(bucket, key, version_id)]
            except KeyError:
                raise _client_error("NoSuchVersion" if op == "GetObject" else "404", op, 404) from None
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise _client_error("NoSuchKey" if op == "GetObject" else "404", op, 404) from None

    def get_object(
        self, Bucket: str, Key: str, VersionId: str | None = None, Range: str | None = None
    ) -> dict:
        self.gets.append((Bucket, Key))
        obj = self._get(Bucket, Key, "GetObject", VersionId)
        data = obj["data"]
        ranged: dict[str, str] = {}
        if Range is not None and (VersionId is None or self.ranges_by_version):
            # "bytes=first-last", both inclusive, answered with a Content-Range as S3 does
            first, last = (int(v) for v in Range.removeprefix("bytes=").split("-"))
            ranged["ContentRange"] = f"bytes {first}-{min(last, len(data) - 1)}/{len(data)}"
            data = data[first : last + 1]
        return {
            **ranged,
            "Body": _Body(data),
            "ETag": obj["etag"],
            "ContentLength": len(data),
            "Metadata": obj["metadata"],
            "LastModified": obj["modified"],
        }

    def head_object(self, Bucket: str, Key: str) -> dict:
        obj = self._get(Bucket, Key, "HeadObject")
        return {"ETag": obj["etag"], "ContentLength": len(obj["data"]), "Metadata": obj["metadata"]}

    def upload_file(self, Filename: str, Bucket: str, Key: str, Callback: Any = None) -> None:
        with open(Filename, "rb") as fh:
            data = fh.read()
        self.put_object(Bucket=Bucket, Key=Key, Body=data)
        if Callback:
            Callback(len(data))

    def download_file(self, Bucket: str, Key: str, Filename: str) -> None:
        with open(Filename, "wb") as fh:
            fh.write(self._get(Bucket, Key, "HeadObject")["data"])

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        fake = self

        class _Paginator:
            def paginate(self, Bucket: str, Prefix: str = "", Delimiter: str | None = None) -> Iterator[dict]:
                keys = sorted(k for (b, k) in fake.objects if b == Bucket and k.startswith(Prefix))
                if Delimiter:
                    prefixes = sorted(
                        {
                            Prefix + k[len(Prefix) :].split(Delimiter, 1)[0] + Delimiter
                            for k in keys
                            if Delimiter in k[len(Prefix) :]
                        }
                    )
                    yield {
                        "CommonPrefixes": [{"Prefix": p} for p in prefixes],
                        "Contents": [{"Key": k} for k in keys if Delimiter not in k[len(Prefix) :]],
                    }
                else:
                    yield {
                        "Contents": [
                            {"Key": k, "LastModified": fake.objects[(Bucket, k)]["modified"]} for k in keys
                        ]
                    }

        return _Paginator()

    def text(self, bucket: str, key: str) -> str:
        return self.objects[(bucket, key)]["data"].decode()


_COND = re.compile(r"^\s*(?:attribute_not_exists\((#\w+)\)|(#\w+)\s*([<>=])\s*(:\w+))\s*$")


class FakeDynamo:
    """A DynamoDB low-level client over one dict per table.

    Args:
        unprocessed_first: the first N batch calls return half their request as unprocessed.
        throttle_first: the first N batch calls raise ProvisionedThroughputExceededException.
    """

    def __init__(self, unprocessed_first: int = 0, throttle_first: int = 0) -> None:
        self.tables: dict[str, dict[tuple[str, str], dict]] = {}
        self.unprocessed_first = unprocessed_first
        self.throttle_first = throttle_first
        self.calls: dict[str, int] = {}

    def _count(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1

    def _fault(self, op: str) -> bool:
        if self.throttle_first > 0:
            self.throttle_first -= 1
            raise _client_error("ProvisionedThroughputExceededException", op)
        if self.unprocessed_first > 0:
            self.unprocessed_first -= 1
            return True
        return False

    @staticmethod
    def _key(item: dict) -> tuple[str, str]:
        return item["series"]["S"], item["bucket"]["S"]

    #: Items per Scan page, small so that pagination (LastEvaluatedKey) is exercised.
    scan_page = 7

    def scan(
        self,
        TableName: str,
        Segment: int = 0,
        TotalSegments: int = 1,
        ExclusiveStartKey: dict | None = None,
        ProjectionExpression: str | None = None,
        ExpressionAttributeNames: dict | None = None,
    ) -> dict:
        """A parallel Scan: segment = a stable hash of the partition key, pages of ``scan_page``."""
        import zlib

        self._count("scan")
        keys = sorted(
            k for k in self._table(TableName) if zlib.crc32(k[0].encode()) % TotalSegments == Segment
        )
        if ExclusiveStartKey is not None:
            keys = [k for k in keys if k > self._key(ExclusiveStartKey)]
        page = keys[: self.scan_page]
        out: dict = {"Items": [self._table(TableName)[k] for k in page]}
        if ProjectionExpression:
            names = ExpressionAttributeNames or {}
            wanted = {names.get(p.strip(), p.strip()) for p in ProjectionExpression.split(",")}
            out["Items"] = [{k: v for k, v in it.items() if k in wanted} for it in out["Items"]]
        if len(keys) > self.scan_page:
            out["LastEvaluatedKey"] = {"series": {"S": page[-1][0]}, "bucket": {"S": page[-1][1]}}
        return out

    def _table(self, name: str) -> dict:
        return self.tables.setdefault(name, {})

    def batch_get_item(self, RequestItems: dict) -> dict:
        self._count("BatchGetItem")
        ((table, req),) = RequestItems.items()
        keys = req["Keys"]
        assert len(keys) <= 100, "BatchGetItem takes at most 100 keys"
        partial = self._fault("BatchGetItem")
        served, left = (
            (keys[: len(keys) // 2], keys[len(keys) // 2 :]) if partial and len(keys) > 1 else (keys, [])
        )
        found = [dict(self._table(table)[self._key(k)]) for k in served if self._key(k) in self._table(table)]
        if "ProjectionExpression" in req:
            names = req.get("ExpressionAttributeNames", {})
            wanted = {names.get(p.strip(), p.strip()) for p in req["ProjectionExpression"].split(",")}
            found = [{k: v for k, v in it.items() if k in wanted} for it in found]
        # like DynamoDB: unprocessed keys come back with the request's other parameters
        return {
            "Responses": {table: found},
            "UnprocessedKeys": {table: {**req, "Keys": left}} if left else {},
        }

    def batch_write_item(self, RequestItems: dict) -> dict:
        self._count("BatchWriteItem")
        ((table, reqs),) = RequestItems.items()
        assert len(reqs) <= 25, "BatchWriteItem takes at most 25 items"
        partial = self._fault("BatchWriteItem")
        done, left = (
            (reqs[: len(reqs) // 2], reqs[len(reqs) // 2 :]) if partial and len(reqs) > 1 else (reqs, [])
        )
        for r in done:
            item = r["PutRequest"]["Item"]
            self._table(table)[self._key(item)] = dict(item)
        return {"UnprocessedItems": {table: left} if left else {}}

    def _check(self, existing: dict | None, expr: str | None, names: dict, values: dict, op: str) -> None:
        if not expr:
            return
        # OR of ANDs, no parentheses: all this code's conditions need
        if any(
            all(self._holds(existing, c, names, values) for c in alt.split(" AND "))
            for alt in expr.split(" OR ")
        ):
            return
        raise _client_error("ConditionalCheckFailedException", op)

    @staticmethod
    def _holds(existing: dict | None, clause: str, names: dict, values: dict) -> bool:
        m = _COND.match(clause)
        assert m, f"fake cannot evaluate condition {clause!r}"
        if m.group(1):
            return existing is None or names[m.group(1)] not in existing
        attr, cmp, val = names[m.group(2)], m.group(3), values[m.group(4)]
        if existing is None or attr not in existing:
            return False
        have = existing[attr]
        kind = next(iter(val))
        a, b = (float(have[kind]), float(val[kind])) if kind == "N" else (have[kind], val[kind])
        return (cmp == "<" and a < b) or (cmp == ">" and a > b) or (cmp == "=" and a == b)

    def put_item(
        self,
        TableName: str,
        Item: dict,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict | None = None,
        ExpressionAttributeValues: dict | None = None,
    ) -> dict:
        self._count("PutItem")
        existing = self._table(TableName).get(self._key(Item))
        self._check(
            existing,
            ConditionExpression,
            ExpressionAttributeNames or {},
            ExpressionAttributeValues or {},
            "PutItem",
        )
        self._table(TableName)[self._key(Item)] = dict(Item)
        return {}

    def delete_item(
        self,
        TableName: str,
        Key: dict,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict | None = None,
        ExpressionAttributeValues: dict | None = None,
    ) -> dict:
        self._count("DeleteItem")
        existing = self._table(TableName).get(self._key(Key))
        self._check(
            existing,
            ConditionExpression,
            ExpressionAttributeNames or {},
            ExpressionAttributeValues or {},
            "DeleteItem",
        )
        self._table(TableName).pop(self._key(Key), None)
        return {}

    #: Items per Query page, small so that pagination (LastEvaluatedKey) is exercised.
    query_page = 2

    def query(
        self,
        TableName: str,
        KeyConditionExpression: str,
        ExpressionAttributeNames: dict,
        ExpressionAttributeValues: dict,
        ConsistentRead: bool = False,
        ExclusiveStartKey: dict | None = None,
    ) -> dict:
        """The partition's items in sort-key order, optionally a sort-key range (``BETWEEN``), paged."""
        self._count("Query")
        m = re.match(r"^(#\w+) = (:\w+)(?: AND (#\w+) BETWEEN (:\w+) AND (:\w+))?$", KeyConditionExpression)
        assert m and ExpressionAttributeNames[m.group(1)] == "series", KeyConditionExpression
        want = ExpressionAttributeValues[m.group(2)]["S"]
        lo, hi = (
            (ExpressionAttributeValues[m.group(4)]["S"], ExpressionAttributeValues[m.group(5)]["S"])
            if m.group(3)
            else ("", "\uffff")
        )
        keys = [k for k in sorted(self._table(TableName)) if k[0] == want and lo <= k[1] <= hi]
        if ExclusiveStartKey is not None:
            keys = [k for k in keys if k > self._key(ExclusiveStartKey)]
        page = keys[: self.query_page]
        out: dict = {"Items": [dict(self._table(TableName)[k]) for k in page], "Count": len(page)}
        if len(keys) > self.query_page:
            out["LastEvaluatedKey"] = {"series": {"S": page[-1][0]}, "bucket": {"S": page[-1][1]}}
        return out

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False) -> dict:
        self._count("GetItem")
        item = self._table(TableName).get(self._key(Key))
        return {"Item": dict(item)} if item else {}

    def transact_write_items(self, TransactItems: list[dict]) -> dict:
        """All or nothing: every condition holds, then every Update applies (SET a = :x, b = :y)."""
        self._count("TransactWriteItems")
        assert len(TransactItems) <= 100, "TransactWriteItems takes at most 100 items"
        reasons = []
        for request in TransactItems:
            ((_, op),) = request.items()
            existing = self._table(op["TableName"]).get(self._key(op["Key"]))
            try:
                self._check(
                    existing,
                    op.get("ConditionExpression"),
                    op.get("ExpressionAttributeNames") or {},
                    op.get("ExpressionAttributeValues") or {},
                    "TransactWriteItems",
                )
                reasons.append({"Code": "None"})
            except ClientError:
                reasons.append({"Code": "ConditionalCheckFailed"})
        if any(r["Code"] != "None" for r in reasons):
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        for request in TransactItems:
            ((kind, op),) = request.items()
            if kind != "Update":
                assert kind == "ConditionCheck", f"fake cannot apply {kind}"
                continue
            names, values = (
                op.get("ExpressionAttributeNames") or {},
                op.get("ExpressionAttributeValues") or {},
            )
            item = dict(self._table(op["TableName"]).get(self._key(op["Key"])) or op["Key"])
            for assignment in op["UpdateExpression"].removeprefix("SET ").split(","):
                name, value = (part.strip() for part in assignment.split("="))
                item[names[name]] = values[value]
            self._table(op["TableName"])[self._key(op["Key"])] = item
        return {}

    def update_item(
        self,
        TableName: str,
        Key: dict,
        UpdateExpression: str,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict | None = None,
        ExpressionAttributeValues: dict | None = None,
    ) -> dict:
        self._count("UpdateItem")
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        existing = self._table(TableName).get(self._key(Key))
        self._check(existing, ConditionExpression, names, values, "UpdateItem")
        m = re.match(r"^(?:SET (#\w+) = (:\w+)|ADD (#\w+) (:\w+))$", UpdateExpression)
        assert m, f"fake cannot evaluate update {UpdateExpression!r}"
        item = dict(existing or Key)
        adding = m.group(3) is not None
        name, value = names[m.group(3 if adding else 1)], values[m.group(4 if adding else 2)]
        if adding:  # a set union (number sets: the values compared as numbers)
            ((kind, members),) = value.items()
            assert kind in ("NS", "SS"), f"fake ADDs sets only, got {kind}"
            # DynamoDB refuses an empty set and a set with the same member twice
            assert members and len(set(members)) == len(members), f"invalid set {members!r}"
            have = item.get(name, {kind: []})[kind]
            merged = {str(float(v)) if kind == "NS" else v: v for v in [*have, *members]}
            value = {kind: list(merged.values())}
        item[name] = value
        self._table(TableName)[self._key(Key)] = item
        return {}
