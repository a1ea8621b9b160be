"""The DynamoDB history store: encoding, merging, retries and the writer lease, on a fake client."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grocery_forecast.aws.history import (
    SLOTS,
    DynamoHistoryStore,
    HistoryLockTimeout,
    decode_bucket,
    encode_bucket,
)

from .fakes import FakeDynamo

TABLE = "history"


def _store(client: FakeDynamo | None = None) -> DynamoHistoryStore:
    return DynamoHistoryStore(client or FakeDynamo(), TABLE, max_workers=2, sleep=lambda s: None)


def _frame(rows: list[tuple[str, int, int, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "store_nbr", "item_nbr", "unit_sales", "onpromotion"]).assign(
        date=lambda f: pd.to_datetime(f["date"])
    )


def test_bucket_encoding_round_trips_sales_and_promo() -> None:
    sales = np.full(SLOTS, np.nan, dtype=np.float32)
    sales[[0, 100, 365]] = [1.5, -2.0, 599.391]
    promo = np.zeros(SLOTS, dtype=np.int8)
    promo[100] = 1
    attrs = encode_bucket(sales, promo)
    assert attrs["days"] == {"N": "3"}
    back_sales, back_promo = decode_bucket(attrs)
    np.testing.assert_array_equal(back_sales, sales)
    np.testing.assert_array_equal(back_promo, promo)


def test_upsert_then_read_returns_the_values_and_nan_for_days_without_rows() -> None:
    store = _store()
    store.upsert(
        _frame(
            [
                ("2017-08-14", 1, 10, 3.0, True),
                ("2017-08-15", 1, 10, 4.5, False),
                ("2017-08-15", 2, 10, -1.0, False),
            ]
        )
    )
    panel = store.read_panel([1, 2, 3], [10, 10, 10], "2017-08-13", "2017-08-15")
    assert panel.start == pd.Timestamp("2017-08-13") and panel.n_days == 3
    rows = panel.index_of([1, 2, 3], [10, 10, 10])
    np.testing.assert_array_equal(panel.sales[rows[0]], [np.nan, 3.0, 4.5])
    np.testing.assert_array_equal(panel.promo[rows[0]], [0, 1, 0])
    np.testing.assert_array_equal(panel.sales[rows[1]], [np.nan, np.nan, -1.0])
    assert np.isnan(panel.sales[rows[2]]).all(), "a series with no history reads as all no-row days"
    assert store.date_range() == (pd.Timestamp("2017-08-14"), pd.Timestamp("2017-08-15"))


def test_a_later_upload_keeps_earlier_days_and_replaces_only_its_own() -> None:
    store = _store()
    store.upsert(_frame([("2017-03-01", 1, 10, 1.0, False), ("2017-03-02", 1, 10, 2.0, False)]))
    stats = store.upsert(_frame([("2017-03-02", 1, 10, 20.0, True), ("2017-03-03", 1, 10, 3.0, False)]))
    assert stats.buckets_existing == 1
    panel = store.read_panel([1], [10], "2017-03-01", "2017-03-03")
    np.testing.assert_array_equal(panel.sales[0], [1.0, 20.0, 3.0])
    np.testing.assert_array_equal(panel.promo[0], [0, 1, 0])


def test_the_same_upload_twice_stores_identical_bytes() -> None:
    client = FakeDynamo()
    store = _store(client)
    frame = _frame([("2017-03-01", 1, 10, 1.25, True), ("2017-03-01", 4, 99, 7.0, False)])
    store.upsert(frame)
    first = {k: dict(v) for k, v in client.tables[TABLE].items() if not k[0].startswith("__")}
    store.upsert(frame)
    second = {k: dict(v) for k, v in client.tables[TABLE].items() if not k[0].startswith("__")}
    assert first == second


def test_history_spanning_new_year_is_read_back_in_calendar_order() -> None:
    store = _store()
    # 2016 is a leap year: its bucket has 366 used slots, 2017's only 365.
    store.upsert(
        _frame(
            [
                ("2016-12-31", 1, 10, 1.0, False),
                ("2017-01-01", 1, 10, 2.0, False),
                ("2016-02-29", 1, 10, 9.0, False),
            ]
        )
    )
    panel = store.read_panel([1], [10], "2016-02-28", "2017-01-01")
    assert panel.n_days == (pd.Timestamp("2017-01-01") - pd.Timestamp("2016-02-28")).days + 1
    assert panel.sales[0, 1] == 9.0
    np.testing.assert_array_equal(panel.sales[0, -2:], [1.0, 2.0])


def test_unprocessed_batch_items_and_keys_are_retried_until_done() -> None:
    client = FakeDynamo(unprocessed_first=8)  # the first 8 batch calls only half-succeed
    store = _store(client)
    rows = [("2017-05-01", 1, item, float(item), False) for item in range(1, 61)]
    store.upsert(_frame(rows))
    panel = store.read_panel([1] * 60, list(range(1, 61)), "2017-05-01", "2017-05-01")
    np.testing.assert_array_equal(panel.sales[:, 0], np.arange(1, 61, dtype=np.float32))
    # Without faults: 2 BatchGets (merge, read) and 3 BatchWrites (60 items); each fault forces a retry.
    assert client.calls["BatchGetItem"] > 2
    assert client.calls["BatchWriteItem"] > 3


def test_throttling_is_retried_with_backoff() -> None:
    client = FakeDynamo(throttle_first=2)
    slept: list[float] = []
    store = DynamoHistoryStore(client, TABLE, max_workers=1, sleep=slept.append)
    store.upsert(_frame([("2017-05-01", 1, 10, 1.0, False)]))
    assert store.read_panel([1], [10], "2017-05-01", "2017-05-01").sales[0, 0] == 1.0
    assert len(slept) >= 2


def test_a_second_writer_waits_for_the_lease_and_gives_up_with_a_clear_error() -> None:
    client = FakeDynamo()
    holder, other = _store(client), _store(client)
    with holder.writer_lock(), pytest.raises(HistoryLockTimeout, match="writer lease"):
        other.upsert(_frame([("2017-05-01", 1, 10, 1.0, False)]), lock_wait_seconds=0.0)
    # released: now the second writer gets through
    other.upsert(_frame([("2017-05-01", 1, 10, 1.0, False)]), lock_wait_seconds=0.0)
    assert other.read_panel([1], [10], "2017-05-01", "2017-05-01").sales[0, 0] == 1.0


def test_an_expired_lease_is_taken_over() -> None:
    client = FakeDynamo()
    crashed = _store(client)
    lock = crashed.writer_lock(lease_seconds=-1.0)  # a writer that died holding an already-expired lease
    lock.__enter__()
    _store(client).upsert(_frame([("2017-05-01", 1, 10, 1.0, False)]), lock_wait_seconds=0.0)


def test_chunked_merging_gives_the_same_history_whatever_the_chunk_size() -> None:
    rows = [
        (f"2016-12-{30 + d}" if d < 2 else f"2017-01-0{d - 1}", 1 + s % 3, 10 + s, float(s * 10 + d), d == 1)
        for s in range(10)
        for d in range(4)
    ]
    results = []
    for chunk in (1, 3, 1000):
        store = _store()
        store.upsert(_frame(rows[::2]), chunk_buckets=chunk)  # an earlier upload...
        store.upsert(_frame(rows[1::2]), chunk_buckets=chunk)  # ...and a later one, merged into it
        panel = store.read_panel(
            [1 + s % 3 for s in range(10)], [10 + s for s in range(10)], "2016-12-30", "2017-01-02"
        )
        results.append(panel.sales)
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[2])
    assert not np.isnan(results[2]).any()
