"""Do other LightGBM settings beat the defaults? A small sweep scored by the same backtest.

Each setting trains and backtests on the same generated data sets (cutoff 16 days before the end,
16 days scored) and prints the model's NWRMSLE per data set, its margin over the best baseline
and the worst per-horizon ratio to the best baseline. Differences of a few thousandths are noise
between data sets; a setting earns a change of :data:`~grocery_forecast.forecasting.model.DEFAULT_PARAMS`
only if it wins clearly on every data set.

    .venv/bin/python -m scripts.experiments.lgbm_params [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse

import numpy as np

from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.datagen import GeneratorConfig, generate
from grocery_forecast.forecasting.model import TrainConfig

SETTINGS: dict[str, tuple[dict, dict]] = {
    "defaults": ({}, {}),
    "lr0.05 leaves31 min_leaf100": ({"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100}, {}),
    "leaves31 min_leaf300 l2=10": ({"num_leaves": 31, "min_data_in_leaf": 300, "lambda_l2": 10.0}, {}),
    "52 weekly origins": ({}, {"max_origins": 52}),
    "feature_fraction 0.6": ({"feature_fraction": 0.6}, {}),
    "leaves15 min_leaf50": ({"num_leaves": 15, "min_data_in_leaf": 50}, {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    data = [generate(GeneratorConfig(seed=seed)) for seed in args.seeds]
    print(
        f"{'setting':30} {'NWRMSLE per data set':28} {'mean':>7} {'margin':>18} {'worst h':>8} {'train s':>8}"
    )
    for name, (params, config) in SETTINGS.items():
        rows = []
        for d in data:
            cutoff = d.panel.end - np.timedelta64(16, "D")
            report = run_backtest(
                d.panel, d.reference, cutoff, 16, params=params, config=TrainConfig(**config)
            ).report
            rows.append(
                (
                    report["model"]["nwrmsle"],
                    report["improvement_vs_best_baseline"],
                    report["worst_horizon_ratio_to_best_baseline"],
                    report["train_seconds"],
                )
            )
        r = np.array(rows)
        scores = " ".join(f"{v:.4f}" for v in r[:, 0])
        margins = " ".join(f"{v:.1%}" for v in r[:, 1])
        print(
            f"{name:30} {scores:28} {r[:, 0].mean():7.4f} {margins:>18} {r[:, 2].max():8.3f} {r[:, 3].mean():8.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
