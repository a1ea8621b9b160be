"""Where retraining can run: time and peak memory of the stack's training step at Favorita size.

Two steps, each its own process so the measured one starts clean:

* ``prepare``: generate a year of Favorita-size history (54 stores x 4,000 items, 216,000
  series) with the project's generator and save it as the panel the training workflow
  assembles from its DynamoDB Scan parts (``panel.npz``) plus the reference tables.
* ``parts``: split it into the parallel-Scan parts the ``scan`` tasks write to S3.
* ``measure``: assemble those parts and run exactly what the training Lambda runs
  (:func:`grocery_forecast.pipeline.training.train_and_evaluate`: train the challenger up to the
  evaluation cutoff, backtest it and the model in service on the last 16 days), printing the
  wall time of each phase and the process's peak resident memory (``ru_maxrss``), which is what
  Lambda's memory size limits.

    nice -n 10 .venv/bin/python -m scripts.bench.training_size prepare --out build/bench/favorita-year
    nice -n 10 .venv/bin/python -m scripts.bench.training_size parts --data build/bench/favorita-year
    nice -n 10 .venv/bin/python -m scripts.bench.training_size measure --data build/bench/favorita-year \
        --champion build/model

Not part of CI: the generation alone takes minutes and gigabytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from grocery_forecast.aws.history import YearBuckets
    from grocery_forecast.forecasting.panel import SalesPanel


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def prepare(out: Path, stores: int, items: int, days: int, start: str, seed: int) -> None:
    from grocery_forecast.forecasting.datagen import GeneratorConfig, generate

    started = time.perf_counter()
    data = generate(GeneratorConfig(seed=seed, stores=stores, items=items, days=days, start=start))
    out.mkdir(parents=True, exist_ok=True)
    panel = data.panel
    np.savez(
        out / "panel.npz",
        start=np.array(str(panel.start.date())),
        stores=panel.stores,
        items=panel.items,
        sales=panel.sales,
        promo=panel.promo,
    )
    for name in ("items", "stores", "holidays_events"):
        getattr(data, name).to_csv(out / f"{name}.csv", index=False)
    print(
        f"prepared {panel.n_series:,} series x {panel.n_days} days ({len(data.train):,} sales rows) "
        f"in {time.perf_counter() - started:.0f} s, peak {_peak_mb():,.0f} MB -> {out}"
    )


def load_panel(data: Path) -> SalesPanel:
    from grocery_forecast.forecasting.panel import SalesPanel

    with np.load(data / "panel.npz") as z:
        return SalesPanel(pd.Timestamp(str(z["start"])), z["stores"], z["items"], z["sales"], z["promo"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stores", type=int, default=54)
    p.add_argument("--items", type=int, default=4000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--start", default="2016-08-16")
    p.add_argument("--seed", type=int, default=5)
    w = sub.add_parser("parts")
    w.add_argument("--data", type=Path, required=True)
    w.add_argument("--segments", type=int, default=8)
    m = sub.add_parser("measure")
    m.add_argument("--data", type=Path, required=True)
    m.add_argument(
        "--champion", type=Path, default=None, help="a saved model to score as the model in service"
    )
    m.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.out, args.stores, args.items, args.days, args.start, args.seed)
    elif args.step == "parts":
        parts(args.data, args.segments)
    else:
        report = measure(args.data, args.champion)
        print(json.dumps(report, indent=2))
        if args.report:
            args.report.write_text(json.dumps(report, indent=2) + "\n")


def _year_buckets(panel: SalesPanel) -> YearBuckets:
    """The panel as the history table stores it: one 366-slot bucket per series and year."""
    from grocery_forecast.aws.history import SLOTS, YearBuckets
    from grocery_forecast.contract.schema import series_key

    names, years, sales, promo = [], [], [], []
    keys = np.array([series_key(s, i) for s, i in zip(panel.stores, panel.items, strict=True)], dtype=object)
    for year in range(panel.start.year, panel.end.year + 1):
        first = max(panel.start, pd.Timestamp(year=year, month=1, day=1))
        last = min(panel.end, pd.Timestamp(year=year, month=12, day=31))
        cols = slice(panel.day_index(first), panel.day_index(last) + 1)
        slot0 = first.day_of_year - 1
        s_block = np.full((panel.n_series, SLOTS), np.nan, dtype=np.float32)
        p_block = np.zeros((panel.n_series, SLOTS), dtype=np.int8)
        s_block[:, slot0 : slot0 + (last - first).days + 1] = panel.sales[:, cols]
        p_block[:, slot0 : slot0 + (last - first).days + 1] = panel.promo[:, cols]
        names.append(keys)
        years.append(np.full(panel.n_series, year, dtype=np.int32))
        sales.append(s_block)
        promo.append(p_block)
    return YearBuckets(
        np.concatenate(names), np.concatenate(years), np.concatenate(sales), np.concatenate(promo)
    )


def parts(data: Path, segments: int) -> None:
    """Write the panel as ``segments`` Scan parts, the files the train step reads from S3."""
    import io

    panel = load_panel(data)
    buckets = _year_buckets(panel)
    order = np.random.default_rng(0).permutation(len(buckets))  # a Scan segment is a hash range
    for k, idx in enumerate(np.array_split(order, segments)):
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            series=buckets.series[idx].astype(str),
            years=buckets.years[idx],
            sales=buckets.sales[idx],
            promo=buckets.promo[idx],
        )
        (data / f"part-{k:04d}.npz").write_bytes(buffer.getvalue())
    print(f"wrote {segments} parts of {len(buckets):,} year buckets to {data}")


def measure(data: Path, champion_dir: Path | None) -> dict:
    """The train step as the Lambda runs it, from the Scan parts on disk; wall time and peak RSS."""
    from grocery_forecast.contract.reference import Reference
    from grocery_forecast.forecasting.model import ForecastModel
    from grocery_forecast.pipeline.training import RetrainConfig, assemble_parts, evaluate_challenger

    report: dict = {}
    t0 = time.perf_counter()
    files = sorted(data.glob("part-*.npz"))
    with np.load(data / "panel.npz") as z:
        first = pd.Timestamp(str(z["start"]))
        last = first + pd.Timedelta(days=z["sales"].shape[1] - 1)
    panel = assemble_parts((f.read_bytes() for f in files), first, last)
    report["assemble_seconds"] = round(time.perf_counter() - t0, 1)
    report["assemble_peak_mb"] = round(_peak_mb())
    report["series"], report["days"], report["parts"] = panel.n_series, panel.n_days, len(files)
    reference = Reference.from_dir(data)
    champion = ForecastModel.load(champion_dir) if champion_dir else None
    t1 = time.perf_counter()
    _, evaluation = evaluate_challenger(
        panel,
        reference,
        champion,
        RetrainConfig("bench", "bench", history_days=panel.n_days),
        champion_version="bench",
    )
    report["train_and_evaluate_seconds"] = round(time.perf_counter() - t1, 1)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    report["peak_mb"] = round(_peak_mb())
    report["evaluation"] = evaluation
    return report


if __name__ == "__main__":
    main()
