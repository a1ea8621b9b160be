"""Terraform and the Python run contract name the same prefixes and suffixes.

S3 notifications decide which uploads start a run and which processed files reach predict; IAM
policies decide which keys each function may read and write. Both are written in Terraform, the
keys in ``grocery_forecast.contract.runs``: a prefix changed on one side only would deploy cleanly
and then drop uploads or fail with AccessDenied. These tests read the .tf files (no terraform run).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grocery_forecast.contract import runs

STACK = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "forecasting-stack"

#: What each function may touch, per bucket, by the Python layout ("" is the whole bucket).
EXPECTED_ACCESS: dict[str, dict[str, set[str]]] = {
    "etl": {
        "raw": {""},
        "processed": {runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX, runs.REFERENCE_PREFIX},
        "output": {runs.REJECTED_PREFIX, runs.RUNS_PREFIX},
    },
    "predict": {
        "processed": {runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX, runs.REFERENCE_PREFIX},
        "models": {runs.MODELS_PREFIX},
        "output": {runs.FORECASTS_PREFIX, runs.RUNS_PREFIX},
    },
}


def _blocks(text: str, opener: str) -> dict[str, str]:
    """The bodies of ``<opener> "<name>" {...}`` blocks, by name (braces balanced)."""
    found = {}
    for match in re.finditer(rf'^{opener} "(?P<name>[\w-]+)"(?: "(?P<label>[\w-]+)")? \{{', text, re.M):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found[match["label"] or match["name"]] = text[match.end() : i - 1]
    return found


def notification_filters(text: str) -> dict[str, list[tuple[str, str]]]:
    """``{bucket: [(filter_prefix, filter_suffix), ...]}`` of every ``aws_s3_bucket_notification``."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, body in _blocks(text, "resource").items():
        if 'module.bucket["' not in body or "lambda_function {" not in body:
            continue
        bucket = re.search(r'bucket\s*=\s*module\.bucket\["(\w+)"\]', body)
        assert bucket, f"notification {name} names no bucket"
        out[bucket[1]] = [
            (_attr(target, "filter_prefix"), _attr(target, "filter_suffix"))
            for target in re.findall(r"lambda_function \{(.*?)\n  \}", body, re.S)
        ]
    return out


def _attr(body: str, name: str) -> str:
    match = re.search(rf'{name}\s*=\s*"([^"]*)"', body)
    return match[1] if match else ""


def object_prefixes(text: str) -> dict[str, dict[str, set[str]]]:
    """``{function: {bucket: {key prefix, ...}}}`` of the object ARNs in each function's policy."""
    out: dict[str, dict[str, set[str]]] = {}
    for function, body in _blocks(text, "module").items():
        access: dict[str, set[str]] = {}
        for bucket, prefix in re.findall(r'"\$\{local\.(\w+)_bucket_arn\}/([^"]*)\*"', body):
            access.setdefault(bucket, set()).add(prefix)
        out[function] = access
    return out


@pytest.fixture(scope="module")
def notifications_tf() -> str:
    return (STACK / "notifications.tf").read_text()


@pytest.fixture(scope="module")
def lambdas_tf() -> str:
    return (STACK / "lambdas.tf").read_text()


def test_raw_uploads_start_a_run_exactly_for_the_python_suffixes(notifications_tf: str) -> None:
    filters = notification_filters(notifications_tf)["raw"]
    assert {prefix for prefix, _ in filters} == {""}, "the raw bucket must not filter by prefix"
    assert sorted(suffix for _, suffix in filters) == sorted(runs.UPLOAD_SUFFIXES)


def test_predict_sees_exactly_the_processed_files_the_etl_writes(notifications_tf: str) -> None:
    filters = notification_filters(notifications_tf)["processed"]
    assert sorted(filters) == sorted(
        (prefix, runs.PROCESSED_SUFFIX) for prefix in (runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX)
    )
    assert runs.REFERENCE_PREFIX not in {prefix for prefix, _ in filters}, "reference tables trigger nothing"


def test_each_function_may_touch_exactly_the_keys_of_the_python_layout(lambdas_tf: str) -> None:
    assert object_prefixes(lambdas_tf) == EXPECTED_ACCESS


def test_a_prefix_changed_on_one_side_only_fails(notifications_tf: str, lambdas_tf: str) -> None:
    drifted = lambdas_tf.replace("/runs/*", "/run-manifests/*")
    assert object_prefixes(drifted) != EXPECTED_ACCESS
    drifted = notifications_tf.replace('filter_prefix       = "actuals/"', 'filter_prefix       = "actual/"')
    assert ("actual/", ".csv") in notification_filters(drifted)["processed"]
