"""The deployed stack as a client sees it: names from Terraform outputs, clients for its endpoint.

Nothing here hard-codes a bucket or a table: the CLI, the demo and the integration tests all
read ``terraform output -json`` of the chosen environment (``terraform/environments/<env>``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["Stack", "StackError", "load_stack", "project_root"]

LOCAL_ENDPOINT = "http://localhost:4566"


class StackError(RuntimeError):
    """The stack is not reachable or not deployed; the message names the command that fixes it."""


def project_root() -> Path:
    """The checkout holding ``terraform/environments`` (this file's, or the working directory's)."""
    env = os.environ.get("GROCERY_FORECAST_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[3], Path.cwd(), *Path.cwd().parents]
    for path in candidates:
        if (path / "terraform" / "environments").is_dir():
            return path
    raise StackError(
        "cannot find the project checkout (a folder with terraform/environments); "
        "run from inside it or set GROCERY_FORECAST_ROOT"
    )


def _terraform_outputs(env_dir: Path) -> dict[str, Any]:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise StackError("terraform is not on PATH; install Terraform >= 1.5 (see README, 'Set-up')")
    proc = subprocess.run(
        [terraform, f"-chdir={env_dir}", "output", "-json", "-no-color"],
        capture_output=True,
        text=True,
        check=False,
    )
    hint = (
        "`make up`"
        if env_dir.name == "local"
        else (f"`terraform -chdir={env_dir} init` and `apply` (README, 'Deploying to AWS')")
    )
    if proc.returncode != 0:
        raise StackError(
            f"cannot read the Terraform outputs of {env_dir}: {_terraform_error(proc.stderr)}; "
            f"deploy the stack with {hint}"
        )
    outputs = {k: v.get("value") for k, v in json.loads(proc.stdout or "{}").items()}
    if not outputs:
        raise StackError(
            f"the {env_dir.name} stack is not deployed (no Terraform outputs); deploy it with {hint}"
        )
    return outputs


def _terraform_error(stderr: str) -> str:
    """The first ``Error:`` line of Terraform's stderr, without its box drawing and warnings."""
    box = " \u2502\u2577\u2575"  # the frame Terraform draws around diagnostics
    lines = [line.strip(box) for line in stderr.splitlines()]
    errors = [line.removeprefix("Error:").strip() for line in lines if line.startswith("Error:")]
    return errors[0] if errors else (" ".join(line for line in lines if line)[:300] or "terraform failed")


@dataclass(frozen=True)
class Stack:
    """Names and clients of one deployed environment."""

    env: str
    outputs: dict[str, Any]
    endpoint_url: str | None

    def __getattr__(self, name: str) -> Any:
        # outputs as attributes: stack.raw_bucket_name, stack.history_table_name, ...
        try:
            return self.__dict__["outputs"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def region(self) -> str:
        return str(self.outputs.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")

    @cached_property
    def session(self) -> Any:
        import boto3

        if self.env == "local":
            return boto3.session.Session(
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                region_name=self.region,
            )
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        from grocery_forecast.aws.clients import client_config

        return self.session.client(service, endpoint_url=self.endpoint_url, config=client_config(service))


def _check_endpoint(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=3):
            return
    except (urllib.error.URLError, OSError):
        raise StackError(
            f"the local AWS emulator does not answer at {url}; start it with `make up`"
        ) from None


def load_stack(env: str = "local", root: Path | None = None) -> Stack:
    """Read the environment's Terraform outputs; for ``local`` also check the emulator answers."""
    if env not in ("local", "aws"):
        raise StackError(f"unknown environment {env!r}: expected local or aws")
    env_dir = (root or project_root()) / "terraform" / "environments" / env
    outputs = _terraform_outputs(env_dir)
    endpoint = None
    if env == "local":
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or str(outputs.get("endpoint") or LOCAL_ENDPOINT)
        _check_endpoint(endpoint)
    return Stack(env, outputs, endpoint)
