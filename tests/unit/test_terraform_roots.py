"""The local root must retry like the aws root: the same defaults, passed to the stack the same way.

Read from the .tf files themselves (no Terraform needed), so a change to one root that the other does
not follow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOTS = Path(__file__).resolve().parents[2] / "terraform" / "environments"
RETRY_SETTINGS = ("maximum_retry_attempts", "maximum_event_age_in_seconds")


def _variable_default(root: str, name: str) -> str:
    text = (ROOTS / root / "variables.tf").read_text()
    block = re.search(rf'variable "{name}" \{{(.*?)\n\}}', text, re.S)
    assert block, f"environments/{root} has no variable {name!r}"
    default = re.search(r"^\s*default\s*=\s*(\S+)", block.group(1), re.M)
    assert default, f"environments/{root}: variable {name!r} has no default"
    return default.group(1)


def _module_argument(root: str, name: str) -> str:
    text = (ROOTS / root / "main.tf").read_text()
    arg = re.search(rf"^\s*{name}\s*=\s*(\S+)", text, re.M)
    assert arg, f"environments/{root}/main.tf does not pass {name} to the stack"
    return arg.group(1)


@pytest.mark.parametrize("name", RETRY_SETTINGS)
def test_local_root_retries_like_the_aws_root(name: str) -> None:
    assert _variable_default("local", name) == _variable_default("aws", name)
    assert _module_argument("local", name) == _module_argument("aws", name) == f"var.{name}"
