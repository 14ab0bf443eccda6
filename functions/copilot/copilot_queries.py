"""Queries behind GET /api/analytics/copilot/."""

from __future__ import annotations

from typing import Any

from analytics_common.postgres import PostgresClient
from analytics_common.window import Window

# One round trip: the all-time total LEFT JOINed to the window's days, so an organization with
# no request in the window still gets its total (one row with a null day). Both parts are
# index-only scans of (org_id, created_at) INCLUDE (status, credits). A request's day is the local
# day whose [start, next start) holds it: `width_bucket` over the sorted day starts (a binary
# search) numbers the window's days from 1.
COPILOT_SQL = """
WITH daily AS (
    SELECT width_bucket(created_at, CAST(:starts AS timestamptz[])) AS day,
           count(*) FILTER (WHERE status = 'success') AS success,
           count(*) FILTER (WHERE status = 'error') AS error
    FROM copilot_requests
    WHERE org_id = :org_id
      AND created_at >= :window_start
      AND created_at <= :now
    GROUP BY 1
)
SELECT total.requests, daily.day, daily.success, daily.error
FROM (SELECT count(*) AS requests FROM copilot_requests WHERE org_id = :org_id) total
LEFT JOIN daily ON true
ORDER BY daily.day
"""


def fetch_copilot(pg: PostgresClient, org_id: int, window: Window) -> dict[str, Any]:
    rows = pg.run(COPILOT_SQL, org_id=org_id, starts=list(window.starts), window_start=window.start, now=window.now)
    labels = window.labels
    return {
        "total": rows[0][0],
        "daily": [
            {"day": labels[day - 1], "success": success, "error": error}
            for _, day, success, error in rows
            if day is not None
        ],
    }
