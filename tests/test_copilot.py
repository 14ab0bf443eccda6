"""GET /api/analytics/copilot/ on real Postgres, against a plain-Python reading of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import expected_copilot

MS = timedelta(milliseconds=1)


def seed(db: Stores, ids: Iterator[int], now: datetime) -> dict[int, list[tuple[str, datetime]]]:
    today = now.date()
    first = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=29)
    a, b = next(ids), next(ids)
    requests = {
        a: [
            ("success", first),  # exactly at the window start: counted
            ("error", first - MS),  # 1 ms before: total only
            ("success", first + timedelta(days=2, hours=23, minutes=59, seconds=59, milliseconds=999)),
            ("error", first + timedelta(days=3)),  # the next day, errors only
            ("error", first + timedelta(days=3, hours=5)),
            ("success", now - timedelta(days=3)),
            ("success", now - timedelta(days=3, minutes=1)),
            ("error", now - timedelta(days=3, minutes=2)),
            ("success", now),  # up to now, included
            ("success", now + MS),  # after now: total only
            ("error", now - timedelta(days=400)),
        ],
        # B uses some of the same days, with other counts.
        b: [("error", first), ("error", now - timedelta(days=3)), ("success", now - timedelta(days=90))],
    }
    db.insert_pg("organizations", ["id", "name"], [[a, "Acme"], [b, "Globex"]])
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [[next(ids), org, status, 1, ts] for org, rows in requests.items() for status, ts in rows],
    )
    return requests


def test_copilot_matches_the_contract_for_each_organization(db: Stores, ids: Iterator[int], now: datetime) -> None:
    requests = seed(db, ids, now)

    for org_id, rows in requests.items():
        status, body = invoke_json("copilot", api_event("copilot", org_id))
        assert status == 200
        assert body == expected_copilot(rows, now)

    # The edges the dataset was built for, stated literally.
    a = next(iter(requests))
    first = expected_copilot(requests[a], now)["daily"][0]["day"]
    _, body = invoke_json("copilot", api_event("copilot", a))
    assert body["total"] == 11
    assert body["daily"][0] == {"day": first, "success": 1, "error": 0}
    assert {"success": 0, "error": 2} in [{k: v for k, v in d.items() if k != "day"} for d in body["daily"]]
    assert sum(d["success"] + d["error"] for d in body["daily"]) == 8
    assert len(body["daily"]) < 30  # days without requests are omitted


def test_organization_without_requests(db: Stores, ids: Iterator[int], now: datetime) -> None:
    assert invoke_json("copilot", api_event("copilot", next(ids))) == (200, {"total": 0, "daily": []})


def test_requests_only_outside_the_window_still_count_in_total(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Initech"]])
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [[next(ids), org_id, "success", 3, now - timedelta(days=31)], [next(ids), org_id, "error", 0, now + MS]],
    )
    assert invoke_json("copilot", api_event("copilot", org_id)) == (200, {"total": 2, "daily": []})
