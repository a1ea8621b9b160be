"""``grocery-forecast accuracy``: how good the served forecasts were, once their actuals arrived.

Reads the monitor's records (``accuracy/days/<day>/<run>.json`` in the output bucket) and prints
NWRMSLE per model version x horizon and per day, next to the moving_median and dow_mean baselines
computed as of the same origins, with the ratio to the best of them (above 1: worse than it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from grocery_forecast.cli._common import add_env_argument, open_stack, say

_FLOATS = ("model", "moving_median", "dow_mean", "ratio")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "accuracy",
        help="realized accuracy of the served forecasts: NWRMSLE per model version x horizon and per day",
        description=(
            "Realized accuracy: the forecasts the stack served, scored once the actuals of their days "
            "arrived, per model version x horizon and per day, next to the moving_median and dow_mean "
            "baselines as of the same origins."
        ),
    )
    add_env_argument(parser)
    parser.add_argument("--since", help="first target day (YYYY-MM-DD) to include")
    parser.add_argument("--until", help="last target day (YYYY-MM-DD) to include")
    parser.add_argument("--plot", type=Path, default=None, help="PNG: NWRMSLE by horizon and by day")
    parser.add_argument("--json", action="store_true", help="print both tables and the streak as JSON")
    parser.set_defaults(func=run)


def _print(table: pd.DataFrame, keys: list[str]) -> None:
    shown = table.copy()
    for column in _FLOATS:
        shown[column] = shown[column].map(lambda v: f"{v:.4f}")
    print(shown[[*keys, "runs", "rows", *_FLOATS, "best_baseline"]].to_string(index=False))


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.forecasting.accuracy import summarize, worse_than_baseline_streak
    from grocery_forecast.pipeline.accuracy import load_scores

    stack = open_stack(args)
    scores = load_scores(stack.client("s3"), stack.output_bucket_name, since=args.since, until=args.until)
    by_horizon = summarize(scores, ["model_version", "horizon"])
    by_day = summarize(scores, ["date"])
    streak = worse_than_baseline_streak(scores)
    if args.json:
        print(
            json.dumps(
                {
                    "by_model_version_and_horizon": by_horizon.to_dict(orient="records"),
                    "by_day": by_day.to_dict(orient="records"),
                    "overall": summarize(scores, ["model_version"]).to_dict(orient="records"),
                    "days_worse_than_baseline": streak,
                },
                indent=2,
                default=str,
            )
        )
    elif not scores:
        say(
            "no realized accuracy yet: it is scored when actuals arrive for days that were forecast "
            "(upload the next days' sales after a forecast)"
        )
        return 0
    else:
        print("Realized accuracy per model version x horizon (NWRMSLE; ratio = model / best baseline):")
        _print(by_horizon, ["model_version", "horizon"])
        print()
        print("Per day (every run and horizon of the day pooled):")
        _print(by_day, ["date"])
        print()
        overall = summarize(scores, ["model_version"])
        for row in overall.itertuples(index=False):
            print(
                f"model {row.model_version}: {row.model:.4f} over {row.rows} rows of {row.runs} run(s); "
                f"best baseline {row.best_baseline} {min(row.moving_median, row.dow_mean):.4f} (ratio {row.ratio:.3f})"
            )
        print(f"days in a row worse than the best baseline, up to {by_day['date'].max()}: {streak}")
    if args.plot and scores:
        from grocery_forecast.forecasting.plots import plot_accuracy

        plot_accuracy(by_horizon, by_day, args.plot, title=f"{stack.output_bucket_name}: realized accuracy")
        say(f"plot: {args.plot}")
    return 0
