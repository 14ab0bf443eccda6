"""One small organization with data for every endpoint, and the answers the contract gives for it.

Used by the tests that run every handler end to end (tests/test_events_invoke.py, in fresh
processes) and check every answer against openapi.yaml (tests/test_openapi.py). The rows are
plain data, so each test writes them into its own stores; the expected answers are worked out
by hand from these rows (the comments say how).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_common.api_keys import api_key_hash, format_api_key, issued_key_prefix
from analytics_common.clock import day_start

Rows = tuple[list[str], list[list[Any]]]  # column names, rows


@dataclass
class SampleTenant:
    org_id: int
    now: datetime
    api_key: str  # `pa_<prefix>_<secret>`, stored (hashed) in api_keys
    api_key_id: int
    postgres: dict[str, Rows] = field(default_factory=dict)  # insertion order respects foreign keys
    # Each table's rows in separate inserts (separate parts): only FINAL reads the right members.
    clickhouse: list[tuple[str, Rows]] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)  # endpoint name -> 200 body


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(ids: Iterator[int], now: datetime) -> SampleTenant:
    """The rows and expected answers for a new organization, as seen at `now`."""
    today = now.astimezone(UTC).date()
    midnight = day_start(today)  # every timestamp below is at or before it, so none lies after `now`
    org_id, plan_id, subscription_id = next(ids), next(ids), next(ids)
    high_ltv, email, archived = next(ids), next(ids), next(ids)  # ascending: high_ltv < email
    klaviyo, hubspot = next(ids), next(ids)
    api_key_id = next(ids)
    api_key = format_api_key(f"t{org_id:07d}", f"{'S' * 24}{org_id:08d}")
    period_start, period_end = today - timedelta(days=3), today + timedelta(days=26)
    last_computed = midnight - timedelta(days=1) + timedelta(hours=9)

    tenant = SampleTenant(org_id=org_id, now=now, api_key=api_key, api_key_id=api_key_id)
    tenant.postgres = {
        "organizations": (["id", "name"], [[org_id, f"Sample org {org_id}"]]),
        "api_keys": (
            ["id", "org_id", "name", "prefix", "key_hash"],
            [[api_key_id, org_id, "sample", issued_key_prefix(api_key), api_key_hash(api_key)]],
        ),
        "plans": (
            ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
            [[plan_id, "Starter", "starter", 100000, 20000, 10, 100]],
        ),
        "subscriptions": (
            ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
            [[subscription_id, org_id, plan_id, "active", period_start, period_end]],
        ),
        "segments": (
            ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
            [
                [high_ltv, org_id, "High LTV Buyers", True, 4, last_computed],
                [email, org_id, "Email Subscribers", True, 3, None],  # never computed: trend []
                [archived, org_id, "Archived", False, 1, last_computed],
            ],
        ),
        "activations": (
            ["id", "org_id", "segment_id", "connector_type", "status", "last_synced_at", "last_error"],
            [
                [klaviyo, org_id, high_ltv, "klaviyo", "active", midnight - timedelta(days=1), ""],
                [hubspot, org_id, email, "hubspot", "paused", None, ""],  # no logs: success_rate null
            ],
        ),
        "activation_sync_logs": (
            ["id", "activation_id", "status", "user_count", "error_message", "synced_at"],
            [
                [next(ids), klaviyo, "success", 10, "", midnight - timedelta(days=3)],
                [next(ids), klaviyo, "error", 0, "rate limited", midnight - timedelta(days=2)],
                [next(ids), klaviyo, "success", 12, "", midnight - timedelta(days=1)],
            ],
        ),
        "copilot_requests": (
            ["id", "org_id", "status", "credits", "created_at"],
            [
                [next(ids), org_id, "success", 3, midnight],
                [next(ids), org_id, "error", 0, midnight - timedelta(days=1) + timedelta(hours=2)],
                [next(ids), org_id, "success", 2, midnight - timedelta(days=1) + timedelta(hours=3)],
                [next(ids), org_id, "success", 5, midnight - timedelta(days=50)],  # before window and period
            ],
        ),
    }
    membership_columns = ["org_id", "segment_id", "profile_id", "version", "is_deleted"]
    tenant.clickhouse = [
        (
            "segment_memberships",
            (
                membership_columns,
                [
                    [org_id, high_ltv, "p1", 1, 0],
                    [org_id, high_ltv, "p2", 1, 0],
                    [org_id, high_ltv, "p3", 1, 0],
                    [org_id, high_ltv, "p5", 1, 0],
                    [org_id, email, "p2", 1, 0],
                    [org_id, email, "p3", 1, 0],
                    [org_id, email, "p4", 1, 0],
                    [org_id, archived, "p9", 1, 0],
                ],
            ),
        ),
        # p4 leaves Email Subscribers, p6 joins it.
        ("segment_memberships", (membership_columns, [[org_id, email, "p4", 2, 1], [org_id, email, "p6", 1, 0]])),
        (
            "segment_size_history",
            (
                ["org_id", "segment_id", "computed_at", "member_count"],
                [
                    [org_id, high_ltv, midnight - timedelta(days=2) + timedelta(hours=10), 3],
                    [org_id, high_ltv, last_computed, 4],
                ],
            ),
        ),
        (
            "events",
            (
                ["org_id", "profile_id", "event_name", "timestamp"],
                [
                    [org_id, "p1", "page_viewed", midnight],
                    [org_id, "p2", "order_placed", midnight - timedelta(days=2) + timedelta(hours=5)],
                    [org_id, "p1", "page_viewed", midnight - timedelta(days=40)],  # before window and period
                ],
            ),
        ),
    ]

    # Current members: High LTV {p1, p2, p3, p5}, Email {p2, p3, p6}; Archived is not active.
    # Events in the window and in the period: 2, by p1 and p2. Credits in the period: 3 + 0 + 2.
    tenant.expected = {
        "overview": {
            "segment_count": 2,
            "total_members": 5,
            "events_30d": 2,
            "ai_credits_used": 5,
            "ai_credits_limit": 100,
        },
        "segments": [
            {
                "id": high_ltv,
                "name": "High LTV Buyers",
                "member_count": 4,
                "last_computed_at": _iso(last_computed),
                # First computed two days ago; yesterday's 4 carries forward to today.
                "trend": [
                    {"day": (today - timedelta(days=2)).isoformat(), "count": 3},
                    {"day": (today - timedelta(days=1)).isoformat(), "count": 4},
                    {"day": today.isoformat(), "count": 4},
                ],
            },
            {"id": email, "name": "Email Subscribers", "member_count": 3, "last_computed_at": None, "trend": []},
        ],
        # Shared {p2, p3}: 2 / min(4, 3) * 100 = 66.67 -> 66.7.
        "overlap": [
            {
                "seg_a_id": high_ltv,
                "seg_a_name": "High LTV Buyers",
                "seg_b_id": email,
                "seg_b_name": "Email Subscribers",
                "overlap": 2,
                "overlap_pct": 66.7,
            }
        ],
        "activations": [
            {
                "id": klaviyo,
                "segment_id": high_ltv,
                "segment_name": "High LTV Buyers",
                "connector_type": "klaviyo",
                "status": "active",
                "last_synced_at": _iso(midnight - timedelta(days=1)),
                "last_error": "",
                "member_count": 4,
                "success_rate": 67,  # 2 of 3
                "sync_logs": [
                    {
                        "status": "success",
                        "user_count": 12,
                        "error_message": "",
                        "synced_at": _iso(midnight - timedelta(days=1)),
                    },
                    {
                        "status": "error",
                        "user_count": 0,
                        "error_message": "rate limited",
                        "synced_at": _iso(midnight - timedelta(days=2)),
                    },
                    {
                        "status": "success",
                        "user_count": 10,
                        "error_message": "",
                        "synced_at": _iso(midnight - timedelta(days=3)),
                    },
                ],
            },
            {
                "id": hubspot,
                "segment_id": email,
                "segment_name": "Email Subscribers",
                "connector_type": "hubspot",
                "status": "paused",
                "last_synced_at": None,
                "last_error": "",
                "member_count": 3,
                "success_rate": None,
                "sync_logs": [],
            },
        ],
        "copilot": {
            "total": 4,
            "daily": [
                {"day": (today - timedelta(days=1)).isoformat(), "success": 1, "error": 1},
                {"day": today.isoformat(), "success": 1, "error": 0},
            ],
        },
        "usage": {
            "plan_name": "Starter",
            "plan_tier": "starter",
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "events": {"used": 2, "limit": 100000},
            "users": {"used": 2, "limit": 20000},
            "segments": {"used": 2, "limit": 10},
            "ai_credits": {"used": 5, "limit": 100},
        },
    }
    return tenant
