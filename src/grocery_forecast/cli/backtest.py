"""``grocery-forecast backtest``: train up to a cutoff and score the next days against baselines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from grocery_forecast.cli import CliError
from grocery_forecast.cli.train import (
    PhaseClock,
    _parse_day,
    _training_config,
    add_training_arguments,
    read_history,
)
from grocery_forecast.pipeline.manifest import peak_memory_mb

__all__ = ["backtest_command", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand."""
    parser = subparsers.add_parser(
        "backtest",
        help="train up to --cutoff, forecast the next --horizon days, score NWRMSLE vs baselines",
        description="Backtest on Kaggle-format files: train on history up to and including the cutoff, "
        "forecast every store-item in the sales file for the following days (absent rows count as zero "
        "sales) and score Favorita's NWRMSLE for the model and the zeros, last_value, dow_mean, moving_median and "
        "moving_median_dow baselines. A history under two weeks is forecast with moving_median (the report says so).",
    )
    parser.add_argument("--sales", required=True, type=Path, help="sales (train.csv format, .csv or .csv.gz)")
    parser.add_argument(
        "--reference",
        required=True,
        type=Path,
        help="directory with items.csv, stores.csv, holidays_events.csv",
    )
    parser.add_argument("--cutoff", required=True, help="last day of training history (YYYY-MM-DD)")
    parser.add_argument(
        "--horizon", type=int, default=16, help="days after the cutoff to score, 1..16 (default: 16)"
    )
    parser.add_argument("--report", required=True, type=Path, help="JSON report to write")
    parser.add_argument(
        "--plot", type=Path, default=None, help="PNG: forecast vs actual and NWRMSLE by horizon"
    )
    parser.add_argument(
        "--since",
        default=None,
        help="first day of history to read (YYYY-MM-DD); use it on the 125-million-row train.csv",
    )
    parser.add_argument(
        "--save-model",
        type=Path,
        default=None,
        help="also save the backtested model (with its backtest metrics) to this directory",
    )
    parser.add_argument(
        "--promo-unknown",
        action="store_true",
        help="forecast without the target days' promotions, as for a sales upload (default: known, as for a request)",
    )
    add_training_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    backtest_command(args)
    return 0


def backtest_command(args: argparse.Namespace) -> dict:
    """Run the backtest, write the report (and plot); returns the report."""
    from grocery_forecast.contract.reference import Reference, ReferenceTableError
    from grocery_forecast.forecasting.backtest import run_backtest
    from grocery_forecast.forecasting.plots import plot_backtest

    cutoff = _parse_day(args.cutoff, "--cutoff")
    since = _parse_day(args.since, "--since")
    config = _training_config(args, args.horizon)
    if since and cutoff and since > cutoff:
        raise CliError(f"--since {since} is after --cutoff {cutoff}: there would be no training history")
    try:
        reference = Reference.from_dir(args.reference)
    except ReferenceTableError as exc:
        raise CliError(str(exc)) from None
    until = str((pd.Timestamp(cutoff) + pd.Timedelta(days=args.horizon)).date())
    # The panel starts at the first day with data: days before it are unknown, not zero sales.
    clock = PhaseClock()
    panel = read_history(args.sales, since, until)
    clock("read")
    if panel.end <= pd.Timestamp(cutoff):
        raise CliError(
            f"{args.sales}: no sales after the cutoff {cutoff} (data ends {panel.end.date()}); nothing to score"
        )
    if panel.start > pd.Timestamp(cutoff):
        raise CliError(f"{args.sales}: no sales on or before the cutoff {cutoff}; nothing to train on")
    print(
        f"history: {panel.n_series:,} series, {panel.start.date()}..{cutoff}; scoring up to {panel.end.date()}"
    )
    try:
        result = run_backtest(
            panel,
            reference,
            cutoff,
            args.horizon,
            config=config,
            params={"seed": args.seed},
            progress=True,
            promo_known=not args.promo_unknown,
            on_phase=clock,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    report = result.report
    report["phases"] = clock.phases
    report["peak_memory_mb"] = clock.peak_mb
    if report["horizon_evaluated"] < args.horizon:
        print(
            f"warning: the sales data ends {panel.end.date()}: scored horizons 1..{report['horizon_evaluated']} "
            f"of {args.horizon}",
            file=sys.stderr,
        )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot_backtest(result, args.plot)
    if args.save_model and result.model is not None:
        result.model.save(args.save_model)
    _print_summary(report)
    print(
        f"report: {args.report}"
        + (f"; plot: {args.plot}" if args.plot else "")
        + (f"; model: {args.save_model}" if args.save_model and result.model is not None else "")
    )
    return report


def _print_summary(report: dict) -> None:
    best = report["best_baseline"]
    if report.get("fallback"):
        print(f"FALLBACK: {report['fallback']}")
    print(
        f"NWRMSLE over {report['rows']:,} rows ({report['series']:,} series x {report['horizon_evaluated']} days):"
    )
    print(
        f"  model             {report['model']['nwrmsle']:.4f}   ({100 * report['improvement_vs_best_baseline']:.1f}% below {best})"
    )
    for name, value in report["baselines"].items():
        print(f"  {name:<17} {value:.4f}")
    print("  per horizon (model / best baseline there):")
    for h, value in report["per_horizon"].items():
        floor = report["best_baseline_per_horizon"][h]
        print(f"    {int(h):>2}: {value:.4f} / {floor['nwrmsle']:.4f} {floor['name']}")
    print(
        f"  train {report['train_seconds']:.1f}s, predict {report['predict_seconds']:.2f}s, "
        f"peak memory {report.get('peak_memory_mb') or peak_memory_mb():,.0f} MB"
    )
