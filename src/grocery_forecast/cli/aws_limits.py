"""Hold the local stack to the limits AWS Lambda enforces and the emulator does not.

MiniStack runs each function as a plain process with no memory limit: a function that needs more
than its configured memory passes here and is killed on AWS. Every run manifest records the peak
resident memory of the process that ran each step (``peak_memory_mb_etl``,
``peak_memory_mb_predict``: the resident high-water mark of the invocation, reset at its start so
a warm worker's earlier invocations do not count) and its duration (``steps.etl_seconds``, ``steps.forecast_seconds``). This module
compares them with the deployed functions' ``MemorySize`` and ``Timeout``, read from the emulator's
Lambda API (the configuration Terraform applied, not a copy of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grocery_forecast.cli.stack import Stack

#: (manifest field with the peak memory, manifest step with the duration, Terraform output of the function)
STEPS = (
    ("peak_memory_mb_etl", "etl_seconds", "etl_function_name"),
    ("peak_memory_mb_predict", "forecast_seconds", "predict_function_name"),
)


#: Share of its function's memory size and timeout a shard of a sharded forecast may use: a shard
#: is sized to leave headroom for data a little larger than planned (issue 10's budget).
SHARD_BUDGET = 0.8


@dataclass(frozen=True)
class FunctionLimits:
    name: str
    memory_mb: int
    timeout_s: int


def function_limits(stack: Stack) -> dict[str, FunctionLimits]:
    """MemorySize and Timeout of each deployed function, keyed by its Terraform output name."""
    lam = stack.client("lambda")
    limits = {}
    for _, _, output in STEPS:
        name = stack.outputs[output]
        config = lam.get_function_configuration(FunctionName=name)
        limits[output] = FunctionLimits(name, int(config["MemorySize"]), int(config["Timeout"]))
    return limits


def violations(manifest: dict[str, Any], limits: dict[str, FunctionLimits]) -> list[str]:
    """What in one run would have been killed on AWS: memory over the size, or time over the timeout."""
    found = []
    steps = manifest.get("steps") or {}
    for memory_field, seconds_field, output in STEPS:
        limit = limits[output]
        peak = manifest.get(memory_field)
        if peak is not None and float(peak) > limit.memory_mb:
            found.append(
                f"run {manifest.get('run_id')}: {limit.name} peaked at {float(peak):.0f} MB, "
                f"over its memory size of {limit.memory_mb} MB (AWS would kill it)"
            )
        seconds = steps.get(seconds_field)
        if seconds is not None and float(seconds) > limit.timeout_s:
            found.append(
                f"run {manifest.get('run_id')}: {limit.name} ran {float(seconds):.0f} s, "
                f"over its timeout of {limit.timeout_s} s"
            )
    found += _shard_violations(manifest, limits["predict_function_name"])
    found += _ingest_violations(manifest, limits["etl_function_name"])
    return found


def _ingest_violations(manifest: dict[str, Any], limit: FunctionLimits) -> list[str]:
    """Each invocation of a sharded ingest (the plan, every shard, every partition's check and merge,
    the verdict and the finish) within :data:`SHARD_BUDGET` of the ETL function's memory size and timeout."""
    ingest = manifest.get("ingest") or {}
    parts = [(f"ingest shard {s.get('index')}", s) for s in ingest.get("shards") or []]
    parts += [
        (f"ingest {name}", ingest[name])
        for name in ("plan", "verdict", "finish")
        if isinstance(ingest.get(name), dict)
    ]
    # a partition's check and merge hold one sub-bucket at a time: their knob is its row limit
    partitions = [
        (f"ingest partition {p.get('partition')} {phase}", p.get(phase) or {})
        for p in ingest.get("partition_runs") or []
        for phase in ("check", "merge")
    ]
    return _over_budget(manifest, parts, limit, "ingest_shard_bytes") + _over_budget(
        manifest, partitions, limit, "ingest_bucket_rows"
    )


def _shard_violations(manifest: dict[str, Any], limit: FunctionLimits) -> list[str]:
    """Each invocation of a sharded forecast (every shard, the plan, the pool and the combine step)
    within :data:`SHARD_BUDGET` of the predict function's memory size and timeout."""
    sharded = manifest.get("sharded") or {}
    parts = [(f"shard {s.get('index')}", s) for s in sharded.get("shards") or []]
    parts += [
        (name, sharded[name]) for name in ("plan", "pool", "combine") if isinstance(sharded.get(name), dict)
    ]
    return _over_budget(manifest, parts, limit, "forecast_shard_rows")


def _over_budget(
    manifest: dict[str, Any], parts: list[tuple[str, dict[str, Any]]], limit: FunctionLimits, knob: str
) -> list[str]:
    found = []
    for name, part in parts:
        peak, seconds = float(part.get("peak_memory_mb") or 0), float(part.get("seconds") or 0)
        if peak > SHARD_BUDGET * limit.memory_mb:
            found.append(
                f"run {manifest.get('run_id')}: {name} peaked at {peak:.0f} MB, over {SHARD_BUDGET:.0%} "
                f"of {limit.name}'s {limit.memory_mb} MB: shard smaller ({knob})"
            )
        if seconds > SHARD_BUDGET * limit.timeout_s:
            found.append(
                f"run {manifest.get('run_id')}: {name} ran {seconds:.0f} s, over {SHARD_BUDGET:.0%} "
                f"of {limit.name}'s {limit.timeout_s} s timeout: shard smaller ({knob})"
            )
    return found


def manifests_since(s3: Any, bucket: str, since: datetime) -> list[dict[str, Any]]:
    """Every run manifest written at or after ``since`` (an aware UTC datetime)."""
    import json

    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="runs/"):
        for obj in page.get("Contents", []):
            if obj["LastModified"] >= since and obj["Key"].endswith(".json"):
                found.append(json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    return found
