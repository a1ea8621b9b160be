"""``grocery-forecast results``: download (and optionally plot) the forecast of a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say
from grocery_forecast.contract.runs import RunManifest, RunStatus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "results",
        help="download the forecast of a run (default: the latest)",
        description="Download a run's forecast CSV. Without RUN, the latest successful run.",
    )
    add_env_argument(parser)
    parser.add_argument("run", nargs="?", help="run id (see `grocery-forecast status`)")
    parser.add_argument("--latest", action="store_true", help="the latest successful run (the default)")
    parser.add_argument("-o", "--output", type=Path, help="write the CSV here (default: print to stdout)")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="OUT.png",
        help="draw recent history and the forecast of the run's biggest series",
    )
    parser.add_argument("--series", type=int, default=6, help="series in the plot (default: 6)")
    parser.add_argument("--weeks", type=int, default=8, help="weeks of history in the plot (default: 8)")
    parser.set_defaults(func=run)


def _latest(s3: object, bucket: str) -> RunManifest:
    from grocery_forecast.cli.client import list_runs

    for listed in list_runs(s3, bucket, limit=200):
        if listed.manifest.status is RunStatus.SUCCEEDED and listed.manifest.output:
            return listed.manifest
    raise CliError(
        "no successful run with a forecast yet: upload sales with `grocery-forecast upload FILE --wait`"
    )


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.pipeline import manifest as mf

    stack = open_stack(args)
    s3 = stack.client("s3")
    bucket = stack.output_bucket_name
    if args.run and not args.latest:
        found = mf.load(s3, bucket, args.run)
        if found is None:
            raise CliError(f"no run {args.run!r} (see `grocery-forecast status`)")
        if not found.output:
            raise CliError(
                f"run {args.run} has no forecast (status: {found.status}; "
                f"{' '.join(found.errors) or 'still running?'})"
            )
        doc = found
    else:
        doc = _latest(s3, bucket)
    key = str(doc.output).split("/", 3)[3]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(body)
        say(f"run {doc.run_id}: {doc.rows_forecast} rows -> {args.output}")
    elif not args.plot:
        sys.stdout.write(body.decode())
    if args.plot:
        _plot(stack, doc, body, args)
    return 0


def _plot(stack: Any, doc: RunManifest, body: bytes, args: argparse.Namespace) -> None:
    import io

    import pandas as pd

    from grocery_forecast.aws.history import DynamoHistoryStore
    from grocery_forecast.forecasting.plots import plot_forecast, top_series

    forecast = pd.read_csv(io.BytesIO(body))
    origin = pd.Timestamp(doc.origin)
    picks = top_series(forecast, args.series)
    store = DynamoHistoryStore(stack.client("dynamodb"), stack.history_table_name)
    history = store.read_panel(
        picks["store_nbr"], picks["item_nbr"], origin - pd.Timedelta(days=7 * args.weeks - 1), origin
    )
    plot_forecast(
        history,
        forecast,
        origin,
        args.plot,
        title=f"run {doc.run_id} (model {doc.model_version})",
        series=args.series,
    )
    say(f"plot of {len(picks)} series -> {args.plot}")
