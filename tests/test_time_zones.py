"""`tz` and `days` (docs/api.md §6) on the real engines: local days of zones with 23-, 23.5-, 24.5- and
25-hour days, a day that starts at 01:00, a day that never was, +05:30, -03:30 and +14:00, each whole
answer against tests/reference.py, which reads a row's day off the zone's clocks row by row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import pytest

from analytics_common import clock, window
from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.reference import (
    DAY,
    OverviewRows,
    Segment,
    SegmentRows,
    SizeHistory,
    expected_copilot,
    expected_overview,
    expected_segments,
    local_date,
    tz,
)

MS = timedelta(milliseconds=1)
DAYS = (1, 2, 7, 30, 90)

# (zone, now): each `now` puts the zone's edge in the window (and is in a local day other than its UTC one).
ZONE_CASES = [
    ("America/New_York", datetime(2026, 3, 20, 3, 30, tzinfo=UTC)),  # 2026-03-08 lasts 23 h
    ("America/New_York", datetime(2026, 11, 15, 4, 30, tzinfo=UTC)),  # 2026-11-01 lasts 25 h
    ("America/Santiago", datetime(2026, 9, 20, 2, 0, tzinfo=UTC)),  # 2026-09-06 starts at 01:00
    ("Asia/Kolkata", datetime(2026, 5, 10, 20, 0, tzinfo=UTC)),  # +05:30
    ("America/St_Johns", datetime(2026, 3, 20, 2, 0, tzinfo=UTC)),  # -03:30, then -02:30 from 2026-03-08
    ("Pacific/Kiritimati", datetime(2026, 5, 10, 11, 0, tzinfo=UTC)),  # +14:00
    ("Australia/Lord_Howe", datetime(2026, 4, 20, 13, 45, tzinfo=UTC)),  # 2026-04-05 lasts 24.5 h
    ("Australia/Lord_Howe", datetime(2026, 10, 20, 13, 15, tzinfo=UTC)),  # 2026-10-04 lasts 23.5 h
    ("Pacific/Apia", datetime(2012, 1, 10, 12, 0, tzinfo=UTC)),  # 2011-12-30 never was (+14:00 from -10:00)
]


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant of 00:00 on `day` read with fold=0 (in a gap: the offset before it)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def edge_instants(zone: tzinfo, now: datetime) -> list[datetime]:
    """Local midnight of each of the last 93 local days, ±1 ms, and noon-ish; now and just after it."""
    today = local_date(now, zone)
    instants = [now, now + MS]
    for back in range(93):
        midnight = local_midnight(today - back * DAY, zone)
        instants += [midnight - MS, midnight, midnight + MS, midnight + 12 * timedelta(hours=1)]
    return instants


@dataclass
class Seeded:
    org_id: int
    zone_name: str
    now: datetime
    segments: SegmentRows
    history: list[SizeHistory]
    requests: list[tuple[str, datetime]]
    overview: OverviewRows


def seed(db: Stores, ids: Iterator[int], zone_name: str, now: datetime) -> Seeded:
    zone = tz(zone_name)
    org_id = next(ids)
    instants = edge_instants(zone, now)
    db.insert_pg("organizations", ["id", "name"], [[org_id, zone_name]])
    always, mid_window, first_today = next(ids), next(ids), next(ids)
    today_midnight = local_midnight(local_date(now, zone), zone)
    segments = [
        Segment(always, "Every edge", member_count=9, last_computed_at=now),
        Segment(mid_window, "From 10 local days ago", member_count=5, last_computed_at=now),
        Segment(first_today, "First computed today", member_count=1, last_computed_at=now),
    ]
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "member_count", "last_computed_at"],
        [[s.id, org_id, s.name, s.member_count, s.last_computed_at] for s in segments],
    )
    ten_days_ago = local_midnight(local_date(now, zone) - 10 * DAY, zone)
    history: list[SizeHistory] = [(org_id, always, at, n) for n, at in enumerate(instants)]
    history += [(org_id, mid_window, at, 1000 + n) for n, at in enumerate(instants) if at >= ten_days_ago - MS]
    history += [(org_id, first_today, at, 2000 + n) for n, at in enumerate(instants) if at >= today_midnight]
    db.insert_ch("segment_size_history", ["org_id", "segment_id", "computed_at", "member_count"], history)
    requests = [("success" if n % 3 else "error", at) for n, at in enumerate(instants)]
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [[next(ids), org_id, status, 1, at] for status, at in requests],
    )
    db.insert_ch(
        "events", ["org_id", "profile_id", "event_name", "timestamp"], [[org_id, "p", "e", at] for at in instants]
    )
    overview = OverviewRows(
        org_id, segments=[(s.id, True) for s in segments], events=instants, credits=[(at, 1) for _, at in requests]
    )
    return Seeded(org_id, zone_name, now, SegmentRows(org_id, segments), history, requests, overview)


@pytest.fixture(params=ZONE_CASES, ids=[f"{zone}@{now:%Y-%m-%d}" for zone, now in ZONE_CASES])
def seeded(request: pytest.FixtureRequest, db: Stores, ids: Iterator[int], monkeypatch: pytest.MonkeyPatch) -> Seeded:
    zone_name, now = request.param
    monkeypatch.setattr(clock, "utc_now", lambda: now)
    return seed(db, ids, zone_name, now)


def get(name: str, org_id: int, **query: str) -> tuple[int, object]:
    return invoke_json(name, api_event(name, org_id, query=query))


def test_segments_trends_follow_the_local_days(seeded: Seeded) -> None:
    zone = tz(seeded.zone_name)
    for days in DAYS:
        status, body = get("segments", seeded.org_id, tz=seeded.zone_name, days=str(days))
        assert status == 200
        assert body == expected_segments(seeded.segments, seeded.history, seeded.now, zone, days), days
        assert isinstance(body, list)
        trends = {segment["name"]: segment["trend"] for segment in body}
        assert len(trends["Every edge"]) == (days if days > 1 else 0)
        assert trends["First computed today"] == []


def test_copilot_days_follow_the_local_days(seeded: Seeded) -> None:
    zone = tz(seeded.zone_name)
    for days in DAYS:
        status, body = get("copilot", seeded.org_id, tz=seeded.zone_name, days=str(days))
        assert (status, body) == (200, expected_copilot(seeded.requests, seeded.now, zone, days)), days
    if seeded.zone_name != "Pacific/Apia":
        # Each whole local day holds its midnight, midnight + 1 ms, noon-ish and the next midnight - 1 ms:
        # four requests, whether the day lasts 23, 23.5, 24, 24.5 or 25 hours or starts at 01:00.
        assert isinstance(body, dict)
        whole_days = body["daily"][:-1]
        assert len(whole_days) == 89 and {d["success"] + d["error"] for d in whole_days} == {4}


def test_overview_counts_the_events_of_30_local_days(seeded: Seeded) -> None:
    status, body = get("overview", seeded.org_id, tz=seeded.zone_name)
    expected = expected_overview(seeded.overview, [], seeded.now, tz(seeded.zone_name))
    assert (status, body) == (200, expected)
    # `days` is not overview's: always 30 days.
    assert get("overview", seeded.org_id, tz=seeded.zone_name, days="7") == (200, expected)


def test_a_zone_whose_day_starts_at_one_in_the_morning(
    db: Stores, ids: Iterator[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """America/Santiago skips 2026-09-06 00:00: the day starts at 01:00 (04:00Z); 03:59:59.999Z is still
    2026-09-05, local time 23:59:59.999."""
    now = datetime(2026, 9, 7, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "utc_now", lambda: now)
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Santiago"]])
    start = datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    rows = [("success", start - MS), ("error", start), ("error", start + MS)]
    db.insert_pg(
        "copilot_requests",
        ["id", "org_id", "status", "credits", "created_at"],
        [[next(ids), org_id, status, 1, at] for status, at in rows],
    )
    assert get("copilot", org_id, tz="America/Santiago", days="3") == (
        200,
        {
            "total": 3,
            "daily": [
                {"day": "2026-09-05", "success": 1, "error": 0},
                {"day": "2026-09-06", "success": 0, "error": 2},
            ],
        },
    )


@pytest.mark.parametrize("name", ["overview", "segments", "copilot"])
def test_tz_utc_and_days_30_are_the_defaults(db: Stores, name: str, seeded_utc: Seeded) -> None:
    default = get(name, seeded_utc.org_id)
    assert default[0] == 200
    assert get(name, seeded_utc.org_id, tz="UTC") == default
    if name != "overview":
        assert get(name, seeded_utc.org_id, days="30") == default
        assert get(name, seeded_utc.org_id, tz="UTC", days="030") == default


@pytest.fixture
def seeded_utc(db: Stores, ids: Iterator[int], now: datetime) -> Seeded:
    return seed(db, ids, "UTC", now)


# --- the window's boundaries, worked out once per request ------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "day", "first_instant", "hours"),
    [
        ("America/New_York", date(2026, 3, 8), datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 23),
        ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 4, 0, tzinfo=UTC), 25),
        ("America/Santiago", date(2026, 9, 6), datetime(2026, 9, 6, 4, 0, tzinfo=UTC), 23),
        ("America/Santiago", date(2026, 4, 4), datetime(2026, 4, 4, 3, 0, tzinfo=UTC), 25),
        ("Australia/Lord_Howe", date(2026, 4, 5), datetime(2026, 4, 4, 13, 0, tzinfo=UTC), 24.5),
        ("Australia/Lord_Howe", date(2026, 10, 4), datetime(2026, 10, 3, 13, 30, tzinfo=UTC), 23.5),
        ("Asia/Kolkata", date(2026, 5, 10), datetime(2026, 5, 9, 18, 30, tzinfo=UTC), 24),
        ("America/St_Johns", date(2026, 1, 10), datetime(2026, 1, 10, 3, 30, tzinfo=UTC), 24),
        ("Pacific/Kiritimati", date(2026, 5, 10), datetime(2026, 5, 9, 10, 0, tzinfo=UTC), 24),
        ("Pacific/Apia", date(2011, 12, 30), datetime(2011, 12, 30, 10, 0, tzinfo=UTC), 0),
        ("America/Havana", date(2026, 3, 8), datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 23),  # 00:00 -> 01:00
    ],
)
def test_day_start_is_the_first_instant_of_the_local_day(
    zone_name: str, day: date, first_instant: datetime, hours: float
) -> None:
    zone = window.zone(zone_name)
    start = window.day_start(day, zone)
    assert start == first_instant
    assert (window.day_start(day + DAY, zone) - start) / timedelta(hours=1) == hours
    # The instant before belongs to an earlier day; the first instant, to `day` (unless it never was).
    assert (start - MS).astimezone(zone).date() < day
    assert start.astimezone(zone).date() == day or hours == 0


def test_the_window_is_the_last_days_local_days_up_to_now() -> None:
    now = datetime(2026, 3, 20, 3, 30, tzinfo=UTC)  # 23:30 on 2026-03-19 in New York
    span = window.local_window(now, window.zone("America/New_York"), 30)
    assert span.now == now and len(span.days) == 30 and len(span.starts) == 31
    assert (span.days[0], span.days[-1]) == (date(2026, 2, 18), date(2026, 3, 19))
    assert span.start == datetime(2026, 2, 18, 5, 0, tzinfo=UTC)
    assert span.starts[-1] == datetime(2026, 3, 20, 4, 0, tzinfo=UTC)  # EDT by then
    assert sorted(span.starts) == list(span.starts)


def test_zones_come_from_the_bundled_tz_database_not_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoneinfo

    import tzdata

    zoneinfo.reset_tzpath(to=[])  # no host database at all
    window.zone.cache_clear()
    try:
        kolkata = window.zone("Asia/Kolkata")
        assert kolkata.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=5, minutes=30)
    finally:
        zoneinfo.reset_tzpath()
        window.zone.cache_clear()
    assert window.tz_database_version() == tzdata.IANA_VERSION
    assert {"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"} <= window.zone_names()
    assert not {"Factory", "localtime", "posixrules", "utc", "europe/berlin"} & window.zone_names()
