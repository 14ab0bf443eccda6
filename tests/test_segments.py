"""GET /api/analytics/segments/ on the real engines, against a plain-Python reading of the contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import Segment, SegmentRows, expected_segments, midnight

MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)


def seed(db: Stores, ids: Iterator[int], now: datetime) -> tuple[SegmentRows, SegmentRows, list]:
    today = midnight(now.date())
    window_first = today - 29 * DAY
    a, b = SegmentRows(next(ids)), SegmentRows(next(ids))
    db.insert_pg("organizations", ["id", "name"], [[a.org_id, "Acme"], [b.org_id, "Globex"]])

    # Ids out of insertion order, so the answer's `ORDER BY id` is visible.
    seg_ids = sorted((next(ids) for _ in range(10)), reverse=True)
    gaps, carried, never, no_history, first_today, in_window, inactive, future_only, b_one, b_two = seg_ids
    computed = now - timedelta(minutes=7, milliseconds=250)
    a.segments = [
        Segment(gaps, "Gaps & boundaries", member_count=40, last_computed_at=computed),
        Segment(carried, "Carried into day 1", member_count=70, last_computed_at=computed),
        Segment(never, "Never computed", member_count=0, last_computed_at=None),
        Segment(no_history, "No history", member_count=5, last_computed_at=computed),
        Segment(first_today, "First computed today", member_count=9, last_computed_at=today),
        Segment(in_window, "Started mid-window: Käufer", member_count=12, last_computed_at=computed),
        Segment(inactive, "Inactive", is_active=False, member_count=3, last_computed_at=computed),
        Segment(future_only, "Only rows after now", member_count=1, last_computed_at=computed),
    ]
    b.segments = [
        Segment(b_one, "Globex one", member_count=8, last_computed_at=computed),
        Segment(b_two, "Globex two", member_count=2, last_computed_at=computed),
    ]
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
        [
            [s.id, org.org_id, s.name, s.is_active, s.member_count, s.last_computed_at]
            for org in (b, a)
            for s in org.segments
        ],
    )

    A, B = a.org_id, b.org_id
    history = [
        # Gaps: first row on day 3 of the window; several rows a day (latest wins, inserted out of
        # order); a row at 23:59:59.999 counts for its own day, one at 00:00:00.000 for the next.
        (A, gaps, window_first + 2 * DAY + timedelta(hours=9), 10),
        (A, gaps, window_first + 2 * DAY + timedelta(hours=18), 12),
        (A, gaps, window_first + 2 * DAY + timedelta(hours=11), 11),
        (A, gaps, window_first + 6 * DAY - MS, 15),
        (A, gaps, window_first + 6 * DAY, 16),
        (A, gaps, window_first + 15 * DAY - MS, 20),
        (A, gaps, window_first + 15 * DAY - 2 * MS, 19),
        (A, gaps, today, 30),
        (A, gaps, now, 40),
        (A, gaps, now + MS, 41),  # not yet: after now
        (A, gaps, now + 3 * DAY, 99),
        # Carried: the latest row before the window is day 1's value; a row on day 2 at 00:00.
        (A, carried, window_first - 40 * DAY, 50),
        (A, carried, window_first - 2 * DAY, 55),
        (A, carried, window_first - MS, 60),
        (A, carried, window_first + DAY, 65),
        (A, carried, today - timedelta(hours=1), 70),
        # History of a never-computed segment must not show.
        (A, never, window_first + 4 * DAY, 77),
        # First computed today: one point, so no trend.
        (A, first_today, today, 8),
        (A, first_today, today + MS, 9),
        # First row in the window at exactly 00:00:00.000 of a day.
        (A, in_window, today - 4 * DAY, 12),
        # Two computations in the same millisecond: the contract does not order them; the larger wins.
        (A, in_window, today - 2 * DAY + timedelta(hours=5), 14),
        (A, in_window, today - 2 * DAY + timedelta(hours=5), 13),
        # Inactive: excluded whatever its history.
        (A, inactive, window_first + DAY, 3),
        (A, inactive, window_first + 2 * DAY, 4),
        (A, future_only, now + MS, 1),
        # Organization B: its own segments, and rows under A's segment ids that A must never see.
        (B, b_one, window_first + 20 * DAY + timedelta(hours=3), 7),
        (B, b_one, today - MS, 8),
        (B, gaps, window_first, 1000),
        (B, carried, window_first - DAY, 2000),
        (B, no_history, window_first + 3 * DAY, 3000),
        (B, first_today, window_first + 10 * DAY, 4000),
        # A row of A under B's segment id: B must not see it.
        (A, b_two, window_first + DAY, 5000),
    ]
    # Two inserts (two parts): a series must not depend on how rows are stored.
    columns = ["org_id", "segment_id", "computed_at", "member_count"]
    db.insert_ch("segment_size_history", columns, history[::2])
    db.insert_ch("segment_size_history", columns, history[1::2])
    return a, b, history


def test_segments_match_the_contract_for_each_organization(db: Stores, ids: Iterator[int], now: datetime) -> None:
    a, b, history = seed(db, ids, now)

    bodies = {}
    for org in (a, b):
        status, body = invoke_json("segments", api_event("segments", org.org_id))
        assert status == 200
        assert body == expected_segments(org, history, now)
        bodies[org.org_id] = body

    # The dataset hits the edges it is meant to (so the comparison above can fail on each).
    trends = {seg["name"]: seg["trend"] for seg in bodies[a.org_id]}
    assert [s["id"] for s in bodies[a.org_id]] == sorted(s.id for s in a.segments if s.is_active)
    assert "Inactive" not in trends
    assert trends["Never computed"] == trends["No history"] == trends["First computed today"] == []
    assert trends["Only rows after now"] == []
    assert len(trends["Carried into day 1"]) == 30 and trends["Carried into day 1"][0]["count"] == 60
    assert trends["Carried into day 1"][1]["count"] == 65
    assert len(trends["Gaps & boundaries"]) == 28
    assert [p["count"] for p in trends["Gaps & boundaries"][:5]] == [12, 12, 12, 15, 16]
    assert trends["Gaps & boundaries"][-1]["count"] == 40
    assert [p["count"] for p in trends["Started mid-window: Käufer"]] == [12, 12, 14, 14, 14]
    b_trends = {seg["name"]: seg["trend"] for seg in bodies[b.org_id]}
    assert b_trends["Globex one"][0]["count"] == 7 and b_trends["Globex two"] == []


def test_segments_of_an_organization_without_segments_is_empty(db: Stores, ids: Iterator[int], now: datetime) -> None:
    assert invoke_json("segments", api_event("segments", next(ids))) == (200, [])
