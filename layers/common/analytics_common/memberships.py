"""The current members of an organization's segments, one row per profile, for the statements that
count profiles (overview's `total_members`) or group each profile's segments (overlap).

Both read the API's copies of `segment_memberships` (schema/clickhouse.sql): `segment_memberships_by_key`
holds the ids spelled as one of two canonical forms of 128 bits, as the integer `profile_key` and the
spelling `profile_class` (1 or 2); `segment_memberships_by_text` every other id as it is. FINAL keeps
each membership's newest version and `is_deleted = 0` drops deleted ones, as on the source table.

Grouping by `profile_key` alone is what makes this fast (a 16-byte integer key; grouping by the pair
with the class costs 11-32% more CPU, `python -m bench.variants`), and it is exact: a group holds one profile,
or two when a UUID and a 32-hex id have the same key, which `min(profile_class) != max(profile_class)`
tells. Each row says how many profiles it stands for (`profiles`: 1 or 2), and each segment a statement
collects can carry the spelling (`SPELLING`, 0 or 1) so the two profiles of such a row stay apart.
"""

from __future__ import annotations

# The memberships as the platform writes them, and the API's two copies of them.
MEMBERSHIP_TABLES = ("segment_memberships", "segment_memberships_by_key", "segment_memberships_by_text")

CURRENT_MEMBERS = (
    "FINAL WHERE org_id = {org_id:UInt64} AND segment_id IN {segment_ids:Array(UInt64)} AND is_deleted = 0"
)


def current_profiles_sql(columns: str = "") -> str:
    """A ClickHouse SELECT of one row per profile that is a current member of `{segment_ids}` in
    `{org_id}`: `columns` (aggregates over that profile's memberships, each followed by a comma; the
    word SPELLING in them is the row's spelling) and `profiles`, the number of profiles it stands for."""
    by_key = columns.replace("SPELLING", "(profile_class - 1)")
    by_text = columns.replace("SPELLING", "0")
    return f"""
SELECT {by_key} toUInt8(1 + (min(profile_class) != max(profile_class))) AS profiles
  FROM segment_memberships_by_key {CURRENT_MEMBERS}
 GROUP BY profile_key
UNION ALL
SELECT {by_text} toUInt8(1) AS profiles
  FROM segment_memberships_by_text {CURRENT_MEMBERS}
 GROUP BY profile_id
"""  # noqa: S608 - composed of module constants and the caller's aggregates
