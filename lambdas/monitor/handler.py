"""Monitor Lambda: the stack watching itself, fed by EventBridge.

* ``aws.s3`` "Object Created" on the processed bucket's ``actuals/``: actuals arrived, so score the
  forecasts served for their days (realized accuracy, grocery_forecast.pipeline.accuracy) and
  publish the figures as CloudWatch metrics (Powertools Metrics: EMF on AWS; PutMetricData where
  EMF is not read, ``METRICS_DESTINATION=api``, see grocery_forecast.aws.metrics).
* ``aws.states`` "Execution Status Change" (FAILED, TIMED_OUT, ABORTED) of the forecast workflow:
  the run ends ``failed`` with the reason (grocery_forecast.pipeline.workflow_events).

Thin by design: parse the event, call the library, log, publish.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from grocery_forecast.aws.clients import client_config
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.metrics import put_emf
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.pipeline.accuracy import AccuracyConfig, score_arrivals
from grocery_forecast.pipeline.workflow_events import record_execution_end

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"grocery_forecast"})
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE; dimension service: POWERTOOLS_SERVICE_NAME
if os.environ.get("STACK_NAME"):
    metrics.set_default_dimensions(stack=os.environ["STACK_NAME"])

_s3 = boto3.client("s3", config=client_config("s3"))
_store = DynamoHistoryStore(
    boto3.client("dynamodb", config=client_config("dynamodb")), os.environ.get("HISTORY_TABLE", "")
)
_references = ReferenceObjects()
_cloudwatch: Any = None

_UNITS = {"RowsScored": MetricUnit.Count, "DaysWorseThanBaseline": MetricUnit.Count}


def _publish(figures: dict[str, float]) -> None:
    global _cloudwatch
    for name, value in figures.items():
        metrics.add_metric(name=name, unit=_UNITS.get(name, MetricUnit.NoUnit), value=value)
    if os.environ.get("METRICS_DESTINATION", "emf") == "api":
        if _cloudwatch is None:
            _cloudwatch = boto3.client("cloudwatch", config=client_config("cloudwatch"))
        put_emf(_cloudwatch, metrics.serialize_metric_set())
        metrics.clear_metrics()
    else:
        metrics.flush_metrics()


def _s3_objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of an EventBridge S3 event (key as is) or of S3 notification records (URL-encoded)."""
    if event.get("source") == "aws.s3":
        return [(event["detail"]["bucket"]["name"], event["detail"]["object"]["key"])]
    return [
        (r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"])) for r in event.get("Records", [])
    ]


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    output_bucket = os.environ.get("OUTPUT_BUCKET", "")
    if event.get("source") == "aws.states":
        detail = event.get("detail") or {}
        logger.append_keys(execution_arn=detail.get("executionArn"), execution_status=detail.get("status"))
        manifest = record_execution_end(_s3, output_bucket, detail)
        if manifest is not None:
            logger.warning(
                "run failed: workflow ended", extra={"run_id": manifest.run_id, "errors": manifest.errors}
            )
        return {"recorded": None if manifest is None else manifest.run_id}
    config = AccuracyConfig.from_env()
    results = []
    for bucket, key in _s3_objects(event):
        logger.append_keys(input_bucket=bucket, input_key=key)
        result = score_arrivals(_s3, _store, config, bucket, key, _references)
        figures = result.metrics()
        if figures:
            _publish(figures)
        results.append(result.to_dict())
    return {"accuracy": results}
