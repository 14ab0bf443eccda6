"""Organizations with segments and memberships written as the platform writes them, for the suites
that check overlap and the API's copies of the memberships against tests.reference."""

from __future__ import annotations

import random
import uuid

from tests.conftest import Stores
from tests.reference import Membership, OverlapRows

SAMPLE_UUID = "0123e567-e89b-12d3-a456-426614174000"
MEMBERSHIP_COLUMNS = ["org_id", "segment_id", "profile_id", "version", "is_deleted"]


def seed_org(db: Stores, rows: OverlapRows) -> None:
    db.insert_pg("organizations", ["id", "name"], [[rows.org_id, f"Org {rows.org_id}"]])
    db.insert_pg(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count"],
        [[seg, rows.org_id, name, is_active, 0] for seg, (name, is_active) in rows.segments.items()],
    )


def insert_memberships(db: Stores, inserts: list[list[Membership]]) -> list[Membership]:
    """One ClickHouse insert (one part) each, so newer versions sit in other parts: only FINAL resolves them."""
    for batch in inserts:
        if batch:
            db.insert_ch("segment_memberships", MEMBERSHIP_COLUMNS, batch)
    return [row for batch in inserts for row in batch]


def random_memberships(
    rng: random.Random, org_id: int, segment_ids: list[int], profiles: list[str]
) -> list[list[Membership]]:
    """Three inserts: first versions, then re-versions and deletes, then re-adds and a stale delete."""
    first = [
        (org_id, seg, profile, 1, 0)
        for seg_index, seg in enumerate(segment_ids)
        for profile in profiles
        if rng.random() < 0.25 + 0.05 * seg_index
    ]
    second = []
    for org, seg, profile, _, _ in first:
        roll = rng.random()
        if roll < 0.2:
            second.append((org, seg, profile, 2, 1))  # deleted
        elif roll < 0.3:
            second.append((org, seg, profile, 2, 0))  # re-versioned, still a member
    third = []
    for org, seg, profile, _, deleted in second:
        roll = rng.random()
        if deleted and roll < 0.4:
            third.append((org, seg, profile, 3, 0))  # re-added
        elif not deleted and roll < 0.3:
            third.append((org, seg, profile, 1, 1))  # a stale delete: lower version, loses
    return [first, second, third]


def uuid_key(profile_id: str) -> int:
    """The 128-bit key ClickHouse gives a UUID (reinterpretAsUInt128: each 8-byte half little-endian)."""
    raw = uuid.UUID(profile_id).bytes
    return int.from_bytes(raw[7::-1] + raw[:7:-1], "little")


def hex_key(profile_id: str) -> int:
    return int.from_bytes(bytes.fromhex(profile_id), "little")


def twin_of(uuid_id: str) -> str:
    """The 32-hex id with the same key as `uuid_id`: another profile, and a key two rows share."""
    return uuid_key(uuid_id).to_bytes(16, "little").hex()
