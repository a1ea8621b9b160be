"""``grocery-forecast results``: download (and optionally plot) the forecast of a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("results", help="download the forecast of a run (default: the latest)",
                            description="Download a run's forecast CSV. Without RUN, the latest successful run.")
    add_env_argument(parser)
    parser.add_argument("run", nargs="?", help="run id (see `grocery-forecast status`)")
    parser.add_argument("--latest", action="store_true", help="the latest successful run (the default)")
    parser.add_argument("-o", "--output", type=Path, help="write the CSV here (default: print to stdout)")
    parser.set_defaults(func=run)


def _latest(s3: object, bucket: str) -> dict:
    from grocery_forecast.client import list_runs

    for doc in list_runs(s3, bucket, limit=200):
        if doc.get("status") == "succeeded" and doc.get("output"):
            return doc
    raise CliError("no successful run with a forecast yet: upload sales with `grocery-forecast upload FILE --wait`")


def run(args: argparse.Namespace) -> int:
    from grocery_forecast import manifest as mf
    from grocery_forecast.s3io import get_json

    stack = open_stack(args)
    s3 = stack.client("s3")
    bucket = stack.output_bucket_name
    if args.run and not args.latest:
        doc = get_json(s3, bucket, mf.manifest_key(args.run))
        if doc is None:
            raise CliError(f"no run {args.run!r} (see `grocery-forecast status`)")
        if not doc.get("output"):
            raise CliError(f"run {args.run} has no forecast (status: {doc.get('status')}; "
                           f"{' '.join(doc.get('errors', [])) or 'still running?'})")
    else:
        doc = _latest(s3, bucket)
    key = doc["output"].split("/", 3)[3]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(body)
        say(f"run {doc['run_id']}: {doc.get('rows_forecast')} rows -> {args.output}")
    else:
        sys.stdout.write(body.decode())
    return 0
