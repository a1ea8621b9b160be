"""The retraining workflow's ``train`` step as a container job (AWS Batch on Fargate).

Runs exactly what the training Lambda runs for that step
(:func:`grocery_forecast.pipeline.training.train_challenger`), for deployments whose history is
too large for a Lambda's 10,240 MB / 15 minutes (see the README, "Retraining"). The state
machine passes the run through the environment (RUN_ID, TOTAL_SEGMENTS, TRIGGER); the job
definition sets the same MODELS_BUCKET, PROCESSED_BUCKET, HISTORY_TABLE and TRAINING_* settings
the Lambda gets. The outcome goes to the training manifest, which the workflow's ``decision``
task reads.

    python training/batch_job.py      # in the image built from training/Dockerfile
"""

from __future__ import annotations

import json
import os

import boto3

from grocery_forecast.aws.clients import client_config
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.reference_store import ReferenceObjects
from grocery_forecast.pipeline import training


def main() -> int:
    config = training.RetrainConfig.from_env()
    store = DynamoHistoryStore(
        boto3.client("dynamodb", config=client_config("dynamodb")), os.environ["HISTORY_TABLE"]
    )
    result = training.train_challenger(
        boto3.client("s3", config=client_config("s3")),
        store,
        ReferenceObjects(),
        config,
        os.environ["RUN_ID"],
        int(os.environ.get("TOTAL_SEGMENTS", "1")),
        os.environ.get("TRIGGER", ""),
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
