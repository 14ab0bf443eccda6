"""Queries behind GET /api/analytics/usage/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.errors import NotFound
from analytics_common.postgres import PostgresClient
from analytics_common.subscriptions import (
    ACTIVE_SEGMENTS_SQL,
    CURRENT_SUBSCRIPTION_SQL,
    credits_used_sql,
    period_bounds,
)

# One Postgres round trip: the current subscription with its plan, the active segments now, and the
# credits spent in the period. No row: the organization has no current subscription.
USAGE_SQL = f"""
WITH current_subscription AS ({CURRENT_SUBSCRIPTION_SQL}),
     active_segments AS ({ACTIVE_SEGMENTS_SQL})
SELECT cs.plan_name,
       cs.plan_tier,
       cs.first_day,
       cs.last_day,
       cs.events_limit,
       cs.users_limit,
       cs.segments_limit,
       cs.ai_credits_limit,
       (SELECT count(*) FROM active_segments) AS active_segments,
       {credits_used_sql("cs")} AS credits_used
FROM current_subscription cs
"""  # noqa: S608 - composed of module constants only; values travel as parameters

# A plain range on the sort key (org_id, timestamp): only the period's granules are read. The count
# needs only the timestamp column (~5 ms). It is also the version of the distinct count: events are
# only ever appended, so the same count in the same period means the same events.
EVENTS_SQL = """-- usage.events
SELECT count()
  FROM events
 WHERE org_id = {org_id:UInt64}
   AND timestamp >= {period_start:DateTime64(3, 'UTC')}
   AND timestamp < {period_end:DateTime64(3, 'UTC')}
"""

# Distinct users are the groups of a GROUP BY on the profile_id string: exact (keys compared, not
# hashed) and ~20% less CPU than uniqExact(profile_id) (`make bench`; BENCHMARKS.md has the
# alternatives). Served from the result cache while the period's event count is unchanged.
USERS_SQL = """-- usage.users
SELECT count()
  FROM (SELECT 1
          FROM events
         WHERE org_id = {org_id:UInt64}
           AND timestamp >= {period_start:DateTime64(3, 'UTC')}
           AND timestamp < {period_end:DateTime64(3, 'UTC')}
         GROUP BY profile_id)
"""


def fetch_usage(pg: PostgresClient, ch: ClickHouseClient, org_id: int, now: datetime) -> dict[str, Any]:
    rows = pg.run(USAGE_SQL, org_id=org_id, today=now.date())
    if not rows:
        raise NotFound("No subscription found.")
    (
        plan_name,
        plan_tier,
        first_day,
        last_day,
        events_limit,
        users_limit,
        segments_limit,
        ai_credits_limit,
        active_segments,
        credits_used,
    ) = rows[0]
    period_start, period_end = period_bounds(first_day, last_day)
    period = {"org_id": org_id, "period_start": period_start, "period_end": period_end}
    (events_used,) = ch.row(EVENTS_SQL, **period)
    ((users_used,),) = ch.cached_rows(USERS_SQL, str(events_used), **period)
    return {
        "plan_name": plan_name,
        "plan_tier": plan_tier,
        "period_start": first_day.isoformat(),
        "period_end": last_day.isoformat(),
        "events": {"used": int(events_used), "limit": events_limit},
        "users": {"used": int(users_used), "limit": users_limit},
        "segments": {"used": active_segments, "limit": segments_limit},
        "ai_credits": {"used": int(credits_used), "limit": ai_credits_limit},
    }
