"""Training Lambda: one task of the retraining workflow (Step Functions) per invocation.

Tasks (grocery_forecast.pipeline.training): ``scan`` one parallel-Scan segment of the history
table into a part under models/_training/, ``train`` the challenger from those parts and
gate it against the model in service, ``promote`` or ``reject`` it, ``fail`` to record an error.

Thin by design: parse the event, call the library, log structured JSON, return.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from grocery_forecast.aws.clients import client_config
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.pipeline import training

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"grocery_forecast"})

_s3 = boto3.client("s3", config=client_config("s3"))
_store = DynamoHistoryStore(
    boto3.client("dynamodb", config=client_config("dynamodb")), os.environ.get("HISTORY_TABLE", "")
)
_references = ReferenceObjects()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event.get("run_id"), task=event.get("task"), segment=event.get("segment"))
    result = training.run_task(event, _s3, _store, _references, training.RetrainConfig.from_env())
    logger.info("training task done", extra=result)
    return result
