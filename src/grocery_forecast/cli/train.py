"""``grocery-forecast train``: fit the forecaster on a Kaggle train.csv and save the artifact.

Structured as small functions (read, fit, save) so a publish step (upload to the models bucket)
can be appended to :func:`train_command` without touching the rest.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from grocery_forecast.aws import model_store
from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import open_stack, say
from grocery_forecast.pipeline.manifest import peak_memory_mb

if TYPE_CHECKING:
    from grocery_forecast.forecasting.model import TrainConfig
    from grocery_forecast.forecasting.panel import SalesPanel

__all__ = ["PhaseClock", "add_training_arguments", "read_history", "read_sales", "register", "train_command"]


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``backtest`` (training-size knobs)."""
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="training rows sampled (series x origin x horizon); default 2,000,000",
    )
    parser.add_argument(
        "--max-origins",
        type=int,
        default=None,
        help="training origins, 8 days apart on a long history (default: 26)",
    )
    parser.add_argument("--seed", type=int, default=0, help="row sampling and LightGBM seed (default: 0)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train the LightGBM forecaster on a Kaggle train.csv and save model.txt + metadata.json",
        description="Train on sales history (Kaggle train.csv format, .csv or .csv.gz, with or without id). "
        "A real train.csv has 125 million rows: use --since to read only recent history.",
    )
    parser.add_argument(
        "--sales", type=Path, help="sales history (train.csv format); required unless --remote"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="directory with items.csv, stores.csv, holidays_events.csv; required unless --remote",
    )
    parser.add_argument("--out", type=Path, help="model directory to write; required unless --remote")
    parser.add_argument(
        "--remote",
        action="store_true",
        help="run the deployed stack's retraining workflow now (as its schedule does: history from "
        "DynamoDB, challenger gated against the model in service) and print its progress and outcome",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="with --remote: seconds to follow the run before giving up waiting (default: 1800)",
    )
    parser.add_argument("--since", default=None, help="first day of history to read (YYYY-MM-DD)")
    parser.add_argument("--until", default=None, help="last day of history to train on (YYYY-MM-DD)")
    parser.add_argument(
        "--horizon", type=int, default=16, help="days ahead to train for, 1..16 (default: 16)"
    )
    add_training_arguments(parser)
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also upload the model to the deployed stack's models bucket and put it in service",
    )
    parser.add_argument(
        "--env",
        choices=["local", "aws"],
        default="local",
        help="with --publish or --remote: which deployed stack (default: local)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.remote:
        from grocery_forecast.cli.retrain import remote_train

        return remote_train(open_stack(args), args.timeout)
    missing = [flag for flag in ("sales", "reference", "out") if getattr(args, flag) is None]
    if missing:
        raise CliError(
            f"train needs {', '.join('--' + m for m in missing)} (or --remote to train in the stack)"
        )
    if args.publish:
        stack = open_stack(args)  # before training: a missing stack should not cost a training run
        out = train_command(args)
        version = model_store.publish_model(stack.client("s3"), stack.models_bucket_name, out)
        say(
            f"published model {version} to s3://{stack.models_bucket_name}/models/{version}/ (now in service)"
        )
        return 0
    train_command(args)
    return 0


def _parse_day(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return str(pd.Timestamp(value).date())
    except ValueError:
        raise CliError(f"{flag} must be a date as YYYY-MM-DD, got {value!r}") from None


def read_sales(path: Path, since: str | None = None, until: str | None = None) -> pd.DataFrame:
    """:func:`grocery_forecast.forecasting.panel.read_sales` with its errors as :class:`CliError`."""
    from grocery_forecast.contract.cleaning import CsvContractError
    from grocery_forecast.forecasting.panel import read_sales as _read

    try:
        return _read(path, since, until, progress=True)
    except (CsvContractError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None


class PhaseClock:
    """Prints each phase's wall time and peak resident memory as it ends, for runs at Favorita's size.

    The peak of a phase is the resident high-water mark since the previous phase ended (Linux
    resets it through ``/proc/self/clear_refs``; elsewhere it is the process's peak so far), and
    the process's peak over all phases is printed beside it: the figure the machine must hold.
    """

    def __init__(self) -> None:
        from grocery_forecast.pipeline.manifest import reset_peak_memory

        reset_peak_memory()
        self.started = self.last = time.perf_counter()
        self.phases: dict[str, dict[str, float]] = {}
        #: The process's peak over every phase (``ru_maxrss`` is reset with the high-water mark).
        self.peak_mb = peak_memory_mb()

    def __call__(self, name: str) -> None:
        from grocery_forecast.pipeline.manifest import invocation_peak_memory_mb as phase_peak_mb
        from grocery_forecast.pipeline.manifest import reset_peak_memory

        now = time.perf_counter()
        peak = phase_peak_mb()
        self.peak_mb = max(self.peak_mb, peak)
        self.phases[name] = {"seconds": round(now - self.last, 1), "peak_memory_mb": peak}
        print(
            f"phase {name}: {now - self.last:.1f}s, peak {peak:,.0f} MB "
            f"(process peak {self.peak_mb:,.0f} MB, {now - self.started:.0f}s in all)",
            flush=True,
        )
        self.last = now
        reset_peak_memory()


def read_history(path: Path, since: str | None = None, until: str | None = None) -> SalesPanel:
    """:func:`grocery_forecast.forecasting.panel.read_panel` (streamed, bounded memory) with its errors
    as :class:`CliError`, printing its time and the process's peak memory so far."""
    from grocery_forecast.contract.cleaning import CsvContractError
    from grocery_forecast.forecasting.panel import read_panel

    started = time.perf_counter()
    try:
        panel = read_panel(path, since, until, progress=True)
    except (CsvContractError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"read {path} in {time.perf_counter() - started:.1f}s", flush=True)
    return panel


def _training_config(args: argparse.Namespace, horizon: int) -> TrainConfig:
    from grocery_forecast.forecasting.model import TrainConfig

    overrides = {"horizon": horizon, "seed": args.seed}
    if getattr(args, "max_rows", None):
        overrides["max_rows"] = args.max_rows
    if getattr(args, "max_origins", None):
        overrides["max_origins"] = args.max_origins
    try:
        return TrainConfig(**overrides)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def train_command(args: argparse.Namespace) -> Path:
    """Read, fit and save; returns the model directory (a publish step can follow)."""
    from grocery_forecast.contract.reference import Reference, ReferenceTableError
    from grocery_forecast.forecasting.model import ForecastModel

    since, until = _parse_day(args.since, "--since"), _parse_day(args.until, "--until")
    config = _training_config(args, args.horizon)
    try:
        reference = Reference.from_dir(args.reference)
    except ReferenceTableError as exc:
        raise CliError(str(exc)) from None
    clock = PhaseClock()
    panel = read_history(args.sales, since, until)
    clock("read")
    print(
        f"history: {panel.n_series:,} series, {panel.start.date()}..{panel.end.date()} ({panel.n_days} days)"
    )
    started = time.perf_counter()
    try:
        model = ForecastModel(config=config, params={"seed": args.seed}).fit(panel, reference, progress=True)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    clock("train")
    out = model.save(args.out)
    meta = model.metadata
    valid = meta["validation"].get("nwrmsle")
    print(
        f"trained model {meta['version']} in {time.perf_counter() - started:.1f}s: "
        f"{meta['training_window']['rows']:,} rows, {meta['num_boost_round']} rounds"
        + (f", validation NWRMSLE {valid:.4f}" if valid is not None else "")
    )
    print(f"saved {out / 'model.txt'} and {out / 'metadata.json'}")
    print(f"peak memory {max(clock.peak_mb, peak_memory_mb()):,.0f} MB")
    return out
