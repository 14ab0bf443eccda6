"""The API's two copies of segment_memberships (schema/clickhouse.sql), on the real engines: every row
lands in exactly one, under a key that is a one-to-one function of the id, and overview and overlap
stay exact on ids of every spelling, including two profiles whose ids share one 128-bit key."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from devstack import stores
from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.membership_support import (
    MEMBERSHIP_COLUMNS,
    SAMPLE_UUID,
    hex_key,
    insert_memberships,
    random_memberships,
    seed_org,
    twin_of,
    uuid_key,
)
from tests.reference import OverlapRows, current_members, expected_overlap

ZERO_UUID = str(uuid.UUID(int=0))


def spelling(profile_id: str) -> int:
    """1: a lowercase UUID as ClickHouse writes one; 2: 32 lowercase hex digits; 0: any other id."""
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", profile_id):
        return 1
    return 2 if re.fullmatch(r"[0-9a-f]{32}", profile_id) else 0


# Near misses of each canonical spelling, and the two pairs of profiles that share a key.
PROFILE_IDS = [
    SAMPLE_UUID,
    twin_of(SAMPLE_UUID),
    ZERO_UUID,
    "0" * 32,  # the twin of ZERO_UUID
    SAMPLE_UUID.upper(),
    "{" + SAMPLE_UUID + "}",
    SAMPLE_UUID + " ",
    uuid.UUID(SAMPLE_UUID).hex,
    uuid.UUID(SAMPLE_UUID).hex.upper(),
    uuid.UUID(SAMPLE_UUID).hex[:-1],
    uuid.UUID(SAMPLE_UUID).hex + "0",
    uuid.UUID(SAMPLE_UUID).hex[:-1] + "g",
    SAMPLE_UUID.replace("-", "", 1) + "-",
    "p1",
    "",
    "ünï",
    "a\nb",
]


def expected_key(profile_id: str) -> int:
    return uuid_key(profile_id) if spelling(profile_id) == 1 else hex_key(profile_id)


def test_the_sample_ids_cover_each_spelling_and_both_shared_keys() -> None:
    keyed = [(expected_key(p), spelling(p)) for p in PROFILE_IDS if spelling(p)]
    assert {s for _, s in keyed} == {1, 2} and len(keyed) < len(PROFILE_IDS)
    shared = {key for key, _ in keyed if [other for other, _ in keyed].count(key) == 2}
    assert len(shared) == 2, "a UUID and a 32-hex id with one key, twice"


def test_every_membership_lands_in_exactly_one_copy_under_a_one_to_one_key(db: Stores, ids: Iterator[int]) -> None:
    org_id, segment_id = next(ids), next(ids)
    rows = [(org_id, segment_id, p, n + 1, n % 2) for n, p in enumerate(PROFILE_IDS)]
    db.insert_ch("segment_memberships", MEMBERSHIP_COLUMNS, rows)

    def read(table: str, columns: str) -> list[tuple[object, ...]]:
        sql = f"SELECT {columns} FROM {table} WHERE org_id = {{org_id:UInt64}}"
        return sorted(tuple(row) for row in db.ch.query(sql, parameters={"org_id": org_id}).result_rows)

    by_key = read("segment_memberships_by_key", "profile_key, profile_class, version, is_deleted")
    by_text = read("segment_memberships_by_text", "profile_id, version, is_deleted")
    assert by_key == sorted((expected_key(p), spelling(p), v, d) for _, _, p, v, d in rows if spelling(p))
    assert by_text == sorted((p, v, d) for _, _, p, v, d in rows if not spelling(p))
    assert len({(key, spelled) for key, spelled, _, _ in by_key}) + len(by_text) == len(PROFILE_IDS)


@pytest.mark.parametrize("ids_spelled", ["uuid", "hex", "mixed"])
def test_overview_and_overlap_are_exact_for_ids_of_every_spelling(
    unmerged: Stores, ids: Iterator[int], now: datetime, ids_spelled: str
) -> None:
    """Three inserts (versions, deletes, stale deletes, re-adds) over ids of one spelling or of all,
    the twins included: both answers equal the plain-Python reading of the raw rows."""
    db = unmerged
    rng = random.Random(f"copies-{ids_spelled}")
    org = OverlapRows(next(ids))
    segment_ids = sorted(next(ids) for _ in range(7))
    org.segments = {seg: (f"Segment {seg}", seg != segment_ids[-1]) for seg in segment_ids}
    seed_org(db, org)
    uuids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(40)]
    profiles = {
        "uuid": uuids,
        "hex": [uuid.UUID(u).hex for u in uuids],
        "mixed": PROFILE_IDS + uuids[:10] + [twin_of(u) for u in uuids[:10]] + [u.upper() for u in uuids[10:15]],
    }[ids_spelled]
    memberships = insert_memberships(db, random_memberships(rng, org.org_id, segment_ids, profiles))
    # The twins sit in shared segments, so a row that merged them would change both answers.
    assert ids_spelled != "mixed" or any(
        {SAMPLE_UUID, twin_of(SAMPLE_UUID)} <= members for members in current_members(memberships, org.org_id).values()
    )

    status, overlap = invoke_json("overlap", api_event("overlap", org.org_id))
    assert status == 200
    assert overlap == expected_overlap(org, memberships)

    active = {seg for seg, (_, is_active) in org.segments.items() if is_active}
    members = {p for seg, ps in current_members(memberships, org.org_id).items() if seg in active for p in ps}
    status, overview = invoke_json("overview", api_event("overview", org.org_id))
    assert status == 200
    assert (overview["segment_count"], overview["total_members"]) == (len(active), len(members))


@pytest.fixture
def own_database(session_stores: Stores) -> Any:
    """A ClickHouse database of this test's own (same engine), with the schema: the tool truncates nothing
    here, but the test empties the copies, as they are when the views are created over old rows."""
    url = urlunsplit(urlsplit(session_stores.clickhouse_url)._replace(query="database=backfill_test"))
    return stores.clickhouse_writer(url, "backfill_test", fresh=True)


def test_backfill_copies_old_rows_so_final_agrees_with_the_source(own_database: Any, capsys: Any) -> None:
    from tools import memberships

    ch = own_database
    rng = random.Random(7)
    profiles = PROFILE_IDS + [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(30)]
    inserts = random_memberships(rng, 1, [11, 12, 13], profiles)
    # Equal versions in two parts: FINAL keeps the row inserted last, in the copies too.
    inserts += [[(1, 11, p, 9, 0) for p in profiles[:5]], [(1, 11, p, 9, 1) for p in profiles[:3]]]
    for batch in inserts:
        ch.insert("segment_memberships", [list(row) for row in batch], column_names=MEMBERSHIP_COLUMNS)
    for copy in memberships.COPIES:  # as if the rows had been written before the views existed
        ch.command(f"TRUNCATE TABLE {copy}")

    assert memberships.main(["backfill"], client=lambda: ch) == 0
    written = [row for batch in inserts for row in batch]
    assert f"{len(written)} memberships copied" in capsys.readouterr().err

    def members(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(row) for row in ch.query(sql).result_rows)

    source = members("SELECT segment_id, profile_id FROM segment_memberships FINAL WHERE is_deleted = 0")
    copies = members(
        "SELECT segment_id, profile_class, profile_key FROM segment_memberships_by_key FINAL WHERE is_deleted = 0"
        " UNION ALL SELECT segment_id, 0, profile_id FROM segment_memberships_by_text FINAL WHERE is_deleted = 0"
    )
    expected = sorted((seg, p) for seg, ps in current_members(written, 1).items() for p in ps)
    assert source == expected
    assert copies == sorted((seg, spelling(p), expected_key(p) if spelling(p) else p) for seg, p in expected)
    assert {(11, p) for p in profiles[:5]} & set(expected) == {(11, p) for p in profiles[3:5]}, "the later tie won"

    assert memberships.main(["backfill"], client=lambda: ch) == 1
    assert "already hold rows" in capsys.readouterr().err
