#!/usr/bin/env python3
"""Benchmarks: every figure on its own line, all of them in build/bench/bench.json.

    make bench                                    # everything (needs `make up`)
    .venv/bin/python -m scripts.bench.run --only ingest forecast

(a) ingest: the ETL's path vs naive iterrows+put_item vs raw batch_write_item, same run;
    backfill of 1,000,000 rows. (b) forecast: the prediction step for 10,000 and 100,000 request
rows. (c) e2e: PutObject -> forecast object, the demo file and a 100,000-series day. (d) training
time and peak memory on ~1M rows. (e) bundle sizes and cold start (imports + model load). (f) kaggle: a
Kaggle-size request (3.4 M rows, 216,000 series) through the sharded workflow; minutes of both cores.
(g) training_full: backtest on two years of Favorita-size history (210,600 series), time and peak
memory; no emulator needed (`python -m scripts.bench.run --only training_full`), tens of minutes.
(h) year: a full year of Favorita-size history (about 23 M rows) uploaded through the sharded ingest
(`make bench BENCH=year`); tens of minutes, not in the default set.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

from .common import ROOT, Results
from .forecast import bench_forecast
from .ingest import bench_backfill, bench_ingest
from .kaggle import bench_kaggle_request
from .pipeline import bench_bundles, bench_end_to_end, bench_training
from .training_full import bench_training_full
from .year import bench_year_upload

ALL = ("bundles", "ingest", "backfill", "forecast", "e2e", "kaggle", "training", "training_full")
#: Selectable with --only, not run by default: they take tens of minutes.
EXTRA = ("year",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=ALL + EXTRA, default=list(ALL))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "bench.json")
    parser.add_argument("--model", type=Path, default=ROOT / "build" / "model")
    parser.add_argument("--data", type=Path, default=ROOT / "build" / "sample-data")
    args = parser.parse_args()
    results = Results()
    results.add(
        "machine",
        f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {sys.version.split()[0]}",
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if "bundles" in args.only:
            bench_bundles(results, args.model)
        # End to end first: it measures the deployed stack with its own data, before the other
        # benchmarks load millions of synthetic rows into the same emulator (which slows it: the
        # 100,000-series day took 38 s first and 76 s after them).
        if "e2e" in args.only:
            bench_end_to_end(results, work, args.data / "train.csv")
        if "kaggle" in args.only:
            bench_kaggle_request(results, work)
        if "ingest" in args.only:
            bench_ingest(results, work)
        if "backfill" in args.only:
            bench_backfill(results, work)
        if "forecast" in args.only:
            bench_forecast(results, work, args.model, args.data)
        if "training" in args.only:
            bench_training(results, work)
        if "training_full" in args.only:
            bench_training_full(results)
        if "year" in args.only:
            bench_year_upload(results)
    results.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
