"""Copy the memberships already written into the API's copies of them: `python -m tools.memberships backfill`.

An operator's tool (run from a checkout; not deployed), run once per database, right after
schema/clickhouse.sql has created the copies (docs/deploy.md, "Memberships by profile key"). The two
materialized views copy every row inserted into `segment_memberships` from the moment they exist; this
copies the rows written before, through the views' own SELECTs (as the server holds them), so the
spelling test lives in the schema alone.

It copies part by part, in the order the parts were written, one thread each, so that FINAL on a copy
keeps the same row as FINAL on the source even between rows of equal version; merges of the three
tables are paused meanwhile. At the end the copies' rows are checked against the copied parts' row
counts. The platform's membership writes must be paused from applying the schema until it has finished:
a row written through the views before it starts makes it refuse (a copy holds rows), and one written
while it runs makes the final check fail.

ClickHouse is `CLICKHOUSE_URL` (or `CLICKHOUSE_SECRET_ARN`), with a user that may read
`segment_memberships`, `system.parts` and `system.tables`, insert into the copies and run
SYSTEM STOP/START MERGES on the three tables. It refuses to run when a copy already holds rows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from analytics_common import config
from analytics_common.memberships import MEMBERSHIP_TABLES
from tools.connect import connect_or_report

SOURCE, *COPIES = MEMBERSHIP_TABLES
VIEWS = {copy: f"{copy}_mv" for copy in COPIES}

PARTS_SQL = """
SELECT name, rows
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
ORDER BY min_block_number, name
"""
VIEW_SELECTS_SQL = """
SELECT name, as_select
FROM system.tables
WHERE database = currentDatabase() AND name IN {views:Array(String)}
"""


class BackfillError(Exception):
    """Why the copies cannot be (or were not completely) filled; nothing secret in it."""


def backfill(ch: Any, out: TextIO) -> int:
    """Copy every row of `segment_memberships` into its copy; the number of rows copied."""
    filled = [copy for copy in COPIES if count_rows(ch, copy)]
    if filled:
        raise BackfillError(f"{', '.join(filled)} already hold rows: backfill runs once, into empty copies")
    selects = dict(ch.query(VIEW_SELECTS_SQL, parameters={"views": list(VIEWS.values())}).result_rows)
    missing = [view for view in VIEWS.values() if view not in selects]
    if missing:
        raise BackfillError(f"apply schema/clickhouse.sql first: no view {', '.join(missing)}")
    for table in MEMBERSHIP_TABLES:
        ch.command(f"SYSTEM STOP MERGES {table}")
    try:
        parts = ch.query(PARTS_SQL, parameters={"table": SOURCE}).result_rows
        for number, (part, _) in enumerate(parts, 1):
            for copy, view in VIEWS.items():
                ch.command(
                    f"INSERT INTO {copy} {selects[view]} AND _part = {{part:String}} SETTINGS max_threads = 1",
                    parameters={"part": part},
                )
            print(f"part {number} of {len(parts)} copied", file=out, flush=True)
        expected = sum(int(rows) for _, rows in parts)
        copied = sum(count_rows(ch, copy) for copy in COPIES)
    finally:
        for table in MEMBERSHIP_TABLES:
            ch.command(f"SYSTEM START MERGES {table}")
    if copied != expected:  # a part merged away before it was read, say: the copies must be refilled
        raise BackfillError(f"copied {copied} rows of {expected}: truncate the copies and run backfill again")
    return copied


def count_rows(ch: Any, table: str) -> int:
    return int(ch.query(f"SELECT count() FROM {table}").result_rows[0][0])  # noqa: S608 - a module constant


def connect() -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=config.clickhouse_url())


def main(argv: Sequence[str] | None = None, *, client: Callable[[], Any] = connect) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["backfill"])
    parser.parse_args(argv)
    ch = connect_or_report(client, "ClickHouse")
    if ch is None:
        return 1
    try:
        copied = backfill(ch, sys.stderr)
    except BackfillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{copied} memberships copied", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
