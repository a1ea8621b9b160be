"""Predict Lambda: S3 ObjectCreated on the processed bucket -> forecast CSV + run manifest.

Also the worker of the sharded forecast workflow (Step Functions): an event with a ``task``
(shard_stats, pool, shard_forecast, combine, fail) is one step of a forecast too large for one
invocation (grocery_forecast.pipeline.shards).

Thin by design: parse the event, call the library, log structured JSON, return. The model and
reference tables are cached at module level across warm invocations.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from grocery_forecast.aws.clients import client_config
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.pipeline import shards
from grocery_forecast.pipeline.attempts import event_id
from grocery_forecast.pipeline.forecast import ForecastConfig, ModelCache, run_forecast

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"grocery_forecast"})

_s3 = boto3.client("s3", config=client_config("s3"))
_sfn = boto3.client("stepfunctions", config=client_config("stepfunctions"))
_store = DynamoHistoryStore(
    boto3.client("dynamodb", config=client_config("dynamodb")), os.environ.get("HISTORY_TABLE", "")
)
_models = ModelCache()
_references = ReferenceObjects()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = ForecastConfig.from_env()
    if "task" in event:
        logger.append_keys(run_id=event.get("run_id"), task=event["task"], shard=event.get("index"))
        result = shards.run_task(event, _s3, _store, config, _models, _references)
        logger.info("shard task done", extra=result)
        return result
    runs = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        logger.append_keys(input_bucket=bucket, input_key=key)
        manifest = run_forecast(
            _s3,
            _store,
            bucket,
            key,
            config,
            models=_models,
            references=_references,
            request_id=context.aws_request_id,
            event_id=event_id(record),
            sfn=_sfn,
        )
        doc = manifest.to_dict()
        fields = {
            k: doc.get(k)
            for k in ("run_id", "status", "model_version", "rows_forecast", "series_forecast", "output")
        }
        logger.info("forecast written", extra={**fields, "seconds": manifest.steps.get("forecast_seconds")})
        runs.append(fields)
    return {"runs": runs}
