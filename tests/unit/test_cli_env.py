"""``--env`` is accepted before and after a command's action (the README writes it after)."""

from __future__ import annotations

import pytest

from grocery_forecast.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["history", "index"], "local"),
        (["history", "--env", "aws", "index"], "aws"),
        (["history", "index", "--env", "aws"], "aws"),
        (["reference", "upload", "dir", "--env", "aws", "--wait"], "aws"),
        (["reference", "--env", "aws", "upload", "dir"], "aws"),
        (["models", "list", "--env", "aws"], "aws"),
        (["models", "list"], "local"),
    ],
)
def test_env_is_read_before_or_after_the_action(argv: list[str], env: str) -> None:
    assert build_parser().parse_args(argv).env == env
