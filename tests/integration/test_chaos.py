"""Chaos on the deployed stack: overlapping uploads, faults, an emulator restart; nothing lost, nothing stale.

A seeded plan of uploads (corrections of earlier days, files put again to the same key, .csv and
.csv.gz, exact re-uploads of an earlier file) goes to the raw bucket in waves, some put concurrently
from several threads and some one after another, without waiting for their runs. A share of them
asks for an ETL fault (``grocery_forecast.pipeline.faults``: killed mid-merge, stalled past its
deadline, or a lost lease-acquire response) in its first attempt, which Lambda's retry must recover
from; half way, the emulator is stopped and started again. Afterwards history must equal a merge of
the uploads, in memory, in upload order; every run must be final; no writer lease may be left.

Ends (in the terminal summary) with one line:
``chaos: N uploads, F faults, 0 days lost, 0 stale, 0 stuck runs``.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.cli.client import RunTimeout, wait_for_run
from grocery_forecast.contract import runs
from grocery_forecast.contract.runs import RunManifest, RunStatus
from grocery_forecast.pipeline import faults

from .conftest import ROOT, SUMMARY_FILES

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("CHAOS_SEED", "13"))
#: Planned uploads; two exact re-uploads of earlier files come on top (30 in all).
UPLOADS = 28
#: 40 series: a merge writes two BatchWriteItem batches, so a fault after the first is mid-merge.
SERIES = 40
STORE = 6
DAYS = pd.date_range("2017-06-01", periods=24, freq="D")
SUMMARY = SUMMARY_FILES[1]
#: Per upload: validated, merged (perhaps after a fault and Lambda's retry) and forecast.
RUN_TIMEOUT = 300.0


@dataclass
class Upload:
    index: int
    key: str
    frame: pd.DataFrame
    body: bytes
    fault: str | None = None
    version_id: str = ""
    etag: str = ""
    put_done: float = 0.0
    run: RunManifest | None = None
    stamp: int | None = None
    after: list[int] = field(default_factory=list)  # uploads whose put returned before this one's began


def _plan(rng: np.random.Generator, items: list[int], marker: str, prefix: str) -> list[Upload]:
    stems = [f"{prefix}chaos/file{j}" for j in range(6)]
    fault_stems = {kind: f"{prefix}chaos/{marker}-{kind}-1" for kind in faults.KINDS}
    plan = []
    for i in range(UPLOADS):
        fault = str(rng.choice(faults.KINDS)) if rng.random() < 0.25 else None
        stem = fault_stems[fault] if fault else str(rng.choice(stems))
        key = stem + (".csv.gz" if rng.random() < 0.4 else ".csv")
        # Faulted uploads carry every series (a merge of two batches); others a random share.
        n_series = SERIES if fault else int(rng.integers(5, SERIES + 1))
        series = np.sort(rng.choice(SERIES, size=n_series, replace=False))
        first = int(rng.integers(0, len(DAYS) - 3))
        days = DAYS[first : first + int(rng.integers(2, 9))]
        frame = pd.DataFrame(
            [(d, STORE, items[s]) for d in days for s in series], columns=["date", "store_nbr", "item_nbr"]
        )
        # Each upload's values are its own (i * 100 + series), so a wrong winner is visible.
        frame["unit_sales"] = (i * 100 + frame["item_nbr"] - items[0]).astype(float)
        frame["onpromotion"] = rng.random(len(frame)) < 0.3
        text = frame.to_csv(index=False, date_format="%Y-%m-%d").encode()
        body = gzip.compress(text, mtime=0) if key.endswith(".gz") else text
        plan.append(Upload(i, key, frame, body, fault))
    return plan


def _put(s3, bucket: str, upload: Upload) -> None:
    resp = s3.put_object(Bucket=bucket, Key=upload.key, Body=upload.body)
    upload.version_id, upload.etag = resp["VersionId"], str(resp["ETag"]).strip('"')
    upload.put_done = time.monotonic()


def _wait(s3, stack, uploads: list[Upload]) -> None:
    """Wait for each upload's own run (its object version) to be final; record its manifest."""
    for up in uploads:
        if up.run is not None:
            continue
        try:
            up.run = wait_for_run(
                s3,
                stack.output_bucket_name,
                runs.run_id_for(up.key, up.etag),
                version_id=up.version_id,
                timeout=RUN_TIMEOUT,
            )
            up.stamp = up.run.input.upload_stamp
        except RunTimeout:
            up.run = None


def _restart_emulator() -> None:
    for action in ("stop", "start"):
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "emulator.py"), action],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )


def _reference(uploads: list[Upload], items: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """History as it must be: every upload applied in upload order, in memory."""
    sales = np.full((len(items), len(DAYS)), np.nan, dtype=np.float32)
    promo = np.zeros((len(items), len(DAYS)), dtype=np.int8)
    for up in sorted(uploads, key=lambda u: (u.stamp or 0, u.index)):
        rows = items.index
        for r in up.frame.itertuples():
            s, d = rows(r.item_nbr), DAYS.get_loc(r.date)
            sales[s, d], promo[s, d] = r.unit_sales, int(r.onpromotion)
    return sales, promo


def test_chaos_uploads_faults_and_a_restart_leave_history_equal_to_the_upload_order_merge(
    stack, s3, history, unique_prefix
):
    # GIVEN the deployed ETL's fault marker (set by the local root only) and fresh series for this run
    env = stack.client("lambda").get_function_configuration(FunctionName=stack.etl_function_name)
    marker = env.get("Environment", {}).get("Variables", {}).get(faults.FAULT_ENV, "")
    assert marker, f"the local root must set {faults.FAULT_ENV} on the ETL (etl_fault_marker)"
    rng = np.random.default_rng(SEED)
    base = 991_000 + 64 * (zlib.crc32(unique_prefix.encode()) % 10_000)
    items = [base + k for k in range(SERIES)]
    plan = _plan(rng, items, marker, unique_prefix)

    # WHEN the uploads go out in waves, concurrent or one after another, without waiting for their runs;
    # half way, once every run so far is final, the emulator restarts; after it, two earlier files are
    # uploaded again as they were (the same bytes to the same key: newer than the corrections since,
    # and the same run as their first upload, whose stamp was recorded before the restart)
    half = UPLOADS // 2
    waves, i = [], 0
    while i < UPLOADS:
        size = int(rng.integers(1, 6))
        end = min(i + size, UPLOADS) if i >= half else min(i + size, half)
        waves.append((plan[i:end], bool(rng.random() < 0.5)))
        i = end
    started = time.monotonic()
    phases: dict[str, float] = {}
    done_puts: list[int] = []
    restarted = False
    reuploads: list[Upload] = []
    for wave, concurrent in waves:
        if wave[0].index >= half and not restarted:
            _wait(s3, stack, plan[:half])
            phases["first half"] = time.monotonic() - started
            _restart_emulator()
            phases["restart"] = time.monotonic() - started - phases["first half"]
            restarted = True
            # the first wave after the restart starts with them (their first uploads' stamps are known)
            for j, source in enumerate(rng.choice(half, size=2, replace=False)):
                src = plan[int(source)]
                reuploads.append(Upload(UPLOADS + j, src.key, src.frame, src.body, src.fault))
            wave = reuploads + wave
        for up in wave:
            up.after = list(done_puts)
        if concurrent:
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                list(pool.map(lambda u: _put(s3, stack.raw_bucket_name, u), wave))
        else:
            for k, up in enumerate(wave):
                up.after += [u.index for u in wave[:k]]
                _put(s3, stack.raw_bucket_name, up)
        done_puts.extend(u.index for u in wave)
    everything = plan + reuploads
    _wait(s3, stack, everything)
    phases["all"] = time.monotonic() - started

    # THEN every run is final (succeeded: each fault hit a first attempt only)
    stuck = [u for u in everything if u.run is None or not u.run.final]
    failed = [u for u in everything if u.run is not None and u.run.status is not RunStatus.SUCCEEDED]
    # AND upload order is what S3 says: an upload put after another's put returned has a larger stamp
    by_index = {u.index: u for u in everything}
    misordered = [
        (b, u.index)
        for u in everything
        for b in u.after
        if u.stamp is not None and by_index[b].stamp is not None and by_index[b].stamp >= u.stamp
    ]
    # AND each faulted upload needed its retry (killed or stalled) or got through its lost response
    retried = [
        u
        for u in everything
        if u.fault in ("kill", "timeout") and u.run is not None and u.run.attempts["etl"].number >= 2
    ]
    # AND history equals the reference merge in upload order, day by day
    want_sales, want_promo = _reference([u for u in everything if u.stamp is not None], items)
    panel = history.read_panel([STORE] * SERIES, items, DAYS[0], DAYS[-1])
    rows = panel.index_of([STORE] * SERIES, items)
    got_sales, got_promo = panel.sales[rows], panel.promo[rows]
    expected = ~np.isnan(want_sales)
    lost = int(np.count_nonzero(expected & np.isnan(got_sales)))
    stale = int(
        np.count_nonzero(
            expected & ~np.isnan(got_sales) & ((got_sales != want_sales) | (got_promo != want_promo))
        )
        + np.count_nonzero(~expected & ~np.isnan(got_sales))
    )
    leases = history.leases()
    n_faults = sum(u.fault is not None for u in everything)
    line = (
        f"chaos: {len(everything)} uploads, {n_faults} faults, {lost} days lost, {stale} stale, "
        f"{len(stuck)} stuck runs"
    )
    print(line)
    print("chaos seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(line + "\n")  # printed at the end of the session by conftest
    assert not stuck, [(u.key, u.version_id, u.run and u.run.status) for u in stuck]
    assert not failed, [(u.key, u.run.status, u.run.errors) for u in failed if u.run]
    assert not misordered, misordered
    assert len(retried) == sum(u.fault in ("kill", "timeout") for u in everything), "a fault did not fire"
    assert (lost, stale) == (0, 0), line
    assert leases == [], f"writer leases left behind: {leases}"
    assert len(everything) >= 30 and n_faults > 0
