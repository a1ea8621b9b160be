"""Helpers shared by the CLI subcommands that talk to the deployed stack."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from grocery_forecast.cli import CliError

__all__ = ["add_env_argument", "open_stack", "say"]


def add_env_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        choices=["local", "aws"],
        default="local",
        help="which deployed stack (terraform/environments/<env>) to use (default: local)",
    )


def open_stack(args: argparse.Namespace) -> Any:
    """The deployed stack, or a CliError naming the command that fixes it."""
    from grocery_forecast.cli.stack import StackError, load_stack

    try:
        return load_stack(args.env)
    except StackError as exc:
        raise CliError(str(exc)) from None


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
