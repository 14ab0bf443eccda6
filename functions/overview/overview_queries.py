"""Queries behind GET /api/analytics/overview/."""

from __future__ import annotations

from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.postgres import PostgresClient
from analytics_common.subscriptions import (
    ACTIVE_SEGMENTS_SQL,
    CURRENT_SUBSCRIPTION_SQL,
    credits_used_sql,
    membership_version_sql,
)
from analytics_common.window import Window

# The current subscription (docs/api.md §3.7) picks the credit period and limit; without one,
# the calendar month of today and a limit of 0. Active segment ids feed the ClickHouse side.
OVERVIEW_SQL = f"""
WITH current_subscription AS ({CURRENT_SUBSCRIPTION_SQL}),
     active_segments AS ({ACTIVE_SEGMENTS_SQL}),
     credit_period AS (
    SELECT
        COALESCE((SELECT first_day FROM current_subscription),
                 CAST(date_trunc('month', CAST(:today AS date)) AS date)) AS first_day,
        COALESCE((SELECT last_day FROM current_subscription),
                 CAST(date_trunc('month', CAST(:today AS date)) + interval '1 month' - interval '1 day' AS date))
            AS last_day
)
SELECT
    ARRAY(SELECT id FROM active_segments ORDER BY id) AS active_segment_ids,
    (SELECT {credits_used_sql("cp")} FROM credit_period cp) AS ai_credits_used,
    COALESCE((SELECT ai_credits_limit FROM current_subscription), 0) AS ai_credits_limit,
    (SELECT {membership_version_sql()} FROM active_segments) AS membership_version
"""  # noqa: S608 - composed of module constants only; values travel as parameters

# Current members come from FINAL (newest version wins, deleted rows drop out). Distinct profiles
# are counted as the groups of a GROUP BY on the profile_id string: exact (keys are compared, not
# hashed), and on every bench shape at or below uniqExact(profile_id) (`make bench`, bench.variants;
# BENCHMARKS.md has the alternatives). It depends only on memberships: served from the result cache
# while the active segments' version is unchanged.
TOTAL_MEMBERS_SQL = """-- overview.total_members
SELECT count()
FROM (SELECT 1
        FROM segment_memberships FINAL
       WHERE org_id = {org_id:UInt64}
         AND segment_id IN {segment_ids:Array(UInt64)}
         AND is_deleted = 0
       GROUP BY profile_id)
"""

# A range on the sort key (org_id, timestamp): only the window's granules are read (~5 ms at 20M events).
ACTIVITY_SQL = """-- overview.events_30d
SELECT count()
  FROM events
 WHERE org_id = {org_id:UInt64}
   AND timestamp >= {window_start:DateTime64(3, 'UTC')}
   AND timestamp <= {now:DateTime64(3, 'UTC')}
"""


def fetch_overview(pg: PostgresClient, ch: ClickHouseClient, org_id: int, window: Window) -> dict[str, Any]:
    """`window`: the 30 local days of `events_30d` (credits follow the UTC billing period of `window.now`)."""
    now = window.now
    segment_ids, credits_used, credits_limit, version = pg.run(OVERVIEW_SQL, org_id=org_id, today=now.date())[0]
    ((total_members,),) = ch.cached_rows(TOTAL_MEMBERS_SQL, version, org_id=org_id, segment_ids=list(segment_ids))
    (events_30d,) = ch.row(ACTIVITY_SQL, org_id=org_id, window_start=window.start, now=now)
    return {
        "segment_count": len(segment_ids),
        "total_members": int(total_members),
        "events_30d": int(events_30d),
        "ai_credits_used": int(credits_used),
        "ai_credits_limit": int(credits_limit),
    }
