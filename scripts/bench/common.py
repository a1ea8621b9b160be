"""Shared pieces of the benchmarks: emulator clients, scratch tables, synthetic rows, a result log."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd

from grocery_forecast.aws.clients import client_config

ROOT = Path(__file__).resolve().parents[2]
#: The emulator `make bench` started: EMULATOR_PORT, as the Makefile and scripts/emulator.py read it.
ENDPOINT = f"http://localhost:{os.environ.get('EMULATOR_PORT', '4566')}"
#: Store numbers the benchmarks write into the local stack: far from any real or sample store.
BENCH_STORE_BASE = 1000


def client(service: str, endpoint: str = ENDPOINT) -> Any:
    """The same client settings the Lambdas use (see ``grocery_forecast.aws.clients``)."""
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(service, endpoint_url=endpoint, config=client_config(service, max_pool_connections=32))


@contextmanager
def scratch_table(db: Any, name: str):
    """A fresh table with the history table's key schema, deleted afterwards."""
    with suppress(db.exceptions.ResourceNotFoundException):
        db.delete_table(TableName=name)
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "series", "KeyType": "HASH"},
            {"AttributeName": "bucket", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "series", "AttributeType": "S"},
            {"AttributeName": "bucket", "AttributeType": "S"},
        ],
    )
    try:
        yield name
    finally:
        db.delete_table(TableName=name)


def actuals(
    n_series: int,
    days: pd.DatetimeIndex,
    seed: int = 0,
    store_base: int = BENCH_STORE_BASE,
    items_per_store: int = 2000,
) -> pd.DataFrame:
    """Favorita-shaped rows: ``n_series`` store-items x ``days``, integer and fractional sales, some promos."""
    rng = np.random.default_rng(seed)
    series = np.arange(n_series)
    stores = store_base + series // items_per_store + 1
    items = 100_000 + series % items_per_store
    n = n_series * len(days)
    sales = rng.poisson(4.0, n).astype(np.float64)
    kilos = rng.random(n) < 0.1
    sales[kilos] = np.round(sales[kilos] * rng.random(kilos.sum()) * 1.7, 3)
    return pd.DataFrame(
        {
            "date": np.repeat(days.to_numpy(), n_series),
            "store_nbr": np.tile(stores, len(days)).astype(np.int32),
            "item_nbr": np.tile(items, len(days)).astype(np.int64),
            "unit_sales": sales,
            "onpromotion": rng.random(n) < 0.08,
        }
    )


def write_actuals_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


@dataclass
class Results:
    """Figures as they are measured: printed one per line, collected for the JSON report."""

    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float | int | str, unit: str = "", note: str = "") -> None:
        self.figures[name] = {"value": value, "unit": unit, **({"note": note} if note else {})}
        shown = (
            f"{value:,.2f}"
            if isinstance(value, float)
            else (f"{value:,}" if isinstance(value, int) else value)
        )
        print(f"{name}: {shown}{(' ' + unit) if unit else ''}{('   # ' + note) if note else ''}", flush=True)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "figures": self.figures},
                indent=2,
            )
        )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out
