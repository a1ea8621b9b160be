"""The Favorita winners' longer windows: do 140-day means and 20-week weekday means pay here?

Backtests the model with the default :class:`FeatureSpec` plus ``140`` in ``windows`` and ``20``
in ``dow_weeks`` (the lookback grows from 112 to 140 days, so the predict step would read 28 more
days), on one generated data set, and prints the report's overall and per-horizon figures to set
beside ``grocery-forecast backtest`` on the same files.

    .venv/bin/python -m scripts.experiments.winner_windows --data DIR --cutoff 2017-07-30 --seed S
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.features import FeatureSpec
from grocery_forecast.forecasting.panel import read_panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cutoff", default="2017-07-30")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cutoff = pd.Timestamp(args.cutoff)
    reference = Reference.from_dir(args.data)
    until = str((cutoff + pd.Timedelta(days=16)).date())
    panel = read_panel(args.data / "train.csv", None, until)
    base = FeatureSpec()
    spec = replace(base, windows=(*base.windows, 140), dow_weeks=(*base.dow_weeks, 20))
    report = run_backtest(panel, reference, cutoff, 16, spec=spec, params={"seed": args.seed}).report
    keep = (
        "model",
        "best_baseline",
        "improvement_vs_best_baseline",
        "per_horizon",
        "best_baseline_per_horizon",
    )
    out = {"spec": spec.to_dict(), **{k: report[k] for k in keep}}
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
