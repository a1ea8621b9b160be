"""``grocery-forecast status``: recent runs, one line each, read from the run manifests."""

from __future__ import annotations

import argparse
import json
import time

from grocery_forecast.cli._common import add_env_argument, open_stack, say


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

_FINAL = {"succeeded", "rejected", "failed"}


def _status(doc: dict, now: float) -> str:
    """The run's status, with its attempt when Lambda retried it: ``retrying 1/3`` means attempt 1
    of 3 failed and Lambda will invoke it again (not final); ``failed 3/3`` is final."""
    status = str(doc.get("status", "?"))
    updated = doc.get("updated_epoch")
    if status not in _FINAL and isinstance(updated, int | float) and now - updated > STALLED_AFTER_SECONDS:
        return "stalled"
    attempt, allowed = doc.get("attempt"), doc.get("attempts_allowed")
    if isinstance(attempt, int) and isinstance(allowed, int) and (status == "retrying" or attempt > 1):
        return f"{status} {attempt}/{allowed}"
    return status


def _seconds(doc: dict) -> str:
    steps = doc.get("steps") or {}
    total = (steps.get("etl_seconds") or 0) + (steps.get("forecast_seconds") or 0)
    return f"{total:.1f}" if total else "-"


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.cli.client import list_runs

    stack = open_stack(args)
    runs = list_runs(stack.client("s3"), stack.output_bucket_name, limit=args.limit)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
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
    for doc in runs:
        status = _status(doc, now)
        stalled += status == "stalled"
        result = doc.get("output") or doc.get("report") or doc.get("processed") or ""
        print(
            f"{doc.get('run_id', '?')[:34]:34} {doc.get('input', {}).get('key', '?')[-32:]:32} "
            f"{doc.get('kind', '-'):9} {status:13} {doc.get('rows_in', '-')!s:>8} "
            f"{doc.get('rows_rejected', '-')!s:>6} {doc.get('series_forecast', doc.get('series', '-'))!s:>7} "
            f"{(doc.get('model_version') or '-')[:22]:22} {_seconds(doc):>6}  {result}"
        )
    if stalled:
        say(
            f"{stalled} run(s) stalled: their Lambda stopped mid-run (e.g. the emulator was stopped). Upload the "
            "same file again (idempotent: nothing is duplicated); `make logs` shows what happened."
        )
    return 0
