"""Shared fixtures of the unit tests: no network, tiny hand-made data and one small trained model."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws import model_store
from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.aws.s3io import put_csv
from grocery_forecast.contract.reference import Reference
from grocery_forecast.contract.runs import reference_key
from grocery_forecast.forecasting.datagen import GeneratedData, GeneratorConfig, generate
from grocery_forecast.forecasting.model import ForecastModel, TrainConfig
from grocery_forecast.forecasting.panel import SalesPanel

from .fakes import FakeDynamo, FakeS3

#: Real Favorita reference tables, beside the project (CI points FAVORITA_DIR at them).
FAVORITA_DIR = Path(
    os.environ.get("FAVORITA_DIR", Path(__file__).resolve().parents[3] / "shared/data/favorita")
)

#: Small and fast training settings for tests.
FAST_CONFIG = TrainConfig(max_origins=10, num_boost_round=300, early_stopping_rounds=20, max_rows=60_000)
FAST_PARAMS = {"learning_rate": 0.15, "num_leaves": 15, "min_data_in_leaf": 50}


class NetworkBlocked(RuntimeError):
    """A unit test tried to reach the network: use the fakes in tests/unit/fakes.py."""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests run with socket connections disabled, so a forgotten real AWS client fails loudly
    instead of reaching an emulator or AWS."""

    def refuse(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> None:
        raise NetworkBlocked(f"unit tests may not open network connections (to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))  # type: ignore[arg-type]


def tiny_reference() -> Reference:
    """Two stores in different cities, three items (one perishable), one local holiday."""
    return Reference.from_frames(
        {
            "items": pd.DataFrame(
                {
                    "item_nbr": [10, 20, 30],
                    "family": ["GROCERY I", "PRODUCE", "BEVERAGES"],
                    "class": [1002, 2002, 1114],
                    "perishable": [0, 1, 0],
                }
            ),
            "stores": pd.DataFrame(
                {
                    "store_nbr": [1, 2],
                    "city": ["Quito", "Cuenca"],
                    "state": ["Pichincha", "Azuay"],
                    "type": ["A", "D"],
                    "cluster": [5, 2],
                }
            ),
            "holidays_events": pd.DataFrame(
                {
                    "date": ["2017-03-02", "2017-03-03"],
                    "type": ["Holiday", "Holiday"],
                    "locale": ["National", "Local"],
                    "locale_name": ["Ecuador", "Cuenca"],
                    "description": ["Carnaval", "Fundacion de Cuenca"],
                    "transferred": ["False", "False"],
                }
            ),
        }
    )


def tiny_panel(days: int = 60, start: str = "2017-01-01", seed: int = 0) -> SalesPanel:
    """Three series: (1, 10) sells daily, (1, 20) every third day, (2, 10) half the days."""
    rng = np.random.default_rng(seed)
    sales = np.full((3, days), np.nan, dtype=np.float32)
    sales[0] = rng.integers(1, 9, size=days)
    sales[1, ::3] = rng.integers(1, 4, size=len(range(0, days, 3)))
    half = rng.random(days) < 0.5
    sales[2, half] = rng.integers(1, 20, size=int(half.sum()))
    promo = np.zeros((3, days), dtype=np.int8)
    promo[0, days - 10 : days - 7] = 1
    return SalesPanel(
        pd.Timestamp(start),
        np.array([1, 1, 2], dtype=np.int32),
        np.array([10, 20, 10], dtype=np.int64),
        sales,
        promo,
    )


@pytest.fixture(scope="session")
def generated() -> GeneratedData:
    """A small generated data set (6 stores x 30 items x 250 days)."""
    return generate(GeneratorConfig(seed=7, stores=6, items=30, days=250, start="2016-12-01"))


@pytest.fixture(scope="session")
def trained(generated: GeneratedData) -> ForecastModel:
    """A small model trained on ``generated`` up to its last day."""
    return ForecastModel(config=FAST_CONFIG, params=FAST_PARAMS).fit(generated.panel, generated.reference)


@dataclass
class Deployed:
    """The buckets and history table of a deployed stack, in memory, with a model in service."""

    s3: FakeS3
    store: DynamoHistoryStore
    data: GeneratedData
    version: str
    raw: str = "raw"
    processed: str = "processed"
    models: str = "models"
    output: str = "output"


@pytest.fixture(scope="session")
def saved_model(trained: ForecastModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained.save(tmp_path_factory.mktemp("model"))


@pytest.fixture
def deployed(generated: GeneratedData, saved_model: Path) -> Deployed:
    """``generated``'s last 90 days in history, its reference tables uploaded, ``trained`` in service."""
    s3 = FakeS3()
    store = DynamoHistoryStore(FakeDynamo(), "history", max_workers=1, sleep=lambda s: None)
    recent = generated.train[generated.train["date"] > generated.train["date"].max() - pd.Timedelta(days=90)]
    store.upsert(recent.drop(columns=["id"]))
    for name in ("items", "stores", "holidays_events"):
        put_csv(s3, "processed", reference_key(name), getattr(generated, name))
    version = model_store.publish_model(s3, "models", saved_model)
    return Deployed(s3, store, generated, version)
