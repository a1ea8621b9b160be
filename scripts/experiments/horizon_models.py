"""One model for all horizons, or one per horizon? The backtest decides.

The best Favorita solutions trained one LightGBM per horizon; a single model with ``horizon`` as
a feature is simpler to ship (one artifact, one load, one predict call). This experiment trains
both on exactly the same origin-based training rows and scores them on the same backtest
(train up to the cutoff, forecast the next 16 days of every series, Favorita's NWRMSLE), for a
few generated data sets, and prints the figures side by side.

    .venv/bin/python -m scripts.experiments.horizon_models [--seeds 0 1 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.datagen import GeneratorConfig, generate
from grocery_forecast.forecasting.features import CATEGORICAL_FEATURES
from grocery_forecast.forecasting.metrics import nwrmsle, nwrmsle_by_group
from grocery_forecast.forecasting.model import _training_set

ROOT = Path(__file__).resolve().parents[2]
HORIZON = 16


def _per_horizon_forecast(result, reference) -> tuple[np.ndarray, float, list[int]]:
    """Train one booster per horizon on the global model's own training rows; forecast with each."""
    model = result.model
    history, cutoff = result.history, result.history.end
    data = _training_set(history, cutoff, reference, model.spec, model.category_maps, model.config, None)
    names = model.feature_names
    cats = [c for c in CATEGORICAL_FEATURES if c in names]
    x_target = model.features(history, cutoff, result.targets, reference).to_numpy(dtype=np.float32)
    forecast = np.zeros(len(result.targets))
    rounds_used: list[int] = []
    started = time.perf_counter()
    for h in range(1, HORIZON + 1):
        rows = data.horizon == h
        train, valid = np.flatnonzero(rows & ~data.valid), np.flatnonzero(rows & data.valid)
        ds = lgb.Dataset(
            data.x,
            label=data.y,
            weight=data.weight,
            feature_name=names,
            categorical_feature=cats,
            params={"max_bin": model.params.get("max_bin", 255), "verbose": -1},
            free_raw_data=False,
        )
        booster = lgb.train(
            model.params,
            ds.subset(train.tolist()),
            num_boost_round=model.config.num_boost_round,
            valid_sets=[ds.subset(valid.tolist())],
            callbacks=[lgb.early_stopping(model.config.early_stopping_rounds, verbose=False)],
        )
        best = max(int(booster.best_iteration or booster.current_iteration()), 1)
        # Same refit rule as the global model: all rows of this horizon, 1.1x the best rounds.
        booster = lgb.train(
            model.params, ds.subset(np.flatnonzero(rows).tolist()), num_boost_round=max(1, round(best * 1.1))
        )
        rounds_used.append(best)
        pick = result.targets["horizon"].to_numpy() == h
        forecast[pick] = np.clip(np.expm1(booster.predict(x_target[pick])), 0.0, None)
        print(f"  horizon {h:2d}: {len(train):,} training rows, {best} rounds", flush=True)
    return forecast, time.perf_counter() - started, rounds_used


def run(seed: int, stores: int, items: int) -> dict:
    data = generate(GeneratorConfig(seed=seed, stores=stores, items=items))
    panel, reference = data.panel, data.reference
    cutoff = panel.end - np.timedelta64(HORIZON, "D")
    print(f"seed {seed}: {panel.n_series} series, cutoff {cutoff.date()}", flush=True)
    result = run_backtest(panel, reference, cutoff, HORIZON)
    weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())
    ahead = result.targets["horizon"].to_numpy()
    per_h, seconds, rounds = _per_horizon_forecast(result, reference)
    best_baseline = min(result.report["baselines"].values())
    per_h_scores = nwrmsle_by_group(result.actual, per_h, weights, ahead)
    return {
        "seed": seed,
        "series": panel.n_series,
        "cutoff": str(cutoff.date()),
        "best_baseline": best_baseline,
        "global": {
            "nwrmsle": result.report["model"]["nwrmsle"],
            "per_horizon": result.report["per_horizon"],
            "train_seconds": result.report["train_seconds"],
            "models": 1,
        },
        "per_horizon_models": {
            "nwrmsle": nwrmsle(result.actual, per_h, weights),
            "per_horizon": {str(h): v for h, v in per_h_scores.items()},
            "train_seconds": round(seconds, 2),
            "models": HORIZON,
            "best_rounds": rounds,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "build/experiments/horizon_models.json")
    args = parser.parse_args(argv)
    runs = [run(seed, args.stores, args.items) for seed in args.seeds]
    print()
    print(
        f"{'seed':>4} {'best baseline':>14} {'global':>8} {'per-horizon':>12} {'global train s':>15} {'16 models train s':>18}"
    )
    for r in runs:
        print(
            f"{r['seed']:>4} {r['best_baseline']:>14.4f} {r['global']['nwrmsle']:>8.4f} "
            f"{r['per_horizon_models']['nwrmsle']:>12.4f} {r['global']['train_seconds']:>15.1f} "
            f"{r['per_horizon_models']['train_seconds']:>18.1f}"
        )
    wins = sum(r["per_horizon_models"]["nwrmsle"] < r["global"]["nwrmsle"] for r in runs)
    print(
        f"per-horizon models better on {wins} of {len(runs)} data sets; "
        f"mean NWRMSLE global {np.mean([r['global']['nwrmsle'] for r in runs]):.4f}, "
        f"per-horizon {np.mean([r['per_horizon_models']['nwrmsle'] for r in runs]):.4f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
