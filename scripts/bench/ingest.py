"""(a) ETL ingest into the emulator's DynamoDB: the library's path, the naive path, the raw ceiling.

All three run in one process against the same emulator, one after the other on fresh tables,
so their ratio is a fair comparison on a noisy machine.

* ours: ``read_table`` (parse + validate the CSV) + ``DynamoHistoryStore.upsert`` (merge into
  year buckets: BatchGetItem + BatchWriteItem on a thread pool, under the writer lease, with an
  upload stamp as the ETL passes one, so the stamps are in the figure);
* naive: pandas ``iterrows`` and one ``put_item`` per row through boto3's ``batch_writer``;
* ceiling: pre-built items (one per row), raw ``batch_write_item`` on 8 threads.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pandas as pd

from grocery_forecast.aws.history import DynamoHistoryStore
from grocery_forecast.contract.cleaning import read_table
from grocery_forecast.contract.runs import upload_stamp

from .common import ENDPOINT, Results, actuals, client, scratch_table, timed, write_actuals_csv

#: A real upload's stamp (an S3 event's eventTime and sequencer), as the ETL passes it.
STAMP = upload_stamp("2026-11-28T01:00:00.123Z", "0062A1B2C3D4E5F601")


def _ours(db, table: str, path: Path) -> float:
    def run() -> None:
        with path.open("rb") as fh:
            _, frame = read_table(fh, path.name)
        DynamoHistoryStore(db, table, max_workers=8).upsert(frame, stamp=STAMP)

    return timed(run)[0]


def _naive(table: str, frame: pd.DataFrame) -> float:
    resource = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).resource("dynamodb", endpoint_url=ENDPOINT)

    def run() -> None:
        with resource.Table(table).batch_writer() as batch:
            for _, row in frame.iterrows():
                batch.put_item(
                    Item={
                        "series": f"{row.store_nbr}#{row.item_nbr}",
                        "bucket": str(row.date.date()),
                        "unit_sales": str(row.unit_sales),
                        "onpromotion": bool(row.onpromotion),
                    }
                )

    return timed(run)[0]


def _ceiling(db, table: str, frame: pd.DataFrame) -> float:
    items = [
        {
            "series": {"S": f"{s}#{i}"},
            "bucket": {"S": d},
            "unit_sales": {"N": repr(float(u))},
            "onpromotion": {"BOOL": bool(p)},
        }
        for s, i, d, u, p in zip(
            frame["store_nbr"],
            frame["item_nbr"],
            frame["date"].dt.strftime("%Y-%m-%d"),
            frame["unit_sales"],
            frame["onpromotion"],
            strict=True,
        )
    ]
    chunks = [items[k : k + 25] for k in range(0, len(items), 25)]

    def write(chunk: list) -> None:
        request = {table: [{"PutRequest": {"Item": it}} for it in chunk]}
        while request:
            request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    def run() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, chunks))

    return timed(run)[0]


def bench_ingest(results: Results, work: Path, rows: int = 100_000) -> None:
    db = client("dynamodb")
    shapes = {
        # a Favorita day: every series sells on one day (the hardest case for per-series buckets)
        "daily": actuals(rows, pd.date_range("2017-08-15", periods=1)),
        # a week of history for fewer series (a backfill or weekly upload)
        "weekly": actuals(rows // 7, pd.date_range("2017-08-09", periods=7)),
    }
    for shape, frame in shapes.items():
        path = write_actuals_csv(frame, work / f"ingest_{shape}.csv")
        n = len(frame)
        with scratch_table(db, f"bench-ours-{shape}") as t:
            ours = n / _ours(db, t, path)
        with scratch_table(db, f"bench-naive-{shape}") as t:
            naive = n / _naive(t, frame)
        with scratch_table(db, f"bench-ceiling-{shape}") as t:
            ceiling = n / _ceiling(db, t, frame)
        results.add(
            f"ingest_{shape}_{n}_rows_ours",
            round(ours),
            "rows/s",
            "parse + validate + merge into year buckets",
        )
        results.add(
            f"ingest_{shape}_{n}_rows_naive", round(naive), "rows/s", "iterrows + put_item via batch_writer"
        )
        results.add(
            f"ingest_{shape}_{n}_rows_ceiling",
            round(ceiling),
            "rows/s",
            "raw batch_write_item, 8 threads, pre-built items",
        )
        results.add(f"ingest_{shape}_speedup_vs_naive", round(ours / naive, 2), "x", "target >= 2")
        results.add(f"ingest_{shape}_ceiling_over_ours", round(ceiling / ours, 2), "x", "target <= 1.5")


def bench_backfill(results: Results, work: Path, n_series: int = 10_000, days: int = 100) -> None:
    """1,000,000 history rows (10,000 series x 100 days) through the ETL's path: target < 60 s."""
    db = client("dynamodb")
    frame = actuals(n_series, pd.date_range("2017-05-01", periods=days), seed=1)
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    path = work / "backfill.csv"
    path.write_bytes(buffer.getvalue())
    with scratch_table(db, "bench-backfill") as t:
        seconds = _ours(db, t, path)
    results.add(f"backfill_{len(frame)}_rows_seconds", round(seconds, 1), "s", "target < 60")
    results.add("backfill_rows_per_second", round(len(frame) / seconds), "rows/s")
