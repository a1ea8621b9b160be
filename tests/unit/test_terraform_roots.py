"""The local root must retry like the aws root: the same defaults, passed to the stack the same way;
and the aws root cannot switch on the test-only fault injection.

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


FAULT_MARKERS = ("etl_fault_marker", "forecast_shard_fault_marker")
MODULE = ROOTS.parent / "modules" / "forecasting-stack"


@pytest.mark.parametrize("name", FAULT_MARKERS)
def test_the_aws_root_cannot_switch_on_fault_injection(name: str) -> None:
    # The stack module reads the marker only from its own variable, whose default turns it off;
    # the aws root neither declares such a variable nor passes the module anything about faults.
    aws = "\n".join(f.read_text() for f in sorted((ROOTS / "aws").glob("*.tf")))
    assert not re.search(r"(?<![a-z])fault", aws, re.I), "environments/aws must not mention fault injection"
    block = re.search(rf'variable "{name}" \{{(.*?)\n\}}', (MODULE / "variables.tf").read_text(), re.S)
    assert block and re.search(r'^\s*default\s*=\s*""\s*$', block.group(1), re.M), (
        f"{name} must default to off"
    )
    # and the local root does set it, so the e2e tests really inject faults
    assert _module_argument("local", name) == f"var.{name}"
    assert _variable_default("local", name) != '""'


@pytest.mark.parametrize("env", ["ETL_FAULT_MARKER", "FORECAST_SHARD_FAULT"])
def test_the_functions_get_a_fault_marker_only_when_it_is_set(env: str) -> None:
    lambdas = (MODULE / "lambdas.tf").read_text()
    (line,) = [ln for ln in lambdas.splitlines() if f"{env} =" in ln]
    assert re.search(r'var\.\w+_fault_marker == "" \? \{\} :', line), line
