"""(g) training_full: backtest (train + forecast + score) on two years of Favorita-size history.

Issue 10 asks that ``train``/``backtest`` on two years of history at Favorita's size (about 210,000
series) fit this 24 GB machine, with the peak memory printed. The data come from the project's
own generator (54 stores x 3,900 items x 731 days; denser than Favorita's files, so more rows than
its ~60 M), written once under ``build/bench/favorita-2y`` and reused: a ``generated.json`` beside
them records the settings, written last, so a run killed while generating starts again and a
finished one is never regenerated. The backtest runs as a subprocess of the CLI a user would run,
so its figures are the whole process's: the CLI times each phase (reading the CSV into the panel,
training, the baselines, the model's forecast of 210,000 series x 16 days, scoring) and records its
peak resident memory, and this script reads them from the report.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

from .common import ROOT, Results

__all__ = ["bench_training_full"]

#: Favorita's shape: 54 stores; 3,900 items makes 210,600 series, Kaggle's test.csv has 210,654.
STORES, ITEMS, DAYS = 54, 3_900, 731
#: 731 days (two years) ending 2017-08-15 as Kaggle's train.csv; the last 16 are scored.
START, CUTOFF = "2015-08-16", "2017-07-30"
SETTINGS = {"stores": STORES, "items": ITEMS, "days": DAYS, "start": START, "seed": 0}


def _cli() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "grocery-forecast")]


def _generate(data: Path) -> float | None:
    """Generate the data set unless a complete one with these settings is there; peak MB or None."""
    marker = data / "generated.json"
    if marker.is_file() and json.loads(marker.read_text()).get("settings") == SETTINGS:
        return None
    marker.unlink(missing_ok=True)
    started = time.perf_counter()
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
            "--seed",
            str(SETTINGS["seed"]),
            "--force",
        ],
        check=True,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    marker.write_text(
        json.dumps(
            {"settings": SETTINGS, "seconds": round(time.perf_counter() - started, 1), "peak_memory_mb": peak}
        )
        + "\n"
    )
    return peak


def bench_training_full(results: Results, data: Path | None = None) -> None:
    """Generation, read, train, forecast and score: wall time and peak memory of each; NWRMSLE."""
    data = data or ROOT / "build" / "bench" / "favorita-2y"
    t0 = time.perf_counter()
    gen_peak = _generate(data)
    if gen_peak is None:
        made = json.loads((data / "generated.json").read_text())
        results.add(
            "training_full_generate_seconds", 0.0, "s", f"cached; generating took {made['seconds']} s"
        )
    else:
        results.add("training_full_generate_seconds", round(time.perf_counter() - t0, 1), "s", "")
        results.add("training_full_generate_peak_memory_mb", round(gen_peak), "MB", "")
    report_path = data.parent / "favorita-2y-backtest.json"
    t0 = time.perf_counter()
    subprocess.run(
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
            str(report_path),
        ],
        check=True,
    )
    seconds = time.perf_counter() - t0
    report = json.loads(report_path.read_text())
    size = (data / "train.csv").stat().st_size
    note = f"{STORES} stores x {ITEMS} items x {DAYS} days, train.csv {size / 1e9:.2f} GB, cutoff {CUTOFF}"
    results.add("training_full_backtest_seconds", round(seconds, 1), "s", note)
    results.add("training_full_series", int(report["series"]), "", f"{report['rows']:,} rows scored")
    for phase, figures in report.get("phases", {}).items():
        key = phase.replace(" ", "_")
        results.add(f"training_full_{key}_seconds", float(figures["seconds"]), "s", "")
        results.add(f"training_full_{key}_peak_memory_mb", round(figures["peak_memory_mb"]), "MB", "")
    results.add("training_full_peak_memory_mb", round(report["peak_memory_mb"]), "MB", "machine: 24 GB")
    best = report["best_baseline"]
    model = float(report["model"]["nwrmsle"])
    results.add(
        "training_full_model_nwrmsle",
        round(model, 4),
        "",
        f"{model:.4f}: {100 * report['improvement_vs_best_baseline']:.1f}% below {best} "
        f"({report['baselines'][best]:.4f}); below it at every horizon: "
        f"{report['beats_best_baseline_at_every_horizon']}",
    )
    for name, value in report["baselines"].items():
        results.add(f"training_full_baseline_{name}_nwrmsle", round(float(value), 4), "", f"{value:.4f}")
