"""``grocery-forecast upload FILE...``: put sales or forecast-request CSVs into the raw bucket."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "upload",
        help="upload sales (train.csv format) or forecast requests (test.csv format)",
        description="Upload CSV files (.csv or .csv.gz) to the raw bucket. Each upload starts "
        "a run: validation, history, forecast. Prints the run id of each file.",
    )
    add_env_argument(parser)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--prefix", default="uploads/", help="key prefix in the raw bucket (default: uploads/)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for each run to finish and print its result"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait per run (default: 600)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from grocery_forecast.cli.client import RunTimeout, upload_file, wait_for_run

    for path in args.files:
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        if not path.name.lower().endswith((".csv", ".csv.gz")):
            raise CliError(
                f"{path}: only .csv and .csv.gz files start a run (the raw bucket ignores other names)"
            )
    stack = open_stack(args)
    s3 = stack.client("s3")
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    status = 0
    for path in args.files:
        size = path.stat().st_size
        since = time.time() - 1.0
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=f"upload {path.name}",
            leave=False,
            disable=size < 8 * 1024 * 1024,
        ) as bar:
            up = upload_file(
                s3,
                stack.raw_bucket_name,
                path,
                key=f"{prefix}{path.name}",
                progress=bar.update if size >= 8 * 1024 * 1024 else None,
            )
        say(f"uploaded {path} -> s3://{up.bucket}/{up.key}")
        print(up.run_id)
        if args.wait:
            try:
                doc = wait_for_run(
                    s3,
                    stack.output_bucket_name,
                    up.run_id,
                    timeout=args.timeout,
                    since=None if up.version_id else since,
                    version_id=up.version_id,
                    on_status=lambda s, name=path.name: say(f"  {name}: {s}"),
                )
            except RunTimeout as exc:
                raise CliError(str(exc)) from None
            if doc["status"] == "succeeded":
                say(f"  forecast: {doc.get('output')} ({doc.get('rows_forecast')} rows)")
            else:
                status = 1
                say(
                    f"  {doc['status']}: report {doc.get('report')}\n    "
                    + "\n    ".join(doc.get("errors", []))
                )
    return status
