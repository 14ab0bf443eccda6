"""Queries behind GET /api/analytics/segments/."""

from __future__ import annotations

from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.postgres import PostgresClient
from analytics_common.query import PAGE_LIMIT, Page
from analytics_common.subscriptions import ACTIVE_SEGMENTS_SQL
from analytics_common.window import Window

# `last_computed_at` leaves Postgres formatted (UTC, whole seconds, like clock.iso_utc): parsing
# a timestamptz in pg8000 and formatting it again cost ~15 us a segment, the SQL's own time.
SEGMENTS_SQL = f"""
WITH active_segments AS ({ACTIVE_SEGMENTS_SQL})
SELECT id,
       name,
       member_count,
       to_char(last_computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_computed_at
FROM active_segments
WHERE id > :after
ORDER BY id
LIMIT :fetch
"""  # noqa: S608 - composed of module constants only; values travel as parameters

# One query for the page's segments' daily series. A history row belongs to the local day whose
# [start, next start) holds it (`starts`: epoch milliseconds of each day's first instant, and of the
# day after today), and a row from before the window to day 0, so argMax per (segment, day) is the
# day's latest value and day 0 inherits the value carried in from before the window (a day-0 row is
# later, so it wins). A day lasts 24 h give or take the zone's clock changes, so the day index is
# `(at - starts[1]) / 24 h` give or take one, set right by two array lookups: constant work per row,
# about the CPU of bucketing by UTC date (1.06x), where counting the boundaries below each row costs
# 1.3x at 30 days and grows with `days` (on the bench's large tenant, 73k history rows). WITH FILL then adds
# the days without computation up to today, per segment (segment_id is the sorting prefix of the
# fill), and INTERPOLATE carries the previous count into them. Each series starts at its first day
# with a row. Rows after `now` are not seen yet.
# Two rows of one segment at the same millisecond are a tie the contract does not order: the larger
# count wins, so the answer is stable. The (time, count) order is packed into one UInt128, because
# argMax over a tuple compares generic values and takes twice as long (~20 ms at 200 segments).
# A segment's points leave as one sorted array of (day index, count): 200 rows instead of ~6000.
TREND_SQL = """
SELECT segment_id, arraySort(groupArray((day, count))) AS points
FROM (
    SELECT segment_id, day, count
    FROM (
        SELECT segment_id, day, argMax(member_count, bitShiftLeft(toUInt128(at), 64) + member_count) AS count
        FROM (
            SELECT
                segment_id,
                member_count,
                toUnixTimestamp64Milli(computed_at) AS at,
                least(greatest(intDiv(at - {starts:Array(Int64)}[1], 86400000), 0), {days:Int64} - 1) AS guess,
                greatest(guess - (at < {starts:Array(Int64)}[guess + 1]) + (at >= {starts:Array(Int64)}[guess + 2]), 0)
                    AS day
            FROM segment_size_history
            WHERE org_id = {org_id:UInt64}
              AND segment_id IN {segment_ids:Array(UInt64)}
              AND computed_at <= {now:DateTime64(3, 'UTC')}
        )
        GROUP BY segment_id, day
    )
    ORDER BY segment_id, day WITH FILL TO {days:Int64} STEP 1
    INTERPOLATE (count AS count)
)
GROUP BY segment_id
HAVING length(points) >= {min_points:UInt32}
"""

MIN_TREND_POINTS = 2


def fetch_segments(
    pg: PostgresClient, ch: ClickHouseClient, org_id: int, window: Window, *, after: int = 0, limit: int = PAGE_LIMIT
) -> Page:
    """The active segments with ids after `after`, at most `limit` of them, with their trends in `window`."""
    rows = pg.run(SEGMENTS_SQL, org_id=org_id, after=after, fetch=limit + 1)  # one more: is there a next page?
    segments = rows[:limit]
    computed = [segment_id for segment_id, _, _, last_computed_at in segments if last_computed_at is not None]
    trends = fetch_trends(ch, org_id, computed, window) if computed else {}
    items = [
        {
            "id": segment_id,
            "name": name,
            "member_count": member_count,
            "last_computed_at": last_computed_at,
            "trend": trends.get(segment_id, []),
        }
        for segment_id, name, member_count, last_computed_at in segments
    ]
    return Page(items, more=len(rows) > limit)


def fetch_trends(
    ch: ClickHouseClient, org_id: int, segment_ids: list[int], window: Window
) -> dict[int, list[dict[str, Any]]]:
    """Daily size series of `segment_ids`; a segment whose series has fewer than 2 days is left out."""
    rows = ch.rows(
        TREND_SQL,
        org_id=org_id,
        segment_ids=segment_ids,
        starts=[round(start.timestamp() * 1000) for start in window.starts],
        days=len(window.days),
        now=window.now,
        min_points=MIN_TREND_POINTS,
    )
    labels = window.labels
    return {
        int(segment_id): [{"day": labels[day], "count": count} for day, count in points] for segment_id, points in rows
    }
