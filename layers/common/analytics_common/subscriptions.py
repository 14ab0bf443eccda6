"""The current subscription and the active segments of an organization (docs/api.md §3.1, §3.7),
written once for every endpoint that needs them.

`ACTIVE_SEGMENTS_SQL` is a Postgres SELECT meant to be a CTE body
(`WITH active_segments AS (...)`): the `segments` rows of `:org_id` with `is_active`, the columns
the endpoints read. Postgres inlines a CTE used once, so it costs nothing over a WHERE clause.

`CURRENT_SUBSCRIPTION_SQL` is a Postgres SELECT meant to be a CTE body
(`WITH current_subscription AS (...)`). Parameters: `:org_id`, and `:today` (a
date, from the request's one "now"). It yields at most one row: the subscription
with status `active`, `trialing` or `past_due` whose period holds today, the
highest `id` if several, joined to its plan. Its period runs from 00:00 UTC of
`first_day` to 00:00 UTC of the day after `last_day`: in SQL
`first_day::timestamp AT TIME ZONE 'UTC'` and `(last_day + 1)::timestamp AT TIME ZONE 'UTC'`,
in Python `period_bounds`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from analytics_common.clock import day_start

ACTIVE_SEGMENTS_SQL = """
    SELECT id, name, member_count, last_computed_at
    FROM segments
    WHERE org_id = :org_id AND is_active
"""

CURRENT_SUBSCRIPTION_SQL = """
    SELECT s.id,
           s.current_period_start AS first_day,
           s.current_period_end AS last_day,
           p.name AS plan_name,
           p.tier AS plan_tier,
           p.events_limit,
           p.users_limit,
           p.segments_limit,
           p.ai_credits_limit
    FROM subscriptions s
    JOIN plans p ON p.id = s.plan_id
    WHERE s.org_id = :org_id
      AND s.status IN ('active', 'trialing', 'past_due')
      AND s.current_period_start <= CAST(:today AS date)
      AND CAST(:today AS date) <= s.current_period_end
    ORDER BY s.id DESC
    LIMIT 1
"""


def credits_used_sql(period: str) -> str:
    """A scalar subquery: the copilot credits of `:org_id` spent in the period of the row `period`
    (a CTE or FROM alias with `first_day` and `last_day`), from 00:00 UTC of `first_day` to 00:00 UTC
    of the day after `last_day`. The one reading of "credits used" for /overview/ and /usage/."""
    return f"""(SELECT COALESCE(SUM(c.credits), 0)
          FROM copilot_requests c
         WHERE c.org_id = :org_id
           AND c.created_at >= {period}.first_day::timestamp AT TIME ZONE 'UTC'
           AND c.created_at < ({period}.last_day + 1)::timestamp AT TIME ZONE 'UTC')"""  # noqa: S608 - an alias


def period_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[00:00 UTC of `first_day`, 00:00 UTC of the day after `last_day`): a half-open range."""
    return day_start(first_day), day_start(last_day + timedelta(days=1))


def membership_version_sql(over: str = "") -> str:
    """The version of an organization's memberships over `active_segments` rows, as text, to key the
    result cache: the platform sets a segment's last_computed_at when it recomputes (rewrites) its
    members, so the latest one changes with every recompute ('' before the first). The cached
    statements also carry the active ids themselves. `over`: a window clause (" OVER ()") to give
    it on every row instead of aggregating."""
    return f"COALESCE(CAST(max(last_computed_at){over} AS text), '')"
