"""Forecast a generated test.csv, the whole store x item grid, on a partial assortment; score it by the answers.

A backtest scores the store-items of the sales file, so a store-item that never sells is never
scored there. A forecast request is for the grid (Kaggle's test.csv is all 54 stores x 3,901
items). This generates a hard set whose stores each carry only part of the items
(``GeneratorConfig.assortment``), trains on train.csv's history, forecasts every row of test.csv
and scores the forecast against the generator's answers (``future_sales``), overall and for the
store-items with and without a row in the history. ``--never-sold 0`` trains without the
never-sold pairs (``model.NEVER_SOLD_PER_SERIES``), as the model did before they were added.

    .venv/bin/python -m scripts.experiments.request_grid --items 200 --assortment 0.77 [--never-sold 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from grocery_forecast.forecasting import model as model_module
from grocery_forecast.forecasting.baselines import BASELINES
from grocery_forecast.forecasting.datagen import GeneratorConfig, generate
from grocery_forecast.forecasting.metrics import nwrmsle
from grocery_forecast.forecasting.model import ForecastModel


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stores", type=int, default=54)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--assortment", type=float, default=0.77, help="share of items a store carries")
    parser.add_argument(
        "--never-sold",
        type=float,
        default=model_module.NEVER_SOLD_PER_SERIES,
        help="never-sold pairs trained on per series (0: none, as before they were added)",
    )
    args = parser.parse_args()
    model_module.NEVER_SOLD_PER_SERIES = args.never_sold
    data = generate(
        GeneratorConfig(
            seed=args.seed,
            stores=args.stores,
            items=args.items,
            days=args.days,
            hard=True,
            assortment=args.assortment,
        )
    )
    panel, reference, origin = data.panel, data.reference, data.panel.end
    started = time.perf_counter()
    model = ForecastModel(params={"seed": args.seed}).fit(panel, reference)
    targets = data.test.assign(promo_known=True)
    forecasts = {"model": model.predict(panel, origin, targets, reference)}
    for name, baseline in BASELINES.items():
        forecasts[name] = baseline(panel, origin, targets)
    # test.csv is the grid in the panel's series order, day by day: the answers are future_sales.T.
    actual = data.future_sales.T.reshape(-1)
    weights = reference.perishable_weights(targets["item_nbr"].to_numpy())
    in_history = np.tile(panel.recorded, data.config.horizon)
    print(
        f"{args.stores} x {args.items} grid, assortment {args.assortment}: {int(in_history.sum()) // data.config.horizon:,} store-items "
        f"with history, {int((~in_history).sum()) // data.config.horizon:,} without; never-sold pairs per series {args.never_sold}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print("| test.csv rows | model | " + " | ".join(BASELINES) + " |")
    print("|---|---|" + "---|" * len(BASELINES))
    for label, chosen in (
        ("all", np.ones(len(actual), bool)),
        ("store-items with history", in_history),
        ("store-items without", ~in_history),
    ):
        scores = [
            nwrmsle(actual[chosen], forecasts[n][chosen], weights[chosen]) for n in ["model", *BASELINES]
        ]
        print(f"| {label} | " + " | ".join(f"{s:.4f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
