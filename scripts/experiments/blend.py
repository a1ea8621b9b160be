"""Attempt (a) of issue 14's long horizons: blend the model with the baseline, weights fitted on validation.

Trains once per seed with ``TrainConfig(blend_group=G)`` (one weight of the rebuilt
``moving_median_dow`` level per group of G horizons, least squares on the validation window that
early stopping uses, never on the scored days), scores the blended forecast, then the same
booster without the blend, so one training gives both sides of the comparison.

    nice .venv/bin/python -m scripts.experiments.blend --data '/work/datasets/hard{S}' --seeds 1 --group 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.model import TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel, read_sales


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="data directory with {S} for the seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--group", type=int, default=4, help="horizons per blend weight")
    parser.add_argument("--cutoff", default="2017-07-30")
    parser.add_argument("--params", default="{}", help="LightGBM overrides (JSON)")
    parser.add_argument("--config", default="{}", help="TrainConfig overrides (JSON)")
    parser.add_argument("--tag", default="blend")
    args = parser.parse_args()
    cutoff = pd.Timestamp(args.cutoff)
    out = Path("build/experiments")
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        data = Path(args.data.format(S=seed))
        reference = Reference.from_dir(data)
        until = str((cutoff + pd.Timedelta(days=16)).date())
        panel = SalesPanel.from_frame(read_sales(data / "train.csv", None, until))
        started = time.perf_counter()
        config = TrainConfig(**{**json.loads(args.config), "blend_group": args.group})
        result = run_backtest(
            panel, reference, cutoff, 16, config=config, params={"seed": seed, **json.loads(args.params)}
        )
        model = result.model
        assert model is not None
        weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())
        ahead = result.targets["horizon"].to_numpy()
        blend = model.metadata["blend_weights"]
        model.metadata["blend_weights"] = None
        plain = model.predict(result.history, cutoff, result.targets, reference)
        model.metadata["blend_weights"] = blend
        best = result.report["best_baseline_per_horizon"]
        rows = {"blended": result.forecasts["model"], "plain": plain}
        scores = {k: nwrmsle(result.actual, f, weights) for k, f in rows.items()}
        by_h = {k: nwrmsle_by_group(result.actual, f, weights, ahead) for k, f in rows.items()}
        report = {
            **result.report,
            "blend_weights": blend,
            "plain": {
                "nwrmsle": scores["plain"],
                "per_horizon": {str(h): v for h, v in by_h["plain"].items()},
            },
            "validation": model.metadata["validation"],
        }
        (out / f"{args.tag}-{seed}.json").write_text(json.dumps(report, indent=2) + "\n")
        base = result.report["baselines"][result.report["best_baseline"]]
        print(
            f"seed {seed}: blended {scores['blended']:.4f} ({1 - scores['blended'] / base:.1%} below "
            f"{result.report['best_baseline']} {base:.4f}), plain {scores['plain']:.4f} "
            f"({1 - scores['plain'] / base:.1%}); validation {model.metadata['validation']['nwrmsle']:.4f} -> "
            f"{model.metadata['validation'].get('blended_nwrmsle', float('nan')):.4f}; weights "
            f"{', '.join(f'{blend[str(h)]:.2f}' for h in range(1, 17, args.group))}; "
            f"wall {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        print("| horizon | " + " | ".join(str(h) for h in range(1, 17)) + " |")
        for k in rows:
            cells = [
                f"{by_h[k][h]:.3f} ({1 - by_h[k][h] / best[str(h)]['nwrmsle']:.1%})" for h in range(1, 17)
            ]
            print(f"| seed {seed} {k} | " + " | ".join(cells) + " |")
        print(
            f"| seed {seed} best baseline | "
            + " | ".join(f"{best[str(h)]['nwrmsle']:.3f}" for h in range(1, 17))
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
