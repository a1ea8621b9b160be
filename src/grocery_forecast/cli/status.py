"""``grocery-forecast status``: recent runs, one line each, read from the run manifests."""

from __future__ import annotations

import argparse
import json
import time

from grocery_forecast.cli._common import add_env_argument, open_stack, say
from grocery_forecast.contract.runs import RunManifest, RunStatus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status",
        help="recent runs: input, rows, series, model, seconds, result",
        description="Recent runs, newest first, from the run manifests in the output bucket.",
    )
    add_env_argument(parser)
    parser.add_argument("-n", "--limit", type=int, default=10, help="how many runs (default: 10)")
    parser.add_argument("--json", action="store_true", help="print the manifests as JSON")
    parser.set_defaults(func=run)


#: A run still in progress after this long will not finish by itself: a Lambda runs at most 900 s,
#: and S3's async invocation retries twice more within a few minutes.
STALLED_AFTER_SECONDS = 3 * 900


def _status(run: RunManifest, now: float) -> str:
    """The run's status, with its attempt when Lambda retried it: ``retrying 1/3`` means attempt 1
    of 3 failed and Lambda will invoke it again (not final); ``failed 3/3`` is final."""
    updated = run.updated_epoch
    if not run.final and updated is not None and now - updated > STALLED_AFTER_SECONDS:
        return "stalled"
    attempt, allowed = run.attempt, run.attempts_allowed
    if attempt is not None and allowed is not None and (run.status is RunStatus.RETRYING or attempt > 1):
        return f"{run.status.value} {attempt}/{allowed}"
    return run.status.value


def _seconds(run: RunManifest) -> str:
    total = (run.steps.get("etl_seconds") or 0) + (run.steps.get("forecast_seconds") or 0)
    return f"{total:.1f}" if total else "-"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.cli.client import list_runs

    stack = open_stack(args)
    runs = list_runs(stack.client("s3"), stack.output_bucket_name, limit=args.limit)
    if args.json:
        docs = [{**r.manifest.to_dict(), "_last_modified": r.last_modified} for r in runs]
        print(json.dumps(docs, indent=2, default=str))
        return 0
    if not runs:
        say("no runs yet: upload a file with `grocery-forecast upload FILE`")
        return 0
    print(
        f"{'RUN':34} {'INPUT':32} {'KIND':9} {'STATUS':13} {'ROWS':>8} {'REJ':>6} {'SERIES':>7} "
        f"{'MODEL':22} {'SEC':>6}  RESULT"
    )
    now = time.time()
    stalled = 0
    for listed in runs:
        run = listed.manifest
        status = _status(run, now)
        stalled += status == "stalled"
        result = run.output or run.report or run.processed or ""
        series = run.series_forecast if run.series_forecast is not None else run.series
        print(
            f"{run.run_id[:34]:34} {run.input.key[-32:]:32} "
            f"{_dash(run.kind):9} {status:13} {_dash(run.rows_in):>8} "
            f"{_dash(run.rows_rejected):>6} {_dash(series):>7} "
            f"{(run.model_version or '-')[:22]:22} {_seconds(run):>6}  {result}"
        )
    if stalled:
        say(
            f"{stalled} run(s) stalled: their Lambda stopped mid-run (e.g. the emulator was stopped). Upload the "
            "same file again (idempotent: nothing is duplicated); `make logs` shows what happened."
        )
    return 0
