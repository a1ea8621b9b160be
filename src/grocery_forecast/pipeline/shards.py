"""The sharded forecast: a forecast too large for one invocation, spread over a Step Functions workflow.

A forecast of more target rows than ``FORECAST_SHARD_ROWS`` (a Kaggle-size request: 3.4 M rows,
210 k series) would take the predict function over its memory. The predict invocation that
receives the processed file only *plans* it (:func:`start`): it cuts the targets into shards of
whole series (contiguous store/item groups, at most ``shard_rows`` rows each unless one series is
longer), writes each shard's targets with their row positions and a shard list to the processed
bucket under ``shards/<run_id>/``, and starts the state machine, which runs the same function on
each task (:func:`run_task`)::

    ShardStats (Distributed Map over shards.json)  each shard reads its series' history, keeps it,
        │                                          and writes the item/store/class/family sums of
        │                                          the history's series in its (store, item) range
    PoolStats                                      adds the sums up (PooledSums.merge)
    ForecastShards (Distributed Map)               each shard forecasts its rows with the total
        │                                          sums, so pooled features are the same as in one
        │                                          invocation over every series (a history too short
        │                                          for the model falls back to a baseline in every shard)
    Combine                                        one forecast CSV, rows in the order of the upload
                                                   (the row positions the shards carry); the manifest
    (any state failing) -> RecordFailure -> Fail   the run ends ``failed`` with each shard's errors

Each shard task retries under the state machine's Retry; every attempt writes
``status/<phase>-<index>.json`` (attempt, errors so far, peak memory, seconds), and the manifest
lists them. ``peak_memory_mb_predict`` is the largest peak of any invocation of the run (plan,
shards, pool, combine) and ``steps.forecast_seconds`` its longest invocation: the figures AWS's
memory size and timeout apply to. ``steps.workflow_seconds`` is the wall time from plan to CSV.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.aws.clients import execution_status
from grocery_forecast.aws.s3io import get_json, put_csv, put_json
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import HandOff, RunInput, RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf
from grocery_forecast.pipeline.forecast import (
    forecast_frame,
    pooled_over_history,
    read_history,
    write_forecast,
)

__all__ = ["ShardFault", "plan_shards", "run_task", "start"]

log = logging.getLogger(__name__)

#: Environment variable naming the marker of uploads whose first shard fails on purpose (tests).
FAULT_ENV = "FORECAST_SHARD_FAULT"


class ShardFault(RuntimeError):
    """A fault injected on purpose (``FORECAST_SHARD_FAULT``), to exercise retries and failures."""


# -- planning ----------------------------------------------------------------------------------


def plan_shards(targets: pd.DataFrame, shard_rows: int) -> list[np.ndarray]:
    """Row positions of ``targets`` per shard: whole series, in store/item order, shards of about equal
    rows and at most ``shard_rows`` each (a single longer series gets a shard of its own)."""
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    order = np.lexsort((targets["item_nbr"].to_numpy(), targets["store_nbr"].to_numpy()))
    stores = targets["store_nbr"].to_numpy()[order]
    items = targets["item_nbr"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, (stores[1:] != stores[:-1]) | (items[1:] != items[:-1])])
    # As few shards as the size allows, of about equal rows (they run side by side: the largest sets the
    # wall time): cut at the series start nearest each even split; while a shard of several series is
    # over shard_rows (whole series rarely divide evenly), try with more shards.
    n = len(order)
    k = max(1, -(-n // shard_rows))
    while True:
        splits = np.arange(1, k) * (n / k)
        i = np.clip(np.searchsorted(starts, splits), 1, len(starts) - 1)
        below, above = starts[i - 1], starts[i]
        near = (
            np.where(splits - below <= above - splits, below, above)
            if len(starts) > 1
            else np.empty(0, np.int64)
        )
        cuts = np.unique(np.r_[0, near, n]).tolist()
        sizes = np.diff(cuts)
        series = np.diff(np.searchsorted(starts, cuts))
        if k >= len(starts) or not np.any((sizes > shard_rows) & (series > 1)):
            break
        k += max(1, k // 100)
    return [order[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def start(
    s3: Any,
    sfn: Any,
    key: str,
    hand_off: HandOff,
    origin: pd.Timestamp,
    targets: pd.DataFrame,
    manifest: RunManifest,
    config: Any,
    started: float,
    stored_from: pd.Timestamp | None = None,
    pool_history: bool = False,
) -> None:
    """Write the shards of the processed file ``key``'s ``targets`` and start the workflow; the
    manifest says ``forecasting`` (the Combine or RecordFailure task completes it).

    ``pool_history``: the shards pool over every series of the history (each over the series
    index's share in its key range) rather than over their own series; decided here once, so every
    shard pools the same way."""
    run_id = hand_off.run_id
    previous = manifest.sharded or {}
    attempt = int(previous.get("attempt", 0))
    if previous.get("execution_arn"):
        if execution_status(sfn, previous["execution_arn"]) in LIVE_STATUSES:
            # S3 delivers an event at least once, and Lambda retries an invocation whose response was
            # lost: a second start would re-plan under the running workflow's feet. Only a workflow
            # that ended without a forecast (failed, timed out, aborted) is planned again.
            log.info(
                "sharded forecast already running or done",
                extra={"run_id": run_id, "execution_arn": previous["execution_arn"]},
            )
            return
        attempt += 1
    if not config.state_machine_arn:
        raise RuntimeError(
            f"{len(targets)} target rows exceed FORECAST_SHARD_ROWS={config.shard_rows}, "
            "but the predict function has no FORECAST_STATE_MACHINE_ARN to shard them with"
        )
    while True:
        name = execution_name(run_id, manifest.input.upload_stamp or 0, attempt)
        arn = runs.execution_arn(config.state_machine_arn, name)
        status = execution_status(sfn, arn)
        if status is None or status in LIVE_STATUSES:
            break
        attempt += 1  # ended without a forecast, and the manifest lost it: the name is used up
    if status is not None:
        _record_started(s3, config, manifest, arn, status, attempt)
        return
    # No peak reset here: this invocation already parsed the whole processed file, and that peak
    # is what the function's memory size must cover.
    t0 = time.perf_counter()
    bucket = config.processed_bucket
    version = model_store.current_version(s3, config.models_bucket)
    shards = plan_shards(targets, config.shard_rows)
    runs.check_shard_count(
        len(shards), f"{len(targets):,} target rows", f"FORECAST_SHARD_ROWS ({config.shard_rows:,})"
    )
    items = []
    for index, rows in enumerate(shards):
        part = targets.iloc[rows].assign(row=rows)
        put_csv(s3, bucket, runs.shard_key(run_id, f"input/{index:05d}.csv"), part)
        items.append(
            {
                "index": index,
                "rows": len(rows),
                "series": int(part[["store_nbr", "item_nbr"]].drop_duplicates().shape[0]),
                # The shard's first series: shards are (store, item) ranges, in order, so a shard's
                # share of the history's series for the pooled sums runs up to the next one's.
                "first_series": [int(part["store_nbr"].iloc[0]), int(part["item_nbr"].iloc[0])],
            }
        )
    plan = {
        "run_id": run_id,
        "input_key": key,
        "kind": hand_off.kind.value,
        "origin": str(origin.date()),
        # The history table's first day as planned: every shard reads from it (see read_history).
        "history_start": None if stored_from is None else str(stored_from.date()),
        "pooled_over": "history" if pool_history else "upload",
        "model_version": version,
        "rows": len(targets),
        "shard_rows": config.shard_rows,
        "shards": items,
        "started_epoch": time.time() - (time.perf_counter() - started),
    }
    put_json(s3, bucket, runs.shard_key(run_id, "plan.json"), plan)
    s3.put_object(
        Bucket=bucket,
        Key=runs.shard_key(run_id, "shards.json"),
        Body=json.dumps([{"index": i["index"]} for i in items]).encode(),
        ContentType="application/json",
    )
    execution = sfn.start_execution(
        stateMachineArn=config.state_machine_arn,
        name=name,
        input=json.dumps(
            {"run_id": run_id, "bucket": bucket, "shard_list_key": runs.shard_key(run_id, "shards.json")}
        ),
    )
    manifest.steps["plan_seconds"] = round(time.perf_counter() - t0, 3)
    seconds = round(time.perf_counter() - started, 3)  # the whole invocation, as its timeout counts it
    manifest.status = RunStatus.FORECASTING
    manifest.model_version = version
    manifest.origin = plan["origin"]
    manifest.sharded = {
        "shard_count": len(items),
        "shard_rows": config.shard_rows,
        "execution_arn": execution["executionArn"],
        "attempt": attempt,
        "plan": {"peak_memory_mb": mf.invocation_peak_memory_mb(), "seconds": seconds},
    }
    mf.save(s3, config.output_bucket, manifest)
    log.info(
        "sharded forecast started",
        extra={"run_id": run_id, "shards": len(items), "execution_arn": execution["executionArn"]},
    )


def _record_started(s3: Any, config: Any, manifest: RunManifest, arn: str, status: str, attempt: int) -> None:
    """Record in the manifest the live execution ``arn`` that an earlier invocation started and died
    before recording (planning again would rewrite the shards it reads), unless it has already
    forecast the run: then its Combine step saved the manifest since this invocation read it, and
    that stands."""
    run_id = manifest.run_id
    current = mf.load(s3, config.output_bucket, run_id)
    if status == "SUCCEEDED" or (current is not None and current.status is RunStatus.SUCCEEDED):
        log.info("sharded forecast already done", extra={"run_id": run_id, "execution_arn": arn})
        return
    # The plan is written before the start, so it is there; it says what that execution forecasts.
    plan = get_json(s3, config.processed_bucket, runs.shard_key(run_id, "plan.json")) or {}
    manifest.status = RunStatus.FORECASTING
    manifest.model_version = plan.get("model_version", manifest.model_version)
    manifest.origin = plan.get("origin", manifest.origin)
    manifest.sharded = {
        "shard_count": len(plan.get("shards", [])),
        "shard_rows": plan.get("shard_rows", config.shard_rows),
        "execution_arn": arn,
        "attempt": attempt,
    }
    mf.save(s3, config.output_bucket, manifest)
    log.info("sharded forecast already started", extra={"run_id": run_id, "execution_arn": arn})


#: A workflow execution in these is running, has forecast the run, or is being redriven (an
#: operator's redrive of a failed execution resumes it on the same shard files).
LIVE_STATUSES = frozenset({"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"})


def execution_name(run_id: str, stamp: int, attempt: int) -> str:
    """The forecast workflow's execution name for one upload of a run (its ``stamp``, as the ETL
    recorded it) and ``attempt`` (0, then one more for each execution that ended without a forecast).

    Deterministic, so a delivery that finds no execution in the manifest (its first invocation died
    after starting one) looks the name up before planning, and StartExecution itself refuses a
    second start of a closed one. The stamp tells uploads apart: the same bytes uploaded again (the
    same run id, e.g. to forecast with a newly promoted model) get a new execution, not the first
    upload's finished one.
    """
    digest = hashlib.sha256(f"{run_id}/{stamp}/forecast/{attempt}".encode()).hexdigest()[:16]
    return runs.execution_name(run_id, digest, readable=60)


# -- peak memory of one invocation -------------------------------------------------------------


# -- tasks of the state machine ----------------------------------------------------------------


def run_task(
    event: Mapping[str, Any], s3: Any, store: Any, config: Any, models: Any, references: Any
) -> dict[str, Any]:
    """One task of the workflow: ``shard_stats``, ``pool``, ``shard_forecast``, ``combine`` or ``fail``."""
    mf.reset_peak_memory()
    task, run_id, bucket = event["task"], event["run_id"], event["bucket"]
    plan = get_json(s3, bucket, runs.shard_key(run_id, "plan.json"))
    if plan is None:
        raise RuntimeError(f"no shard plan at s3://{bucket}/{runs.shard_key(run_id, 'plan.json')}")
    if task in ("shard_stats", "shard_forecast"):
        deps = _Deps(s3, store, config, models, references)
        return _shard(task, int(event["index"]), int(event.get("attempt", 0)), plan, deps)
    if task == "pool":
        return _pool(plan, s3, bucket)
    if task == "combine":
        return _finish(plan, s3, config, None)
    if task == "fail":
        return _finish(plan, s3, config, event.get("error") or {})
    raise ValueError(f"unknown shard task {task!r}")


@dataclass(frozen=True)
class _Deps:
    """What a shard task works with: the S3 client, the history store, the config and the caches."""

    s3: Any
    store: Any
    config: Any
    models: Any
    references: Any


def _shard(task: str, index: int, attempt: int, plan: dict[str, Any], deps: _Deps) -> dict[str, Any]:
    t0 = time.perf_counter()
    s3, run_id, bucket = deps.s3, plan["run_id"], deps.config.processed_bucket
    phase = "stats" if task == "shard_stats" else "forecast"
    status_key = runs.shard_key(run_id, f"status/{phase}-{index:05d}.json")
    previous = get_json(s3, bucket, status_key) or {}
    errors = list(previous.get("errors", [])) if previous.get("attempts", 0) < attempt + 1 else []
    status: dict[str, Any] = {"index": index, "phase": phase, "attempts": attempt + 1, "errors": errors}
    try:
        _inject_fault(plan, phase, index, attempt)
        status.update(_shard_work(phase, index, plan, deps))
        status["status"] = "succeeded"
    except Exception as exc:
        status.update(
            status="failed", errors=[*errors, f"attempt {attempt + 1}: {type(exc).__name__}: {exc}"]
        )
        raise
    finally:
        status.update(
            peak_memory_mb=mf.invocation_peak_memory_mb(), seconds=round(time.perf_counter() - t0, 3)
        )
        put_json(s3, bucket, status_key, status)
    return {"index": index}


def _inject_fault(plan: dict[str, Any], phase: str, index: int, attempt: int) -> None:
    """With ``FORECAST_SHARD_FAULT=<marker>`` (set by the local root only), the first shard's
    forecast of an upload whose key holds ``<marker>-<n>`` fails its first ``n`` attempts."""
    marker = os.environ.get(FAULT_ENV, "")
    found = re.search(rf"{re.escape(marker)}-(\d+)", plan["input_key"]) if marker else None
    if found and phase == "forecast" and index == 0 and attempt < int(found.group(1)):
        raise ShardFault(f"injected fault ({FAULT_ENV}={marker}) on attempt {attempt + 1}")


def _shard_work(phase: str, index: int, plan: dict[str, Any], deps: _Deps) -> dict[str, Any]:
    from grocery_forecast.forecasting.features import pooled_sums
    from grocery_forecast.forecasting.panel import SalesPanel

    s3, config, run_id = deps.s3, deps.config, plan["run_id"]
    bucket, origin = config.processed_bucket, pd.Timestamp(plan["origin"])
    targets = pd.read_csv(
        s3.get_object(Bucket=bucket, Key=runs.shard_key(run_id, f"input/{index:05d}.csv"))["Body"],
        parse_dates=["date"],
    )
    model = deps.models.get(s3, config.models_bucket, config.model_dir, plan["model_version"])
    reference = deps.references.reference(s3, config.processed_bucket)
    panel_key = runs.shard_key(run_id, f"panel/{index:05d}.npz")
    if phase == "stats":
        stored_from = pd.Timestamp(plan["history_start"]) if plan.get("history_start") else None
        panel = read_history(deps.store, targets, origin, int(model.spec.lookback_days), stored_from)
        _put_npz(
            s3,
            bucket,
            panel_key,
            start=np.array(str(panel.start.date())),
            stores=panel.stores,
            items=panel.items,
            sales=panel.sales,
            promo=panel.promo,
        )
        # Pooled over every series of the history as training pools: each shard over the series in
        # its (store, item) range (the ranges cover them all once, so PoolStats adds them up).
        # Otherwise over the upload's series: the shard's own.
        sums = (
            pooled_over_history(deps.store, panel, origin, model, reference, _pool_range(plan, index))
            if plan.get("pooled_over") == "history"
            else None
        )
        if sums is None:
            sums = pooled_sums(panel, origin, model.spec, reference)
        _put_npz(s3, bucket, runs.shard_key(run_id, f"sums/{index:05d}.npz"), **_sums_arrays(sums))
        found = int(np.count_nonzero(panel.recorded))
        return {"rows": len(targets), "series": panel.n_series, "history_series_found": found}
    arrays = _get_npz(s3, bucket, panel_key)
    panel = SalesPanel(
        pd.Timestamp(str(arrays["start"])),
        arrays["stores"],
        arrays["items"],
        arrays["sales"],
        arrays["promo"],
    )
    pooled = _sums_from_arrays(_get_npz(s3, bucket, runs.shard_key(run_id, "pooled.npz")))
    # Every shard reads from the history table's first day, so a short history falls back in all of them.
    forecast, fallback = forecast_frame(model, panel, origin, targets, reference, plan["kind"], pooled)
    put_csv(
        s3,
        bucket,
        runs.shard_key(run_id, f"output/{index:05d}.csv"),
        forecast.assign(row=targets["row"].to_numpy()),
    )
    return {"rows": len(forecast), **({"fallback": fallback} if fallback else {})}


def _pool_range(plan: dict[str, Any], index: int) -> tuple[Any, Any]:
    """Shard ``index``'s ``[from, to)`` range of series keys: from its first series (the first
    shard: from the start) up to the next shard's (the last: to the end)."""
    shards = plan["shards"]
    first = None if index == 0 else tuple(shards[index]["first_series"])
    to = None if index == len(shards) - 1 else tuple(shards[index + 1]["first_series"])
    return first, to


def _pool(plan: dict[str, Any], s3: Any, bucket: str) -> dict[str, Any]:
    from grocery_forecast.forecasting.features import PooledSums

    run_id = plan["run_id"]
    parts = [
        _sums_from_arrays(_get_npz(s3, bucket, runs.shard_key(run_id, f"sums/{s['index']:05d}.npz")))
        for s in plan["shards"]
    ]
    t0 = time.perf_counter()
    _put_npz(s3, bucket, runs.shard_key(run_id, "pooled.npz"), **_sums_arrays(PooledSums.merge(parts)))
    put_json(
        s3,
        bucket,
        runs.shard_key(run_id, "status/pool.json"),
        {"peak_memory_mb": mf.invocation_peak_memory_mb(), "seconds": round(time.perf_counter() - t0, 3)},
    )
    return {"shards": len(parts)}


def _finish(plan: dict[str, Any], s3: Any, config: Any, error: dict[str, Any] | None) -> dict[str, Any]:
    """Combine the shards' forecasts into one CSV (``error`` None) or record why the run failed."""
    t0 = time.perf_counter()
    run_id, bucket = plan["run_id"], config.processed_bucket
    manifest = mf.load(s3, config.output_bucket, run_id) or RunManifest(
        run_id, RunInput(bucket, plan["input_key"], "")
    )
    shards = _shard_statuses(plan, s3, bucket)
    pool = get_json(s3, bucket, runs.shard_key(run_id, "status/pool.json")) or {}
    manifest.sharded = {**(manifest.sharded or {}), "shard_count": len(shards), "shards": shards}
    if error is not None:
        failed = [
            f"shard {s['index']}: {e}" for s in shards for e in s["errors"] if s["status"] != "succeeded"
        ]
        cause = str(error.get("Cause", ""))[:500]
        # The workflow has retried its tasks already: its failure is final (Lambda retries nothing here).
        manifest.retries_left = 0
        manifest.fail(
            f"forecast: sharded workflow failed ({error.get('Error', 'unknown')}): "
            + ("; ".join(failed) if failed else cause)
        )
        _record_peaks(
            manifest, shards, pool, mf.invocation_peak_memory_mb(), round(time.perf_counter() - t0, 3), plan
        )
        manifest.finished_at = runs.utc_now()
        mf.save(s3, config.output_bucket, manifest)
        return {"status": "failed"}

    parts = [
        pd.read_csv(
            s3.get_object(Bucket=bucket, Key=runs.shard_key(run_id, f"output/{s['index']:05d}.csv"))["Body"]
        )
        for s in plan["shards"]
    ]
    forecast = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable").drop(columns="row")
    out_key = write_forecast(
        s3, config.output_bucket, run_id, forecast, str(plan["model_version"]), pd.Timestamp(plan["origin"])
    )
    seconds = round(time.perf_counter() - t0, 3)
    dates = pd.to_datetime(forecast["date"])
    manifest.status = RunStatus.SUCCEEDED
    manifest.finished_at = runs.utc_now()
    manifest.model_version = plan["model_version"]
    manifest.fallback = next((s["fallback"] for s in shards if s.get("fallback")), None)
    manifest.origin = plan["origin"]
    manifest.horizon_days = int((dates.max() - pd.Timestamp(plan["origin"])).days)
    manifest.series_forecast = sum(int(s["series"]) for s in shards)
    manifest.rows_forecast = len(forecast)
    manifest.history_series_found = sum(int(s.get("history_series_found", 0)) for s in shards)
    manifest.pooled_over = plan.get("pooled_over", "upload")
    manifest.output = f"s3://{config.output_bucket}/{out_key}"
    _record_peaks(manifest, shards, pool, mf.invocation_peak_memory_mb(), seconds, plan)
    mf.save(s3, config.output_bucket, manifest)
    return {"status": "succeeded", "rows": len(forecast)}


def _shard_statuses(plan: dict[str, Any], s3: Any, bucket: str) -> list[dict[str, Any]]:
    """One entry per shard: rows, series, status, attempts per phase, errors, peak memory, seconds."""
    out = []
    for item in plan["shards"]:
        i = item["index"]
        phases = {
            p: get_json(s3, bucket, runs.shard_key(plan["run_id"], f"status/{p}-{i:05d}.json"))
            for p in ("stats", "forecast")
        }
        done = [p for p in phases.values() if p]
        status = (
            "succeeded"
            if all(p and p.get("status") == "succeeded" for p in phases.values())
            else "failed"
            if any(p.get("status") == "failed" for p in done)
            else "not run"
        )
        out.append(
            {
                "index": i,
                "rows": item["rows"],
                "series": item["series"],
                "status": status,
                "attempts": {name: (p or {}).get("attempts", 0) for name, p in phases.items()},
                "errors": [e for p in done for e in p.get("errors", [])],
                "peak_memory_mb": max((float(p.get("peak_memory_mb", 0)) for p in done), default=0.0),
                "seconds": max((float(p.get("seconds", 0)) for p in done), default=0.0),
                "history_series_found": (phases["stats"] or {}).get("history_series_found", 0),
                **({"fallback": f} if (f := (phases["forecast"] or {}).get("fallback")) else {}),
            }
        )
    return out


def _record_peaks(
    manifest: RunManifest,
    shards: list[dict[str, Any]],
    pool: dict[str, Any],
    combine_peak: float,
    combine_seconds: float,
    plan: dict[str, Any],
) -> None:
    sharded = manifest.sharded if manifest.sharded is not None else {}
    sharded["combine"] = {"peak_memory_mb": combine_peak, "seconds": combine_seconds}
    sharded["pool"] = pool
    manifest.sharded = sharded
    invocations = [sharded.get("plan") or {}, pool, sharded["combine"], *shards]
    manifest.peak_memory_mb_predict = max(float(i.get("peak_memory_mb", 0)) for i in invocations)
    steps = manifest.steps
    steps["combine_seconds"] = combine_seconds
    steps["forecast_seconds"] = max(float(i.get("seconds", 0)) for i in invocations)
    steps["workflow_seconds"] = round(time.time() - float(plan["started_epoch"]), 3)


# -- arrays on S3 ------------------------------------------------------------------------------


def _put_npz(s3: Any, bucket: str, key: str, **arrays: Any) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue(), ContentType="application/octet-stream")


def _get_npz(s3: Any, bucket: str, key: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as data:
        return {name: data[name] for name in data.files}


def _sums_arrays(sums: Any) -> dict[str, np.ndarray]:
    arrays = {
        "item_keys": sums.item_keys,
        "store_keys": sums.store_keys,
        "group_keys": np.asarray(sums.group_keys, dtype=str),  # strings, so np.load needs no pickle
        "recorded": np.array(sums.recorded),
    }
    for side in ("item", "store", "group"):
        arrays.update({f"{side}.{k}": v for k, v in getattr(sums, side).items()})
    return arrays


def _sums_from_arrays(arrays: Mapping[str, np.ndarray]) -> Any:
    from grocery_forecast.forecasting.features import PooledSums

    def side(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    return PooledSums(
        arrays["item_keys"],
        arrays["store_keys"],
        int(arrays["recorded"]),
        side("item."),
        side("store."),
        arrays["group_keys"],
        side("group."),
    )
