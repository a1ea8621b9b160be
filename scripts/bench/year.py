"""(h) A full year of Favorita-size history uploaded through the deployed stack: the sharded ingest.

The project's own generator at Favorita's size (54 stores x 4,000 items: 216,000 series) for 365 days
(46.6 M rows once the generator's zero days are left out: twice the density of Kaggle's files, whose 2017
holds 23.8 M rows; ``BENCH_YEAR_DAYS=182`` gives a file of about that many rows), cached under
build/bench/favorita-upload-<days>d and uploaded as one plain CSV. Over ``ingest_shard_bytes`` (production's 128 MiB, which `make bench` deploys), the
ETL only plans it and the ingest workflow validates, partitions and merges it; the forecast of its 216,000
series (3.5 M target rows) runs as the sharded forecast. Prints the wall time from PutObject to the forecast
CSV, the shard and partition counts, and every ingest invocation's peak memory and seconds against the ETL
function's memory size and timeout. Tens of minutes of both cores: run it alone
(`make bench BENCH=year`), niced, not in a loop. Then the next day's daily file of 100,000 series, forecast
pooled over every series of the history (``BENCH_YEAR_END=2017-02-28`` ends the file early in a year, so
that forecast looks back over two year buckets per series).

``BENCH_YEAR_GZIP=1`` uploads the same file gzipped (``train.csv.gz``, made once with ``gzip -6``, as
Kaggle ships its files): the planning invocation then decompresses and splits it into plain parts
before the shards run, so its time and peak are printed too, with the split's rate. Every run prints
the sub-buckets each partition was checked and merged in, and the most rows any of them held.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

from grocery_forecast.cli.aws_limits import function_limits, violations
from grocery_forecast.cli.client import upload_and_wait
from grocery_forecast.cli.stack import load_stack

from .common import ROOT, Results, timed
from .kaggle import daily_file

#: Days of history in the file (a year unless ``BENCH_YEAR_DAYS`` says otherwise), ending on ``END``.
DAYS = int(os.environ.get("BENCH_YEAR_DAYS", "365"))
#: The file's last day (``BENCH_YEAR_END``; default the sample data's last day). One early in a year
#: makes the forecasts after it look back over two year buckets per series.
END_DEFAULT = "2017-08-15"
END_TEXT = os.environ.get("BENCH_YEAR_END", END_DEFAULT)
END = date.fromisoformat(END_TEXT)
START = END - timedelta(days=DAYS - 1)
DATA = (
    ROOT
    / "build"
    / "bench"
    / (f"favorita-upload-{DAYS}d" + ("" if END_TEXT == END_DEFAULT else f"-to-{END.isoformat()}"))
)
#: Upload the file gzipped (``BENCH_YEAR_GZIP=1``).
GZIP = os.environ.get("BENCH_YEAR_GZIP", "") not in ("", "0")
GENERATE = [
    "--stores",
    "54",
    "--items",
    "4000",
    "--days",
    str(DAYS),
    "--start",
    START.isoformat(),
    "--seed",
    "5",
]


def _data(results: Results) -> Path:
    if not (DATA / "train.csv").exists():
        seconds, _ = timed(
            lambda: subprocess.run(
                [
                    "nice",
                    "-n",
                    "10",
                    str(ROOT / ".venv" / "bin" / "grocery-forecast"),
                    "generate",
                    "--out",
                    str(DATA),
                    "--force",
                    *GENERATE,
                ],
                check=True,
                capture_output=True,
            )
        )
        results.add("year_generate_seconds", round(seconds, 1), "s", "generate " + " ".join(GENERATE))
    return DATA


def bench_year_upload(results: Results) -> None:
    stack = load_stack("local", ROOT)
    s3 = stack.client("s3")
    limits = function_limits(stack)
    data = _data(results)
    path = data / "train.csv"
    results.add("year_file_bytes", path.stat().st_size, "B", str(path.relative_to(ROOT)))
    if GZIP:
        packed = data / "train.csv.gz"
        if not packed.exists():
            gz = shutil.which("gzip")
            if gz is None:
                raise SystemExit("bench: BENCH_YEAR_GZIP=1 needs the gzip command")
            seconds, _ = timed(
                lambda: subprocess.run(
                    f"nice -n 10 {gz} -6 -c {path} > {packed}.tmp && mv {packed}.tmp {packed}",
                    shell=True,
                    check=True,
                )
            )
            results.add("year_gzip_seconds", round(seconds, 1), "s", "gzip -6")
        results.add(
            "year_gzip_bytes",
            packed.stat().st_size,
            "B",
            f"{path.stat().st_size / packed.stat().st_size:.1f}x smaller than the plain file",
        )
        path = packed
    tag = time.time_ns()
    t0 = time.perf_counter()
    _, manifest = upload_and_wait(
        s3,
        stack.raw_bucket_name,
        stack.output_bucket_name,
        path,
        f"bench/{tag}/favorita_year.csv" + (".gz" if GZIP else ""),
        timeout=3600,
    )
    seconds = time.perf_counter() - t0
    run = manifest.to_dict()
    if run.get("status") != "succeeded":
        raise SystemExit(f"bench: the year upload ended {run.get('status')}: {run.get('errors')}")
    ingest = run.get("ingest") or {}
    etl = limits["etl_function_name"]
    steps = run["steps"]
    results.add(
        "year_upload_seconds",
        round(seconds, 1),
        "s",
        f"PutObject -> forecast CSV; {run['rows_in']:,} rows, {run['series']:,} series; "
        f"{ingest.get('shard_count')} shards of {ingest.get('shard_bytes'):,} bytes, "
        f"{ingest.get('partitions')} partitions of {ingest.get('buckets', 1)} sub-buckets "
        f"(at most {ingest.get('bucket_rows', 0):,} rows each); "
        f"ingest workflow {steps.get('ingest_workflow_seconds')} s, "
        f"forecast workflow {steps.get('workflow_seconds')} s; {run.get('rows_forecast'):,} rows forecast",
    )
    held = [max(p.get("buckets") or [p.get("rows", 0)]) for p in ingest.get("partition_runs", [])]
    results.add(
        "year_sub_bucket_rows_max",
        max(held, default=0),
        "rows",
        f"the most rows a check or merge held at once; {ingest.get('buckets', 1)} sub-buckets a partition, "
        f"limit {ingest.get('bucket_rows', 0):,}",
    )
    plan = ingest.get("plan") or {}
    if GZIP and plan.get("seconds"):
        results.add(
            "year_gzip_split_mb_per_s",
            round(float(ingest.get("plain_bytes", 0)) / 1e6 / float(plan["seconds"]), 1),
            "MB/s",
            f"planning invocation {plan['seconds']} s, peak {plan.get('peak_memory_mb')} MB: "
            f"{float(ingest.get('plain_bytes', 0)) / 1e9:.2f} GB decompressed, split, uploaded",
        )
    over = violations(run, limits)
    results.add(
        "year_over_limits", len(over), "", "; ".join(over) or "every invocation within 80% of its function"
    )
    invocations = [(f"shard {s['index']}", s) for s in ingest.get("shards", [])]
    for p in ingest.get("partition_runs", []):
        invocations += [(f"partition {p['partition']} {phase}", p[phase]) for phase in ("check", "merge")]
    invocations += [(name, ingest[name]) for name in ("plan", "verdict", "finish") if name in ingest]
    peak = max(invocations, key=lambda i: float(i[1].get("peak_memory_mb", 0) or 0))
    slow = max(invocations, key=lambda i: float(i[1].get("seconds", 0) or 0))
    results.add(
        "year_ingest_peak_memory_mb",
        float(peak[1].get("peak_memory_mb", 0) or 0),
        "MB",
        f"{peak[0]}; {100 * float(peak[1].get('peak_memory_mb', 0)) / etl.memory_mb:.0f}% of the ETL's "
        f"{etl.memory_mb} MB",
    )
    results.add(
        "year_ingest_longest_invocation_seconds",
        float(slow[1].get("seconds", 0) or 0),
        "s",
        f"{slow[0]}; {100 * float(slow[1].get('seconds', 0)) / etl.timeout_s:.0f}% of the ETL's {etl.timeout_s} s",
    )
    for name, info in invocations:
        results.add(
            f"year_ingest_{name.replace(' ', '_')}",
            float(info.get("peak_memory_mb", 0) or 0),
            "MB",
            f"{info.get('seconds')} s, attempts {info.get('attempts', 1)}",
        )
    results.add(
        "year_predict_peak_memory_mb",
        float(run.get("peak_memory_mb_predict") or 0),
        "MB",
        f"of {limits['predict_function_name'].memory_mb} MB; "
        f"{(run.get('sharded') or {}).get('shard_count', 0)} forecast shards",
    )
    # The next day's file of 100,000 series, pooled over the others (with an END early in a year the
    # lookback spans two year buckets: predict's largest read of a daily file).
    daily_file(results, "year_daily", stack, s3, data / "train.csv", data, tag, limits)
