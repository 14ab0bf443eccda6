"""The contract's answers worked out in plain Python from seeded rows: one reference per endpoint.

Shared by the per-endpoint tests (tests/test_<endpoint>.py) and the tenant-isolation property
test, so there is one reading of docs/api.md to trust. Nothing here touches a store or the code
under test; every function takes the rows a test seeded and a frozen `now`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)

Membership = tuple[int, int, str, int, int]  # org_id, segment_id, profile_id, version, is_deleted
SizeHistory = tuple[int, int, datetime, int]  # org_id, segment_id, computed_at, member_count
CURRENT_STATUSES = ("active", "trialing", "past_due")


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def window_first(now: datetime) -> datetime:
    """00:00 UTC of the day 29 days before today."""
    return midnight(now.date()) - 29 * DAY


@cache
def tz(name: str) -> tzinfo:
    """The zone `name` of the tz database the API ships (the `tzdata` package), whatever the host has."""
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def local_date(at: datetime, zone: tzinfo) -> date:
    """The calendar date the clocks of `zone` show at the instant `at`."""
    return at.astimezone(zone).date()


def first_local_day(now: datetime, zone: tzinfo, days: int) -> date:
    """The window's first day: `days - 1` days before the local today."""
    return local_date(now, zone) - (days - 1) * DAY


def in_window(at: datetime, now: datetime, zone: tzinfo, days: int) -> bool:
    """Whether `at` falls in the last `days` local days, up to now: a day is read off the clocks of the zone."""
    return at <= now and local_date(at, zone) >= first_local_day(now, zone, days)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_members(memberships: list[Membership], org_id: int) -> dict[int, set[str]]:
    """Per segment, the profiles whose newest version (the last inserted among equal ones) is not deleted."""
    newest: dict[tuple[int, int, str], tuple[int, int]] = {}
    for org, seg, profile, version, deleted in memberships:
        key = (org, seg, profile)
        if key not in newest or version >= newest[key][0]:
            newest[key] = (version, deleted)
    members: dict[int, set[str]] = {}
    for (org, seg, profile), (_, deleted) in newest.items():
        if org == org_id and not deleted:
            members.setdefault(seg, set()).add(profile)
    return members


def current_subscription(subscriptions: list[dict[str, Any]], today: date) -> dict[str, Any] | None:
    """Status active, trialing or past_due, with today in its period; the highest id if several."""
    current = [
        sub for sub in subscriptions if sub["status"] in CURRENT_STATUSES and sub["start"] <= today <= sub["end"]
    ]
    return max(current, key=lambda s: s["id"]) if current else None


# --- /overview/ --------------------------------------------------------------------------------


@dataclass
class OverviewRows:
    """The rows /overview/ reads for one organization."""

    org_id: int
    segments: list[tuple[int, bool]] = field(default_factory=list)  # (id, is_active)
    memberships: list[Membership] = field(default_factory=list)
    events: list[datetime] = field(default_factory=list)
    credits: list[tuple[datetime, int]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)  # id, plan_id, status, start, end
    plans: dict[int, int] = field(default_factory=dict)  # plan id -> ai_credits_limit


def expected_overview(
    rows: OverviewRows, all_memberships: list[Membership], now: datetime, zone: tzinfo = UTC
) -> dict[str, Any]:
    today = now.date()
    active = {seg for seg, is_active in rows.segments if is_active}
    members = {
        profile
        for seg, profiles in current_members(all_memberships, rows.org_id).items()
        if seg in active
        for profile in profiles
    }
    sub = current_subscription(rows.subscriptions, today)
    if sub is not None:
        period = (midnight(sub["start"]), midnight(sub["end"] + DAY))
        limit = rows.plans[sub["plan_id"]]
    else:
        start = month_start(today)
        period = (start, month_start((start + timedelta(days=32)).date()))
        limit = 0
    return {
        "segment_count": len(active),
        "total_members": len(members),
        "events_30d": sum(1 for ts in rows.events if in_window(ts, now, zone, 30)),
        "ai_credits_used": sum(credits for ts, credits in rows.credits if period[0] <= ts < period[1]),
        "ai_credits_limit": limit,
    }


# --- /segments/ --------------------------------------------------------------------------------


@dataclass
class Segment:
    id: int
    name: str
    is_active: bool = True
    member_count: int = 0
    last_computed_at: datetime | None = None


@dataclass
class SegmentRows:
    """The `segments` rows of one organization."""

    org_id: int
    segments: list[Segment] = field(default_factory=list)


def expected_trend(
    org_id: int, segment: Segment, history: list[SizeHistory], now: datetime, zone: tzinfo = UTC, days: int = 30
) -> list[dict[str, Any]]:
    """The contract read literally: walk the local days and take the latest row of that day or before
    (a row's day is the date the zone's clocks show when it was computed)."""
    rows = [
        (local_date(at, zone), at, count)
        for org, seg, at, count in history
        if org == org_id and seg == segment.id and at <= now
    ]
    if segment.last_computed_at is None or not rows:
        return []
    today = local_date(now, zone)
    day = max(min(row_day for row_day, _, _ in rows), first_local_day(now, zone, days))
    points = []
    while day <= today:
        # A tie in time: the larger count.
        _, count = max((at, count) for row_day, at, count in rows if row_day <= day)
        points.append({"day": day.isoformat(), "count": count})
        day += DAY
    return points if len(points) >= 2 else []


def expected_segments(
    rows: SegmentRows, history: list[SizeHistory], now: datetime, zone: tzinfo = UTC, days: int = 30
) -> list[dict[str, Any]]:
    return [
        {
            "id": seg.id,
            "name": seg.name,
            "member_count": seg.member_count,
            "last_computed_at": iso(seg.last_computed_at),
            "trend": expected_trend(rows.org_id, seg, history, now, zone, days),
        }
        for seg in sorted(rows.segments, key=lambda s: s.id)
        if seg.is_active
    ]


# --- /overlap/ ---------------------------------------------------------------------------------


@dataclass
class OverlapRows:
    """The `segments` rows of one organization, and its membership inserts."""

    org_id: int
    segments: dict[int, tuple[str, bool]] = field(default_factory=dict)  # id -> (name, is_active)
    inserts: list[list[Membership]] = field(default_factory=list)  # one ClickHouse insert each


def percent_half_up(overlap: int, smaller: int) -> float:
    return float((Decimal(overlap) * 100 / Decimal(smaller)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def expected_overlap(rows: OverlapRows, memberships: list[Membership]) -> list[dict[str, Any]]:
    members = current_members(memberships, rows.org_id)
    active = sorted(seg for seg, (_, is_active) in rows.segments.items() if is_active)
    pairs = []
    for seg_a, seg_b in combinations(active, 2):
        a, b = members.get(seg_a, set()), members.get(seg_b, set())
        if a & b:
            pairs.append((len(a & b), seg_a, seg_b, percent_half_up(len(a & b), min(len(a), len(b)))))
    pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    return [
        {
            "seg_a_id": seg_a,
            "seg_a_name": rows.segments[seg_a][0],
            "seg_b_id": seg_b,
            "seg_b_name": rows.segments[seg_b][0],
            "overlap": shared,
            "overlap_pct": pct,
        }
        for shared, seg_a, seg_b, pct in pairs[:20]
    ]


# --- /activations/ -----------------------------------------------------------------------------


@dataclass
class Seeded:
    """Postgres rows behind /activations/ (of one or more organizations)."""

    segments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> org_id, name, member_count
    activations: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)


def expected_activations(seeded: Seeded, org_id: int) -> list[dict[str, Any]]:
    answer = []
    for activation in sorted(seeded.activations, key=lambda a: a["id"]):
        if activation["org_id"] != org_id:
            continue
        # A segment of another organization (seeded or not) shows neither its name nor its size.
        segment = seeded.segments.get(activation["segment_id"])
        same_org = segment is not None and segment["org_id"] == org_id
        logs = sorted(
            (log for log in seeded.logs if log["activation_id"] == activation["id"]),
            key=lambda log: (log["synced_at"], log["id"]),
            reverse=True,
        )
        recent = logs[:30]
        successes = sum(1 for log in recent if log["status"] == "success")
        rate = (
            int((Decimal(100 * successes) / Decimal(len(recent))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if recent
            else None
        )
        answer.append(
            {
                "id": activation["id"],
                "segment_id": activation["segment_id"],
                "segment_name": segment["name"] if segment is not None and same_org else None,
                "connector_type": activation["connector_type"],
                "status": activation["status"],
                "last_synced_at": iso(activation["last_synced_at"]),
                "last_error": activation["last_error"],
                "member_count": segment["member_count"] if segment is not None and same_org else None,
                "success_rate": rate,
                "sync_logs": [
                    {
                        "status": log["status"],
                        "user_count": log["user_count"],
                        "error_message": log["error_message"],
                        "synced_at": iso(log["synced_at"]),
                    }
                    for log in logs[:5]
                ],
            }
        )
    return answer


# --- /copilot/ ---------------------------------------------------------------------------------


def expected_copilot(
    requests: list[tuple[str, datetime]], now: datetime, zone: tzinfo = UTC, days: int = 30
) -> dict[str, Any]:
    """`requests`: (status, created_at) of every copilot request of one organization."""
    per_day: dict[str, Counter[str]] = {}
    for status, created_at in requests:
        if in_window(created_at, now, zone, days):
            per_day.setdefault(local_date(created_at, zone).isoformat(), Counter())[status] += 1
    return {
        "total": len(requests),
        "daily": [
            {"day": day, "success": counts["success"], "error": counts["error"]}
            for day, counts in sorted(per_day.items())
        ],
    }


# --- /usage/ -----------------------------------------------------------------------------------


@dataclass
class UsageRows:
    """The rows /usage/ reads for one organization."""

    org_id: int
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> name, tier, limits (4 of them)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)  # id, plan_id, status, start, end
    segments: list[bool] = field(default_factory=list)  # is_active of each
    events: list[tuple[str, datetime]] = field(default_factory=list)  # (profile_id, timestamp)
    credits: list[tuple[datetime, int]] = field(default_factory=list)


def expected_usage(rows: UsageRows, now: datetime) -> dict[str, Any] | None:
    """The 200 body, or None where the answer is 404 (no current subscription)."""
    sub = current_subscription(rows.subscriptions, now.date())
    if sub is None:
        return None
    plan = rows.plans[sub["plan_id"]]
    start, end = midnight(sub["start"]), midnight(sub["end"] + DAY)
    events = [(profile, ts) for profile, ts in rows.events if start <= ts < end]
    events_limit, users_limit, segments_limit, credits_limit = plan["limits"]
    return {
        "plan_name": plan["name"],
        "plan_tier": plan["tier"],
        "period_start": sub["start"].isoformat(),
        "period_end": sub["end"].isoformat(),
        "events": {"used": len(events), "limit": events_limit},
        "users": {"used": len({profile for profile, _ in events}), "limit": users_limit},
        "segments": {"used": sum(rows.segments), "limit": segments_limit},
        "ai_credits": {"used": sum(c for ts, c in rows.credits if start <= ts < end), "limit": credits_limit},
    }
