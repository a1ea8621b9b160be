"""Helpers shared by the CLI subcommands that talk to the deployed stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grocery_forecast.cli import CliError

if TYPE_CHECKING:
    from grocery_forecast.cli.client import Upload
    from grocery_forecast.contract.runs import RunManifest, RunStatus

__all__ = ["add_env_argument", "open_stack", "say", "send"]


def add_env_argument(
    parser: argparse.ArgumentParser, actions: argparse._SubParsersAction | None = None
) -> None:
    """``--env``; with ``actions``, also after each action (``reference upload DIR --env aws``), where
    it overrides the one before the action only when given."""
    parser.add_argument(
        "--env",
        choices=["local", "aws"],
        default="local",
        help="which deployed stack (terraform/environments/<env>) to use (default: local)",
    )
    for action in actions.choices.values() if actions is not None else ():
        action.add_argument(
            "--env",
            choices=["local", "aws"],
            default=argparse.SUPPRESS,
            help="which deployed stack to use (default: local)",
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


def send(
    stack: Any,
    path: Path,
    key: str,
    *,
    wait: bool,
    timeout: float,
    on_upload: Callable[[Upload], None],
    on_status: Callable[[RunStatus], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunManifest | None:
    """Upload one file to the raw bucket and, with ``wait``, return the final manifest of this upload
    (a timeout becomes a CliError)."""
    from grocery_forecast.cli.client import RunTimeout, upload_and_wait, upload_file

    s3 = stack.client("s3")
    if not wait:
        on_upload(upload_file(s3, stack.raw_bucket_name, path, key=key, progress=progress))
        return None
    try:
        _, run = upload_and_wait(
            s3,
            stack.raw_bucket_name,
            stack.output_bucket_name,
            path,
            key,
            timeout=timeout,
            progress=progress,
            on_upload=on_upload,
            on_status=on_status,
        )
    except RunTimeout as exc:
        raise CliError(str(exc)) from None
    return run
