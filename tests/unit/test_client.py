"""The client every caller uses (CLI, demo, benchmarks, integration tests): upload, then wait for
the manifest of *that* upload."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grocery_forecast.aws.s3io import put_json
from grocery_forecast.cli import client, main
from grocery_forecast.cli.client import RunTimeout
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunManifest, RunStatus
from grocery_forecast.pipeline import manifest as mf

from .fakes import FakeS3

RAW, OUTPUT = "raw", "output"


class PipelineS3(FakeS3):
    """Answers an upload like the deployed stack: after ``lag`` polls the run's manifest is
    rewritten at each poll, moving through ``statuses``."""

    def __init__(
        self, statuses: tuple[RunStatus, ...] = (RunStatus.FORECASTING, RunStatus.SUCCEEDED), lag: int = 0
    ) -> None:
        super().__init__()
        self.statuses, self.lag = statuses, lag
        self.pending: dict[str, tuple[str, list[RunStatus | None]]] = {}

    def stored(self, bucket: str, key: str, etag: str) -> None:
        if bucket == RAW:
            run_id = runs.run_id_for(key, etag)
            self.pending[run_id] = (key, [None] * self.lag + [RunStatus.STARTED, *self.statuses])

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict:
        run_id = Key.removeprefix(runs.RUNS_PREFIX).removesuffix(".json")
        if Bucket == OUTPUT and run_id in self.pending and self.pending[run_id][1]:
            key, statuses = self.pending[run_id]
            status = statuses.pop(0)
            if status is not None:
                manifest = RunManifest.new(run_id, RAW, key, "e", 1)
                manifest.status, manifest.rows_in = status, 7
                mf.save(self, OUTPUT, manifest)
        return super().get_object(Bucket=Bucket, Key=Key, VersionId=VersionId)


def _file(tmp_path: Path, text: str = "date,store_nbr,item_nbr,unit_sales,onpromotion\n") -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(text)
    return path


def test_upload_and_wait_follows_the_run_to_its_final_status(tmp_path: Path) -> None:
    s3 = PipelineS3()
    seen: list[RunStatus] = []
    up, run = client.upload_and_wait(
        s3, RAW, OUTPUT, _file(tmp_path), "uploads/sales.csv", poll=0, on_status=seen.append
    )
    assert up.run_id == runs.run_id_for("uploads/sales.csv", up.etag) == run.run_id
    assert run.status is RunStatus.SUCCEEDED and run.rows_in == 7
    assert seen == [RunStatus.STARTED, RunStatus.FORECASTING, RunStatus.SUCCEEDED]


def test_the_same_bytes_uploaded_again_wait_for_the_new_result_not_the_old_one(tmp_path: Path) -> None:
    # GIVEN a file processed an hour ago: its run (same key, same bytes) has a final manifest
    s3 = PipelineS3(lag=3)
    path = _file(tmp_path)
    first = client.upload_file(s3, RAW, path, "uploads/sales.csv")
    old = RunManifest.new(first.run_id, RAW, "uploads/sales.csv", first.etag, 1)
    old.status, old.rows_in, old.updated_epoch = RunStatus.SUCCEEDED, 1, time.time() - 3600
    put_json(s3, OUTPUT, runs.manifest_key(first.run_id), old.to_dict())
    # WHEN it is uploaded again, and the stack takes a few polls to rewrite the manifest
    second, run = client.upload_and_wait(s3, RAW, OUTPUT, path, "uploads/sales.csv", poll=0)
    # THEN the wait returns the manifest this upload produced, not the old one
    assert second.run_id == first.run_id
    assert run.rows_in == 7 and (run.updated_epoch or 0) >= second.started


def test_a_run_that_never_finishes_times_out_naming_its_last_status(tmp_path: Path) -> None:
    s3 = PipelineS3(statuses=(RunStatus.FORECASTING,) * 1000)
    with pytest.raises(RunTimeout, match="last status: forecasting"):
        client.upload_and_wait(s3, RAW, OUTPUT, _file(tmp_path), "u.csv", timeout=0.05, poll=0)


def test_a_run_that_never_starts_times_out_saying_so() -> None:
    with pytest.raises(RunTimeout, match="last status: not started"):
        client.wait_for_run(FakeS3(), OUTPUT, "nothing-1", timeout=0.0, poll=0)


def test_big_files_go_up_in_parts_with_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "MULTIPART_BYTES", 10)
    path = _file(tmp_path, "x" * 100)
    sent: list[int] = []
    up = client.upload_file(FakeS3(), RAW, path, key="big.csv", progress=sent.append)
    assert sum(sent) == 100 and up.key == "big.csv" and up.started <= time.time()


def test_runs_are_listed_newest_first(tmp_path: Path) -> None:
    s3 = PipelineS3()
    for name in ("a.csv", "b.csv"):
        client.upload_and_wait(s3, RAW, OUTPUT, _file(tmp_path), name, poll=0)
    assert [r.manifest.input.key for r in client.list_runs(s3, OUTPUT)] == ["b.csv", "a.csv"]


@dataclass
class FakeStack:
    s3: FakeS3
    raw_bucket_name: str = RAW
    output_bucket_name: str = OUTPUT

    def client(self, service: str) -> FakeS3:
        assert service == "s3"
        return self.s3


@pytest.mark.parametrize("command", ["reference", "upload"])
def test_cli_wait_reports_this_upload_not_the_previous_run_of_the_same_bytes(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a table already uploaded once, whose run failed an hour ago
    s3 = PipelineS3(lag=3)
    for name in ("items", "stores", "holidays_events"):
        (tmp_path / f"{name}.csv").write_text("a\n1\n")
    path = tmp_path / "items.csv"
    key = f"{runs.REFERENCE_PREFIX}items.csv" if command == "reference" else "uploads/items.csv"
    first = client.upload_file(s3, RAW, path, key)
    old = RunManifest.new(first.run_id, RAW, key, first.etag, 1)
    old.status, old.updated_epoch = RunStatus.FAILED, time.time() - 3600
    put_json(s3, OUTPUT, runs.manifest_key(first.run_id), old.to_dict())
    monkeypatch.setattr(f"grocery_forecast.cli.{command}.open_stack", lambda args: FakeStack(s3))
    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)  # the CLI polls every 0.5 s
    # WHEN it is uploaded again with --wait
    argv = (
        [command, "upload", str(tmp_path), "--wait"]
        if command == "reference"
        else [command, str(path), "--wait"]
    )
    code = main(argv)
    # THEN the command reports the new run's result, not the old failure
    assert code == 0, capsys.readouterr().err
    assert "failed" not in capsys.readouterr().err
