"""Terraform and the Python run contract name the same prefixes and suffixes.

S3 notifications decide which uploads start a run and which processed files reach predict; IAM
policies decide which keys each function may read and write, and which buckets it may list
(without s3:ListBucket, AWS answers a missing object with AccessDenied instead of 404). All
are written in Terraform, the keys in ``grocery_forecast.contract.runs``: a prefix changed on one
side only would deploy cleanly and then drop uploads or fail with AccessDenied. These tests read
the .tf files (no terraform run).
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
        # the cleaned files (or a sharded ingest's hand-off) and a sharded ingest's working files
        "processed": {runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX, runs.REFERENCE_PREFIX, runs.INGEST_PREFIX},
        "output": {runs.REJECTED_PREFIX, runs.RUNS_PREFIX},
    },
    "predict": {
        # the cleaned files it forecasts, and a sharded forecast's working files
        "processed": {runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX, runs.REFERENCE_PREFIX, runs.SHARDS_PREFIX},
        "models": {runs.MODELS_PREFIX},
        "output": {runs.FORECASTS_PREFIX, runs.RUNS_PREFIX},
    },
}


#: Where each function may s3:ListBucket: every bucket it reads objects from that may be missing
#: (reference tables, run manifests, a previous attempt's status, the model pointer), whole: S3 judges
#: 404 or 403 by ListBucket in the GetObject's own context, which has no s3:prefix to match.
EXPECTED_LISTING: dict[str, set[str]] = {
    "etl": {"raw", "processed", "output"},
    "predict": {"processed", "models", "output"},
}


def _body(text: str, start: int) -> str:
    """The text inside the brace that opens just before ``start`` (braces balanced)."""
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start : i - 1]


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


def list_buckets(text: str) -> dict[str, set[str]]:
    """``{function: {bucket, ...}}`` of the s3:ListBucket grants (``local.list_grants``)."""
    opening = re.search(r"^\s*list_grants\s*=\s*\{", text, re.M)
    assert opening, "lambdas.tf has no list_grants"
    grants = _body(text, opening.end())
    return {
        function: set(re.findall(r"local\.(\w+)_bucket_arn", body))
        for function, body in re.findall(r"^\s*(\w+)\s*=\s*\{([^}]*)\}", grants, re.M)
    }


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


@pytest.fixture(scope="module")
def workflow_tf() -> str:
    return (STACK / "workflow.tf").read_text()


def test_every_raw_upload_reaches_the_etl(notifications_tf: str) -> None:
    # The ETL reads runs.UPLOAD_SUFFIXES in any letter case (SALES.CSV), which S3's case-sensitive
    # suffix filters cannot express, and answers any other name with a rejection report: so the raw
    # notification filters nothing, or an upload could end in no state at all.
    filters = notification_filters(notifications_tf)["raw"]
    assert filters == [("", "")], "the raw bucket notification must filter neither prefix nor suffix"


def test_a_suffix_filter_on_the_raw_bucket_fails(notifications_tf: str) -> None:
    drifted = notifications_tf.replace(
        'events              = ["s3:ObjectCreated:*"]\n  }',
        'events              = ["s3:ObjectCreated:*"]\n    filter_suffix       = ".csv"\n  }',
        1,
    )
    assert drifted != notifications_tf
    assert notification_filters(drifted)["raw"] != [("", "")]


def test_predict_sees_exactly_the_processed_files_the_etl_writes(notifications_tf: str) -> None:
    filters = notification_filters(notifications_tf)["processed"]
    assert sorted(filters) == sorted(
        (prefix, runs.PROCESSED_SUFFIX) for prefix in (runs.ACTUALS_PREFIX, runs.REQUESTS_PREFIX)
    )
    assert runs.REFERENCE_PREFIX not in {prefix for prefix, _ in filters}, "reference tables trigger nothing"


def test_each_function_may_touch_exactly_the_keys_of_the_python_layout(lambdas_tf: str) -> None:
    assert object_prefixes(lambdas_tf) == EXPECTED_ACCESS


def test_each_function_may_list_exactly_the_buckets_it_reads_objects_from(lambdas_tf: str) -> None:
    assert list_buckets(lambdas_tf) == EXPECTED_LISTING
    assert {function: set(access) for function, access in EXPECTED_ACCESS.items()} == EXPECTED_LISTING


def raw_read_actions(text: str) -> set[str]:
    """The actions of the ETL's statement on the raw bucket's objects."""
    body = _blocks(text, "module")["etl"]
    match = re.search(
        r'actions\s*=\s*\[([^\]]*)\]\s*resources\s*=\s*\["\$\{local\.raw_bucket_arn\}/\*"\]', body
    )
    assert match, "the ETL has no statement on the raw bucket's objects"
    return set(re.findall(r'"([^"]*)"', match[1]))


def test_the_etl_may_read_the_object_version_its_event_names(lambdas_tf: str) -> None:
    # run_etl reads GetObject(VersionId=<the event's version>): on AWS that needs s3:GetObjectVersion,
    # or every upload to the versioned raw bucket fails with AccessDenied (the emulator does not check).
    assert raw_read_actions(lambdas_tf) == {"s3:GetObject", "s3:GetObjectVersion"}
    drifted = lambdas_tf.replace('["s3:GetObject", "s3:GetObjectVersion"]', '["s3:GetObject"]')
    assert drifted != lambdas_tf and raw_read_actions(drifted) == {"s3:GetObject"}


def test_a_prefix_changed_on_one_side_only_fails(notifications_tf: str, lambdas_tf: str) -> None:
    drifted = lambdas_tf.replace("/runs/*", "/run-manifests/*")
    assert object_prefixes(drifted) != EXPECTED_ACCESS
    drifted = lambdas_tf.replace(
        "ListModels = local.models_bucket_arn", "ListModels = local.output_bucket_arn"
    )
    assert drifted != lambdas_tf and list_buckets(drifted) != EXPECTED_LISTING
    drifted = notifications_tf.replace('filter_prefix       = "actuals/"', 'filter_prefix       = "actual/"')
    assert ("actual/", ".csv") in notification_filters(drifted)["processed"]


def test_the_forecast_workflow_reads_the_shards_where_predict_writes_them(workflow_tf: str) -> None:
    # The state machine's role may read only under shard_key_prefix (its ItemReader reads the shard list)
    prefix = re.search(r'^\s*shard_key_prefix\s*=\s*"([^"]*)"', workflow_tf, re.M)
    assert prefix and prefix[1] == runs.SHARDS_PREFIX
    assert runs.shard_key("run-1", "shards.json").startswith(runs.SHARDS_PREFIX)


def test_a_shard_prefix_changed_on_one_side_only_fails(lambdas_tf: str, workflow_tf: str) -> None:
    drifted = lambdas_tf.replace("/shards/*", "/shard/*")
    assert drifted != lambdas_tf and object_prefixes(drifted) != EXPECTED_ACCESS


@pytest.fixture(scope="module")
def ingest_tf() -> str:
    return (STACK / "ingest.tf").read_text()


def test_the_ingest_workflow_reads_its_lists_where_the_etl_writes_them(ingest_tf: str) -> None:
    # The state machine's role may read only under ingest_key_prefix (its ItemReaders read the lists)
    prefix = re.search(r'^\s*ingest_key_prefix\s*=\s*"([^"]*)"', ingest_tf, re.M)
    assert prefix and prefix[1] == runs.INGEST_PREFIX
    assert runs.ingest_prefix("run-1", 7).startswith(runs.INGEST_PREFIX)


def test_an_ingest_prefix_changed_on_one_side_only_fails(lambdas_tf: str) -> None:
    drifted = lambdas_tf.replace("/ingest/*", "/ingests/*")
    assert drifted != lambdas_tf and object_prefixes(drifted) != EXPECTED_ACCESS


@pytest.fixture(scope="module")
def monitor_tf() -> str:
    return (STACK / "monitor.tf").read_text()


def test_the_monitor_touches_exactly_the_keys_of_the_python_layout(monitor_tf: str) -> None:
    # It reads the arrived actuals and the reference tables, the manifests, forecasts and earlier
    # scores; it writes runs.accuracy_key(...) records and the failure of a run whose workflow ended.
    assert object_prefixes(monitor_tf)["monitor"] == {
        "processed": {runs.ACTUALS_PREFIX, runs.REFERENCE_PREFIX},
        "output": {runs.RUNS_PREFIX, runs.FORECASTS_PREFIX, runs.ACCURACY_PREFIX},
    }
    assert runs.accuracy_key("2017-08-01", "run-1").startswith(runs.ACCURACY_PREFIX)
    drifted = monitor_tf.replace("/accuracy/*", "/scores/*")
    assert drifted != monitor_tf and object_prefixes(drifted)["monitor"]["output"] != {
        runs.RUNS_PREFIX,
        runs.FORECASTS_PREFIX,
        runs.ACCURACY_PREFIX,
    }


def test_the_monitor_hears_of_the_actuals_predict_hears_of(monitor_tf: str) -> None:
    # The EventBridge rule filters the processed bucket's events by the prefix the ETL writes actuals to.
    rule = _blocks(monitor_tf, "resource")["actuals_arrived"]
    assert re.search(r'key\s*=\s*\[\{\s*prefix\s*=\s*"([^"]*)"', rule)[1] == runs.ACTUALS_PREFIX  # type: ignore[index]


def test_training_may_touch_exactly_the_keys_of_its_python_layout() -> None:
    # The training role reads the reference tables and writes only under models/: the versions,
    # the pointer to the one in service and its own work files, which the Python keeps there.
    from grocery_forecast.pipeline import training

    text = (STACK / "training.tf").read_text()
    access: dict[str, set[str]] = {}
    for bucket, prefix in re.findall(r'"\$\{local\.(\w+)_bucket_arn\}/([^"]*)\*"', text):
        access.setdefault(bucket, set()).add(prefix)
    assert access == {"processed": {runs.REFERENCE_PREFIX}, "models": {runs.MODELS_PREFIX}}
    for key in (
        training.TRAINING_PREFIX,
        training.part_key("r", 0),
        training.manifest_key("r"),
        runs.CURRENT_MODEL_KEY,
    ):
        assert key.startswith(runs.MODELS_PREFIX), key


def test_no_function_but_training_may_write_the_models_bucket(lambdas_tf: str) -> None:
    # models/current.json decides which model forecasts: etl and predict may not write there.
    writes = re.findall(r'"s3:PutObject"[^}]*?\$\{local\.(\w+)_bucket_arn\}', lambdas_tf, re.S)
    assert writes and "models" not in writes


def test_the_training_parts_expire_where_the_python_writes_them() -> None:
    from grocery_forecast.pipeline import training

    text = (STACK / "training.tf").read_text()
    match = re.search(r'training_parts_prefix\s*=\s*"([^"]*)"', text)
    assert match and match[1] == training.PARTS_PREFIX
    assert not training.RUNS_PREFIX.startswith(training.PARTS_PREFIX), "the manifests must not expire"
