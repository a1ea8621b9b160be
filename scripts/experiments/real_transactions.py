"""Backtest the model on the one real daily series this repository can read: Favorita's store transactions.

``train_sample.csv`` holds 1.5 rows per store-item, so no real item series fills a window. The
competition's ``transactions.csv`` does: every store's receipts per day from 2013 to 2017-08-15,
with the real weekday patterns, paydays, holidays (the 10-11 August 2017 holiday falls in the
scored window), closures and openings. Each store's transactions become the sales of one item
(``item_nbr`` 1, class 1000, not perishable) in a train.csv-shaped file, and ``run_backtest`` scores
the model against every baseline on a long history and on short ones, as issue 14 asks.

Only 54 series: a check that the model holds up on real dynamics, not a tuning set; store
transactions are smoother than one item's sales, which favours the weekday baselines.

    .venv/bin/python -m scripts.experiments.real_transactions --favorita ../shared/data/favorita
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.backtest import run_backtest
from grocery_forecast.forecasting.panel import SalesPanel, read_sales

CUTOFF = "2017-07-30"
#: First day of history read: a year, three weeks and two weeks before the cutoff.
HISTORIES = {"a year": "2016-07-31", "21 days": "2017-07-10", "14 days": "2017-07-17"}


def transactions_as_sales(favorita: Path, out: Path) -> Path:
    """Write ``transactions.csv`` as a train.csv of one item per store, with its reference tables."""
    tx = pd.read_csv(favorita / "transactions.csv")
    sales = pd.DataFrame(
        {
            "id": range(len(tx)),
            "date": tx["date"],
            "store_nbr": tx["store_nbr"],
            "item_nbr": 1,
            "unit_sales": tx["transactions"].astype(float),
            "onpromotion": False,
        }
    )
    sales.to_csv(out / "train.csv", index=False)
    pd.DataFrame({"item_nbr": [1], "family": ["GROCERY I"], "class": [1000], "perishable": [0]}).to_csv(
        out / "items.csv", index=False
    )
    for name in ("stores.csv", "holidays_events.csv"):
        shutil.copy(favorita / name, out / name)
    return out / "train.csv"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--favorita", type=Path, default=Path("../shared/data/favorita"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        train = transactions_as_sales(args.favorita, Path(tmp))
        reference = Reference.from_dir(tmp)
        print(
            "| history | model | best baseline | margin | horizons at or below it | dow_mean | moving_median_dow |"
        )
        print("|---|---|---|---|---|---|---|")
        for label, since in HISTORIES.items():
            panel = SalesPanel.from_frame(read_sales(train, since=since, until="2017-08-15"))
            report = run_backtest(panel, reference, CUTOFF, 16).report
            best = report["best_baseline"]
            margins = report["improvement_vs_best_baseline_per_horizon"].values()
            print(
                f"| {label} | {report['model']['nwrmsle']:.4f} | {best} {report['baselines'][best]:.4f} "
                f"| {report['improvement_vs_best_baseline']:.1%} | {sum(m >= 0 for m in margins)} of 16 "
                f"| {report['baselines']['dow_mean']:.4f} | {report['baselines']['moving_median_dow']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
