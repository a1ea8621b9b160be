"""``grocery-forecast history index``: build the history table's series index.

The predict step pools the item, store, class and family features over every series of the
history, which it finds in the series index (see :mod:`grocery_forecast.aws.history`). Every
merge indexes its own series, and a table created by this version is indexed from its first
upload; a table written by code before the index existed needs this once (its forecasts are
pooled over the upload's series until then, and their manifests warn about it).
"""

from __future__ import annotations

import argparse
import time

from grocery_forecast.cli._common import add_env_argument, open_stack, say


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "history",
        help="maintain the deployed history table (index: build its series index)",
        description="Maintain the deployed stack's history table.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "index",
        help="index every series of a table written before the series index existed (one keys-only Scan)",
    )
    add_env_argument(parser, actions)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.aws.history import DynamoHistoryStore

    stack = open_stack(args)
    store = DynamoHistoryStore(stack.client("dynamodb"), stack.history_table_name)
    if store.series_index_complete():
        say(f"{stack.history_table_name}: the series index is complete already")
        return 0
    started = time.perf_counter()
    say(f"{stack.history_table_name}: scanning the keys of every year bucket ...")
    series = store.build_series_index()
    say(f"{stack.history_table_name}: {series} series indexed in {time.perf_counter() - started:.1f} s")
    return 0
