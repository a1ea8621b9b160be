"""Backtest on real Favorita rows spread over a short calendar: a sparse assortment and slow movers.

``train_sample.csv`` is 100,000 real rows of ``train.csv`` (real stores and items, returns, kilos,
promotions missing before 2014) but only 1.5 rows per store-item, so it holds no series to
forecast. What it does hold is a real assortment: about 68,000 of the 54 x 4,100 store-items, the
rest never sold. Placed on random days of a 37-day calendar (21 days of history, 16 scored; seed
fixed), every store-item sells once or twice: the extreme of the slow movers, and a third of the
scored store-items have no history at all, as on a real short history where many store-items
did not sell in the weeks seen.

It is not a test of forecasting skill (the days are random, the best forecast is how often a
store-item sells), but of the forecast for store-items without history: before the model was
trained on the store-items that never sold (``model._never_sold_pairs``) it forecast them at a
seller's level, 76% worse than zeros overall. Prints the backtest per group of history length.

    .venv/bin/python -m scripts.experiments.real_sparse --favorita ../shared/data/favorita
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.metrics import nwrmsle
from grocery_forecast.forecasting.panel import SalesPanel, read_sales

FIRST_DAY = "2017-07-10"
CUTOFF = "2017-07-30"
DAYS = 37
#: Store-items by the number of days with a row up to the cutoff.
GROUPS = {"no history": (0, 0), "1 day": (1, 1), "2-3 days": (2, 3), "4+ days": (4, 10**6)}


def spread_over_calendar(favorita: Path, out: Path, seed: int) -> Path:
    """Write ``train_sample.csv``'s rows on random days of the calendar as a train.csv."""
    rows = pd.read_csv(favorita / "train_sample.csv")
    days = pd.date_range(FIRST_DAY, periods=DAYS)
    rows["date"] = days[np.random.default_rng(seed).integers(0, DAYS, len(rows))].strftime("%Y-%m-%d")
    rows = rows.drop_duplicates(["date", "store_nbr", "item_nbr"]).sort_values("date", kind="stable")
    rows.insert(0, "id", range(len(rows)))
    rows.to_csv(out / "train.csv", index=False)
    return out / "train.csv"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--favorita", type=Path, default=Path("../shared/data/favorita"))
    parser.add_argument("--seed", type=int, default=0, help="calendar seed")
    args = parser.parse_args()
    reference = Reference.from_dir(args.favorita)
    with tempfile.TemporaryDirectory() as tmp:
        panel = SalesPanel.from_frame(read_sales(spread_over_calendar(args.favorita, Path(tmp), args.seed)))
    result = run_backtest(panel, reference, CUTOFF, 16)
    report = result.report
    print(f"{report['series']:,} store-items x {report['horizon_evaluated']} days, cutoff {CUTOFF}")
    history_days = (~np.isnan(result.history.sales)).sum(axis=1)
    per_row = np.repeat(history_days, report["horizon_evaluated"])
    weights = reference.perishable_weights(result.targets["item_nbr"].to_numpy())
    names = ["model", *report["baselines"]]
    print("| store-items | count | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    groups = {"all": (0, 10**6), **GROUPS}
    for label, (lo, hi) in groups.items():
        chosen = (per_row >= lo) & (per_row <= hi)
        scores = [nwrmsle(result.actual[chosen], result.forecasts[n][chosen], weights[chosen]) for n in names]
        count = int(((history_days >= lo) & (history_days <= hi)).sum())
        print(f"| {label} | {count:,} | " + " | ".join(f"{s:.4f}" for s in scores) + " |")
    print(
        f"best baseline {report['best_baseline']}: model {report['improvement_vs_best_baseline']:.1%} below, "
        f"worst horizon ratio {report['worst_horizon_ratio_to_best_baseline']:.3f}"
    )


if __name__ == "__main__":
    main()
