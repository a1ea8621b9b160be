"""Session fixtures: the real stack, deployed by the real `terraform apply` onto the emulator.

The session starts the emulator if it is not running, applies Terraform (a no-op when the stack
is already there, so a running stack is reused), publishes the sample model and the reference
tables, then hands the tests the stack as Terraform outputs describe it. Nothing is hard-coded.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.cli.aws_limits import FunctionLimits, function_limits, manifests_since, violations
from grocery_forecast.cli.stack import Stack, load_stack

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / os.environ.get("DATA_DIR", "build/sample-data")
SUMMARY_FILE = ROOT / "build" / "fault-suite.txt"
#: One-line results the suites write, printed at the end of the session: bad inputs and faults, chaos.
SUMMARY_FILES = (SUMMARY_FILE, ROOT / "build" / "chaos-suite.txt")
_SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the one-line result of each suite that ran in this session."""
    for path in SUMMARY_FILES:
        if path.exists() and path.stat().st_mtime >= _SESSION_START:
            terminalreporter.write_line(path.read_text().strip())


def _make(*targets: str) -> None:
    proc = subprocess.run(["make", "-s", *targets], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"`make {' '.join(targets)}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


@pytest.fixture(scope="session")
def stack() -> Stack:
    _make("emulator-start", "deploy", "publish")
    return load_stack("local", ROOT)


@pytest.fixture(scope="session")
def s3(stack: Stack):
    return stack.client("s3")


@pytest.fixture(scope="session")
def history(stack: Stack) -> DynamoHistoryStore:
    return DynamoHistoryStore(stack.client("dynamodb"), stack.history_table_name)


@pytest.fixture(scope="session")
def sample_sales() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "train.csv", parse_dates=["date"])


@pytest.fixture
def unique_prefix() -> str:
    """A fresh key prefix per test, so runs of different tests never share a run id."""
    return f"it/{uuid.uuid4().hex[:8]}/"


@pytest.fixture(scope="session")
def lambda_limits(stack: Stack) -> dict[str, FunctionLimits]:
    return function_limits(stack)


@pytest.fixture(autouse=True)
def within_aws_lambda_limits(request, stack: Stack, s3, lambda_limits):
    """After every test: each run it caused stayed within its function's memory size and timeout.

    The emulator enforces neither memory nor (for the peak) anything at all; AWS kills a function
    that goes over. A run over a limit fails the test that caused it.
    """
    since = datetime.now(UTC) - timedelta(seconds=2)
    yield
    runs = manifests_since(s3, stack.output_bucket_name, since)
    problems = [p for run in runs for p in violations(run, lambda_limits)]
    assert not problems, "over AWS Lambda's limits:\n" + "\n".join(problems)
