"""Tenant isolation, property-based: two organizations whose data collide, and every endpoint for each.

Hypothesis draws two organizations' rows in which everything that can collide does: the
same profile ids (a small shared pool, hostile strings included), and ClickHouse rows of one
organization filed under the other's segment ids (memberships and size history), plus
membership versions and deletions spread over several inserts (merges paused, so only a FINAL
read is right), events, history and requests on the edges of the window, the month and the
subscription periods, activations with sync logs (some past the 30-log cut, some on the other
organization's segment), copilot requests, subscriptions and plans (sometimes /usage/ is 404
for one organization and 200 for the other), and a `now` that is sometimes on a month, year
or leap-day edge. The rows go into the real stores under fresh organization ids, and every
endpoint's answer for each organization must equal the one tests/reference.py computes from
THAT organization's rows alone: so adding the other organization's rows changed nothing.

Two handmade examples (`handmade`) run first on every profile. Then, by the environment
variable HYPOTHESIS_PROFILE:
- unset or `ci`: 40 generated examples, derandomized (the same ones on every run of this
  pinned Hypothesis), no example database: deterministic for `make test` and CI; ~5-15 s.
- `long`: 1000 random examples (~2 min), failures kept in `.local/hypothesis` and replayed
  first, for fuzzing runs:
  `HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_tenant_isolation_property.py
  --hypothesis-show-statistics` (the statistics list which edges the examples reached).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from analytics_common import clock
from analytics_common.endpoints import NAMES
from tests.conftest import Stores
from tests.lambda_support import ROOT, all_pages, api_event, invoke, invoke_json, next_page_query
from tests.membership_support import SAMPLE_UUID, twin_of
from tests.reference import (
    CURRENT_STATUSES,
    Membership,
    OverlapRows,
    OverviewRows,
    Seeded,
    Segment,
    SegmentRows,
    SizeHistory,
    UsageRows,
    current_members,
    expected_activations,
    expected_copilot,
    expected_overlap,
    expected_overview,
    expected_segments,
    expected_usage,
    local_date,
    midnight,
    month_start,
    tz,
    window_first,
)

MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)
NO_SUBSCRIPTION = {"detail": "No subscription found."}

_CI = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # The fixtures (stores, id counter) are shared by every example on purpose: each example
    # takes fresh ids and writes new rows, so nothing has to be reset in between.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_LONG = settings(
    _CI,
    max_examples=1000,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(str(ROOT / ".local" / "hypothesis")),
)
PROFILE = {"ci": _CI, "long": _LONG}[os.environ.get("HYPOTHESIS_PROFILE", "ci")]


# --- What Hypothesis draws: rows with symbolic instants and segment references --------------------

# An instant is (anchor, offset), resolved against the example's `now`, so the edges stay edges.
Instant = tuple[str, timedelta]
ANCHORS = ("now", "window_first", "today", "local_today", "month_start", "next_month_start")
# Zones with 23-, 23.5-, 24.5- and 25-hour days, a day that starts at 01:00, +05:30, -03:30 and +14:00.
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Australia/Lord_Howe",
)
NUDGES = (timedelta(0), MS, -MS, timedelta(seconds=1), -timedelta(seconds=1), timedelta(hours=1), -DAY, DAY - MS)

# Shared by both organizations: collisions on purpose. Case, spaces, quotes, unicode, empty; a UUID, the
# same in capitals, and the 32-hex id that shares its 128-bit key in the API's copy (docs/deploy.md,
# "Memberships by profile key").
PROFILES = (
    *("p1", "p2", "P1", "p1 ", "", "'; DROP TABLE events; --", "ünï", "\\N"),
    *(SAMPLE_UUID, SAMPLE_UUID.upper(), twin_of(SAMPLE_UUID)),
)
SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "canceled", "incomplete", "unpaid")

# Text as tenants may type it: anything Postgres can store (no NUL, no lone surrogates).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
instants: st.SearchStrategy[Instant] = st.one_of(
    st.tuples(st.sampled_from(ANCHORS), st.sampled_from(NUDGES)),
    # Midnights and their neighbours across the window and any subscription period.
    st.tuples(
        st.sampled_from(["today", "local_today"]),
        st.builds(lambda d, n: d * DAY + n, st.integers(-45, 3), st.sampled_from(NUDGES[:3])),
    ),
    st.tuples(
        st.sampled_from(["today", "local_today"]),
        st.builds(lambda d, ms: d * DAY + ms * MS, st.integers(-45, 3), st.integers(0, 86_400_000 - 1)),
    ),
)
edge_days = st.sampled_from(
    [date(2028, 2, 29), date(2028, 3, 1), date(2026, 12, 31), date(2027, 1, 1), date(2026, 6, 1)]
)
nows = st.builds(
    lambda day, at: datetime.combine(day, at, UTC),
    st.one_of(edge_days, st.dates(date(2025, 1, 1), date(2029, 12, 31))),
    st.one_of(
        st.sampled_from([time(0, 0, 0), time(0, 0, 1), time(23, 59, 59)]),
        st.times().map(lambda t: t.replace(microsecond=0)),
    ),
)


@dataclass
class SegmentSpec:
    name: str
    is_active: bool
    member_count: int
    last_computed: Instant | None


@dataclass
class LogSpec:
    status: str
    user_count: int
    error_message: str
    synced: Instant


@dataclass
class ActivationSpec:
    segment: int  # index into both organizations' segments (the other's included)
    connector_type: str
    status: str
    last_synced: Instant | None
    last_error: str
    logs: list[LogSpec]


@dataclass
class SubscriptionSpec:
    status: str
    first_day: int  # days from today
    days: int  # period length - 1
    plan_name: str
    plan_tier: str
    limits: tuple[int, int, int, int]  # events, users, segments, ai_credits; -1 = unlimited


@dataclass
class OrgSpec:
    segments: list[SegmentSpec]
    # Segment references below index [own..., other's..., one id no organization owns].
    membership_inserts: list[list[tuple[int, str, int, bool]]]  # (segment, profile, version, is_deleted)
    history: list[tuple[int, Instant, int]]  # (segment, computed_at, member_count)
    events: list[tuple[str, str, Instant]]  # (profile, event_name, timestamp)
    activations: list[ActivationSpec]
    requests: list[tuple[str, int, Instant]]  # (status, credits, created_at)
    subscriptions: list[SubscriptionSpec]


@dataclass(frozen=True)
class View:
    """The version-2 parameters every example also asks with: a zone, a window length and a page size."""

    zone: str = "UTC"
    days: int = 30
    limit: int = 1000


@dataclass
class TwoOrgs:
    now: datetime
    a: OrgSpec
    b: OrgSpec
    segment_id_order: list[int]  # the order in which both organizations' segments take ids
    view: View = View()


views = st.builds(
    View,
    zone=st.sampled_from(ZONES),
    days=st.sampled_from([1, 2, 7, 30, 90]) | st.integers(1, 90),
    limit=st.sampled_from([1, 2, 3, 1000]),
)


def is_current(sub: SubscriptionSpec) -> bool:
    return sub.status in CURRENT_STATUSES and sub.first_day <= 0 <= sub.first_day + sub.days


limits = st.tuples(*(st.one_of(st.just(-1), st.integers(0, 10**6)) for _ in range(4)))
subscriptions_strategy = st.builds(
    SubscriptionSpec,
    status=st.sampled_from(SUBSCRIPTION_STATUSES),
    first_day=st.integers(-40, 3),
    days=st.integers(0, 40),
    plan_name=texts,
    plan_tier=st.sampled_from(["free", "starter", "growth", "enterprise"]),
    limits=limits,
)
# Current: a current status, and a period from `back` days ago to `ahead` days ahead (0: today).
current_subscriptions = st.builds(
    lambda sub, status, back, ahead: replace(sub, status=status, first_day=-back, days=back + ahead),
    subscriptions_strategy,
    st.sampled_from(CURRENT_STATUSES),
    st.integers(0, 40),
    st.integers(0, 40),
)
logs_strategy = st.builds(
    LogSpec,
    status=st.sampled_from(["success", "error"]),
    user_count=st.integers(0, 10**6),
    error_message=texts,
    synced=instants,
)


@st.composite
def org_specs(draw: st.DrawFn, own: list[SegmentSpec], own_first: int, universe: int, *, has_current: bool) -> OrgSpec:
    """One organization's rows. `own_first`: index of its first segment among the `universe` references;
    `has_current`: whether it has a current subscription."""
    ch_segment = st.integers(0, universe - 1)  # the last one is owned by no organization
    pg_segment = st.integers(0, universe - 2)
    if own:  # half the rows on its own segments, so its pairs share members
        own_segment = st.integers(own_first, own_first + len(own) - 1)
        ch_segment, pg_segment = own_segment | ch_segment, own_segment | pg_segment
    # Profiles from one small pool shared by both organizations, each in 1-4 segments (own, the
    # other's, or nobody's). Each (segment, profile) gets 1-3 rising versions (equal versions have
    # no winner in the contract), each version in another of three inserts, in any order: a newer
    # version, deleted or not, may land in an earlier insert than an older one.
    spread = st.lists(ch_segment, min_size=1, max_size=4, unique=True)
    profiles = draw(
        st.dictionaries(st.sampled_from(PROFILES), spread, max_size=2)
        | st.dictionaries(st.sampled_from(PROFILES), spread, min_size=4)
    )
    keys = [(segment, profile) for profile, segments in profiles.items() for segment in segments]
    inserts: list[list[tuple[int, str, int, bool]]] = [[], [], []]
    for segment, profile in keys:
        steps = draw(
            st.lists(st.tuples(st.integers(1, 3), st.sampled_from([False, False, True])), min_size=1, max_size=3)
        )
        places = draw(st.permutations(range(3)))
        version = 0
        for (step, deleted), place in zip(steps, places, strict=False):
            version += step
            inserts[place].append((segment, profile, version, deleted))
    activations = []
    if universe > 1:
        activations = draw(
            st.lists(
                st.builds(
                    ActivationSpec,
                    # Mostly its own segments; sometimes the other organization's.
                    segment=pg_segment,
                    connector_type=st.sampled_from(["klaviyo", "hubspot", "meta_ads"]) | texts,
                    status=st.sampled_from(["active", "paused", "error"]) | texts,
                    last_synced=st.none() | instants,
                    last_error=texts,
                    # Some past the 30 logs the success rate reads.
                    logs=st.lists(logs_strategy, max_size=6) | st.lists(logs_strategy, min_size=29, max_size=33),
                ),
                max_size=3,
            )
        )
    subscriptions = draw(st.lists(subscriptions_strategy, max_size=3))
    if has_current:  # /usage/ 200, the current subscription at any place in id order
        subscriptions.insert(draw(st.integers(0, len(subscriptions))), draw(current_subscriptions))
    else:  # none (/usage/ 404, /overview/ falls back to the calendar month)
        subscriptions = [sub for sub in subscriptions if not is_current(sub)]
    history_row = st.tuples(ch_segment, instants, st.integers(0, 10**6))
    return OrgSpec(
        segments=own,
        membership_inserts=inserts,
        history=draw(st.lists(history_row, max_size=2) | st.lists(history_row, min_size=4, max_size=12)),
        events=draw(
            st.lists(
                st.tuples(st.sampled_from(PROFILES), st.sampled_from(["page_viewed", "order"]), instants), max_size=12
            )
        ),
        activations=activations,
        requests=draw(
            st.lists(st.tuples(st.sampled_from(["success", "error"]), st.integers(0, 50), instants), max_size=8)
        ),
        subscriptions=subscriptions,
    )


segment_spec = st.builds(
    SegmentSpec,
    name=texts,
    is_active=st.sampled_from([True, True, True, False]),
    member_count=st.integers(0, 10**6),
    last_computed=st.none() | instants,
)
# As often none or one as several (pairs for /overlap/).
segment_specs = st.sampled_from([0, 1, 2, 3, 3, 4, 4, 5]).flatmap(
    lambda n: st.lists(segment_spec, min_size=n, max_size=n)
)


@st.composite
def two_orgs(draw: st.DrawFn) -> TwoOrgs:
    a_segments, b_segments = draw(segment_specs), draw(segment_specs)
    universe = len(a_segments) + len(b_segments) + 1
    # /usage/ 200 for both, 404 for both, or 404 for one and 200 for the other.
    a_current, b_current = draw(st.sampled_from([(True, False), (False, True), (True, True), (False, False)]))
    return TwoOrgs(
        now=draw(nows),
        a=draw(org_specs(a_segments, 0, universe, has_current=a_current)),
        b=draw(org_specs(b_segments, len(a_segments), universe, has_current=b_current)),
        segment_id_order=draw(st.permutations(range(universe - 1))),
        view=draw(views),
    )


def handmade(*, a_current: bool) -> TwoOrgs:
    """The collisions spelled out, always run first: /usage/ is 200 for one organization and 404 for
    the other; B's memberships, history and an activation sit on A's segment ids, with A's profiles."""
    now = datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)  # a leap day, one second before midnight
    plan = ("Starter", "starter", (1000, 100, 10, 50))
    current = [SubscriptionSpec("active", -10, 20, *plan)]
    not_current = [SubscriptionSpec("canceled", -10, 20, *plan), SubscriptionSpec("past_due", -40, 39, *plan)]
    # Segment references: 0 and 1 are A's, 2 and 3 are B's, 4 is nobody's.
    a = OrgSpec(
        segments=[
            SegmentSpec("VIP", True, 2, ("today", -DAY)),
            SegmentSpec("Lapsed 'quoted'", True, 1, None),
        ],
        membership_inserts=[
            [(0, "p1", 1, False), (1, "p1", 1, False), (0, "p2", 1, False)],
            [(0, "p2", 2, True), (4, "p3", 1, False)],
            [(1, "p1", 3, False), (1, "p2", 1, False)],
        ],
        history=[(0, ("today", -3 * DAY), 10), (0, ("now", timedelta(0)), 12)],
        events=[
            ("p1", "page_viewed", ("window_first", timedelta(0))),
            ("p1", "page_viewed", ("window_first", -MS)),
            ("p2", "order", ("today", -2 * DAY)),
        ],
        activations=[
            ActivationSpec(
                0,
                "klaviyo",
                "active",
                ("now", -timedelta(hours=1)),
                "",
                [LogSpec("success", 10, "", ("now", timedelta(0))), LogSpec("error", 0, "429", ("now", timedelta(0)))],
            )
        ],
        requests=[
            ("success", 3, ("month_start", timedelta(0))),
            ("error", 1, ("month_start", -MS)),
            ("success", 4, ("today", -DAY)),
        ],
        subscriptions=current if a_current else not_current,
    )
    b = OrgSpec(
        segments=[SegmentSpec("VIP", True, 7, ("today", -5 * DAY)), SegmentSpec("Old", False, 0, None)],
        membership_inserts=[
            [(0, "p1", 5, False), (1, "p2", 1, False), (2, "p1", 1, False)],
            [(0, "p2", 3, False), (2, "p2", 2, False)],
            [(2, "p2", 1, True), (3, "p1", 1, False)],
        ],
        history=[(0, ("today", -5 * DAY), 999), (2, ("window_first", -MS), 7), (2, ("today", -DAY), 8)],
        events=[("p1", "page_viewed", ("now", timedelta(0))), ("p2", "order", ("month_start", timedelta(0)))],
        activations=[ActivationSpec(0, "hubspot", "paused", None, "boom", [])],
        requests=[("error", 0, ("now", timedelta(0))), ("success", 9, ("today", timedelta(0)))],
        subscriptions=not_current if a_current else current,
    )
    return TwoOrgs(now=now, a=a, b=b, segment_id_order=[2, 0, 3, 1], view=View("America/St_Johns", 7, 1))


# --- The rows as seeded: real ids and instants ------------------------------------------------------


@dataclass
class OrgRows:
    """Every row seeded for one organization: the only input of its expected answers."""

    org_id: int
    segments: list[Segment] = field(default_factory=list)
    membership_inserts: list[list[Membership]] = field(default_factory=list)
    history: list[SizeHistory] = field(default_factory=list)
    events: list[tuple[str, str, datetime]] = field(default_factory=list)  # (profile, event_name, timestamp)
    activations: Seeded = field(default_factory=Seeded)
    requests: list[tuple[int, str, int, datetime]] = field(default_factory=list)  # (id, status, credits, created_at)
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def memberships(self) -> list[Membership]:
        return [row for insert in self.membership_inserts for row in insert]


def resolve(instant: Instant, now: datetime, zone: tzinfo = UTC) -> datetime:
    anchor, offset = instant
    today = now.date()
    base = {
        "now": now,
        "window_first": window_first(now),
        "today": midnight(today),
        # Local midnight of the view's zone (read with fold=0 where the clocks skip it).
        "local_today": datetime.combine(local_date(now, zone), time(0), tzinfo=zone).astimezone(UTC),
        "month_start": month_start(today),
        "next_month_start": month_start(today.replace(day=28) + 4 * DAY),
    }[anchor]
    return base + offset


def build_rows(spec: TwoOrgs, ids: Iterator[int]) -> tuple[OrgRows, OrgRows]:
    now, today, zone = spec.now, spec.now.date(), tz(spec.view.zone)
    a, b = OrgRows(next(ids)), OrgRows(next(ids))
    fresh = sorted(next(ids) for _ in spec.segment_id_order)
    segment_ids = [fresh[position] for position in spec.segment_id_order] + [next(ids)]  # + one nobody owns
    for org, org_spec, first in ((a, spec.a, 0), (b, spec.b, len(spec.a.segments))):
        org.segments = [
            Segment(
                segment_ids[first + n],
                s.name,
                s.is_active,
                s.member_count,
                None if s.last_computed is None else resolve(s.last_computed, now, zone),
            )
            for n, s in enumerate(org_spec.segments)
        ]
        org.membership_inserts = [
            [(org.org_id, segment_ids[seg], profile, version, int(deleted)) for seg, profile, version, deleted in rows]
            for rows in org_spec.membership_inserts
        ]
        org.history = [
            (org.org_id, segment_ids[seg], resolve(at, now, zone), count) for seg, at, count in org_spec.history
        ]
        org.events = [(profile, name, resolve(at, now, zone)) for profile, name, at in org_spec.events]
        org.activations.segments = {
            s.id: {"org_id": org.org_id, "name": s.name, "member_count": s.member_count} for s in org.segments
        }
        for act in org_spec.activations:
            activation_id = next(ids)
            org.activations.activations.append(
                {
                    "id": activation_id,
                    "org_id": org.org_id,
                    "segment_id": segment_ids[act.segment],
                    "connector_type": act.connector_type,
                    "status": act.status,
                    "last_synced_at": None if act.last_synced is None else resolve(act.last_synced, now, zone),
                    "last_error": act.last_error,
                }
            )
            org.activations.logs += [
                {
                    "id": next(ids),
                    "activation_id": activation_id,
                    "status": log.status,
                    "user_count": log.user_count,
                    "error_message": log.error_message,
                    "synced_at": resolve(log.synced, now, zone),
                }
                for log in act.logs
            ]
        org.requests = [
            (next(ids), status, credits, resolve(at, now, zone)) for status, credits, at in org_spec.requests
        ]
        for sub in org_spec.subscriptions:
            plan_id = next(ids)
            org.plans[plan_id] = {"name": sub.plan_name, "tier": sub.plan_tier, "limits": sub.limits}
            first_day = today + sub.first_day * DAY
            org.subscriptions.append(
                {
                    "id": next(ids),
                    "plan_id": plan_id,
                    "status": sub.status,
                    "start": first_day,
                    "end": first_day + sub.days * DAY,
                }
            )
    return a, b


def seed(db: Stores, a: OrgRows, b: OrgRows) -> None:
    both = (a, b)
    db.insert_pg("organizations", ["id", "name"], [[org.org_id, f"Org {org.org_id}"] for org in both])
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
        [
            [s.id, org.org_id, s.name, s.is_active, s.member_count, s.last_computed_at]
            for org in both
            for s in org.segments
        ],
    )
    activations = [row for org in both for row in org.activations.activations]
    if activations:
        db.insert_pg("activations", list(activations[0]), [list(row.values()) for row in activations])
    logs = [row for org in both for row in org.activations.logs]
    if logs:
        db.insert_pg("activation_sync_logs", list(logs[0]), [list(row.values()) for row in logs])
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [
            [request_id, org.org_id, status, credits, at]
            for org in both
            for request_id, status, credits, at in org.requests
        ],
    )
    db.insert_pg(
        "plans",
        ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
        [[plan_id, plan["name"], plan["tier"], *plan["limits"]] for org in both for plan_id, plan in org.plans.items()],
    )
    db.insert_pg(
        "subscriptions",
        ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
        [
            [s["id"], org.org_id, s["plan_id"], s["status"], s["start"], s["end"]]
            for org in both
            for s in org.subscriptions
        ],
    )
    # Each organization's inserts alternate with the other's: one part each.
    for a_rows, b_rows in zip(a.membership_inserts, b.membership_inserts, strict=True):
        for rows in (a_rows, b_rows):
            if rows:
                db.insert_ch(
                    "segment_memberships", ["org_id", "segment_id", "profile_id", "version", "is_deleted"], rows
                )
    history = [row for org in both for row in org.history]
    if history:
        db.insert_ch("segment_size_history", ["org_id", "segment_id", "computed_at", "member_count"], history)
    events = [[org.org_id, profile, name, at] for org in both for profile, name, at in org.events]
    if events:
        db.insert_ch("events", ["org_id", "profile_id", "event_name", "timestamp"], events)


def expected_answers(org: OrgRows, now: datetime, zone: tzinfo = UTC, days: int = 30) -> dict[str, tuple[int, Any]]:
    """Every endpoint's (status, body) for `org`, from its own rows only (in `zone`'s days, the last `days`)."""
    overview = OverviewRows(
        org.org_id,
        segments=[(s.id, s.is_active) for s in org.segments],
        events=[ts for _, _, ts in org.events],
        credits=[(ts, credits) for _, _, credits, ts in org.requests],
        subscriptions=org.subscriptions,
        plans={plan_id: plan["limits"][3] for plan_id, plan in org.plans.items()},
    )
    overlap = OverlapRows(org.org_id, {s.id: (s.name, s.is_active) for s in org.segments}, org.membership_inserts)
    usage = expected_usage(
        UsageRows(
            org.org_id,
            plans=org.plans,
            subscriptions=org.subscriptions,
            segments=[s.is_active for s in org.segments],
            events=[(profile, ts) for profile, _, ts in org.events],
            credits=[(ts, credits) for _, _, credits, ts in org.requests],
        ),
        now,
    )
    return {
        "overview": (200, expected_overview(overview, org.memberships, now, zone)),
        "segments": (200, expected_segments(SegmentRows(org.org_id, org.segments), org.history, now, zone, days)),
        "overlap": (200, expected_overlap(overlap, org.memberships)),
        "activations": (200, expected_activations(org.activations, org.org_id)),
        "copilot": (200, expected_copilot([(status, ts) for _, status, _, ts in org.requests], now, zone, days)),
        "usage": (404, NO_SUBSCRIPTION) if usage is None else (200, usage),
    }


def report_coverage(spec: TwoOrgs, a: OrgRows, b: OrgRows, expected: dict[int, dict[str, tuple[int, Any]]]) -> None:
    """Which edges this example reaches (`--hypothesis-show-statistics` lists them): evidence that the
    comparison could fail on each, not an assertion."""
    event(f"/usage/: A {expected[a.org_id]['usage'][0]}, B {expected[b.org_id]['usage'][0]}")
    for name, org in (("A", a), ("B", b)):
        if expected[org.org_id]["overlap"][1]:
            event(f"/overlap/ of {name} is not empty")
        active = {s.id for s in org.segments if s.is_active}
        any_live_row = {(seg, profile) for _, seg, profile, _, deleted in org.memberships if not deleted}
        current = {
            (seg, profile)
            for seg, profiles in current_members(org.memberships, org.org_id).items()
            for profile in profiles
        }
        if any(seg in active for seg, _ in any_live_row - current):
            event(f"{name}: an active segment where only FINAL finds the current members")
    foreign = {seg for _, seg, _, _, _ in b.memberships} & {s.id for s in a.segments if s.is_active}
    if foreign:
        event("B has ClickHouse rows under an active segment id of A")
    if any(len(act.logs) > 30 for org_spec in (spec.a, spec.b) for act in org_spec.activations):
        event("an activation with more than 30 logs")


@PROFILE
@example(spec=handmade(a_current=True))
@example(spec=handmade(a_current=False))
@given(spec=two_orgs())
def test_every_endpoint_answers_each_organization_from_its_own_rows_only(
    db: Stores, ids: Iterator[int], spec: TwoOrgs
) -> None:
    a, b = build_rows(spec, ids)
    note(f"now={spec.now.isoformat()} org A={a.org_id} org B={b.org_id}")
    expected = {org.org_id: expected_answers(org, spec.now) for org in (a, b)}
    report_coverage(spec, a, b, expected)

    with db.memberships_unmerged(), mock.patch.object(clock, "utc_now", lambda: spec.now):
        seed(db, a, b)
        for org in (a, b):
            for endpoint in NAMES:
                answer = invoke_json(endpoint, api_event(endpoint, org.org_id))
                assert answer == expected[org.org_id][endpoint], f"{endpoint} for org {org.org_id}"
            check_view(org, spec, b if org is a else a)


def check_view(org: OrgRows, spec: TwoOrgs, other: OrgRows) -> None:
    """The same organization asked in the example's zone, window and page size: its own rows only, and
    the pages, walked to the end, are the whole list; its cursors are no use to the other organization."""
    view = spec.view
    local = expected_answers(org, spec.now, tz(view.zone), view.days)
    zone_query = {"tz": view.zone}
    window_query = {**zone_query, "days": str(view.days)}
    assert invoke_json("overview", api_event("overview", org.org_id, query=zone_query)) == local["overview"]
    assert invoke_json("copilot", api_event("copilot", org.org_id, query=window_query)) == local["copilot"]
    for endpoint, query in (("segments", window_query), ("activations", {})):
        paged = {**query, "limit": str(view.limit)}
        pages = all_pages(endpoint, org.org_id, paged)
        assert [item for page in pages for item in page] == local[endpoint][1], f"{endpoint} pages of {org.org_id}"
        if len(pages) > 1:
            following = next_page_query(invoke(endpoint, api_event(endpoint, org.org_id, query=paged)))
            assert invoke_json(endpoint, api_event(endpoint, other.org_id, query=following))[0] == 400


def test_the_handmade_examples_reach_the_edges_they_are_for() -> None:
    """No stores: the explicit examples above, worked out by the reference, are as hard as they claim."""
    ids = iter(range(1, 1000))
    for a_current in (True, False):
        spec = handmade(a_current=a_current)
        a, b = build_rows(spec, ids)
        answers = [expected_answers(org, spec.now) for org in (a, b)]
        assert [answer["usage"][0] for answer in answers] == ([200, 404] if a_current else [404, 200])
        a_overview, b_overview = answers[0]["overview"][1], answers[1]["overview"][1]
        assert (a_overview["total_members"], a_overview["events_30d"]) == (2, 2)
        assert (b_overview["total_members"], b_overview["events_30d"]) == (2, 2)
        # A's p2 left VIP in a later part; B still has p2 under VIP's id (and a stale delete of its own).
        assert answers[0]["overlap"][1][0]["overlap"] == 1
        assert {seg for _, seg, _, _, _ in b.memberships} >= {s.id for s in a.segments}
        # B's activation points at A's segment: it is listed, without A's name or size.
        (b_activation,) = answers[1]["activations"][1]
        assert b_activation["segment_id"] == a.segments[0].id and b_activation["segment_name"] is None
        # B's trend starts with a value carried in from before the window; A's rows never show.
        assert answers[1]["segments"][1][0]["trend"][0]["count"] == 7
