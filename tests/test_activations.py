"""GET /api/analytics/activations/ on real Postgres, against a plain-Python reading of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import Seeded, expected_activations, iso


class Seeder:
    def __init__(self, db: Stores, ids: Iterator[int]) -> None:
        self.db, self.ids, self.seeded = db, ids, Seeded()

    def org(self) -> int:
        org_id = next(self.ids)
        self.db.insert_pg("organizations", ["id", "name"], [[org_id, f"Org {org_id}"]])
        return org_id

    def segment(self, org_id: int, name: str, member_count: int, *, active: bool = True) -> int:
        segment_id = next(self.ids)
        self.seeded.segments[segment_id] = {"org_id": org_id, "name": name, "member_count": member_count}
        self.db.insert_pg(
            "segments",
            ["id", "org_id", "name", "is_active", "member_count"],
            [[segment_id, org_id, name, active, member_count]],
        )
        return segment_id

    def activation(
        self,
        org_id: int,
        segment_id: int,
        *,
        activation_id: int | None = None,
        connector_type: str = "klaviyo",
        status: str = "active",
        last_synced_at: datetime | None = None,
        last_error: str = "",
    ) -> int:
        new_id = activation_id if activation_id is not None else next(self.ids)
        row: dict[str, Any] = {
            "id": new_id,
            "org_id": org_id,
            "segment_id": segment_id,
            "connector_type": connector_type,
            "status": status,
            "last_synced_at": last_synced_at,
            "last_error": last_error,
        }
        self.seeded.activations.append(row)
        self.db.insert_pg("activations", list(row), [list(row.values())])
        return new_id

    def logs(
        self, activation_id: int, entries: list[tuple[str, datetime]], *, log_ids: list[int] | None = None
    ) -> None:
        """One log per (status, synced_at), inserted in the given order (not the order of ids or time)."""
        rows = []
        for index, (status, synced_at) in enumerate(entries):
            log_id = log_ids[index] if log_ids else next(self.ids)
            rows.append(
                {
                    "id": log_id,
                    "activation_id": activation_id,
                    "status": status,
                    "user_count": 100 + log_id % 997,
                    "error_message": "" if status == "success" else f"HTTP 429 from connector ({log_id})",
                    "synced_at": synced_at,
                }
            )
        self.seeded.logs.extend(rows)
        self.db.insert_pg("activation_sync_logs", list(rows[0]), [list(r.values()) for r in rows])


def statuses(successes: int, errors: int) -> list[str]:
    """`successes` then `errors` statuses, interleaved so neither sits in one block of time."""
    result = ["success"] * successes + ["error"] * errors
    return result[::2] + result[1::2]


def seed(db: Stores, ids: Iterator[int], now: datetime) -> tuple[Seeder, int, int, dict[str, int]]:
    s = Seeder(db, ids)
    a, b = s.org(), s.org()
    a_buyers = s.segment(a, "High LTV Buyers", 3482)
    a_paused = s.segment(a, "Lapsed", 12, active=False)
    b_seg = s.segment(b, "Globex VIPs", 77)
    named: dict[str, int] = {}
    ms = timedelta(milliseconds=1)

    # 41 logs: the newest 29 hold 15 successes; places 30 and 31 tie on synced_at (the error has the
    # higher id, so it is the newer); the oldest 10 are errors. Right: 15/30 = 50. A tie broken the
    # wrong way: 16/30 = 53; 31 logs: 16/31 = 52; 29 logs: 15/29 = 52; all 41: 16/41 = 39.
    long_history = s.activation(a, a_buyers, last_synced_at=now - timedelta(minutes=5) + 456 * ms)
    named["long_history"] = long_history
    newest_29 = [(st, now - timedelta(hours=k) + 789 * ms) for k, st in enumerate(statuses(15, 14))]
    old_10 = [("error", now - timedelta(days=5, hours=k)) for k in range(10)]
    tie_at = now - timedelta(days=2)
    low_id, high_id = next(ids), next(ids)
    s.logs(long_history, [("error", tie_at), ("success", tie_at)], log_ids=[high_id, low_id])
    s.logs(long_history, old_10 + newest_29[::-1])

    # A tie on synced_at among the 5 shown: the higher id comes first. Inserted in id order reversed.
    shown_tie = s.activation(a, a_buyers, connector_type="meta_ads", last_synced_at=now)
    named["shown_tie"] = shown_tie
    t1, t2, t3 = next(ids), next(ids), next(ids)
    s.logs(
        shown_tie,
        [("success", now - timedelta(hours=1)), ("error", now - timedelta(hours=1)), ("success", now)],
        log_ids=[t1, t3, t2],
    )
    s.logs(shown_tie, [("success", now - timedelta(days=d)) for d in range(1, 6)])

    named["no_logs"] = s.activation(a, a_paused, connector_type="google_ads", status="paused")
    for name, successes, errors in (("one_of_eight", 1, 7), ("five_of_eight", 5, 3), ("two_of_three", 2, 1)):
        activation_id = s.activation(a, a_buyers, status="error", last_synced_at=now, last_error="token expired")
        named[name] = activation_id
        s.logs(
            activation_id,
            [(st, now - timedelta(minutes=10 * k)) for k, st in enumerate(statuses(successes, errors))],
        )
    named["one_of_three"] = s.activation(a, a_paused)
    s.logs(named["one_of_three"], [("error", now), ("success", now - ms), ("error", now - 2 * ms)])

    # Organization B: its activation's id sits between A's, with logs of its own.
    b_activation = s.activation(b, b_seg, connector_type="hubspot", last_synced_at=now - timedelta(days=1))
    named["b"] = b_activation
    s.logs(b_activation, [("success", now - timedelta(days=1)), ("error", now - timedelta(days=2))])
    named["a_after_b"] = s.activation(a, a_buyers, connector_type="braze")
    s.logs(named["a_after_b"], [("success", now - timedelta(seconds=30))])
    return s, a, b, named


def test_activations_match_the_contract_for_each_organization(db: Stores, ids: Iterator[int], now: datetime) -> None:
    s, a, b, named = seed(db, ids, now)

    for org_id in (a, b):
        status, body = invoke_json("activations", api_event("activations", org_id))
        assert status == 200
        assert body == expected_activations(s.seeded, org_id)

    # The edges the dataset was built for, stated literally (so a slip in the oracle above cannot hide them).
    rates = {row["id"]: row["success_rate"] for row in invoke_json("activations", api_event("activations", a))[1]}
    assert rates[named["long_history"]] == 50  # 15 of the newest 30, the tie broken by id
    assert rates[named["no_logs"]] is None
    assert rates[named["one_of_eight"]] == 13  # 12.5
    assert rates[named["five_of_eight"]] == 63  # 62.5
    assert rates[named["two_of_three"]] == 67  # 66.67
    assert rates[named["one_of_three"]] == 33  # 33.33
    assert named["b"] not in rates


def test_activation_fields_in_detail(db: Stores, ids: Iterator[int], now: datetime) -> None:
    _, a, _, named = seed(db, ids, now)
    _, body = invoke_json("activations", api_event("activations", a))
    by_id = {row["id"]: row for row in body}

    assert [row["id"] for row in body] == sorted(by_id)
    no_logs = by_id[named["no_logs"]]
    assert no_logs["sync_logs"] == [] and no_logs["last_synced_at"] is None
    assert (no_logs["segment_name"], no_logs["member_count"]) == ("Lapsed", 12)
    # Newest first, ties on synced_at broken by the higher id; no fraction of a second in timestamps.
    shown = by_id[named["shown_tie"]]["sync_logs"]
    assert [log["status"] for log in shown] == ["success", "error", "success", "success", "success"]
    assert shown[1]["synced_at"] == shown[2]["synced_at"] == iso(now - timedelta(hours=1))
    assert shown[1]["error_message"].startswith("HTTP 429")
    assert by_id[named["long_history"]]["last_synced_at"] == iso(now - timedelta(minutes=5))


def test_activation_pointing_at_another_organizations_segment_shows_none_of_it(
    db: Stores, ids: Iterator[int], now: datetime
) -> None:
    s = Seeder(db, ids)
    a, b = s.org(), s.org()
    b_segment = s.segment(b, "Globex secret segment", 999)
    stray = s.activation(a, b_segment, last_synced_at=now)

    status, body = invoke_json("activations", api_event("activations", a))
    assert status == 200
    assert body == expected_activations(s.seeded, a)
    assert body[0]["id"] == stray and body[0]["segment_name"] is None and body[0]["member_count"] is None


def test_organization_without_activations_gets_an_empty_list(db: Stores, ids: Iterator[int]) -> None:
    assert invoke_json("activations", api_event("activations", next(ids))) == (200, [])
