"""A realistic demo dataset: a few organizations, all relative to today (UTC), deterministic.

`generate(now)` builds every row in memory from seeded `random.Random`s (one per
organization, so one tenant's rows do not depend on the others); `load` writes
them (Postgres through COPY, ClickHouse in large column-oriented inserts);
`ensure_loaded` does that once and leaves a marker so the next `make run` reuses
the data. `scale` multiplies profiles and events (tests use a small one); the
bench can build its own `OrgSpec`s and reuse `generate_org`.

The rows follow the platform's own rules, so the endpoints show consistent
figures: `segments.member_count` is the segment's current members (newest
`segment_memberships` version, not deleted), the last `segment_size_history` row
of a segment is that count at `last_computed_at`, and an activation's
`last_synced_at` / `last_error` come from its newest sync log.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

from analytics_common.api_keys import api_key_hash, generate_api_key, generate_usage_key, issued_key_prefix
from analytics_common.clock import day_start
from devstack import stores

SEED = 20260502
# Bump when the generator changes: `ensure_loaded` then reloads instead of reusing old rows.
DATASET_VERSION = 3  # 2: every API key has its usage_key; 3: the schema copies the memberships (its views)

HISTORY_DAYS = 60
EVENT_DAYS = 90
SYNC_DAYS = 60

PG_COLUMNS: dict[str, tuple[str, ...]] = {  # in load order (foreign keys)
    "organizations": ("id", "name", "created_at"),
    "plans": ("id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"),
    "api_keys": ("id", "org_id", "name", "prefix", "key_hash", "created_at", "expires_at", "revoked_at", "usage_key"),
    "segments": ("id", "org_id", "name", "is_active", "member_count", "last_computed_at", "created_at"),
    "activations": (
        "id",
        "org_id",
        "segment_id",
        "connector_type",
        "status",
        "last_synced_at",
        "last_error",
        "created_at",
    ),
    "activation_sync_logs": ("id", "activation_id", "status", "user_count", "error_message", "synced_at"),
    "copilot_requests": ("id", "org_id", "status", "credits", "created_at"),
    "subscriptions": (
        "id",
        "org_id",
        "plan_id",
        "status",
        "current_period_start",
        "current_period_end",
        "created_at",
    ),
}
CH_COLUMNS: dict[str, tuple[str, ...]] = {
    "segment_memberships": ("org_id", "segment_id", "profile_id", "version", "is_deleted"),
    "segment_size_history": ("org_id", "segment_id", "computed_at", "member_count"),
    "events": ("org_id", "profile_id", "event_name", "timestamp"),
}
CH_BATCH_ROWS = 200_000


# ---------------------------------------------------------------------------- the specification


@dataclass(frozen=True)
class PlanSpec:
    id: int
    name: str
    tier: str
    events_limit: int
    users_limit: int
    segments_limit: int
    ai_credits_limit: int


PLANS = (
    PlanSpec(1, "Free", "free", 10_000, 1_000, 3, 10),
    PlanSpec(2, "Starter", "starter", 100_000, 20_000, 10, 100),
    PlanSpec(3, "Growth", "growth", 1_000_000, 100_000, 50, 1_000),
    PlanSpec(4, "Enterprise", "enterprise", -1, -1, 500, -1),
)


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    share: float  # of the organization's profiles that are current members
    active: bool = True
    age_days: int = 120  # created this many days ago; 0 = today (its trend is then [])
    computed: bool = True  # False: never computed (no members, no history)
    stale_days: int = 0  # last computed this many days ago (deactivated segments stop computing)


@dataclass(frozen=True)
class ActivationSpec:
    segment: str  # a SegmentSpec name of the same organization
    connector: str
    status: str  # active, paused, error, pending
    every_hours: int = 6
    error_rate: float = 0.05
    syncs: bool = True  # False: never synced (pending)
    stopped_days: int = 0  # no syncs in the last N days (paused)
    failing_hours: int = 0  # every sync of the last N hours failed (error)


@dataclass(frozen=True)
class SubscriptionSpec:
    tier: str
    status: str
    start_offset_days: int  # period start relative to today (negative: in the past)
    end_offset_days: int


@dataclass(frozen=True)
class OrgSpec:
    id: int
    name: str
    age_days: int
    profiles: int  # at scale 1
    events: int  # at scale 1, over EVENT_DAYS
    copilot_per_day: float
    segments: tuple[SegmentSpec, ...]
    activations: tuple[ActivationSpec, ...] = ()
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    extra_api_keys: tuple[str, ...] = ()  # names of further keys (plaintext not kept)


DEMO_ORG_ID = 1

DEMO_ORGS = (
    OrgSpec(
        id=1,
        name="Northwind Outfitters",
        age_days=420,
        profiles=24_000,
        events=320_000,
        copilot_per_day=6,
        segments=(
            SegmentSpec("High LTV Buyers", 0.08),
            SegmentSpec("Email Subscribers", 0.55),
            SegmentSpec("Cart Abandoners (7d)", 0.12),
            SegmentSpec("Lapsed Customers (90d)", 0.22),
            SegmentSpec("VIP Loyalty Members", 0.04),
            SegmentSpec("First-Time Buyers", 0.10),
            SegmentSpec("Mobile App Users", 0.35),
            SegmentSpec("Discount Seekers", 0.18),
            SegmentSpec("Newsletter Engaged", 0.27),
            SegmentSpec("Churn Risk", 0.09, age_days=25),
            SegmentSpec("Winter Collection Browsers", 0.14, age_days=9),
            SegmentSpec("Summer Sale Shoppers", 0.20, active=False, stale_days=40),
            SegmentSpec("Spring Catalog Browsers", 0.11, active=False, stale_days=75),
            SegmentSpec("Holiday Gift Planners", 0.06, age_days=0),
            SegmentSpec("SMS Opt-ins (draft)", 0.0, age_days=3, computed=False),
        ),
        activations=(
            ActivationSpec("High LTV Buyers", "klaviyo", "active", every_hours=6, error_rate=0.02),
            ActivationSpec("Cart Abandoners (7d)", "braze", "active", every_hours=4, error_rate=0.08),
            ActivationSpec("Email Subscribers", "hubspot", "active", every_hours=24, error_rate=0.0),
            ActivationSpec("Lapsed Customers (90d)", "google_ads", "error", every_hours=12, failing_hours=36),
            ActivationSpec("VIP Loyalty Members", "meta_ads", "paused", every_hours=12, stopped_days=18),
            ActivationSpec(
                "Newsletter Engaged", "salesforce_marketing_cloud", "active", every_hours=24, error_rate=0.15
            ),
            ActivationSpec("Holiday Gift Planners", "iterable", "pending", syncs=False),
        ),
        subscriptions=(
            SubscriptionSpec("starter", "canceled", -200, -110),
            SubscriptionSpec("growth", "active", -12, 18),
        ),
        extra_api_keys=("CI pipeline (revoked)", "Old BI connector (expired)"),
    ),
    OrgSpec(
        id=2,
        name="Globex Foods",
        age_days=35,
        profiles=9_000,
        events=110_000,
        copilot_per_day=3,
        segments=(
            SegmentSpec("Weekly Meal-Kit Buyers", 0.18, age_days=30),
            SegmentSpec("Email Subscribers", 0.48, age_days=33),
            SegmentSpec("Cart Abandoners", 0.15, age_days=30),
            SegmentSpec("Organic Shoppers", 0.21, age_days=28),
            SegmentSpec("Lapsed Subscribers", 0.12, age_days=20),
            SegmentSpec("Recipe Page Readers", 0.40, age_days=14),
            SegmentSpec("High LTV Buyers", 0.06, age_days=30),
            SegmentSpec("Promo Code Users", 0.09, active=False, age_days=30, stale_days=12),
        ),
        activations=(
            ActivationSpec("Email Subscribers", "klaviyo", "active", every_hours=12, error_rate=0.03),
            ActivationSpec("Cart Abandoners", "meta_ads", "active", every_hours=24, error_rate=0.10),
            ActivationSpec("Organic Shoppers", "google_ads", "pending", syncs=False),
        ),
        subscriptions=(SubscriptionSpec("starter", "trialing", -5, 9),),
        extra_api_keys=("Warehouse sync",),
    ),
    OrgSpec(
        id=3,
        name="Initech Media",
        age_days=900,
        profiles=16_000,
        events=150_000,
        copilot_per_day=9,
        segments=(
            SegmentSpec("Paying Subscribers", 0.30),
            SegmentSpec("Free Trial Users", 0.12),
            SegmentSpec("Newsletter Readers", 0.45),
            SegmentSpec("Churn Risk", 0.08),
            SegmentSpec("Podcast Listeners", 0.16),
            SegmentSpec("Video Bingers", 0.10),
            SegmentSpec("Paywall Hitters", 0.25),
            SegmentSpec("High LTV Subscribers", 0.05),
            SegmentSpec("Mobile App Users", 0.38),
            SegmentSpec("Win-back Targets", 0.07, active=False, stale_days=30),
            SegmentSpec("Student Discount", 0.03, active=False, stale_days=90),
        ),
        activations=(
            ActivationSpec("Paying Subscribers", "braze", "active", every_hours=6, error_rate=0.01),
            ActivationSpec("Free Trial Users", "hubspot", "active", every_hours=24, error_rate=0.05),
            ActivationSpec("Win-back Targets", "google_ads", "paused", every_hours=24, stopped_days=30),
            ActivationSpec("Video Bingers", "tiktok_ads", "error", every_hours=12, failing_hours=72),
            ActivationSpec("Newsletter Readers", "meta_ads", "active", every_hours=12, error_rate=0.04),
        ),
        subscriptions=(SubscriptionSpec("enterprise", "active", -100, 264),),
        extra_api_keys=("Reverse ETL", "Looker"),
    ),
    OrgSpec(
        id=4,
        name="Hooli Labs",
        age_days=75,
        profiles=1_500,
        events=20_000,
        copilot_per_day=0.6,
        segments=(
            SegmentSpec("Beta Testers", 0.20, age_days=70),
            SegmentSpec("Power Users", 0.07, age_days=70),
            SegmentSpec("Dormant Accounts", 0.30, age_days=50),
            SegmentSpec("Conference Leads", 0.10, active=False, age_days=60, stale_days=45),
        ),
        activations=(ActivationSpec("Power Users", "hubspot", "active", every_hours=24, error_rate=0.20),),
        subscriptions=(SubscriptionSpec("free", "past_due", -20, 10),),
    ),
    OrgSpec(
        id=5,
        name="Vandelay Industries",
        age_days=300,
        profiles=2_500,
        events=12_000,
        copilot_per_day=1,
        segments=(
            SegmentSpec("Importers", 0.25),
            SegmentSpec("Email Subscribers", 0.50),
            SegmentSpec("Lapsed Customers", 0.20, active=False, stale_days=10),
        ),
        activations=(ActivationSpec("Importers", "klaviyo", "paused", every_hours=24, stopped_days=15),),
        # No current subscription: the last period ended ten days ago.
        subscriptions=(
            SubscriptionSpec("starter", "canceled", -160, -71),
            SubscriptionSpec("growth", "canceled", -70, -10),
        ),
    ),
)

EVENT_NAMES = (
    ("page_view", 40),
    ("product_viewed", 20),
    ("search", 8),
    ("add_to_cart", 8),
    ("email_opened", 8),
    ("app_opened", 5),
    ("checkout_started", 4),
    ("order_completed", 3),
    ("email_clicked", 3),
    ("signup", 1),
)
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9, 10, 10, 8, 5, 3)

CONNECTOR_ERRORS = {
    "klaviyo": ("Klaviyo API rate limit exceeded (429)", "Klaviyo list not found: check the list id"),
    "braze": ("Braze REST API returned 401: invalid API key", "Timed out after 30 s uploading batch 4/12"),
    "hubspot": ("HubSpot contact list is at its size limit", "HubSpot API returned 502 Bad Gateway"),
    "google_ads": (
        "Customer Match upload rejected: fewer than 1000 matched members",
        "OAuth token expired; reconnect Google Ads",
    ),
    "meta_ads": ("Custom audience terms of service not accepted", "Meta Marketing API error 190: access token expired"),
    "tiktok_ads": ("TikTok Ads API error 40105: access token invalid", "Audience upload file rejected"),
    "salesforce_marketing_cloud": ("Data extension field mismatch: EmailAddress", "SFMC API returned 500"),
    "iterable": ("Iterable list is archived", "Iterable API returned 429 Too Many Requests"),
}

# ---------------------------------------------------------------------------- API keys


# The key in events/authorizer.json, so `sam local invoke AuthorizerFunction -e events/authorizer.json`
# against the demo database is allowed. It is in the repository: a local demo key, never deployed.
SAMPLE_EVENT_API_KEY = "pa_demo0001_DemoOnlyKeyForLocalInvokeNeverDeploy0000"
SAMPLE_EVENT_KEY_NAME = "Sample event key (events/authorizer.json)"


def demo_usage_key(key: str) -> str:
    """The usage key of a demo API key, as `tools.apikeys create` gives every key one: drawn from the key's
    prefix, so it is the same on every load and the random draws of the rest of the demo are unchanged."""
    return generate_usage_key(Random(f"usage-key:{issued_key_prefix(key)}"))


# ---------------------------------------------------------------------------- the rows


@dataclass
class DemoDataset:
    now: datetime
    postgres: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in PG_COLUMNS})
    # Each table's rows as separate inserts, in order (memberships: one insert per version round).
    clickhouse: dict[str, list[list[tuple[Any, ...]]]] = field(default_factory=lambda: {t: [] for t in CH_COLUMNS})

    def count(self, table: str) -> int:
        if table in self.postgres:
            return len(self.postgres[table])
        return sum(len(batch) for batch in self.clickhouse[table])

    def ch_rows(self, table: str) -> list[tuple[Any, ...]]:
        return [row for batch in self.clickhouse[table] for row in batch]


class IdSequence:
    """Postgres ids, one sequence per table, starting after `base`."""

    def __init__(self, base: int = 0) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._base = base

    def next(self, table: str) -> int:
        counter = self._counters.setdefault(table, itertools.count(self._base + 1))
        return next(counter)


def generate(
    now: datetime,
    *,
    scale: float = 1.0,
    seed: int = SEED,
    orgs: Sequence[OrgSpec] = DEMO_ORGS,
    plans: Sequence[PlanSpec] = PLANS,
    demo_api_key: str | None = None,
) -> DemoDataset:
    """Every row of the demo, relative to `now`; the same inputs give the same rows."""
    now = now.astimezone(UTC).replace(microsecond=0)
    dataset = DemoDataset(now)
    dataset.postgres["plans"] = [
        (p.id, p.name, p.tier, p.events_limit, p.users_limit, p.segments_limit, p.ai_credits_limit) for p in plans
    ]
    ids = IdSequence()
    plan_ids = {p.tier: p.id for p in plans}
    for org in orgs:
        generate_org(
            dataset,
            org,
            ids,
            plan_ids,
            rng=Random(f"{seed}:{org.id}"),
            scale=scale,
            demo_api_key=demo_api_key if org.id == DEMO_ORG_ID else None,
        )
    return dataset


def generate_org(
    dataset: DemoDataset,
    org: OrgSpec,
    ids: IdSequence,
    plan_ids: dict[str, int],
    *,
    rng: Random,
    scale: float = 1.0,
    demo_api_key: str | None = None,
) -> None:
    """Append one organization's rows to `dataset`."""
    now = dataset.now
    today = now.date()
    pg = dataset.postgres
    org_created = now - timedelta(days=org.age_days, hours=rng.uniform(0, 12))
    pg["organizations"].append((org.id, org.name, org_created))

    _api_keys(pg, org, ids, rng, now, org_created, demo_api_key)

    profiles = [
        str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(max(40, round(org.profiles * scale)))
    ]
    segment_rows = _segments(dataset, org, ids, rng, profiles)
    _activations(pg, org, ids, rng, now, segment_rows)
    _events(dataset, org, rng, profiles, max(200, round(org.events * scale)))
    _copilot_requests(pg, org, ids, rng, now, org_created)

    for spec in org.subscriptions:
        start = today + timedelta(days=spec.start_offset_days)
        created = max(org_created, day_start(start) - timedelta(hours=rng.uniform(1, 20)))
        end = today + timedelta(days=spec.end_offset_days)
        pg["subscriptions"].append(
            (ids.next("subscriptions"), org.id, plan_ids[spec.tier], spec.status, start, end, created)
        )


def _api_keys(
    pg: dict[str, list[tuple[Any, ...]]],
    org: OrgSpec,
    ids: IdSequence,
    rng: Random,
    now: datetime,
    org_created: datetime,
    demo_api_key: str | None,
) -> None:
    names = list(org.extra_api_keys)
    if org.id == DEMO_ORG_ID:
        names[:0] = ["Local demo key", SAMPLE_EVENT_KEY_NAME]
    for name in names:
        if name == SAMPLE_EVENT_KEY_NAME:
            key = SAMPLE_EVENT_API_KEY
        else:
            key = demo_api_key if name == "Local demo key" and demo_api_key else generate_api_key(rng)
        created = max(org_created, now - timedelta(days=rng.uniform(20, 200)))
        expires_at = now - timedelta(days=3) if "expired" in name else None
        revoked_at = now - timedelta(days=10) if "revoked" in name else None
        pg["api_keys"].append(
            (
                ids.next("api_keys"),
                org.id,
                name,
                issued_key_prefix(key),
                api_key_hash(key),
                created,
                expires_at,
                revoked_at,
                demo_usage_key(key),
            )
        )


@dataclass
class _Segment:
    id: int
    spec: SegmentSpec
    created_at: datetime
    member_count: int
    last_computed_at: datetime | None


def _segments(
    dataset: DemoDataset, org: OrgSpec, ids: IdSequence, rng: Random, profiles: list[str]
) -> dict[str, _Segment]:
    now = dataset.now
    today_start = day_start(now.date())
    rounds: list[list[tuple[Any, ...]]] = [[], [], []]  # one ClickHouse insert per version round
    history: list[tuple[Any, ...]] = []
    result: dict[str, _Segment] = {}
    for spec in org.segments:
        segment_id = ids.next("segments")
        if spec.age_days == 0:  # created earlier today
            created = today_start + (now - today_start) * rng.uniform(0.2, 0.4)
        else:
            created = now - timedelta(days=spec.age_days, hours=rng.uniform(0, 20))
        member_count, last_computed = 0, None
        if spec.computed:
            members = _memberships(rounds, org.id, segment_id, spec.share, rng, profiles)
            member_count = len(members)
            if spec.age_days == 0:
                last_computed = created + (now - created) * rng.uniform(0.5, 0.9)
            else:
                last_computed = now - timedelta(days=spec.stale_days, hours=rng.uniform(0.1, 5))
            first_computed = max(created + timedelta(minutes=rng.uniform(1, 30)), now - timedelta(days=HISTORY_DAYS))
            for computed_at, count in _size_history(
                rng, min(first_computed, last_computed), last_computed, member_count
            ):
                history.append((org.id, segment_id, computed_at, count))
        dataset.postgres["segments"].append(
            (segment_id, org.id, spec.name, spec.active, member_count, last_computed, created)
        )
        result[spec.name] = _Segment(segment_id, spec, created, member_count, last_computed)
    for version_round in rounds:
        if version_round:
            dataset.clickhouse["segment_memberships"].append(version_round)
    if history:
        dataset.clickhouse["segment_size_history"].append(history)
    return result


def _memberships(
    rounds: list[list[tuple[Any, ...]]], org_id: int, segment_id: int, share: float, rng: Random, profiles: list[str]
) -> set[str]:
    """Three computations of one segment (versions 1-3): adds, re-confirmations, deletions, re-adds."""
    target = max(1, round(len(profiles) * share * rng.uniform(0.9, 1.1)))
    initial = rng.sample(profiles, min(len(profiles), round(target * 1.1)))
    for profile in initial:
        rounds[0].append((org_id, segment_id, profile, 1, 0))
    # Lists, not sets, wherever the order feeds the generator: set order changes between processes.
    deleted = rng.sample(initial, len(initial) // 8)
    deleted_set = set(deleted)
    for profile in initial:
        if profile in deleted_set:
            rounds[1].append((org_id, segment_id, profile, 2, 1))
        elif rng.random() < 0.15:
            rounds[1].append((org_id, segment_id, profile, 2, 0))
    readded = [profile for profile in deleted if rng.random() < 0.3]
    current = (set(initial) - deleted_set) | set(readded)
    newcomers = [p for p in rng.sample(profiles, min(len(profiles), max(1, target // 20))) if p not in current]
    for profile in readded + newcomers:
        rounds[2].append((org_id, segment_id, profile, 3, 0))
    return current | set(newcomers)


def _size_history(rng: Random, first: datetime, last: datetime, final: int) -> list[tuple[datetime, int]]:
    """Computations from `first` to `last` (1-2 a day, some days skipped), ending at `final` members."""
    start_value = final * rng.uniform(0.55, 1.3)
    points: list[datetime] = [first]
    day = first.date() + timedelta(days=1)
    while day < last.date():
        if rng.random() >= 0.15:  # ~15% of days have no computation (gaps carry forward)
            for _ in range(rng.choice((1, 1, 2))):
                points.append(day_start(day) + timedelta(seconds=rng.randrange(86_400)))
        day += timedelta(days=1)
    points = sorted(p for p in points if p < last)
    points.append(last)
    span = max((last - first).total_seconds(), 1.0)
    history = []
    for point in points[:-1]:
        progress = (point - first).total_seconds() / span
        value = start_value + (final - start_value) * progress
        history.append((point, max(0, round(value * rng.uniform(0.98, 1.02)))))
    history.append((last, final))
    return history


def _activations(
    pg: dict[str, list[tuple[Any, ...]]],
    org: OrgSpec,
    ids: IdSequence,
    rng: Random,
    now: datetime,
    segments: dict[str, _Segment],
) -> None:
    for spec in org.activations:
        segment = segments[spec.segment]
        activation_id = ids.next("activations")
        created = max(segment.created_at + timedelta(minutes=rng.uniform(5, 120)), now - timedelta(days=SYNC_DAYS + 5))
        created = min(created, now)
        logs: list[tuple[Any, ...]] = []
        if spec.syncs:
            errors = CONNECTOR_ERRORS.get(spec.connector, ("Destination timed out",))
            synced_at = created + timedelta(minutes=rng.uniform(5, 60))
            last_sync = now - timedelta(days=spec.stopped_days)
            failing_from = now - timedelta(hours=spec.failing_hours) if spec.failing_hours else None
            while synced_at <= last_sync:
                failed = (failing_from is not None and synced_at >= failing_from) or rng.random() < spec.error_rate
                if failed:
                    logs.append(
                        (ids.next("activation_sync_logs"), activation_id, "error", 0, rng.choice(errors), synced_at)
                    )
                else:
                    users = round(segment.member_count * rng.uniform(0.93, 1.0))
                    logs.append((ids.next("activation_sync_logs"), activation_id, "success", users, "", synced_at))
                synced_at += timedelta(hours=spec.every_hours, minutes=rng.uniform(-10, 10))
        last_synced_at = logs[-1][5] if logs else None
        last_error = logs[-1][4] if logs and logs[-1][2] == "error" else ""
        pg["activations"].append(
            (activation_id, org.id, segment.id, spec.connector, spec.status, last_synced_at, last_error, created)
        )
        pg["activation_sync_logs"].extend(logs)


def _events(dataset: DemoDataset, org: OrgSpec, rng: Random, profiles: list[str], total: int) -> None:
    """`total` events over the last EVENT_DAYS days: growing, quieter at weekends, busy in the evening (UTC)."""
    now = dataset.now
    today = now.date()
    first_day = today - timedelta(days=EVENT_DAYS - 1)
    elapsed_today = (now - day_start(today)).total_seconds()
    weights = []
    for offset in range(EVENT_DAYS):
        day = first_day + timedelta(days=offset)
        weight = (0.75 + 0.5 * offset / (EVENT_DAYS - 1)) * (0.8 if day.weekday() >= 5 else 1.0)
        weight *= rng.uniform(0.85, 1.15)
        if day == today:
            weight *= elapsed_today / 86_400
        weights.append(weight)
    counts = _apportion(total, weights)

    # A few profiles are very active, most are occasional (a Zipf-like share of the events).
    profile_cum = list(itertools.accumulate(1 / (rank + 10) ** 0.9 for rank in range(len(profiles))))
    names = [name for name, _ in EVENT_NAMES]
    name_cum = list(itertools.accumulate(weight for _, weight in EVENT_NAMES))
    hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
    rows: list[tuple[Any, ...]] = []
    for offset, count in enumerate(counts):
        if not count:
            continue
        day = first_day + timedelta(days=offset)
        start = day_start(day)
        who = rng.choices(profiles, cum_weights=profile_cum, k=count)
        what = rng.choices(names, cum_weights=name_cum, k=count)
        if day == today:
            millis = [int(rng.random() * elapsed_today * 1000) for _ in range(count)]
        else:
            millis = [
                bisect_right(hour_cum, rng.random() * hour_cum[-1]) * 3_600_000 + rng.randrange(3_600_000)
                for _ in range(count)
            ]
        for profile, name, ms in zip(who, what, millis, strict=True):
            rows.append((org.id, profile, name, start + timedelta(milliseconds=ms)))
    dataset.clickhouse["events"].append(rows)


def _copilot_requests(
    pg: dict[str, list[tuple[Any, ...]]],
    org: OrgSpec,
    ids: IdSequence,
    rng: Random,
    now: datetime,
    org_created: datetime,
) -> None:
    today = now.date()
    for offset in range(EVENT_DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        start = day_start(day)
        length = (now - start).total_seconds() if day == today else 86_400.0
        expected = org.copilot_per_day * length / 86_400
        count = max(0, round(rng.gauss(expected, math.sqrt(expected)))) if expected > 0 else 0
        for created in sorted(start + timedelta(seconds=int(rng.random() * length)) for _ in range(count)):
            if created < org_created:
                continue
            if rng.random() < 0.92:
                status, credits = "success", rng.choice((1, 1, 1, 2, 2, 3, 5))
            else:
                status, credits = "error", rng.choice((0, 0, 1))
            pg["copilot_requests"].append((ids.next("copilot_requests"), org.id, status, credits, created))


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), summing to exactly `total`."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


# ---------------------------------------------------------------------------- loading


def load(dataset: DemoDataset, database_url: str, clickhouse: Any) -> None:
    """Write every row: Postgres in one transaction through COPY, ClickHouse in large inserts."""
    conn = stores.connect(database_url)
    try:
        conn.run("BEGIN")
        for table, columns in PG_COLUMNS.items():
            stores.copy_rows(conn, table, columns, dataset.postgres[table])
        conn.run("COMMIT")
    finally:
        conn.close()
    for table, columns in CH_COLUMNS.items():
        for batch in dataset.clickhouse[table]:
            for start in range(0, len(batch), CH_BATCH_ROWS):
                chunk = batch[start : start + CH_BATCH_ROWS]
                clickhouse.insert(
                    table,
                    [list(column) for column in zip(*chunk, strict=True)],
                    column_names=columns,
                    column_oriented=True,
                )


@dataclass(frozen=True)
class LoadResult:
    database_url: str
    clickhouse_url: str
    loaded: bool  # False: the data of an earlier run was reused


def ensure_loaded(
    *,
    admin_url: str,
    clickhouse_url: str,
    database: str,
    marker: Path,
    now: datetime,
    demo_api_key: str,
    scale: float = 1.0,
    seed: int = SEED,
    force: bool = False,
) -> LoadResult:
    """Apply both schemas and load the demo once; later calls reuse it while the marker matches.

    The marker records what was loaded (generator version, size, seed, day, stores, demo key).
    The data is relative to the day it was loaded, so a new UTC day reloads it (a few seconds).
    """
    from analytics_common.postgres import parse_database_url

    key_prefix = issued_key_prefix(demo_api_key)
    expected = {
        "dataset_version": DATASET_VERSION,
        "seed": seed,
        "scale": scale,
        "day": now.date().isoformat(),
        "postgres": parse_database_url(stores.with_database(admin_url, database)).redacted(),
        "clickhouse": clickhouse_url,
        "api_key_prefix": key_prefix,
    }
    if not force and _read_marker(marker) == expected:
        database_url = stores.ensure_postgres_database(admin_url, database)
        clickhouse = stores.clickhouse_writer(clickhouse_url, database)
        try:
            if _looks_loaded(database_url, clickhouse, key_prefix):
                return LoadResult(database_url, clickhouse_url, loaded=False)
        finally:
            clickhouse.close()

    marker.unlink(missing_ok=True)
    database_url = stores.ensure_postgres_database(admin_url, database, fresh=True)
    clickhouse = stores.clickhouse_writer(clickhouse_url, database, fresh=True)
    try:
        load(generate(now, scale=scale, seed=seed, demo_api_key=demo_api_key), database_url, clickhouse)
    finally:
        clickhouse.close()
    marker.parent.mkdir(parents=True, exist_ok=True)
    partial = marker.with_suffix(".tmp")
    partial.write_text(json.dumps(expected, indent=2) + "\n")
    partial.replace(marker)
    return LoadResult(database_url, clickhouse_url, loaded=True)


def _read_marker(marker: Path) -> Any:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def _looks_loaded(database_url: str, clickhouse: Any, key_prefix: str) -> bool:
    """A cheap check that the stores still hold the data the marker describes."""
    conn = stores.connect(database_url)
    try:
        keys = conn.run("SELECT count(*) FROM api_keys WHERE prefix = :prefix", prefix=key_prefix)[0][0]
    finally:
        conn.close()
    events = clickhouse.query("SELECT count() FROM events").result_rows[0][0]
    return bool(keys) and bool(events)
