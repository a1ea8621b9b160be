"""The Lambda bundles carry a pinned boto3 with the service models the functions use, and no others."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from scripts import build_lambdas

ROOT = Path(__file__).resolve().parents[2]
CLIENT = re.compile(r"""\.client\(\s*["']([a-z0-9-]+)["']""")


def _clients(paths: list[Path]) -> set[str]:
    return {name for path in paths for name in CLIENT.findall(path.read_text())}


def test_every_client_a_function_creates_has_its_service_model_in_the_bundle() -> None:
    handlers = sorted((ROOT / "lambdas").glob("*/handler.py"))
    library = [
        p for p in (ROOT / "src" / "grocery_forecast").rglob("*.py") if "cli" not in p.relative_to(ROOT).parts
    ]
    used = _clients(handlers + library)
    assert {"s3", "dynamodb", "stepfunctions"} <= used  # the regex finds the handlers' clients
    assert used <= set(build_lambdas.BOTOCORE_SERVICES), used - set(build_lambdas.BOTOCORE_SERVICES)


def test_every_bundle_pins_the_boto3_and_botocore_the_tests_ran_with() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = [d.split("#")[0].strip() for d in dependencies if d.startswith(("boto3==", "botocore=="))]
    assert len(pinned) == 2  # boto3 alone would let pip pick any botocore of its minor version
    for requirements in sorted((ROOT / "lambdas").glob("*/requirements.txt")):
        lines = [line.strip() for line in requirements.read_text().splitlines()]
        for pin in pinned:
            assert pin in lines, f"{requirements.relative_to(ROOT)} does not pin {pin}"


def test_trimming_keeps_the_listed_service_models_and_botocores_own_files(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for service in ("s3", "dynamodb", "ec2", "sagemaker"):
        (data / service / "2020-01-01").mkdir(parents=True)
        (data / service / "2020-01-01" / "service-2.json.gz").write_bytes(b"x" * 100)
    (data / "endpoints.json").write_text("{}")
    (data / "shared-rules").mkdir()  # not a service model: botocore's own data stays
    (data / "shared-rules" / "rules.json").write_text("{}")
    removed = build_lambdas._trim_botocore(tmp_path)
    assert removed == 200
    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "s3", "shared-rules"]
    assert build_lambdas._trim_botocore(tmp_path / "elsewhere") == 0
