"""The shared result cache (analytics_common.clickhouse.cached_rows) on the real engines.

Answers read from the memberships are served again while the active segments' data version
(their ids and latest last_computed_at) is unchanged; usage's distinct users while the period's
event count is. A recompute is visible on the next request, an answer never crosses organizations
or periods, and QUERY_CACHE_TTL_SECONDS=0 (the default) always scans.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from analytics_common.clickhouse import cache_key
from tests.conftest import Stores
from tests.lambda_support import api_event, invoke


@dataclass
class Org:
    org_id: int
    segments: list[int]


def seed_org(db: Stores, ids: Iterator[int], now: datetime, members: dict[int, list[str]] | None = None) -> Org:
    """An organization with a current subscription, two computed segments and a few events."""
    org = Org(next(ids), [next(ids), next(ids)])
    plan, today = next(ids), now.date()
    db.insert_pg("organizations", ["id", "name"], [[org.org_id, f"Cache {org.org_id}"]])
    db.insert_pg(
        "plans",
        ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
        [[plan, "Growth", "growth", 1000, 100, 10, 10]],
    )
    db.insert_pg(
        "subscriptions",
        ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
        [[next(ids), org.org_id, plan, "active", today.replace(day=1), month_end(today)]],
    )
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
        [[seg, org.org_id, f"S{seg}", True, 0, now - timedelta(hours=1)] for seg in org.segments],
    )
    members = members or {0: ["p1", "p2", "p3"], 1: ["p2", "p3"]}
    db.insert_ch(
        "segment_memberships",
        ["org_id", "segment_id", "profile_id", "version", "is_deleted"],
        [(org.org_id, org.segments[n], profile, 1, 0) for n, profiles in members.items() for profile in profiles],
    )
    add_events(db, org, now, ["p1", "p2"])
    return org


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def add_events(db: Stores, org: Org, now: datetime, profiles: list[str]) -> None:
    db.insert_ch(
        "events",
        ["org_id", "profile_id", "event_name", "timestamp"],
        [(org.org_id, profile, "login", now - timedelta(minutes=1)) for profile in profiles],
    )


def recompute(db: Stores, org: Org, segment: int, profile: str, now: datetime) -> None:
    """What the platform does: new membership rows, then the segment's last_computed_at bumped."""
    db.insert_ch(
        "segment_memberships",
        ["org_id", "segment_id", "profile_id", "version", "is_deleted"],
        [(org.org_id, segment, profile, 1, 0)],
    )
    db.pg.run("UPDATE segments SET last_computed_at = :at WHERE id = :id", at=now, id=segment)


def get(name: str, org: Org) -> tuple[Any, str]:
    """The answer and the Server-Timing cache outcome of one request."""
    response = invoke(name, api_event(name, org.org_id))
    assert response["statusCode"] == 200, response
    server_timing = response["multiValueHeaders"]["Server-Timing"][0]
    outcomes = [part.split("desc=")[1] for part in server_timing.split(", ") if part.startswith("cache;")]
    assert len(outcomes) == 1, server_timing
    return json.loads(response["body"]), outcomes[0]


@pytest.fixture
def cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_CACHE_TTL_SECONDS", "300")


def test_a_repeat_is_a_hit_and_a_recompute_is_visible_on_the_next_request(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None
) -> None:
    org = seed_org(db, ids, now)
    first, outcome = get("overview", org)
    assert (first["total_members"], outcome) == (3, "miss")
    assert get("overview", org) == (first, "hit")

    # New rows alone (no recompute recorded yet): the cached answer stands, so it really is cached.
    db.insert_ch(
        "segment_memberships",
        ["org_id", "segment_id", "profile_id", "version", "is_deleted"],
        [(org.org_id, org.segments[0], "p9", 1, 0)],
    )
    assert get("overview", org)[0]["total_members"] == 3

    recompute(db, org, org.segments[1], "p4", now)
    body, outcome = get("overview", org)
    assert (body["total_members"], outcome) == (5, "miss")
    assert get("overview", org) == (body, "hit")


def test_overlap_is_cached_and_a_recompute_is_visible(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None
) -> None:
    org = seed_org(db, ids, now)
    first, _ = get("overlap", org)
    assert [pair["overlap"] for pair in first] == [2]
    assert get("overlap", org) == (first, "hit")

    recompute(db, org, org.segments[1], "p1", now)
    again, outcome = get("overlap", org)
    assert ([pair["overlap"] for pair in again], outcome) == ([3], "miss")


def test_usage_users_are_cached_until_an_event_lands_in_the_period(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None
) -> None:
    org = seed_org(db, ids, now)
    first, _ = get("usage", org)
    assert (first["events"]["used"], first["users"]["used"]) == (2, 2)
    assert get("usage", org) == (first, "hit")

    add_events(db, org, now, ["p7"])
    again, outcome = get("usage", org)
    assert (again["events"]["used"], again["users"]["used"], outcome) == (3, 3, "miss")


def test_a_cached_answer_never_crosses_organizations(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None
) -> None:
    # Same shape, same profile ids, different sizes: only the organization tells the answers apart.
    a = seed_org(db, ids, now)
    b = seed_org(db, ids, now, members={0: ["p1"], 1: ["p1"]})
    for name in ("overview", "overlap", "usage"):
        get(name, a)
    b_overview, outcome = get("overview", b)
    assert (b_overview["total_members"], outcome) == (1, "miss")
    assert [pair["overlap"] for pair in get("overlap", b)[0]] == [1]
    assert get("overview", a)[0]["total_members"] == 3


def test_a_cached_answer_never_crosses_periods(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_common import clock

    org = seed_org(db, ids, now)
    next_month = month_end(now.date()) + timedelta(days=1)
    db.insert_pg(
        "subscriptions",
        ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
        [[next(ids), org.org_id, plan_of(db, org), "active", next_month, month_end(next_month)]],
    )
    assert get("usage", org)[0]["users"]["used"] == 2
    later = datetime.combine(next_month, now.timetz()) + timedelta(hours=1)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    body, outcome = get("usage", org)
    assert (body["period_start"], body["users"]["used"], outcome) == (next_month.isoformat(), 0, "miss")


def plan_of(db: Stores, org: Org) -> int:
    return int(db.pg.run("SELECT plan_id FROM subscriptions WHERE org_id = :org", org=org.org_id)[0][0])


def test_the_key_covers_the_statement_every_parameter_and_the_version() -> None:
    base = cache_key("SELECT 1", "v1", {"org_id": 1, "segment_ids": [1, 2], "tz": "UTC", "cursor": None})
    assert cache_key("SELECT 1", "v1", {"segment_ids": [1, 2], "org_id": 1, "tz": "UTC", "cursor": None}) == base
    variants = [
        cache_key("SELECT 2", "v1", {"org_id": 1, "segment_ids": [1, 2], "tz": "UTC", "cursor": None}),
        cache_key("SELECT 1", "v2", {"org_id": 1, "segment_ids": [1, 2], "tz": "UTC", "cursor": None}),
        cache_key("SELECT 1", "v1", {"org_id": 2, "segment_ids": [1, 2], "tz": "UTC", "cursor": None}),
        cache_key("SELECT 1", "v1", {"org_id": 1, "segment_ids": [1, 3], "tz": "UTC", "cursor": None}),
        cache_key("SELECT 1", "v1", {"org_id": 1, "segment_ids": [1, 2], "tz": "Europe/Paris", "cursor": None}),
        cache_key("SELECT 1", "v1", {"org_id": 1, "segment_ids": [1, 2], "tz": "UTC", "cursor": "abc"}),
        cache_key("SELECT 1", "v1", {"org_id": 1, "segment_ids": [1, 2], "tz": "UTC", "cursor": None, "days": 7}),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_ttl_zero_always_scans_and_stores_nothing(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org = seed_org(db, ids, now)
    first, outcome = get("overview", org)
    assert (first["total_members"], outcome) == (3, "off")
    db.insert_ch(
        "segment_memberships",
        ["org_id", "segment_id", "profile_id", "version", "is_deleted"],
        [(org.org_id, org.segments[0], "p9", 1, 0)],
    )
    assert get("overview", org) == ({**first, "total_members": 4}, "off")  # no recompute needed: it scans
    stored = db.ch.query("SELECT count() FROM api_result_cache WHERE org_id = {o:UInt64}", parameters={"o": org.org_id})
    assert stored.result_rows == [(0,)]


def test_an_answer_older_than_the_ttl_is_computed_again(
    db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUERY_CACHE_TTL_SECONDS", "0.5")
    org = seed_org(db, ids, now)
    assert get("overview", org)[1] == "miss"
    assert get("overview", org)[1] == "hit"
    time.sleep(0.6)
    assert get("overview", org)[1] == "miss"


def test_an_unusable_cache_is_skipped_and_the_answer_computed(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_common import clickhouse

    org = seed_org(db, ids, now)
    monkeypatch.setattr(clickhouse, "CACHE_LOOKUP_SQL", "SELECT result FROM no_such_table LIMIT {ttl_ms:UInt64}")
    monkeypatch.setattr(clickhouse, "CACHE_STORE_SQL", "SELECT 1 FROM no_such_table")
    for _ in range(2):
        body, outcome = get("overview", org)
        assert (body["total_members"], outcome) == (3, "miss")


def test_a_write_that_times_out_is_skipped_but_a_lookup_that_times_out_is_a_504(
    db: Stores, ids: Iterator[int], now: datetime, cache_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_common import clickhouse
    from analytics_common.errors import StoreTimeout

    org = seed_org(db, ids, now)
    real_rows = clickhouse.ClickHouseClient.rows
    slow: set[str] = set()

    def rows(self: clickhouse.ClickHouseClient, sql: str, **parameters: Any) -> Any:
        if sql in slow:
            raise StoreTimeout("Analytics store query timed out.")
        return real_rows(self, sql, **parameters)

    monkeypatch.setattr(clickhouse.ClickHouseClient, "rows", rows)
    slow.add(clickhouse.CACHE_STORE_SQL)
    body, outcome = get("overview", org)
    assert (body["total_members"], outcome) == (3, "miss")

    slow.add(clickhouse.CACHE_LOOKUP_SQL)
    response = invoke("overview", api_event("overview", org.org_id))
    assert (response["statusCode"], json.loads(response["body"])) == (
        504,
        {"detail": "Analytics store query timed out."},
    )
