"""What every AWS call here shares: client settings and how an error is classified.

One place for the botocore configurations (the Lambdas, the CLI and the benchmarks build their
clients from here) and for reading a ClientError's code, so "the object does not exist" means the
same thing in every adapter.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DENIED_CODES",
    "MISSING_CODES",
    "access_denied",
    "client_config",
    "dynamodb_client_config",
    "error_code",
    "is_missing",
]

#: Codes S3 answers for an absent object: GetObject says NoSuchKey, HeadObject (no body) a bare 404.
#: Without s3:ListBucket, AWS answers AccessDenied (403) instead, which is deliberately not here.
MISSING_CODES: frozenset[str] = frozenset({"404", "NoSuchKey", "NotFound"})
#: Codes of a refused request (403). On AWS a *missing* object is one too when the caller may not
#: s3:ListBucket its prefix, so a message for these names both causes.
DENIED_CODES: frozenset[str] = frozenset({"AccessDenied", "403", "Forbidden"})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def is_missing(exc: BaseException) -> bool:
    """Whether ``exc`` says the requested object or key does not exist."""
    return error_code(exc) in MISSING_CODES


def access_denied(exc: BaseException) -> bool:
    """Whether ``exc`` is a 403: no permission, or (without s3:ListBucket on AWS) a missing object."""
    return error_code(exc) in DENIED_CODES


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is a dropped, refused or timed-out connection rather than an AWS answer: the
    request may or may not have been applied, and sending it again is the caller's call."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, BotoConnectionError | HTTPClientError)


def execution_status(sfn: Any, execution_arn: str) -> str | None:
    """A Step Functions execution's status (``RUNNING``, ``SUCCEEDED``, ``FAILED``, ...), or None
    when there is no such execution."""
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"])
    except Exception as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise


#: The history client's read timeout: below the writer lease's fence
#: (:data:`grocery_forecast.aws.history.FENCE_SECONDS`, 10 s), so a batch sent inside the lease is
#: answered, or given up, before the lease can pass to another writer.
DYNAMODB_READ_TIMEOUT_SECONDS = 8


def dynamodb_client_config() -> Any:
    """botocore settings for the history store's client.

    No retries inside botocore: the store retries every call itself (throttling, faults, dropped
    connections) and checks the writer lease's fence before each try. botocore's own retries (up to
    10, with adaptive rate limiting and backoffs of up to 20 s) would re-send a BatchWriteItem long
    after the fence was checked, past the lease, over a newer writer's buckets. Client-side
    parameter validation costs a quarter of the client's CPU on 100,000-item batches (measured:
    23 s -> 17 s), and the requests here are built by code, not typed by people. The pool matches
    the store's worker threads.
    """
    from botocore.config import Config

    return Config(
        parameter_validation=False,
        max_pool_connections=16,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=2,
        read_timeout=DYNAMODB_READ_TIMEOUT_SECONDS,
    )


def client_config(service: str, *, max_pool_connections: int = 16) -> Any:
    """The botocore settings for a client of ``service``: the history store's for DynamoDB, adaptive
    retries and a pool for parallel transfers otherwise."""
    from botocore.config import Config

    if service == "dynamodb":
        return dynamodb_client_config()
    return Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=max_pool_connections)
