"""Queries behind GET /api/analytics/segments/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.clock import window_start
from analytics_common.postgres import PostgresClient
from analytics_common.subscriptions import ACTIVE_SEGMENTS_SQL

# `last_computed_at` leaves Postgres formatted (UTC, whole seconds, like clock.iso_utc): parsing
# a timestamptz in pg8000 and formatting it again cost ~15 us a segment, the SQL's own time.
SEGMENTS_SQL = f"""
WITH active_segments AS ({ACTIVE_SEGMENTS_SQL})
SELECT id,
       name,
       member_count,
       to_char(last_computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_computed_at
FROM active_segments
ORDER BY id
"""  # noqa: S608 - composed of module constants only; values travel as parameters

# One query for every segment's daily series. A history row belongs to its UTC day, and a row
# from before the window to the window's first day, so argMax per (segment, day) is the day's
# latest value and day 1 inherits the value carried in from before the window (a day-1 row is
# later, so it wins). WITH FILL then adds the days without computation up to today, per segment
# (segment_id is the sorting prefix of the fill), and INTERPOLATE carries the previous count
# into them. Each series starts at its first day with a row. Rows after `now` are not seen yet.
# Two rows of one segment at the same millisecond are a tie the contract does not order: the larger
# count wins, so the answer is stable. The (time, count) order is packed into one UInt128, because
# argMax over a tuple compares generic values and takes twice as long (~20 ms at 200 segments).
# A segment's points leave as one sorted array of ('YYYY-MM-DD', count) (ISO dates sort as text):
# 200 rows instead of ~6000, and no date objects to build and format again in Python.
TREND_SQL = """
SELECT segment_id, arraySort(groupArray((toString(day), count))) AS points
FROM (
    SELECT segment_id, day, count
    FROM (
        SELECT
            segment_id,
            greatest(toDate(computed_at), {first_day:Date}) AS day,
            argMax(member_count, bitShiftLeft(toUInt128(toUnixTimestamp64Milli(computed_at)), 64) + member_count)
                AS count
        FROM segment_size_history
        WHERE org_id = {org_id:UInt64}
          AND segment_id IN {segment_ids:Array(UInt64)}
          AND computed_at <= {now:DateTime64(3, 'UTC')}
        GROUP BY segment_id, day
    )
    ORDER BY segment_id, day WITH FILL TO {today:Date} + 1 STEP 1
    INTERPOLATE (count AS count)
)
GROUP BY segment_id
HAVING length(points) >= {min_points:UInt32}
"""

MIN_TREND_POINTS = 2


def fetch_segments(pg: PostgresClient, ch: ClickHouseClient, org_id: int, now: datetime) -> list[dict[str, Any]]:
    segments = pg.run(SEGMENTS_SQL, org_id=org_id)
    computed = [segment_id for segment_id, _, _, last_computed_at in segments if last_computed_at is not None]
    trends = fetch_trends(ch, org_id, computed, now) if computed else {}
    return [
        {
            "id": segment_id,
            "name": name,
            "member_count": member_count,
            "last_computed_at": last_computed_at,
            "trend": trends.get(segment_id, []),
        }
        for segment_id, name, member_count, last_computed_at in segments
    ]


def fetch_trends(
    ch: ClickHouseClient, org_id: int, segment_ids: list[int], now: datetime
) -> dict[int, list[dict[str, Any]]]:
    """Daily size series of `segment_ids`; a segment whose series has fewer than 2 days is left out."""
    first = window_start(now)
    rows = ch.rows(
        TREND_SQL,
        org_id=org_id,
        segment_ids=segment_ids,
        first_day=first.date(),
        today=now.astimezone(UTC).date(),
        now=now,
        min_points=MIN_TREND_POINTS,
    )
    return {int(segment_id): [{"day": day, "count": count} for day, count in points] for segment_id, points in rows}
