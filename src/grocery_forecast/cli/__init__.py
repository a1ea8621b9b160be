"""``grocery-forecast``: one command for training, backtests and driving the deployed stack.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module list below
is the only place that knows them all, and a module is imported only when the CLI starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: Subcommand modules under ``grocery_forecast.cli``, in ``--help`` order.
COMMANDS: tuple[str, ...] = (
    "generate",
    "train",
    "backtest",
    "upload",
    "status",
    "replay",
    "results",
    "accuracy",
    "models",
    "reference",
    "history",
)


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grocery-forecast",
        description="Grocery sales forecasting (Favorita format): train, backtest and drive the deployed stack.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"grocery-forecast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
