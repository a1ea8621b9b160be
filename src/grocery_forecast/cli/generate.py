"""``grocery-forecast generate``: write a Favorita-shaped data set, deterministic by seed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from grocery_forecast.cli import CliError

__all__ = ["generate_command", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` subcommand."""
    parser = subparsers.add_parser(
        "generate",
        help="write synthetic Favorita-format data (train.csv, test.csv, items/stores/holidays_events.csv)",
        description="Write a deterministic Favorita-shaped data set: dense daily series with weekly "
        "seasonality, promotions, perishables, holidays, intermittent items, returns and kilos.",
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to write the CSV files into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--stores", type=int, default=10, help="number of stores (default: 10)")
    parser.add_argument("--items", type=int, default=50, help="number of items (default: 50)")
    parser.add_argument("--start", default="2016-08-16", help="first day of train.csv (default: 2016-08-16)")
    parser.add_argument("--days", type=int, default=365, help="days in train.csv (default: 365)")
    parser.add_argument(
        "--horizon", type=int, default=16, help="days in test.csv after train.csv (default: 16)"
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="draw stores, items and holidays from these real reference tables instead of inventing them",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files of the same names already in --out"
    )
    parser.add_argument(
        "--hard",
        action="store_true",
        help="add promotion dips, cannibalisation within a family, drifting weekday profiles, store-specific "
        "holiday effects, long zero runs for slow movers and store closures (default: off, as the sample data)",
    )
    parser.add_argument(
        "--assortment",
        type=float,
        default=1.0,
        help="share of the items each store carries; the rest never sell there, but test.csv asks for every "
        "store x item, as Kaggle's does (default: 1.0, every item everywhere)",
    )
    parser.set_defaults(func=_run)


#: The files ``generate`` writes into --out (see grocery_forecast.forecasting.datagen.write_dataset).
OUTPUT_FILES = ("train.csv", "test.csv", "items.csv", "stores.csv", "holidays_events.csv")


def _refuse_overwrite(out: Path) -> None:
    existing = [name for name in OUTPUT_FILES if (Path(out) / name).exists()]
    if existing:
        raise CliError(
            f"{out} already holds {', '.join(existing)}: not overwritten (it may be your own data, such as "
            "Kaggle's train.csv). Choose another --out, or pass --force to replace them."
        )


def _run(args: argparse.Namespace) -> int:
    generate_command(args)
    return 0


def generate_command(args: argparse.Namespace) -> Path:
    """Generate and write the data set; returns the output directory."""
    from tqdm.auto import tqdm

    if not getattr(args, "force", False):
        _refuse_overwrite(args.out)

    from grocery_forecast.contract.reference import Reference, ReferenceTableError
    from grocery_forecast.forecasting.datagen import GeneratorConfig, generate, write_dataset

    try:
        config = GeneratorConfig(
            seed=args.seed,
            stores=args.stores,
            items=args.items,
            start=args.start,
            days=args.days,
            horizon=args.horizon,
            hard=args.hard,
            assortment=getattr(args, "assortment", 1.0),
        )
        reference = Reference.from_dir(args.reference) if args.reference else None
    except (ValueError, ReferenceTableError) as exc:
        raise CliError(str(exc)) from None
    started = time.perf_counter()
    n_stores = min(config.stores, len(reference.stores)) if reference else config.stores
    with tqdm(total=n_stores, desc="generating", unit="store") as bar:
        data = generate(config, reference=reference, progress=bar.update)
    with tqdm(total=data.train_rows, desc="writing train.csv", unit="row", unit_scale=True) as bar:
        paths = write_dataset(args.out, data, progress=bar.update)
    print(
        f"wrote {data.train_rows:,} sales rows ({int(data.panel.recorded.sum()):,} series, "
        f"{data.panel.start.date()}..{data.panel.end.date()}) and {len(data.test):,} test rows "
        f"to {args.out} in {time.perf_counter() - started:.1f}s"
    )
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return Path(args.out)
