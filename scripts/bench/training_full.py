"""(g) training_full: backtest (train + forecast + score) on two years of Favorita-size history.

Issue 10 asks that ``train``/``backtest`` on two years of history at Favorita's size (about 210,000
series) fit this 24 GB machine, with the peak memory printed. The data come from the project's
own generator (54 stores x 3,900 items x 731 days; denser than Favorita's files, so more rows than
its ~60 M), written once under ``build/bench/favorita-2y`` and reused: generating them takes minutes
and they are deterministic by seed. The backtest runs as a subprocess of the CLI a user would run,
so its peak memory (the CLI prints it, from ``getrusage``) is the whole process's: reading the CSV,
the panel, the training rows of every origin, boosting and scoring 210,000 series x 16 days.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from .common import ROOT, Results

__all__ = ["bench_training_full"]

#: Favorita's shape: 54 stores; 3,900 items makes 210,600 series, Kaggle's test.csv has 210,654.
STORES, ITEMS, DAYS = 54, 3_900, 731
START, CUTOFF = (
    "2015-08-16",
    "2017-07-30",
)  # 731 days (two years) ending 2017-08-15 as Kaggle's train.csv: 16 to score


def _cli() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "grocery-forecast")]


def _generate(data: Path) -> None:
    """The data set, unless a complete one is already there (train.csv is written last but one)."""
    if (data / "test.csv").is_file() and (data / "train.csv").is_file():
        return
    subprocess.run(
        [
            *_cli(),
            "generate",
            "--out",
            str(data),
            "--stores",
            str(STORES),
            "--items",
            str(ITEMS),
            "--days",
            str(DAYS),
            "--start",
            START,
            "--force",
        ],
        check=True,
    )


def bench_training_full(results: Results, data: Path | None = None) -> None:
    """Backtest wall time, training time, rows, peak memory and NWRMSLE at Favorita scale."""
    data = data or ROOT / "build" / "bench" / "favorita-2y"
    t0 = time.perf_counter()
    _generate(data)
    results.add("training_full_generate_seconds", round(time.perf_counter() - t0, 1), "s", "0 if cached")
    report = data.parent / "favorita-2y-backtest.json"
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            *_cli(),
            "backtest",
            "--sales",
            str(data / "train.csv"),
            "--reference",
            str(data),
            "--cutoff",
            CUTOFF,
            "--report",
            str(report),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    out = done.stdout
    series = re.search(r"history: ([\d,]+) series", out)
    peak = re.search(r"peak memory ([\d,]+) MB", out)
    train = re.search(r"train ([\d.]+)s, predict ([\d.]+)s", out)
    model = re.search(r"model\s+([\d.]+)\s+\(([-\d.]+)% below (\w+)\)", out)
    rows = sum(1 for _ in (data / "train.csv").open()) - 1
    note = f"{STORES} stores x {ITEMS} items x {DAYS} days, {rows:,} rows, cutoff {CUTOFF}"
    results.add("training_full_backtest_seconds", round(seconds, 1), "s", note)
    if series:
        results.add("training_full_series", int(series.group(1).replace(",", "")), "", "")
    if train:
        results.add("training_full_train_seconds", float(train.group(1)), "s", "read excluded")
        results.add("training_full_predict_seconds", float(train.group(2)), "s", "210k series x 16 days")
    if peak:
        results.add(
            "training_full_peak_memory_mb", int(peak.group(1).replace(",", "")), "MB", "machine: 24 GB"
        )
    if model:
        results.add(
            "training_full_model_nwrmsle",
            float(model.group(1)),
            "",
            f"{model.group(2)}% below {model.group(3)}",
        )
