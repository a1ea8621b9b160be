"""Attempt (d) of issue 14's long horizons: average models trained with different seeds.

Trains ``--models`` models on one hard set, each with its own LightGBM seed (bagging and feature
sampling) and row-sampling seed (``TrainConfig.seed``), the first with exactly the settings of
``hard_seeds`` (``params={"seed": S}``), and scores each alone and their mean in ``log1p`` space,
per horizon, against the best baseline.

    nice .venv/bin/python -m scripts.experiments.seed_average --data '/work/datasets/hard{S}' --seed 1 --models 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.model import ForecastModel, TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel, read_sales


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="data directory with {S} for the seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--cutoff", default="2017-07-30")
    parser.add_argument("--since", default=None, help="first day of history read (e.g. 2017-07-17: 14 days)")
    parser.add_argument("--tag", default="seedavg")
    args = parser.parse_args()
    cutoff = pd.Timestamp(args.cutoff)
    data = Path(args.data.format(S=args.seed))
    reference = Reference.from_dir(data)
    until = str((cutoff + pd.Timedelta(days=16)).date())
    panel = SalesPanel.from_frame(read_sales(data / "train.csv", args.since, until))
    started = time.perf_counter()
    result = run_backtest(panel, reference, cutoff, 16, params={"seed": args.seed})
    weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())
    ahead = result.targets["horizon"].to_numpy()
    logs = [np.log1p(result.forecasts["model"])]
    for k in range(1, args.models):
        model = ForecastModel(params={"seed": args.seed + 1000 * k}, config=TrainConfig(seed=k)).fit(
            result.history, reference, end=cutoff
        )
        logs.append(np.log1p(model.predict(result.history, cutoff, result.targets, reference)))
        print(f"model {k + 1} trained, {time.perf_counter() - started:.0f} s", flush=True)
    best = result.report["best_baseline_per_horizon"]
    base = result.report["baselines"][result.report["best_baseline"]]
    rows = {f"model {k + 1}": np.expm1(x) for k, x in enumerate(logs)}
    rows["average"] = np.expm1(np.mean(logs, axis=0))
    scores = {k: nwrmsle(result.actual, f, weights) for k, f in rows.items()}
    by_h = {k: nwrmsle_by_group(result.actual, f, weights, ahead) for k, f in rows.items()}
    (Path("build/experiments") / f"{args.tag}-{args.seed}.json").write_text(
        json.dumps({"overall": scores, "per_horizon": by_h, "best": best, "baseline": base}, indent=2) + "\n"
    )
    print(
        f"seed {args.seed}: "
        + ", ".join(f"{k} {v:.4f} ({1 - v / base:.1%})" for k, v in scores.items())
        + f" vs {result.report['best_baseline']} {base:.4f}; wall {time.perf_counter() - started:.0f} s"
    )
    print("| horizon | " + " | ".join(str(h) for h in range(1, 17)) + " |")
    for name in rows:
        cells = [
            f"{by_h[name][h]:.3f} ({1 - by_h[name][h] / best[str(h)]['nwrmsle']:.1%})" for h in range(1, 17)
        ]
        print(f"| seed {args.seed} {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
