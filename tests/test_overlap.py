"""GET /api/analytics/overlap/ on the real engines, against a plain-Python reading of the contract."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from itertools import combinations, pairwise

import pytest

from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.membership_support import insert_memberships, random_memberships, seed_org
from tests.reference import OverlapRows, expected_overlap, percent_half_up


def test_overlap_matches_the_contract_for_each_organization(
    unmerged: Stores, ids: Iterator[int], now: datetime
) -> None:
    db = unmerged
    rng = random.Random(20260502)
    a, b = OverlapRows(next(ids)), OverlapRows(next(ids))
    # Ids not in creation order; 9 active segments (36 pairs: more than the top 20) and one inactive.
    a_segments = rng.sample([next(ids) for _ in range(10)], 10)
    a.segments = {seg: (f"Segment {seg}", True) for seg in a_segments[:9]}
    a.segments[a_segments[9]] = ("Inactive", False)
    b_segments = [next(ids) for _ in range(4)]
    b.segments = {seg: (f"Globex {seg}", True) for seg in b_segments}
    for org in (a, b):
        seed_org(db, org)

    profiles = [f"profile-{n:03d}" for n in range(60)]
    a.inserts = random_memberships(rng, a.org_id, a_segments, profiles)
    # Organization B reuses A's profile ids and, in ClickHouse, even A's segment ids.
    b.inserts = random_memberships(rng, b.org_id, b_segments + a_segments[:3], profiles[:30])
    memberships = insert_memberships(db, [batch for org in (a, b) for batch in org.inserts])

    expected = {org.org_id: expected_overlap(org, memberships) for org in (a, b)}
    for org in (a, b):
        status, body = invoke_json("overlap", api_event("overlap", org.org_id))
        assert status == 200
        assert body == expected[org.org_id]

    # The dataset hits the edges it is meant to, so the comparison above can fail on each of them.
    assert expected[a.org_id] != expected_overlap(a, a.inserts[0]), "later versions change the answer"
    assert any(version == 1 and deleted for _, _, _, version, deleted in a.inserts[2]), "a stale delete"
    assert expected[b.org_id] and expected[a.org_id][0]["overlap"] != expected[b.org_id][0]["overlap"]


def test_overlap_orders_ties_by_ids_and_cuts_at_20(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org = OverlapRows(next(ids))
    segment_ids = sorted(next(ids) for _ in range(8))
    org.segments = {seg: (f"Segment {n}", True) for n, seg in enumerate(segment_ids)}
    seed_org(db, org)
    # Each pair (i, j) shares exactly `shared[i, j]` profiles that belong to those two segments only:
    # 28 pairs with only four distinct overlaps, so most places are decided by the ids.
    shared = {(i, j): 1 + (i * 7 + j * 3) % 4 for i, j in combinations(range(8), 2)}
    rows = [
        (org.org_id, segment_ids[k], f"pair-{i}-{j}-{n}", 1, 0)
        for (i, j), count in shared.items()
        for n in range(count)
        for k in (i, j)
    ]
    rows += [(org.org_id, segment_ids[0], f"alone-{n}", 1, 0) for n in range(5)]
    insert_memberships(db, [rows])

    status, body = invoke_json("overlap", api_event("overlap", org.org_id))
    assert status == 200
    assert body == expected_overlap(org, rows)
    assert len(body) == 20
    ranked = sorted(shared.items(), key=lambda item: (-item[1], item[0]))
    assert [(p["seg_a_name"], p["seg_b_name"]) for p in body] == [
        (f"Segment {i}", f"Segment {j}") for (i, j), _ in ranked[:20]
    ]
    # The edges are in the data: the cut falls inside a tie, and within a tie a smaller seg_a comes
    # first even when its seg_b is larger.
    assert ranked[19][1] == ranked[20][1]
    assert any(x[1] == y[1] and x[0][0] < y[0][0] and x[0][1] > y[0][1] for x, y in pairwise(ranked[:20]))


def test_overlap_percentages_round_half_up(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org = OverlapRows(next(ids))
    big, medium, small, tiny = sorted(next(ids) for _ in range(4))
    org.segments = {big: ("Big", True), medium: ("Medium", True), small: ("Small", True), tiny: ("Tiny", True)}
    seed_org(db, org)
    big_members = [f"p{n}" for n in range(2000)]
    rows = [(org.org_id, big, p, 1, 0) for p in big_members]
    rows += [(org.org_id, medium, p, 1, 0) for p in big_members[:23] + [f"m{n}" for n in range(2477)]]  # 23 / 2000
    rows += [(org.org_id, small, p, 1, 0) for p in big_members[100:149] + [f"s{n}" for n in range(351)]]  # 49 / 400
    rows += [(org.org_id, tiny, p, 1, 0) for p in ["p1999", "s0", "s1", "x"]]  # 1 of 4 with Big, 2 of 4 with Small
    insert_memberships(db, [rows])

    status, body = invoke_json("overlap", api_event("overlap", org.org_id))
    assert status == 200
    assert body == expected_overlap(org, rows)
    assert [(p["seg_a_name"], p["seg_b_name"], p["overlap"], p["overlap_pct"]) for p in body] == [
        ("Big", "Small", 49, 12.3),  # 12.25
        ("Big", "Medium", 23, 1.2),  # 1.15: naive float rounding gives 1.1
        ("Small", "Tiny", 2, 50.0),
        ("Big", "Tiny", 1, 25.0),
    ]


@pytest.mark.parametrize(
    ("case", "expected_pct"), [((1, 2000), 0.1), ((23, 2000), 1.2), ((1, 3), 33.3), ((2, 3), 66.7), ((7, 7), 100.0)]
)
def test_overlap_pct_is_exact(case: tuple[int, int], expected_pct: float) -> None:
    from functions.overlap.overlap_queries import overlap_pct

    assert overlap_pct(*case) == expected_pct == percent_half_up(*case)


def test_overlap_is_empty_with_fewer_than_two_active_segments(db: Stores, ids: Iterator[int], now: datetime) -> None:
    org = OverlapRows(next(ids))
    active, inactive = next(ids), next(ids)
    org.segments = {active: ("Active", True), inactive: ("Inactive", False)}
    seed_org(db, org)
    insert_memberships(db, [[(org.org_id, seg, p, 1, 0) for seg in (active, inactive) for p in ("p1", "p2")]])
    assert invoke_json("overlap", api_event("overlap", org.org_id)) == (200, [])


def test_overlap_is_empty_when_no_current_member_is_shared(unmerged: Stores, ids: Iterator[int], now: datetime) -> None:
    db = unmerged
    org = OverlapRows(next(ids))
    one, two, three = next(ids), next(ids), next(ids)
    org.segments = {one: ("One", True), two: ("Two", True), three: ("Three (empty)", True)}
    seed_org(db, org)
    memberships = insert_memberships(
        db,
        [
            [(org.org_id, one, "p1", 1, 0), (org.org_id, two, "p1", 1, 0), (org.org_id, two, "p2", 1, 0)],
            [(org.org_id, one, "p1", 2, 1), (org.org_id, one, "p3", 1, 0)],  # p1 left segment one
        ],
    )
    assert invoke_json("overlap", api_event("overlap", org.org_id)) == (200, [])
    # Without FINAL, p1 would still be shared.
    assert expected_overlap(org, memberships[:3]) != []


def test_overlap_of_an_organization_without_data_is_empty(db: Stores, ids: Iterator[int], now: datetime) -> None:
    assert invoke_json("overlap", api_event("overlap", next(ids))) == (200, [])
