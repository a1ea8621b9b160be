"""Planning a sharded ingest: byte ranges, the lines each shard owns, and series partitions."""

from __future__ import annotations

import io
import itertools
import random

import numpy as np
import pytest

from grocery_forecast.contract.bounds import MAX_LINE_BYTES
from grocery_forecast.contract.ingest_plan import (
    LineRange,
    plan_ranges,
    range_to_read,
    series_partition,
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
