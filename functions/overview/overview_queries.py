"""Queries behind GET /api/analytics/overview/."""

from __future__ import annotations

from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.memberships import current_profiles_sql
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

# Distinct current members: the rows of analytics_common.memberships (one per profile, or per two
# profiles whose ids are a UUID and a 32-hex spelling with one key), each counting the profiles it
# stands for. Exact, and grouped by a 16-byte key instead of the id string: 0.60-0.67x the CPU of a
# GROUP BY profile_id on the source table on every bench shape, and below the inexact
# uniqExact(cityHash64(profile_id)) there (`python -m bench.variants`, BENCHMARKS.md). It depends only
# on memberships: served from the result cache while the active segments' version is unchanged.
TOTAL_MEMBERS_SQL = f"""-- overview.total_members
SELECT sum(profiles) FROM ({current_profiles_sql()})
"""  # noqa: S608 - composed of module constants only; values travel as parameters

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
    total_members = 0  # no active segment: no member, and no statement to send
    if segment_ids:
        ((total_members,),) = ch.cached_rows(TOTAL_MEMBERS_SQL, version, org_id=org_id, segment_ids=list(segment_ids))
    (events_30d,) = ch.row(ACTIVITY_SQL, org_id=org_id, window_start=window.start, now=now)
    return {
        "segment_count": len(segment_ids),
        "total_members": int(total_members),
        "events_30d": int(events_30d),
        "ai_credits_used": int(credits_used),
        "ai_credits_limit": int(credits_limit),
    }
