"""The DynamoDB history store: encoding, merging, retries and the writer lease, on a fake client."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from grocery_forecast.aws.history import (
    FENCE_SECONDS,
    SLOTS,
    DynamoHistoryStore,
    HistoryLockTimeout,
    LeaseLost,
    decode_bucket,
    decode_stamps,
    encode_bucket,
    lease_key,
)
from grocery_forecast.contract import runs

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
    client = FakeDynamo(unprocessed_first=14)  # the first 14 batch calls only half-succeed
    store = _store(client)
    rows = [("2017-05-01", 1, item, float(item), False) for item in range(1, 61)]
    store.upsert(_frame(rows))
    panel = store.read_panel([1] * 60, list(range(1, 61)), "2017-05-01", "2017-05-01")
    np.testing.assert_array_equal(panel.sales[:, 0], np.arange(1, 61, dtype=np.float32))
    # Without faults: 3 BatchGets (series index, merge, read) and 3 BatchWrites (60 items); each
    # fault forces a retry.
    assert client.calls["BatchGetItem"] > 3
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


class _Clock:
    """Epoch seconds the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _timed_store(client: FakeDynamo, clock: _Clock) -> DynamoHistoryStore:
    return DynamoHistoryStore(client, TABLE, max_workers=1, sleep=lambda s: None, clock=clock)


def _lease_items(client: FakeDynamo) -> dict:
    return {k[1]: v for k, v in client.tables.get(TABLE, {}).items() if k[0] == "__lock__"}


def _rows(n_series: int, day: str = "2017-05-01", value: float = 1.0) -> pd.DataFrame:
    return _frame([(day, 1, item, value, False) for item in range(1, n_series + 1)])


def test_an_expired_lease_is_taken_over() -> None:
    client, clock = FakeDynamo(), _Clock()
    crashed = _timed_store(client, clock)
    held = crashed.writer_lock(deadline=clock.now + 30, owner="dead")
    held.__enter__()  # and killed holding it (kept referenced: a collected generator would release it)
    with pytest.raises(HistoryLockTimeout):
        _timed_store(client, clock).upsert(_rows(1), lock_wait_seconds=0.0)
    clock.now += 30.5
    _timed_store(client, clock).upsert(_rows(1), lock_wait_seconds=0.0)
    assert _lease_items(client) == {}, "released after the merge"
    del held


def test_a_dead_writer_blocks_others_no_longer_than_its_invocation_could_have_lived() -> None:
    # GIVEN a writer with 20 s left in its invocation (a lease of 60 s asked for)
    client, clock = FakeDynamo(), _Clock()
    held = _timed_store(client, clock).writer_lock(lease_seconds=60, deadline=clock.now + 20, owner="w1")
    held.__enter__()
    # THEN its lease ends with its invocation, not 60 s later
    assert float(_lease_items(client)["writer-0000"]["expires"]["N"]) == pytest.approx(clock.now + 20)
    clock.now += 20.01
    _timed_store(client, clock).upsert(_rows(1), lock_wait_seconds=0.0, deadline=clock.now + 300)
    del held


def test_no_lease_is_taken_too_close_to_the_end_of_the_invocation() -> None:
    client, clock = FakeDynamo(), _Clock()
    with pytest.raises(HistoryLockTimeout, match="too soon"):
        _timed_store(client, clock).upsert(_rows(1), deadline=clock.now + FENCE_SECONDS / 2)
    assert _lease_items(client) == {}


class _LostResponses(FakeDynamo):
    """Applies the first ``lose`` lease PutItems / DeleteItems, then raises as if the response never came."""

    def __init__(self, lose_put: int = 0, fail_delete: int = 0) -> None:
        super().__init__()
        self.lose_put, self.fail_delete = lose_put, fail_delete

    def put_item(self, **kwargs):  # type: ignore[no-untyped-def]
        out = super().put_item(**kwargs)
        if self.lose_put > 0:
            self.lose_put -= 1
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return out

    def delete_item(self, **kwargs):  # type: ignore[no-untyped-def]
        if self.fail_delete > 0:
            self.fail_delete -= 1
            raise EndpointConnectionError(endpoint_url="http://dynamodb")
        return super().delete_item(**kwargs)


def test_a_lost_acquire_response_is_sent_again_and_finds_its_own_lease() -> None:
    # GIVEN the lease's conditional PutItem is applied but its response is lost
    client = _LostResponses(lose_put=1)
    # WHEN the writer sends it again THEN it recognises its own lease instead of waiting for itself
    _store(client).upsert(_rows(3), lock_wait_seconds=0.0, owner="run-1/req-1")
    assert client.calls["PutItem"] == 2
    assert _store(client).read_panel([1], [2], "2017-05-01", "2017-05-01").sales[0, 0] == 1.0
    assert _lease_items(client) == {}


def test_another_owner_does_not_pass_for_the_holder() -> None:
    client = FakeDynamo()
    held = _store(client).writer_lock(owner="run-1/req-1")
    held.__enter__()
    with pytest.raises(HistoryLockTimeout):
        _store(client).upsert(_rows(1), lock_wait_seconds=0.0, owner="run-1/req-2")
    _store(client).upsert(_rows(1), lock_wait_seconds=0.0, owner="run-1/req-1")  # the holder itself
    held.__exit__(None, None, None)


def test_the_release_is_retried() -> None:
    client = _LostResponses(fail_delete=2)
    _store(client).upsert(_rows(1), lock_wait_seconds=0.0)
    assert _lease_items(client) == {}, "a release that failed twice was retried"


class _Stalling(FakeDynamo):
    """Calls ``after_write(n)`` after the n-th BatchWriteItem (n = 1, 2, ...): a writer that stalls."""

    def __init__(self, after_write) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.after_write, self.writes = after_write, 0

    def batch_write_item(self, RequestItems: dict) -> dict:
        out = super().batch_write_item(RequestItems)
        self.writes += 1
        self.after_write(self.writes)
        return out


def test_a_writer_whose_invocation_is_over_writes_no_further_batch_and_a_retry_completes_the_merge() -> None:
    # GIVEN 60 series (three batches of 25) and a writer that stalls past its deadline after the first
    clock = _Clock()
    client = _Stalling(lambda n: setattr(clock, "now", clock.now + 100) if n == 1 else None)
    frame = _rows(60, value=7.0)
    with pytest.raises(LeaseLost):
        _timed_store(client, clock).upsert(frame, deadline=clock.now + 60, stamp=5)
    # THEN it wrote the first batch only
    assert client.writes == 1 and len([k for k in client.tables[TABLE] if not k[0].startswith("__")]) == 25
    # AND the retry (a new invocation of the same upload) merges the whole file
    client.after_write = lambda n: None
    _timed_store(client, clock).upsert(frame, deadline=clock.now + 300, stamp=5)
    panel = _store(client).read_panel([1] * 60, list(range(1, 61)), "2017-05-01", "2017-05-01")
    assert (panel.sales[:, 0] == 7.0).all()
    assert _lease_items(client) == {}


def test_a_writer_whose_lease_was_taken_writes_no_further_batch() -> None:
    clock = _Clock()

    def taken(n: int) -> None:
        if n == 1:  # the writer stalls past its lease; another takes it over
            clock.now += 61
            client.put_item(
                TableName=TABLE,
                Item={**lease_key(0), "owner": {"S": "other"}, "expires": {"N": str(clock.now + 60)}},
            )

    client = _Stalling(taken)
    with pytest.raises(LeaseLost):
        _timed_store(client, clock).upsert(_rows(60), deadline=clock.now + 900)
    assert client.writes == 1
    assert _lease_items(client)["writer-0000"]["owner"] == {"S": "other"}, "the other's lease is left alone"


def test_the_lease_is_renewed_as_the_merge_goes_but_never_past_the_invocation() -> None:
    # GIVEN batches 20 s apart, leases of 30 s and 70 s left in the invocation
    clock = _Clock()
    start = clock.now
    expiries: list[float] = []

    def slow(n: int) -> None:
        clock.now += 20
        expiries.append(float(_lease_items(client)["writer-0000"]["expires"]["N"]))

    client = _Stalling(slow)
    store = _timed_store(client, clock)
    with store.writer_lock(lease_seconds=30, deadline=start + 70) as lease:
        for _ in range(3):
            lease.guard()
            store.batch_put(
                [
                    {
                        "series": {"S": "1#1"},
                        "bucket": {"S": "Y2017"},
                        **encode_bucket(np.zeros(SLOTS), np.zeros(SLOTS)),
                    }
                ]
            )
        assert lease.renewals >= 1
        with pytest.raises(LeaseLost, match="invocation ends"):
            lease.guard()  # 60 s in: under FENCE_SECONDS of invocation left
    assert max(expiries) <= start + 70


def test_lease_keys_are_per_partition() -> None:
    assert lease_key(0) == {"series": {"S": "__lock__"}, "bucket": {"S": "writer-0000"}}
    client = FakeDynamo()
    with _store(client).writer_lock(partition=0), _store(client).writer_lock(partition=1, wait_seconds=0):
        assert sorted(_lease_items(client)) == ["writer-0000", "writer-0001"]
    assert _store(client).leases() == []
    with pytest.raises(ValueError):
        lease_key(-1)


# -- upload order ---------------------------------------------------------------------------------


def test_a_day_keeps_the_value_of_the_latest_upload_whatever_the_merge_order() -> None:
    # GIVEN three uploads of overlapping days, stamped in upload order 1 < 2 < 3
    days = pd.date_range("2017-06-01", periods=6).strftime("%Y-%m-%d")
    uploads = {
        1: _frame([(d, 1, 10, 100.0 + k, False) for k, d in enumerate(days[:4])]),
        2: _frame([(d, 1, 10, 200.0 + k, True) for k, d in enumerate(days[2:])]),
        3: _frame([(days[3], 1, 10, 300.0, False)]),
    }
    expected = [100.0, 101.0, 200.0, 300.0, 202.0, 203.0]
    # WHEN they are merged in every possible order (retries, replays, concurrent invocations)
    for order in itertools.permutations(uploads):
        store = _store()
        for stamp in order:
            store.upsert(uploads[stamp], stamp=stamp)
        # THEN each day holds the value of the latest upload that has it, and its promotion flag
        panel = store.read_panel([1], [10], days[0], days[-1])
        assert panel.sales[0].tolist() == expected, order
        assert panel.promo[0].tolist() == [0, 0, 1, 0, 1, 1], order


def test_the_same_upload_merged_again_after_a_later_one_changes_nothing() -> None:
    store = _store()
    old, new = _frame([("2017-06-01", 1, 10, 1.0, False)]), _frame([("2017-06-01", 1, 10, 2.0, False)])
    store.upsert(old, stamp=10)
    store.upsert(new, stamp=20)
    store.upsert(old, stamp=10)  # a retry or replay of the first upload, processed last
    assert store.read_panel([1], [10], "2017-06-01", "2017-06-01").sales[0, 0] == 2.0


def test_format_1_items_are_read_and_merged_as_older_than_any_upload() -> None:
    # GIVEN a year bucket written before upload stamps (format 1: sales + promotions, no header byte)
    client = FakeDynamo()
    sales = np.full(SLOTS, np.nan, dtype=np.float32)
    sales[[151, 152]] = [5.0, 6.0]  # 2017-06-01, 2017-06-02
    raw = sales.astype("<f4").tobytes() + np.zeros(SLOTS, np.int8).tobytes()
    client.tables[TABLE] = {
        ("1#10", "Y2017"): {
            "series": {"S": "1#10"},
            "bucket": {"S": "Y2017"},
            "data": {"B": zlib.compress(raw)},
        }
    }
    store = _store(client)
    assert store.read_panel([1], [10], "2017-06-01", "2017-06-02").sales[0].tolist() == [5.0, 6.0]
    assert (decode_stamps(client.tables[TABLE][("1#10", "Y2017")]) == 0).all()
    # WHEN an upload with any stamp merges into it THEN its day replaces the old one, the other stays
    store.upsert(_frame([("2017-06-02", 1, 10, 60.0, False)]), stamp=1)
    assert store.read_panel([1], [10], "2017-06-01", "2017-06-02").sales[0].tolist() == [5.0, 60.0]
    stamps = decode_stamps(client.tables[TABLE][("1#10", "Y2017")])
    assert stamps[151] == 0 and stamps[152] == 1


def test_stamps_round_trip_and_stay_small_when_days_share_an_upload() -> None:
    sales = np.arange(SLOTS, dtype=np.float32)
    one = np.full(SLOTS, runs.upload_stamp("2017-08-15T10:00:00.123Z", "0055AED6DCD90281E5"), np.int64)
    item = encode_bucket(sales, np.zeros(SLOTS, np.int8), one)
    np.testing.assert_array_equal(decode_stamps(item), one)
    daily = np.array(
        [
            runs.upload_stamp(pd.Timestamp("2017-01-01 06:00:00.5", tz="UTC") + pd.Timedelta(days=d))
            for d in range(SLOTS)
        ]
    )
    item_daily = encode_bucket(sales, np.zeros(SLOTS, np.int8), daily)
    np.testing.assert_array_equal(decode_stamps(item_daily), daily)
    # one upload: the stamps cost almost nothing; a year of daily uploads stays under one 4 KB read unit
    assert len(item["data"]["B"]) < len(encode_bucket(sales, np.zeros(SLOTS, np.int8))["data"]["B"]) + 64
    assert len(item_daily["data"]["B"]) < 4096


def _format_2_item(sales: np.ndarray, promo: np.ndarray, stamps: np.ndarray) -> dict:
    """A bucket as the code before format 3 wrote every bucket (a leading 0x02, 8 stamp planes)."""
    planes = np.ascontiguousarray(stamps.astype(">i8").view(np.uint8).reshape(SLOTS, 8).T).tobytes()
    raw = b"\x02" + sales.astype("<f4").tobytes() + promo.astype(np.int8).tobytes() + planes
    return {"series": {"S": "1#10"}, "bucket": {"S": "Y2017"}, "data": {"B": zlib.compress(raw, 1)}}


def _format(item: dict) -> tuple[int, int]:
    raw = zlib.decompress(item["data"]["B"])
    return raw[0], len(raw)


def test_a_bucket_of_one_upload_is_written_in_format_3_with_its_stamp_once() -> None:
    # GIVEN a bucket whose days all come from one upload (a new series, a backfill)
    sales = np.full(SLOTS, np.nan, np.float32)
    sales[[3, 200, 365]] = [1.0, 0.0, -2.5]
    promo = np.zeros(SLOTS, np.int8)
    promo[200] = 1
    stamp = runs.upload_stamp("2017-08-15T10:00:00.123Z", "0055AED6DCD90281E5")
    stamps = np.where(np.isnan(sales), 0, stamp).astype(np.int64)
    # WHEN it is encoded THEN it is format 3: the format byte, sales, promotions and one int64
    item = encode_bucket(sales, promo, stamps)
    assert _format(item) == (3, 1 + SLOTS * 5 + 8)
    # AND it reads back exactly: days without a row have stamp 0
    back_sales, back_promo = decode_bucket(item)
    np.testing.assert_array_equal(back_sales, sales)
    np.testing.assert_array_equal(back_promo, promo)
    np.testing.assert_array_equal(decode_stamps(item), stamps)
    assert item["days"] == {"N": "3"}


def test_a_bucket_of_several_uploads_is_written_in_format_2_with_a_stamp_per_day() -> None:
    sales = np.full(SLOTS, np.nan, np.float32)
    sales[[10, 11]] = [5.0, 6.0]
    for stamps in (
        np.where(np.isnan(sales), 0, [7] * SLOTS).astype(np.int64) + (np.arange(SLOTS) == 11),  # two uploads
        np.where(np.arange(SLOTS) == 10, 0, np.where(np.isnan(sales), 0, 9)),  # a format-1 day and an upload
        np.where(
            np.arange(SLOTS) == 50, 9, np.where(np.isnan(sales), 0, 9)
        ),  # a stamp on a day without a row
    ):
        item = encode_bucket(sales, np.zeros(SLOTS, np.int8), stamps)
        assert _format(item) == (2, 1 + SLOTS * 13)
        np.testing.assert_array_equal(decode_stamps(item), stamps)
        np.testing.assert_array_equal(decode_bucket(item)[0], sales)


def test_format_2_items_written_before_format_3_are_read_and_merged() -> None:
    # GIVEN a bucket written by the code before format 3: day 151 from upload 5, day 152 from upload 8
    sales = np.full(SLOTS, np.nan, np.float32)
    sales[[151, 152]] = [5.0, 6.0]  # 2017-06-01, 2017-06-02
    stamps = np.zeros(SLOTS, np.int64)
    stamps[[151, 152]] = [5, 8]
    client = FakeDynamo()
    client.tables[TABLE] = {("1#10", "Y2017"): _format_2_item(sales, np.zeros(SLOTS, np.int8), stamps)}
    store = _store(client)
    np.testing.assert_array_equal(decode_stamps(client.tables[TABLE][("1#10", "Y2017")]), stamps)
    # WHEN upload 6 has rows for both days THEN it replaces the day of upload 5, not that of upload 8
    store.upsert(_frame([("2017-06-01", 1, 10, 50.0, False), ("2017-06-02", 1, 10, 60.0, False)]), stamp=6)
    assert store.read_panel([1], [10], "2017-06-01", "2017-06-02").sales[0].tolist() == [50.0, 6.0]
    after = decode_stamps(client.tables[TABLE][("1#10", "Y2017")])
    assert after[151] == 6 and after[152] == 8
    # AND when upload 9 replaces both, the bucket holds one upload's days again: format 3
    store.upsert(_frame([("2017-06-01", 1, 10, 1.0, False), ("2017-06-02", 1, 10, 2.0, False)]), stamp=9)
    assert _format(client.tables[TABLE][("1#10", "Y2017")]) == (3, 1 + SLOTS * 5 + 8)
    assert store.read_panel([1], [10], "2017-06-01", "2017-06-02").sales[0].tolist() == [1.0, 2.0]


def test_a_bucket_of_another_length_or_format_byte_is_reported_corrupt() -> None:
    sales = np.zeros(SLOTS, np.float32)
    good = zlib.decompress(encode_bucket(sales, np.zeros(SLOTS, np.int8), np.full(SLOTS, 4))["data"]["B"])
    for raw in (good[:-1], b"\x02" + good[1:], b"\x07" + good[1:]):
        with pytest.raises(ValueError, match="corrupt history bucket"):
            decode_bucket({"data": {"B": zlib.compress(raw)}})


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


def test_a_throttled_batch_is_not_retried_once_the_lease_is_gone() -> None:
    # GIVEN the first BatchWriteItem is throttled, and the backoff outlasts the invocation
    clock = _Clock()
    client = FakeDynamo()
    store = DynamoHistoryStore(
        client, TABLE, max_workers=1, sleep=lambda s: setattr(clock, "now", clock.now + 100), clock=clock
    )

    def throttle_once(RequestItems: dict) -> dict:
        client.batch_write_item = original  # type: ignore[method-assign]
        raise _throttled()

    original = client.batch_write_item
    client.batch_write_item = throttle_once  # type: ignore[method-assign]
    # WHEN the writer would retry the batch THEN the fence stops it: nothing is written
    with pytest.raises(LeaseLost):
        store.upsert(_rows(3), deadline=clock.now + 60)
    assert not [k for k in client.tables[TABLE] if not k[0].startswith("__")]


def _throttled() -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "BatchWriteItem")


# -- the series index ---------------------------------------------------------------------------


def test_the_series_index_names_every_series_with_a_bucket_in_the_years_asked() -> None:
    client = FakeDynamo()
    store = _store(client)
    assert store.series_index(2017, 2017) is not None and len(store.series_index(2017, 2017)[0]) == 0
    rows = [("2016-12-31", 1, 10, 1.0, False), ("2017-01-02", 2, 10, 2.0, False)]
    rows += [("2017-03-01", s, i, 1.0, False) for s in (1, 3) for i in (11, 12, 13, 14)]
    frame = _frame(rows)
    store.upsert(frame, stamp=runs.upload_stamp("2017-03-02T00:00:00.000Z"))
    index = {k: v for k, v in client.tables[TABLE].items() if k[0] == "__index__"}
    stores, items = store.series_index(2017, 2017)  # 3 index items: a Query of two pages
    assert list(zip(stores.tolist(), items.tolist(), strict=True)) == [
        (1, 11),
        (1, 12),
        (1, 13),
        (1, 14),
        (2, 10),
        (3, 11),
        (3, 12),
        (3, 13),
        (3, 14),
    ]
    stores, items = store.series_index(2016, 2017)
    assert (1, 10) in set(zip(stores.tolist(), items.tolist(), strict=True)) and len(stores) == 10
    # a store range (a shard's): the index items of those stores only, every year asked
    queries = client.calls["Query"]
    stores, items = store.series_index(2016, 2017, (1, 2))
    assert set(stores.tolist()) == {1, 2} and len(stores) == 6
    assert client.calls["Query"] - queries == 2, "one Query a year, each a page: not store 3's items"
    stores, _ = store.series_index(2017, 2017, (2, None))
    assert set(stores.tolist()) == {2, 3}
    # the same upload again (a retry), or a later one of the same series, changes nothing, and
    # writes nothing to the index (it reads what the index holds first)
    updates = client.calls.get("UpdateItem", 0)
    store.upsert(frame, stamp=runs.upload_stamp("2017-03-02T00:00:00.000Z"))
    store.upsert(frame.assign(unit_sales=5.0), stamp=runs.upload_stamp("2017-03-03T00:00:00.000Z"))
    assert {k: v for k, v in client.tables[TABLE].items() if k[0] == "__index__"} == index
    assert client.calls["UpdateItem"] - updates == 2 * 3, "per merge: the flag and the two date bounds"


def test_the_index_adds_only_the_items_it_lacks_in_calls_of_at_most_index_add(monkeypatch) -> None:
    client = FakeDynamo()
    store = _store(client)
    monkeypatch.setattr(DynamoHistoryStore, "_INDEX_ADD", 2)
    store.upsert(_frame([("2017-03-01", 1, i, 1.0, False) for i in (1, 2, 3)]))
    adds: list[list[str]] = []
    update = client.update_item

    def recording(**kwargs):
        if kwargs["UpdateExpression"].startswith("ADD"):
            adds.append(kwargs["ExpressionAttributeValues"][":i"]["NS"])
        return update(**kwargs)

    client.update_item = recording  # type: ignore[method-assign]
    store.upsert(_frame([("2017-03-02", 1, i, 1.0, False) for i in (2, 3, 4, 5, 6, 7, 8)]))
    assert sorted(sorted(a) for a in adds) == [["4", "5"], ["6", "7"], ["8"]]
    stores, items = store.series_index(2017, 2017)
    assert items.tolist() == [1, 2, 3, 4, 5, 6, 7, 8] and set(stores.tolist()) == {1}


def test_a_merge_killed_after_its_index_update_leaves_every_written_bucket_indexed() -> None:
    # GIVEN a merge whose writes stop after the first BatchWriteItem (its invocation killed)
    client = FakeDynamo()
    store = _store(client)
    frame = _frame([("2017-03-01", s, i, 1.0, False) for s in range(1, 4) for i in range(100, 130)])
    calls = {"n": 0}
    write = client.batch_write_item

    def dies_after_one(**kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("killed")
        return write(**kwargs)

    client.batch_write_item = dies_after_one  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="killed"):
        store.upsert(frame, chunk_buckets=25)
    # THEN every bucket on the table is in the index (indexed before any bucket is written)
    buckets = {
        (int(s.split("#")[0]), int(s.split("#")[1]))
        for s, b in client.tables[TABLE]
        if not s.startswith("__")
    }
    stores, items = store.series_index(2017, 2017)
    assert 0 < len(buckets) < 90 and buckets <= set(zip(stores.tolist(), items.tolist(), strict=True))


def test_a_table_written_before_the_index_is_not_indexed_until_it_is_built() -> None:
    client = FakeDynamo()
    store = _store(client)
    store.upsert(_frame([("2017-03-01", s, i, 1.0, False) for s in (1, 2) for i in (7, 8, 9)]))
    table = client.tables[TABLE]
    for key in [k for k in table if k[0] == "__index__"]:
        del table[key]
    del table[("__meta__", "dates")]["series_index"]
    # a later upload indexes its own series, but the index stays incomplete
    store.upsert(_frame([("2017-03-02", 3, 7, 1.0, False)]))
    assert not store.series_index_complete() and store.series_index(2017, 2017) is None
    assert store.build_series_index() == 7
    stores, _ = store.series_index(2017, 2017)
    assert store.series_index_complete() and len(stores) == 7


def test_a_window_across_a_leap_day_and_new_year_reads_back_what_was_merged() -> None:
    # GIVEN random days of six series from December 2015 to January 2017 (2016 a leap year)
    from grocery_forecast.forecasting.panel import SalesPanel

    rng = np.random.default_rng(0)
    days = pd.date_range("2015-12-20", "2017-01-10")
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "date": days,
                    "store_nbr": s,
                    "item_nbr": i,
                    "unit_sales": rng.integers(0, 9, len(days)) * 1.0,
                }
            ).assign(onpromotion=rng.random(len(days)) < 0.2)[rng.random(len(days)) < 0.6]
            for s in (1, 2)
            for i in (5, 6, 7)
        ]
    )
    store = _store()
    store.upsert(frame)
    merged = SalesPanel.from_frame(frame)
    # WHEN windows inside a year, across the leap day, across New Year and before any history are read
    for first, last in [
        ("2016-02-20", "2016-03-05"),
        ("2015-12-25", "2016-01-05"),
        ("2015-12-20", "2017-01-10"),
        ("2014-12-30", "2015-12-22"),
    ]:
        panel = store.read_panel([1, 2, 1, 2, 2], [5, 6, 7, 7, 9], first, last)
        # THEN every day is the merged one, and a series never stored reads as no rows
        expected = merged.window(first, last)
        assert panel.start == pd.Timestamp(first) and panel.n_days == expected.n_days
        for k, row in enumerate(expected.index_of(panel.stores, panel.items)):
            if row < 0:
                assert np.isnan(panel.sales[k]).all() and not panel.promo[k].any()
                continue
            np.testing.assert_array_equal(panel.sales[k], expected.sales[row])
            np.testing.assert_array_equal(panel.promo[k], expected.promo[row])


def test_botocore_never_retries_for_the_store_so_every_try_passes_the_fence() -> None:
    """A retry inside botocore would re-send a BatchWriteItem long after the lease's fence was
    checked (up to 10 tries, backoffs of 20 s): past the lease, over a newer writer's buckets. So
    the client does not retry, answers within the fence, and the store retries what it used to."""
    from grocery_forecast.aws.clients import dynamodb_client_config

    config = dynamodb_client_config()
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout + config.connect_timeout <= FENCE_SECONDS

    class TimesOutOnce(FakeDynamo):
        def batch_write_item(self, **kwargs):  # type: ignore[no-untyped-def]
            if not getattr(self, "timed_out", False):
                self.timed_out = True
                raise ReadTimeoutError(endpoint_url="http://dynamodb")
            return super().batch_write_item(**kwargs)

    client = TimesOutOnce()
    _store(client).upsert(_rows(3))
    assert client.timed_out and client.calls["BatchWriteItem"] >= 1  # timed out, then sent again by the store
    assert _store(client).read_panel([1], [2], "2017-05-01", "2017-05-01").sales[0, 0] == 1.0
