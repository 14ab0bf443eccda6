"""GET /api/analytics/overview/ on the real engines, against a plain-Python reading of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import OverviewRows, expected_overview, month_start

MS = timedelta(milliseconds=1)


def seed(db: Stores, ids: Iterator[int], now: datetime) -> tuple[OverviewRows, OverviewRows, list]:
    today = now.date()
    window_first = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=29)
    a, b = OverviewRows(next(ids)), OverviewRows(next(ids))
    db.insert_pg("organizations", ["id", "name"], [[a.org_id, "Acme"], [b.org_id, "Globex"]])

    unlimited, starter = next(ids), next(ids)
    a.plans = {unlimited: -1, starter: 100}
    db.insert_pg(
        "plans",
        ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
        [
            [unlimited, "Enterprise", "enterprise", -1, -1, -1, -1],
            [starter, "Starter", "starter", 100000, 20000, 10, 100],
        ],
    )
    a.subscriptions = [
        {
            "id": next(ids),
            "plan_id": unlimited,
            "status": "active",
            "start": today - timedelta(days=10),
            "end": today + timedelta(days=20),
        },
        # Higher ids that must not win: canceled, and a period that ended yesterday.
        {
            "id": next(ids),
            "plan_id": starter,
            "status": "canceled",
            "start": today - timedelta(days=5),
            "end": today + timedelta(days=25),
        },
        {
            "id": next(ids),
            "plan_id": starter,
            "status": "active",
            "start": today - timedelta(days=40),
            "end": today - timedelta(days=1),
        },
    ]
    db.insert_pg(
        "subscriptions",
        ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
        [[s["id"], a.org_id, s["plan_id"], s["status"], s["start"], s["end"]] for s in a.subscriptions],
    )

    a_s1, a_s2, a_s3, b_s1, b_s2 = (next(ids) for _ in range(5))
    a.segments = [(a_s1, True), (a_s2, True), (a_s3, False)]
    b.segments = [(b_s1, True), (b_s2, False)]
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count"],
        [[seg, org.org_id, f"Segment {seg}", active, 0] for org in (a, b) for seg, active in org.segments],
    )

    # Three inserts, so the newest version of a profile sits in another part than the older ones:
    # only FINAL reads the right members. Org B reuses A's profile ids and even A's segment id.
    inserts = [
        [
            (a.org_id, a_s1, "p1", 1, 0),
            (a.org_id, a_s1, "p2", 1, 0),
            (a.org_id, a_s1, "p3", 2, 0),
            (a.org_id, a_s2, "p3", 1, 0),
            (a.org_id, a_s2, "p4", 1, 0),
            (a.org_id, a_s3, "p9", 1, 0),
            (b.org_id, b_s1, "p1", 1, 0),
            (b.org_id, b_s1, "p2", 1, 0),
            (b.org_id, a_s1, "p7", 1, 0),
            (b.org_id, b_s2, "p8", 1, 0),
        ],
        [
            (a.org_id, a_s1, "p2", 2, 1),
            (a.org_id, a_s1, "p3", 1, 1),
            (a.org_id, a_s2, "p4", 3, 1),
            (a.org_id, a_s2, "p5", 1, 0),
            (a.org_id, a_s2, "p6", 1, 0),
            (b.org_id, b_s1, "p2", 5, 1),
        ],
        [(a.org_id, a_s2, "p4", 4, 0), (a.org_id, a_s2, "p6", 2, 1), (b.org_id, b_s1, "p10", 1, 0)],
    ]
    memberships = []
    for rows in inserts:
        db.insert_ch("segment_memberships", ["org_id", "segment_id", "profile_id", "version", "is_deleted"], rows)
        memberships.extend(rows)

    a.events = [
        window_first,
        window_first - MS,
        window_first + MS,
        now,
        now - timedelta(days=3),
        now - timedelta(days=45),
        now + timedelta(days=1),
    ]
    b.events = [window_first - MS, now - timedelta(hours=2)]
    db.insert_ch(
        "events",
        ["org_id", "profile_id", "event_name", "timestamp"],
        [[org.org_id, "p1", "page_viewed", ts] for org in (a, b) for ts in org.events],
    )

    period_start = datetime.combine(today - timedelta(days=10), datetime.min.time(), UTC)
    this_month = month_start(today)
    a.credits = [(period_start, 3), (period_start - timedelta(seconds=1), 50), (now, 4)]
    b.credits = [(this_month, 2), (this_month - timedelta(seconds=1), 40), (now, 5)]
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [[next(ids), org.org_id, "success", credits, ts] for org in (a, b) for ts, credits in org.credits],
    )
    return a, b, memberships


def test_overview_matches_the_contract_for_each_organization(db: Stores, ids: Iterator[int], now: datetime) -> None:
    a, b, memberships = seed(db, ids, now)

    for org in (a, b):
        status, body = invoke_json("overview", api_event("overview", org.org_id))
        assert status == 200
        assert body == expected_overview(org, memberships, now)

    # The figures are not trivially equal across organizations (the test can tell them apart).
    assert expected_overview(a, memberships, now) != expected_overview(b, memberships, now)


@pytest.mark.parametrize("cache_ttl", ["0", "300"])
def test_overview_of_an_organization_without_data_is_all_zero(
    db: Stores,
    ids: Iterator[int],
    now: datetime,
    round_trips: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    cache_ttl: str,
) -> None:
    monkeypatch.setenv("QUERY_CACHE_TTL_SECONDS", cache_ttl)
    status, body = invoke_json("overview", api_event("overview", next(ids)))
    assert (status, body) == (
        200,
        {"segment_count": 0, "total_members": 0, "events_30d": 0, "ai_credits_used": 0, "ai_credits_limit": 0},
    )
    assert round_trips == {"postgres": 1, "clickhouse": 1}  # the events count: no active segment, no members query
