"""ETL Lambda: S3 ObjectCreated on the raw bucket -> validated history + cleaned file.

Also the worker of the sharded ingest workflow (Step Functions): an event with a ``task``
(validate_shard, check_partition, verdict, merge_partition, finish, fail) is one step of an
upload too large for one invocation (grocery_forecast.pipeline.ingest).

Thin by design: parse the event, call the library, log structured JSON, return. Clients and
caches live at module level so warm invocations reuse them.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from grocery_forecast.aws.clients import client_config
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.contract.runs import RunStatus
from grocery_forecast.pipeline import ingest
from grocery_forecast.pipeline.attempts import event_id
from grocery_forecast.pipeline.etl import EtlConfig, run_etl

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"grocery_forecast"})

_s3 = boto3.client("s3", config=client_config("s3"))
_sfn = boto3.client("stepfunctions", config=client_config("stepfunctions"))
_sqs = boto3.client("sqs", config=client_config("sqs"))
_store = DynamoHistoryStore(
    boto3.client("dynamodb", config=client_config("dynamodb")), os.environ.get("HISTORY_TABLE", "")
)
_references = ReferenceObjects()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = EtlConfig.from_env()
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    if "task" in event:  # a step of the sharded ingest workflow (Step Functions)
        logger.append_keys(run_id=event.get("run_id"), task=event["task"])
        result = ingest.run_task(
            event,
            ingest.TaskContext(
                _s3,
                _store,
                deadline,
                context.aws_request_id,
                config.fault_marker,
                _references,
                _sqs,
                config.ingest.dead_letter_queue_url,
                context.invoked_function_arn,
            ),
        )
        logger.info("ingest task done", extra=result)
        return result
    runs = []
    # A failed sharded ingest's dead letter, replayed: the upload's event, numbered as a redrive.
    redrive = int(event.get(ingest.REDRIVE_FIELD, 0) or 0)
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        logger.append_keys(input_bucket=bucket, input_key=key)
        manifest = run_etl(
            _s3,
            _store,
            bucket,
            key,
            config,
            request_id=context.aws_request_id,
            references=_references,
            version_id=record["s3"]["object"].get("versionId"),
            event_id=event_id(record),
            event_time=record.get("eventTime"),
            sequencer=record["s3"]["object"].get("sequencer"),
            deadline=deadline,
            sfn=_sfn,
            s3_event=record,
            redrive=redrive,
        )
        doc = manifest.to_dict()
        fields = {k: doc.get(k) for k in ("run_id", "kind", "status", "rows_in", "rows_rejected", "series")}
        if manifest.status is RunStatus.REJECTED:
            logger.warning(
                "upload rejected", extra={**fields, "report": manifest.report, "errors": manifest.errors}
            )
        else:
            logger.info("upload processed", extra={**fields, "seconds": manifest.steps.get("etl_seconds")})
        runs.append(fields)
    return {"runs": runs}
