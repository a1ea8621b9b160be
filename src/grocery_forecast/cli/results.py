"""``grocery-forecast results``: download (and optionally plot) the forecast of a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say


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


def _latest(s3: object, bucket: str) -> dict:
    from grocery_forecast.cli.client import list_runs

    for doc in list_runs(s3, bucket, limit=200):
        if doc.get("status") == "succeeded" and doc.get("output"):
            return doc
    raise CliError(
        "no successful run with a forecast yet: upload sales with `grocery-forecast upload FILE --wait`"
    )


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.aws.s3io import get_json
    from grocery_forecast.pipeline import manifest as mf

    stack = open_stack(args)
    s3 = stack.client("s3")
    bucket = stack.output_bucket_name
    if args.run and not args.latest:
        doc = get_json(s3, bucket, mf.manifest_key(args.run))
        if doc is None:
            raise CliError(f"no run {args.run!r} (see `grocery-forecast status`)")
        if not doc.get("output"):
            raise CliError(
                f"run {args.run} has no forecast (status: {doc.get('status')}; "
                f"{' '.join(doc.get('errors', [])) or 'still running?'})"
            )
    else:
        doc = _latest(s3, bucket)
    key = doc["output"].split("/", 3)[3]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(body)
        say(f"run {doc['run_id']}: {doc.get('rows_forecast')} rows -> {args.output}")
    elif not args.plot:
        sys.stdout.write(body.decode())
    if args.plot:
        _plot(stack, doc, body, args)
    return 0


def _plot(stack: object, doc: dict, body: bytes, args: argparse.Namespace) -> None:
    import io

    import pandas as pd

    from grocery_forecast.aws.history import DynamoHistoryStore
    from grocery_forecast.forecasting.plots import plot_forecast, top_series

    forecast = pd.read_csv(io.BytesIO(body))
    origin = pd.Timestamp(doc["origin"])
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
        title=f"run {doc['run_id']} (model {doc.get('model_version')})",
        series=args.series,
    )
    say(f"plot of {len(picks)} series -> {args.plot}")
