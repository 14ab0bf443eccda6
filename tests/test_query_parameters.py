"""Query parameters (docs/api.md §6): 400s that name the parameter and run no query, ignored parameters,
and keyset pages (`limit`, `cursor`, `Link`) walked to the end on the real engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from analytics_common.cursor import TOKEN_LENGTH, write_cursor
from tests.conftest import CURSOR_SECRET, Stores
from tests.lambda_support import all_pages, api_event, invoke, invoke_json, next_page_query
from tests.reference import Seeded, Segment, SegmentRows, expected_activations, expected_segments, tz

DAY = timedelta(days=1)
TAKES = {
    "overview": ("tz",),
    "segments": ("tz", "days", "limit", "cursor"),
    "overlap": (),
    "activations": ("limit", "cursor"),
    "copilot": ("tz", "days"),
    "usage": (),
}
BAD_VALUES = {
    "tz": [
        "",
        "america/new_york",
        "AMERICA/NEW_YORK",
        "America/New_York ",
        " UTC",
        "utc",
        "localtime",
        "Factory",
        "posixrules",
        "../../etc/passwd",
        "/etc/localtime",
        "America/../UTC",
        "America/New_York/",
        "Europe/Berlin\x00",
        "Mars/Olympus_Mons",
        "Etc/GMT 5",  # what `Etc/GMT+5` becomes when a client does not encode its `+`
    ],
    "days": [
        "",
        "0",
        "91",
        "100",
        "-1",
        "+7",
        "7 ",
        " 7",
        "7.0",
        "1e1",
        "0x1f",
        "\u0663",
        "\uff17",
        "seven",
        "9" * 5000,
    ],
    "limit": ["", "0", "1001", "-5", "+1", "10 ", "1_000", "\u00b2", "1" * 400],
    "cursor": ["", "x", "A" * TOKEN_LENGTH, "A" * (TOKEN_LENGTH - 1), "A" * TOKEN_LENGTH + "=", "%" * TOKEN_LENGTH],
}
GOOD_VALUES = {
    "tz": ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT", "Asia/Kathmandu"],
    "days": ["1", "90", "07", "0090"],
    "limit": ["1", "1000", "0001"],
}


def bad_cases() -> Iterator[tuple[str, str, str]]:
    for endpoint, takes in TAKES.items():
        for parameter in takes:
            for value in BAD_VALUES[parameter]:
                yield endpoint, parameter, value


@pytest.mark.parametrize(("endpoint", "parameter", "value"), list(bad_cases()))
def test_an_invalid_parameter_is_400_naming_it_and_runs_no_query(
    endpoint: str, parameter: str, value: str, round_trips: dict[str, int]
) -> None:
    # No `db` fixture: no store is configured, so any query would be a 500.
    status, body = invoke_json(endpoint, api_event(endpoint, 1, query={parameter: value}))
    assert status == 400, body
    assert set(body) == {"detail"} and body["detail"].startswith(f"{parameter}: ")
    assert round_trips == {"postgres": 0, "clickhouse": 0}


@pytest.mark.parametrize(
    ("endpoint", "parameter"), [(endpoint, parameter) for endpoint, takes in TAKES.items() for parameter in takes]
)
def test_a_parameter_given_twice_is_400(endpoint: str, parameter: str, round_trips: dict[str, int]) -> None:
    value = {"tz": "UTC", "days": "7", "limit": "5", "cursor": "A" * TOKEN_LENGTH}[parameter]
    for values in ([value, value], [value, "other"], ["", value]):
        event = api_event(endpoint, 1, query={parameter: values})
        assert invoke_json(endpoint, event) == (400, {"detail": f"{parameter}: given more than once."})
    assert round_trips == {"postgres": 0, "clickhouse": 0}


def test_a_caller_without_an_organization_is_403_before_any_parameter_is_read() -> None:
    event = api_event("segments", None, query={"tz": "Nowhere/Atlantis", "days": "0"})
    assert invoke_json("segments", event) == (403, {"detail": "Forbidden."})


@pytest.mark.parametrize("endpoint", list(TAKES))
def test_valid_parameters_are_taken_and_the_others_ignored(
    db: Stores, ids: Iterator[int], now: datetime, endpoint: str
) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Ignored"]])
    plain = invoke_json(endpoint, api_event(endpoint, org_id))
    # Parameters the endpoint does not take, unknown ones, and names in another case: ignored, whatever the value.
    others = {name: "not a valid value" for name in ("tz", "days", "limit", "cursor") if name not in TAKES[endpoint]}
    noise: dict[str, str | list[str]] = {
        **others,
        "org_id": "1",
        "TZ": "nowhere",
        "Days": "0",
        "page": "2",
        "foo": ["1", "2"],
    }
    assert invoke_json(endpoint, api_event(endpoint, org_id, query=noise)) == plain
    for parameter in TAKES[endpoint]:
        for value in GOOD_VALUES.get(parameter, []):
            status, _ = invoke_json(endpoint, api_event(endpoint, org_id, query={parameter: value}))
            assert status == plain[0], (parameter, value)


# --- pages -----------------------------------------------------------------------------------------------


def seed_segments(db: Stores, ids: Iterator[int], now: datetime, count: int) -> tuple[SegmentRows, list[Any]]:
    org = SegmentRows(next(ids))
    db.insert_pg("organizations", ["id", "name"], [[org.org_id, "Pages"]])
    seg_ids = sorted(next(ids) for _ in range(count + 2))
    org.segments = [
        Segment(seg_id, f"S{n}", is_active=n % 4 != 1, member_count=n, last_computed_at=now)
        for n, seg_id in enumerate(seg_ids)
    ]
    org.segments[-1].last_computed_at = None
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
        [[s.id, org.org_id, s.name, s.is_active, s.member_count, s.last_computed_at] for s in org.segments],
    )
    history = [
        (org.org_id, s.id, now - back * timedelta(hours=7), n * 100 + back)
        for n, s in enumerate(org.segments)
        for back in range(0, 300, 13)
    ]
    db.insert_ch("segment_size_history", ["org_id", "segment_id", "computed_at", "member_count"], history)
    return org, history


@pytest.mark.parametrize("limit", [1, 2, 3, 1000])
@pytest.mark.parametrize("shape", [{}, {"tz": "Asia/Kolkata", "days": "7"}])
def test_segments_pages_walked_to_the_end_are_the_whole_answer(
    db: Stores, ids: Iterator[int], now: datetime, limit: int, shape: dict[str, str]
) -> None:
    org, history = seed_segments(db, ids, now, 7)
    zone = tz(shape.get("tz", "UTC"))
    whole = expected_segments(org, history, now, zone, int(shape.get("days", "30")))
    assert len(whole) == 7
    pages = all_pages("segments", org.org_id, {**shape, "limit": str(limit)})
    assert [item for page in pages for item in page] == whole
    assert [len(page) for page in pages] == [len(whole[n : n + limit]) for n in range(0, len(whole), limit)]
    # Without `limit` the whole list is one page, with no link.
    assert all_pages("segments", org.org_id, shape) == [whole]


def test_segments_pages_cost_one_query_per_store_for_that_pages_segments_only(
    db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_common.clickhouse import ClickHouseClient
    from analytics_common.postgres import PostgresClient

    org, _ = seed_segments(db, ids, now, 7)
    asked: list[tuple[str, dict[str, Any]]] = []
    pg_run, ch_rows = PostgresClient.run, ClickHouseClient.rows

    def recorded_run(self: PostgresClient, sql: str, **params: Any) -> Any:
        asked.append(("pg", params))
        return pg_run(self, sql, **params)

    def recorded_rows(self: ClickHouseClient, sql: str, **params: Any) -> Any:
        asked.append(("ch", params))
        return ch_rows(self, sql, **params)

    monkeypatch.setattr(PostgresClient, "run", recorded_run)
    monkeypatch.setattr(ClickHouseClient, "rows", recorded_rows)
    response = invoke("segments", api_event("segments", org.org_id, query={"limit": "2"}))
    following = next_page_query(response)
    assert following is not None
    asked.clear()
    response = invoke("segments", api_event("segments", org.org_id, query=following))
    page_ids = [item["id"] for item in json.loads(response["body"])]
    assert [store for store, _ in asked] == ["pg", "ch"]
    assert asked[1][1]["segment_ids"] == page_ids and len(page_ids) == 2


def seed_activations(db: Stores, ids: Iterator[int], now: datetime, count: int) -> tuple[int, Seeded]:
    org_id = next(ids)
    seeded = Seeded()
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Syncs"]])
    segment_id = next(ids)
    seeded.segments[segment_id] = {"org_id": org_id, "name": "Seg", "member_count": 3}
    db.insert_pg("segments", ["id", "org_id", "name", "member_count"], [[segment_id, org_id, "Seg", 3]])
    for n in range(count):
        activation = {
            "id": next(ids),
            "org_id": org_id,
            "segment_id": segment_id,
            "connector_type": "klaviyo",
            "status": "active",
            "last_synced_at": now - n * DAY,
            "last_error": "",
        }
        seeded.activations.append(activation)
        seeded.logs += [
            {
                "id": next(ids),
                "activation_id": activation["id"],
                "status": "success" if k % 3 else "error",
                "user_count": k,
                "error_message": "",
                "synced_at": now - k * timedelta(hours=1),
            }
            for k in range(n)
        ]
    db.insert_pg("activations", list(seeded.activations[0]), [list(a.values()) for a in seeded.activations])
    db.insert_pg("activation_sync_logs", list(seeded.logs[0]), [list(log.values()) for log in seeded.logs])
    return org_id, seeded


@pytest.mark.parametrize("limit", [1, 2, 3, 1000])
def test_activations_pages_walked_to_the_end_are_the_whole_answer(
    db: Stores, ids: Iterator[int], now: datetime, limit: int, round_trips: dict[str, int]
) -> None:
    org_id, seeded = seed_activations(db, ids, now, 6)
    whole = expected_activations(seeded, org_id)
    pages = all_pages("activations", org_id, {"limit": str(limit)})
    assert [item for page in pages for item in page] == whole
    assert [len(page) for page in pages] == [len(whole[n : n + limit]) for n in range(0, len(whole), limit)]
    assert round_trips == {"postgres": len(pages), "clickhouse": 0}


def test_a_list_of_more_than_1000_comes_in_pages_of_1000(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Many"]])
    segment_id = next(ids)
    db.insert_pg("segments", ["id", "org_id", "name", "member_count"], [[segment_id, org_id, "Seg", 1]])
    activation_ids = [next(ids) for _ in range(1001)]
    db.insert_pg(
        "activations",
        ["id", "org_id", "segment_id", "connector_type", "status"],
        [[a, org_id, segment_id, "braze", "active"] for a in activation_ids],
    )
    pages = all_pages("activations", org_id, {})
    assert [[item["id"] for item in page] for page in pages] == [activation_ids[:1000], activation_ids[1000:]]


# --- cursors ---------------------------------------------------------------------------------------------


def first_cursor(endpoint: str, org_id: int, query: dict[str, str]) -> dict[str, str]:
    following = next_page_query(invoke(endpoint, api_event(endpoint, org_id, query=query)))
    assert following is not None
    return following


def test_a_cursor_is_url_safe_and_only_works_where_it_was_written(
    db: Stores, ids: Iterator[int], now: datetime
) -> None:
    org, _ = seed_segments(db, ids, now, 4)
    other, _ = seed_segments(db, ids, now, 4)
    following = first_cursor("segments", org.org_id, {"limit": "1", "tz": "Europe/Berlin", "days": "7"})
    cursor = following["cursor"]
    assert len(cursor) == TOKEN_LENGTH and set(cursor) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert invoke_json("segments", api_event("segments", org.org_id, query=following))[0] == 200
    # Another limit is fine: a cursor is a position, not a page size.
    assert invoke_json("segments", api_event("segments", org.org_id, query={**following, "limit": "3"}))[0] == 200

    rejected = {"detail": "cursor: not a cursor this API wrote for this request."}
    for query in (
        {**following, "tz": "UTC"},  # another zone
        {**following, "days": "30"},  # another window
        {k: v for k, v in following.items() if k != "days"},  # the default window is another one
    ):
        assert invoke_json("segments", api_event("segments", org.org_id, query=query)) == (400, rejected)
    # Another organization, or another endpoint with the same position.
    assert invoke_json("segments", api_event("segments", other.org_id, query=following)) == (400, rejected)
    assert invoke_json("activations", api_event("activations", org.org_id, query={"cursor": cursor})) == (
        400,
        rejected,
    )
    # Each character changed, one at a time.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position in range(len(cursor)):
        swapped = alphabet[(alphabet.index(cursor[position]) + 1) % len(alphabet)]
        tampered = cursor[:position] + swapped + cursor[position + 1 :]
        event = api_event("segments", org.org_id, query={**following, "cursor": tampered})
        assert invoke_json("segments", event) == (400, rejected), position


def test_a_cursor_signed_with_another_key_or_naming_another_id_is_rejected(
    db: Stores, ids: Iterator[int], now: datetime
) -> None:
    org_id, seeded = seed_activations(db, ids, now, 3)
    first_id = seeded.activations[0]["id"]
    bound = ("activations", str(org_id), "UTC", "30")
    ours = write_cursor(first_id, bound, CURSOR_SECRET.encode())
    status, body = invoke_json("activations", api_event("activations", org_id, query={"cursor": ours}))
    assert (status, [item["id"] for item in body]) == (200, [a["id"] for a in seeded.activations[1:]])
    forged = write_cursor(first_id, bound, b"a key the API does not have")
    assert invoke_json("activations", api_event("activations", org_id, query={"cursor": forged}))[0] == 400


def test_the_next_link_keeps_the_requests_parameters_and_adds_only_the_cursor(
    db: Stores, ids: Iterator[int], now: datetime
) -> None:
    org, _ = seed_segments(db, ids, now, 4)
    response = invoke(
        "segments", api_event("segments", org.org_id, query={"tz": "Etc/GMT+5", "days": "007", "limit": "2", "x": "y"})
    )
    (link,) = response["multiValueHeaders"]["Link"]
    cursor = next_page_query(response)["cursor"]  # type: ignore[index]
    # Encoded so a `+` survives API Gateway; values as the API reads them (007 is 7).
    assert link == f'<?tz=Etc/GMT%2B5&days=7&limit=2&cursor={cursor}>; rel="next"'
    last = invoke("segments", api_event("segments", org.org_id, query={"limit": "1000"}))
    assert "Link" not in last["multiValueHeaders"]


def test_a_page_whose_list_grew_behind_it_has_a_new_etag(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Growing"]])
    first, second, third = sorted(next(ids) for _ in range(3))
    columns = ["id", "org_id", "name", "member_count"]
    db.insert_pg("segments", columns, [[first, org_id, "One", 1], [second, org_id, "Two", 2]])
    event = api_event("segments", org_id, query={"limit": "2"})
    before = invoke("segments", event)
    db.insert_pg("segments", columns, [[third, org_id, "Three", 3]])
    after = invoke("segments", event)
    assert before["body"] == after["body"] and next_page_query(before) is None and next_page_query(after)
    assert before["multiValueHeaders"]["ETag"] != after["multiValueHeaders"]["ETag"]
    # A client holding the old tag is told the answer changed (200, with the link), not 304.
    with_tag = api_event(
        "segments", org_id, query={"limit": "2"}, headers={"If-None-Match": before["multiValueHeaders"]["ETag"][0]}
    )
    assert invoke("segments", with_tag)["statusCode"] == 200
