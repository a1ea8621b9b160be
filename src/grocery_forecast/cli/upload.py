"""``grocery-forecast upload FILE...``: put sales or forecast-request CSVs into the raw bucket."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say, send


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

    from grocery_forecast.cli.client import MULTIPART_BYTES, Upload
    from grocery_forecast.contract.runs import UPLOAD_SUFFIXES, RunStatus

    for path in args.files:
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        if not path.name.lower().endswith(UPLOAD_SUFFIXES):
            raise CliError(
                f"{path}: only .csv and .csv.gz files are read (the ETL rejects any other name with a report)"
            )
    stack = open_stack(args)
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    status = 0
    for path in args.files:
        size = path.stat().st_size
        big = size >= MULTIPART_BYTES
        key = f"{prefix}{path.name}"
        with tqdm(
            total=size, unit="B", unit_scale=True, desc=f"upload {path.name}", leave=False, disable=not big
        ) as bar:

            def uploaded(up: Upload, bar: Any = bar, path: Path = path) -> None:
                bar.close()
                say(f"uploaded {path} -> s3://{up.bucket}/{up.key}")
                print(up.run_id, flush=True)

            def show_status(s: RunStatus, name: str = path.name) -> None:
                say(f"  {name}: {s}")

            run = send(
                stack,
                path,
                key,
                wait=args.wait,
                timeout=args.timeout,
                on_upload=uploaded,
                on_status=show_status,
                progress=bar.update if big else None,
            )
        if run is None:
            continue
        if run.status is RunStatus.SUCCEEDED:
            say(f"  forecast: {run.output} ({run.rows_forecast} rows)")
        else:
            status = 1
            say(f"  {run.status}: report {run.report}\n    " + "\n    ".join(run.errors))
    return status
