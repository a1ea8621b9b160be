"""``grocery-forecast reference upload DIR``: send the Favorita side tables through the ETL."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say, send
from grocery_forecast.contract.runs import REFERENCE_PREFIX, RunStatus
from grocery_forecast.contract.schema import REFERENCE_TABLES

if TYPE_CHECKING:
    from grocery_forecast.cli.client import Upload


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "reference",
        help="upload the reference tables (items, stores, holidays_events)",
        description="Upload Favorita reference tables to the raw bucket's reference/ prefix; "
        "the ETL validates them and the forecasts use them.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upload", help="upload DIR/{items,stores,holidays_events}.csv (and oil, transactions with --all)"
    )
    up.add_argument("directory", type=Path)
    up.add_argument("--all", action="store_true", help="also upload the optional tables (oil, transactions)")
    up.add_argument("--wait", action="store_true", help="wait until the ETL has validated each table")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per table (default: 300)")
    add_env_argument(parser, actions)
    parser.set_defaults(func=run)


def _say_uploaded(path: Path, up: Upload) -> None:
    say(f"uploaded {path} -> s3://{up.bucket}/{up.key} (run {up.run_id})")


def run(args: argparse.Namespace) -> int:
    tables = [t for t in REFERENCE_TABLES.values() if t.required or args.all]
    paths = []
    for table in tables:
        path = next(
            (
                p
                for p in (args.directory / f"{table.name}.csv", args.directory / f"{table.name}.csv.gz")
                if p.is_file()
            ),
            None,
        )
        if path is None:
            if table.required:
                raise CliError(
                    f"{args.directory} has no {table.name}.csv (needed: "
                    + ", ".join(f"{t.name}.csv" for t in tables if t.required)
                    + ")"
                )
            continue
        paths.append(path)
    stack = open_stack(args)
    failed = 0
    for path in paths:
        run = send(
            stack,
            path,
            f"{REFERENCE_PREFIX}{path.name}",
            wait=args.wait,
            timeout=args.timeout,
            on_upload=partial(_say_uploaded, path),
        )
        if run is None:
            continue
        if run.status is not RunStatus.SUCCEEDED:
            failed += 1
            say(f"  {path.name}: {run.status}: {' '.join(run.errors)}")
        else:
            say(f"  {path.name}: {run.rows_in} rows stored as {run.processed}")
    return 1 if failed else 0
