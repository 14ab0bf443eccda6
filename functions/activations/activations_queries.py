"""Queries behind GET /api/analytics/activations/."""

from __future__ import annotations

from analytics_common.postgres import PostgresClient
from analytics_common.query import PAGE_LIMIT, Page
from analytics_common.rounding import half_up

SUCCESS_RATE_LOGS = 30
SHOWN_LOGS = 5

# One round trip per page. `page` takes the page's activations in id order after the cursor, plus
# one: whether another page follows (`fetched`). Per activation of the page (not the extra one), one
# LATERAL subquery reads its 30 newest logs straight off the index (activation_id, synced_at DESC,
# id DESC) and folds them into the success counts and the 5 newest as JSON. The segment is joined
# only within the same organization: an activation is always listed, but never with another
# tenant's segment name or size (those stay null). Timestamps are formatted here because the logs
# leave Postgres as JSON.
ACTIVATIONS_SQL = """
WITH page AS (
    SELECT id, org_id, segment_id, connector_type, status, last_synced_at, last_error
    FROM activations
    WHERE org_id = :org_id AND id > :after
    ORDER BY id
    LIMIT :limit + 1
)
SELECT a.id,
       a.segment_id,
       s.name AS segment_name,
       a.connector_type,
       a.status,
       to_char(a.last_synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_synced_at,
       a.last_error,
       s.member_count,
       recent.log_count,
       recent.success_count,
       recent.sync_logs,
       (SELECT count(*) FROM page) AS fetched
FROM (SELECT * FROM page ORDER BY id LIMIT :limit) a
LEFT JOIN segments s ON s.id = a.segment_id AND s.org_id = a.org_id
CROSS JOIN LATERAL (
    SELECT count(*) AS log_count,
           count(*) FILTER (WHERE l.status = 'success') AS success_count,
           COALESCE(
               json_agg(
                   json_build_object(
                       'status', l.status,
                       'user_count', l.user_count,
                       'error_message', l.error_message,
                       'synced_at', to_char(l.synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                   )
                   ORDER BY l.recency
               ) FILTER (WHERE l.recency <= :shown_logs),
               '[]'::json
           ) AS sync_logs
    FROM (
        SELECT status, user_count, error_message, synced_at,
               row_number() OVER (ORDER BY synced_at DESC, id DESC) AS recency
        FROM activation_sync_logs
        WHERE activation_id = a.id
        ORDER BY synced_at DESC, id DESC
        LIMIT :rate_logs
    ) l
) recent
ORDER BY a.id
"""


def fetch_activations(pg: PostgresClient, org_id: int, *, after: int = 0, limit: int = PAGE_LIMIT) -> Page:
    """The activations with ids after `after`, at most `limit` of them: the latest state, not a window."""
    rows = pg.run(
        ACTIVATIONS_SQL, org_id=org_id, after=after, limit=limit, rate_logs=SUCCESS_RATE_LOGS, shown_logs=SHOWN_LOGS
    )
    items = [
        {
            "id": activation_id,
            "segment_id": segment_id,
            "segment_name": segment_name,
            "connector_type": connector_type,
            "status": status,
            "last_synced_at": last_synced_at,
            "last_error": last_error,
            "member_count": member_count,
            "success_rate": half_up(100 * success_count, log_count) if log_count else None,
            "sync_logs": sync_logs,
        }
        for (
            activation_id,
            segment_id,
            segment_name,
            connector_type,
            status,
            last_synced_at,
            last_error,
            member_count,
            log_count,
            success_count,
            sync_logs,
            _,
        ) in rows
    ]
    return Page(items, more=bool(rows) and rows[0][-1] > limit)
