"""``grocery-forecast reference upload DIR``: send the Favorita side tables through the ETL."""

from __future__ import annotations

import argparse
from pathlib import Path

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say
from grocery_forecast.contract.schema import REFERENCE_TABLES


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "reference",
        help="upload the reference tables (items, stores, holidays_events)",
        description="Upload Favorita reference tables to the raw bucket's reference/ prefix; "
        "the ETL validates them and the forecasts use them.",
    )
    add_env_argument(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upload", help="upload DIR/{items,stores,holidays_events}.csv (and oil, transactions with --all)"
    )
    up.add_argument("directory", type=Path)
    up.add_argument("--all", action="store_true", help="also upload the optional tables (oil, transactions)")
    up.add_argument("--wait", action="store_true", help="wait until the ETL has validated each table")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per table (default: 300)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.cli.client import RunTimeout, upload_file, wait_for_run

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
    s3 = stack.client("s3")
    failed = 0
    for path in paths:
        up = upload_file(s3, stack.raw_bucket_name, path, key=f"reference/{path.name}")
        say(f"uploaded {path} -> s3://{up.bucket}/{up.key} (run {up.run_id})")
        if args.wait:
            try:
                doc = wait_for_run(
                    s3, stack.output_bucket_name, up.run_id, timeout=args.timeout, version_id=up.version_id
                )
            except RunTimeout as exc:
                raise CliError(str(exc)) from None
            if doc["status"] != "succeeded":
                failed += 1
                say(f"  {path.name}: {doc['status']}: {' '.join(doc.get('errors', []))}")
            else:
                say(f"  {path.name}: {doc.get('rows_in')} rows stored as {doc.get('processed')}")
    return 1 if failed else 0
