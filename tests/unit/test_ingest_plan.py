"""Planning a sharded ingest: byte ranges, the lines each shard owns, and series partitions."""

from __future__ import annotations

import gzip
import io
import itertools
import random

import numpy as np
import pytest

from grocery_forecast.contract.bounds import MAX_LINE_BYTES
from grocery_forecast.contract.ingest_plan import (
    MIN_ACTUALS_ROW_BYTES,
    LineRange,
    bucket_rows_for_memory,
    gzip_plain_size,
    plan_buckets,
    plan_ranges,
    range_to_read,
    series_partition,
    series_subbucket,
)


def _owned(data: bytes, start: int, end: int, block: int) -> tuple[bytes, int]:
    """What one shard reads: the ranged GET a task sends, through LineRange."""
    first, last = range_to_read(start, end, len(data))
    reader = LineRange(io.BytesIO(data[first : last + 1]), first, start, end, block=block)
    out = io.BufferedReader(reader, 64).read()
    return out, reader.lines


def _file(rows: int, crlf: bool, seed: int) -> tuple[bytes, bytes]:
    rng = random.Random(seed)
    nl = b"\r\n" if crlf else b"\n"
    header = b"date,store_nbr,item_nbr,unit_sales,onpromotion" + nl
    body = b"".join(
        b"2017-08-%02d,%d,%d,%s,%s"
        % (
            rng.randint(1, 28),
            rng.randint(1, 54),
            rng.randint(1, 99999),
            b"1" * rng.randint(1, 9),
            b"True" if rng.random() < 0.5 else b"",
        )
        + nl
        for _ in range(rows)
    )
    return header, body


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("last_newline", [True, False])
def test_every_line_is_read_by_exactly_one_shard_at_every_shard_size(crlf: bool, last_newline: bool) -> None:
    header, body = _file(40, crlf, seed=7)
    data = header + (body if last_newline else body.rstrip(b"\r\n"))
    expected_lines = data[len(header) :].count(b"\n")
    for shard_bytes in range(1, len(data) - len(header) + 2):  # every boundary position
        ranges = plan_ranges(len(header), len(data), shard_bytes)
        assert ranges[0][0] == len(header) and ranges[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), "ranges tile the body"
        parts = [_owned(data, a, b, block=5) for a, b in ranges]
        assert b"".join(p for p, _ in parts) == data[len(header) :], f"shard_bytes={shard_bytes}"
        assert sum(n for _, n in parts) == expected_lines
        owned = [p for p, _ in parts if p]
        assert all(p.endswith(b"\n") for p in owned[:-1]), "a shard ends after a whole line"


def test_a_row_straddling_a_boundary_belongs_to_the_shard_it_starts_in() -> None:
    data = b"h\naaaa\nbbbb\ncccc\n"
    # boundary inside "bbbb" (offset 9): the row starts in the first range, so the first owns it
    first, _ = _owned(data, 2, 9, block=3)
    second, _ = _owned(data, 9, len(data), block=3)
    assert (first, second) == (b"aaaa\nbbbb\n", b"cccc\n")
    # boundary exactly at the start of "bbbb" (offset 7): the second range owns it
    assert _owned(data, 2, 7, block=3)[0] == b"aaaa\n"
    assert _owned(data, 7, len(data), block=3)[0] == b"bbbb\ncccc\n"


def test_a_shard_inside_one_long_line_owns_nothing() -> None:
    data = b"h\n" + b"x" * 100 + b"\ny\n"
    assert _owned(data, 10, 20, block=7) == (b"", 0)


def test_the_ranged_get_reaches_one_maximal_line_past_the_range() -> None:
    assert range_to_read(0, 10, 100_000) == (0, 10 + MAX_LINE_BYTES)
    assert range_to_read(50, 60, 80) == (49, 79), "never past the object"


def test_plan_ranges_are_about_equal_and_not_more_than_needed() -> None:
    ranges = plan_ranges(10, 10 + 1000, 300)
    assert len(ranges) == 4 and {b - a for a, b in ranges} == {250}
    assert plan_ranges(10, 10, 300) == [(10, 10)], "a header-only file is one empty shard"
    with pytest.raises(ValueError):
        plan_ranges(0, 10, 0)


def test_series_partitions_are_stable_spread_and_in_range() -> None:
    stores = np.repeat(np.arange(1, 55), 400)
    items = np.tile(np.arange(100_000, 100_400), 54)
    parts = series_partition(stores, items, 16)
    assert parts.min() >= 0 and parts.max() <= 15
    counts = np.bincount(parts, minlength=16)
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean(), counts
    # Fixed values: a change of the hash would move series between leases of running writers.
    assert series_partition([1, 54, 7], [103665, 2113914, 96995], 16).tolist() == [1, 4, 7]
    assert series_partition([1], [10], 1).tolist() == [0]
    with pytest.raises(ValueError):
        series_partition([1], [1], 0)


def test_a_big_file_gets_several_sub_buckets_a_small_one_one() -> None:
    rows = bucket_rows_for_memory(2048)
    assert 4_000_000 <= rows <= 10_000_000, rows
    # Kaggle's whole train.csv (4.7 GB) on AWS's 32 partitions
    kaggle = plan_buckets(4_700_000_000, 32, rows)
    assert kaggle >= 2
    # no sub-bucket can exceed the row limit, even if every line were the shortest the contract takes
    assert 4_700_000_000 / MIN_ACTUALS_ROW_BYTES / 32 / kaggle <= rows
    # fewer partitions or a smaller limit: more sub-buckets, in proportion
    assert plan_buckets(4_700_000_000, 4, rows) >= 4 * kaggle
    assert plan_buckets(4_700_000_000, 32, rows // 10) >= 5 * kaggle
    assert plan_buckets(3_500_000, 4, 20_000) > 1, "the e2e file on the local root's limit"
    assert plan_buckets(100_000_000, 32, rows) == 1
    assert plan_buckets(0, 4, 10) == 1
    # a smaller function holds fewer rows
    assert bucket_rows_for_memory(1024) < rows < bucket_rows_for_memory(10240)
    assert bucket_rows_for_memory(128) == 100_000, "a floor, never zero"
    with pytest.raises(ValueError):
        plan_buckets(10, 0, 10)


def test_the_shortest_accepted_line_is_the_plans_row_bound() -> None:
    assert len(b"2017-08-15,1,1,0,\n") == MIN_ACTUALS_ROW_BYTES


def test_series_sub_buckets_are_stable_spread_within_a_partition_and_one_per_series() -> None:
    stores = np.repeat(np.arange(1, 55), 400)
    items = np.tile(np.arange(100_000, 100_400), 54)
    parts = series_partition(stores, items, 4)
    subs = series_subbucket(stores, items, 8)
    assert subs.min() >= 0 and subs.max() <= 7
    # within one partition the series spread over every sub-bucket (an independent hash; taking
    # the partition hash modulo 8 would leave half of them empty for 4 partitions)
    for p in range(4):
        counts = np.bincount(subs[parts == p], minlength=8)
        assert counts.min() > 0.75 * counts.mean() and counts.max() < 1.25 * counts.mean(), counts
    # a series has one sub-bucket whatever the rows it comes with (a function of store and item)
    again = series_subbucket(np.r_[stores, stores], np.r_[items, items], 8)
    assert (again[: len(stores)] == again[len(stores) :]).all()
    assert series_subbucket([1, 54, 7], [103665, 2113914, 96995], 8).tolist() == [7, 4, 3]
    assert series_subbucket([1], [10], 1).tolist() == [0]
    with pytest.raises(ValueError):
        series_subbucket([1], [1], 0)


def test_the_gzip_trailer_gives_the_decompressed_size_through_its_wrap_around() -> None:
    data = b"date,store_nbr,item_nbr,unit_sales,onpromotion\n" + b"2017-08-15,1,103665,7.0,False\n" * 5000
    packed = gzip.compress(data)
    assert gzip_plain_size(len(packed), packed[-4:]) == len(data)
    # Kaggle's train.csv: 4.7 GB plain, about 0.6 GB gzipped: ISIZE wrapped once
    plain, packed_size = 4_700_000_000, 600_000_000
    trailer = (plain % 2**32).to_bytes(4, "little")
    assert gzip_plain_size(packed_size, trailer) == plain
    # incompressible data is never smaller than its gzip, less the headers
    assert gzip_plain_size(1000, (990).to_bytes(4, "little")) == 990
    with pytest.raises(ValueError):
        gzip_plain_size(10, b"abc")
