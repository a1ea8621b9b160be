"""What serving pays when its pooled features see fewer series than training's.

Training pools every series with a record in the lookback (features.py). The prediction step
reads only the series of the uploaded file, so unless it is handed the sums over the whole
history (``build_features(..., pooled=...)``) its item, store, class and family levels are
averaged over that file's series. This scores one backtested model on the days after the
cutoff three ways, on the same rows:

* ``whole``: pooled over the whole panel, as training built them;
* ``daily_upload``: the series with a row on the cutoff day only (a Favorita daily file), pooled
  over themselves;
* ``one_store``: each store's series with a row on the cutoff day, pooled over that store's alone
  (a chain whose stores upload their own files).

    .venv/bin/grocery-forecast backtest ... --save-model DIR
    .venv/bin/python -m scripts.experiments.pool_parity --data DIR_WITH_CSV --model DIR --cutoff 2017-07-30
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from grocery_forecast.contract.reference import Reference
from grocery_forecast.forecasting.features import pooled_sums
from grocery_forecast.forecasting.metrics import nwrmsle
from grocery_forecast.forecasting.model import ForecastModel
from grocery_forecast.forecasting.panel import SalesPanel, read_panel

HORIZON = 16


def _targets(panel: SalesPanel, rows: np.ndarray, cutoff: pd.Timestamp) -> pd.DataFrame:
    days = pd.date_range(cutoff + pd.Timedelta(days=1), periods=HORIZON)
    cols = np.array([panel.day_index(d) for d in days])
    return pd.DataFrame(
        {
            "store_nbr": np.repeat(panel.stores[rows].astype(np.int64), HORIZON),
            "item_nbr": np.repeat(panel.items[rows], HORIZON),
            "date": np.tile(days.to_numpy(), len(rows)),
            "onpromotion": panel.promo[np.ix_(rows, cols)].reshape(-1).astype(bool),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cutoff", required=True)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cutoff = pd.Timestamp(args.cutoff)
    reference = Reference.from_dir(args.data)
    until = str((cutoff + pd.Timedelta(days=HORIZON)).date())
    panel = read_panel(args.data / "train.csv", None, until)
    model = ForecastModel.load(args.model)
    history = panel.window(panel.start, cutoff)
    today = np.flatnonzero(~np.isnan(panel.sales[:, panel.day_index(cutoff)]))
    targets = _targets(panel, today, cutoff)
    days = np.array([panel.day_index(cutoff + pd.Timedelta(days=h)) for h in range(1, HORIZON + 1)])
    actual = panel.sales_filled()[np.ix_(today, days)].reshape(-1).astype(np.float64)
    weights = reference.perishable_weights(targets["item_nbr"].to_numpy())
    whole_sums = pooled_sums(history, cutoff, model.spec, reference)
    scores: dict[str, float] = {}
    scores["whole"] = nwrmsle(
        actual, model.predict(history.take(today), cutoff, targets, reference, pooled=whole_sums), weights
    )
    daily = history.take(today)
    scores["daily_upload"] = nwrmsle(actual, model.predict(daily, cutoff, targets, reference), weights)
    per_store = np.zeros(len(targets))
    stores = panel.stores[today]
    for store in np.unique(stores):
        mine = np.flatnonzero(stores == store)
        rows = (mine[:, None] * HORIZON + np.arange(HORIZON)[None, :]).reshape(-1)
        sub = history.take(today[mine])
        per_store[rows] = model.predict(sub, cutoff, targets.iloc[rows], reference)
    scores["one_store"] = nwrmsle(actual, per_store, weights)
    report = {
        "series_with_a_row_on_the_cutoff_day": len(today),
        "series": panel.n_series,
        "rows": len(targets),
        "nwrmsle": scores,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
