"""GET /api/analytics/usage/ on the real engines, against a plain-Python reading of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import UsageRows, expected_usage, midnight

MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)

STARTER = {"name": "Starter", "tier": "starter", "limits": (100000, 20000, 10, 100)}
ENTERPRISE = {"name": "Enterprise", "tier": "enterprise", "limits": (-1, -1, -1, -1)}
GROWTH = {"name": "Growth", "tier": "growth", "limits": (1000000, -1, 50, 1000)}


def seed_org(
    db: Stores,
    ids: Iterator[int],
    subscriptions: list[tuple[str, date, date, dict[str, Any]]],
    *,
    profiles: tuple[str, ...] = ("p1", "p2", "p3"),
    segments: tuple[bool, ...] = (True, True, False),
) -> UsageRows:
    """An organization with `subscriptions` (status, first day, last day, plan) taking ids in that order,
    and events and credits around the boundaries of every subscription's period."""
    rows = UsageRows(next(ids))
    db.insert_pg("organizations", ["id", "name"], [[rows.org_id, f"Org {rows.org_id}"]])
    for status, start, end, plan in subscriptions:
        plan_id = next(ids)
        rows.plans[plan_id] = plan
        db.insert_pg(
            "plans",
            ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
            [[plan_id, plan["name"], plan["tier"], *plan["limits"]]],
        )
        rows.subscriptions.append({"id": next(ids), "plan_id": plan_id, "status": status, "start": start, "end": end})
    if rows.subscriptions:
        db.insert_pg(
            "subscriptions",
            ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
            [[s["id"], rows.org_id, s["plan_id"], s["status"], s["start"], s["end"]] for s in rows.subscriptions],
        )
    rows.segments = list(segments)
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count"],
        [[next(ids), rows.org_id, f"Segment {i}", active, 5] for i, active in enumerate(segments)],
    )

    instants = set()
    for sub in rows.subscriptions:
        start, end = midnight(sub["start"]), midnight(sub["end"] + DAY)
        # At the start (counted), 1 ms before it (not), 1 ms before the end (counted), at the end (not).
        instants |= {start, start - MS, start + timedelta(hours=7), end - MS, end}
    for i, ts in enumerate(sorted(instants)):
        # Profiles repeat, so users.used counts distinct ones; the last profile only shows up before any period.
        rows.events.append((profiles[i % (len(profiles) - 1)] if i else profiles[-1], ts))
        rows.credits.append((ts, i + 1))
    if rows.events:
        db.insert_ch(
            "events",
            ["org_id", "profile_id", "event_name", "timestamp"],
            [[rows.org_id, profile, "page_viewed", ts] for profile, ts in rows.events],
        )
        db.insert_pg(
            "copilot_requests",
            ["id", "org_id", "status", "credits", "created_at"],
            [[next(ids), rows.org_id, "success", credits, ts] for ts, credits in rows.credits],
        )
    return rows


def subscriptions_case(case: str, today: date) -> list[tuple[str, date, date, dict[str, Any]]]:
    """Subscriptions of an organization, in id order."""
    cases: dict[str, list[tuple[str, date, date, dict[str, Any]]]] = {
        # Several current ones: the highest id wins; higher ids that are canceled, expired or
        # not yet started must not.
        "highest_id_wins": [
            ("active", today - 10 * DAY, today + 20 * DAY, STARTER),
            ("past_due", today - 3 * DAY, today + 3 * DAY, GROWTH),
            ("canceled", today - DAY, today + DAY, ENTERPRISE),
            ("active", today - 40 * DAY, today - DAY, ENTERPRISE),
            ("trialing", today + DAY, today + 30 * DAY, ENTERPRISE),
        ],
        "starts_today": [
            ("trialing", today, today + 13 * DAY, GROWTH),
            ("incomplete", today - 5 * DAY, today + 5 * DAY, STARTER),
        ],
        "ends_today": [("past_due", today - 30 * DAY, today, STARTER)],
        "unlimited": [("active", today - 15 * DAY, today + 15 * DAY, ENTERPRISE)],
    }
    return cases[case]


@pytest.mark.parametrize("case", ["highest_id_wins", "starts_today", "ends_today", "unlimited"])
def test_usage_of_the_current_subscription(db: Stores, ids: Iterator[int], now: datetime, case: str) -> None:
    rows = seed_org(db, ids, subscriptions_case(case, now.date()))
    expected = expected_usage(rows, now)
    assert expected is not None

    assert invoke_json("usage", api_event("usage", rows.org_id)) == (200, expected)


def test_usage_without_a_subscription_asks_clickhouse_nothing(
    db: Stores, ids: Iterator[int], now: datetime, round_trips: dict[str, int]
) -> None:
    status, _ = invoke_json("usage", api_event("usage", next(ids)))
    assert (status, round_trips) == (404, {"postgres": 1, "clickhouse": 0})


def test_usage_boundaries_stated_literally(db: Stores, ids: Iterator[int], now: datetime) -> None:
    today = now.date()
    rows = seed_org(db, ids, [("active", today, today, GROWTH)], profiles=("a", "b", "z"))
    # Events at: start - 1 ms (z), start (b), start + 7 h (a), end - 1 ms (b), end (a): 3 in the period, 2 profiles.
    # Credits 1..5 in that order: 2 + 3 + 4.
    _, body = invoke_json("usage", api_event("usage", rows.org_id))
    assert body == {
        "plan_name": "Growth",
        "plan_tier": "growth",
        "period_start": today.isoformat(),
        "period_end": today.isoformat(),
        "events": {"used": 3, "limit": 1000000},
        "users": {"used": 2, "limit": -1},
        "segments": {"used": 2, "limit": 50},
        "ai_credits": {"used": 9, "limit": 1000},
    }


def test_each_organization_sees_only_its_own_usage(db: Stores, ids: Iterator[int], now: datetime) -> None:
    today = now.date()
    # Same periods, same profile ids (B's include A's): only the organization tells them apart.
    a = seed_org(db, ids, [("active", today - 5 * DAY, today + 5 * DAY, STARTER)], profiles=("p1", "p2", "p3"))
    b = seed_org(
        db,
        ids,
        [("active", today - 5 * DAY, today + 5 * DAY, GROWTH)],
        profiles=("p1", "p2", "p4", "p5", "p6"),
        segments=(True, False, False),
    )
    answers = {}
    for rows in (a, b):
        status, body = invoke_json("usage", api_event("usage", rows.org_id))
        assert (status, body) == (200, expected_usage(rows, now))
        answers[rows.org_id] = body
    assert answers[a.org_id] != answers[b.org_id]


@pytest.mark.parametrize(
    "subscriptions",
    [
        pytest.param(lambda today: [], id="no_subscription"),
        pytest.param(
            lambda today: [
                ("canceled", today - 5 * DAY, today + 5 * DAY, STARTER),
                ("active", today - 40 * DAY, today - DAY, STARTER),
                ("trialing", today + DAY, today + 10 * DAY, STARTER),
            ],
            id="none_current",
        ),
    ],
)
def test_usage_without_a_current_subscription_is_404(
    db: Stores, ids: Iterator[int], now: datetime, subscriptions: Any
) -> None:
    rows = seed_org(db, ids, subscriptions(now.date()))
    assert expected_usage(rows, now) is None
    assert invoke_json("usage", api_event("usage", rows.org_id)) == (404, {"detail": "No subscription found."})


def test_another_organizations_subscription_is_not_yours(db: Stores, ids: Iterator[int], now: datetime) -> None:
    today = now.date()
    seed_org(db, ids, [("active", today - DAY, today + DAY, ENTERPRISE)])
    without = seed_org(db, ids, [])
    assert invoke_json("usage", api_event("usage", without.org_id)) == (404, {"detail": "No subscription found."})
