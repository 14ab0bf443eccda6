"""Queries behind GET /api/analytics/overlap/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.memberships import current_profiles_sql
from analytics_common.postgres import PostgresClient
from analytics_common.rounding import half_up
from analytics_common.subscriptions import ACTIVE_SEGMENTS_SQL, membership_version_sql

TOP_PAIRS = 20

# Each row also carries the memberships' version (the same on every row), to key the result cache.
SEGMENT_NAMES_SQL = f"""
WITH active_segments AS ({ACTIVE_SEGMENTS_SQL})
SELECT id, name, {membership_version_sql(" OVER ()")} AS membership_version FROM active_segments ORDER BY id
"""  # noqa: S608 - composed of module constants only; values travel as parameters

# Current members are read once, one row per profile (analytics_common.memberships: exact, grouped by a
# 16-byte key). Each profile's active segments become one array, and every pair of its elements (each
# element with itself and every later one, written smaller first) is counted: a < b are the overlaps,
# the diagonal a = b is each segment's size. Returns the sizes and the top pairs in one row: 0.68-0.74x
# the CPU of the same on the source table, grouped by the id string. Ordering each pair costs 0-14% less
# CPU than sorting each profile's array first (`python -m bench.variants`, BENCHMARKS.md).
#
# Segments travel as their position in the ascending `segment_ids` (0, 1, ...: the same order as the
# ids), so a profile's array holds UInt32 and a pair is one UInt64 key (a << 32 | b) instead of a
# (UInt64, UInt64) tuple: ~8% less CPU than pairs of ids (`make bench`, BENCHMARKS.md). Bit 31 of each
# number is the spelling of the profile it came from: a row that stands for two profiles (a UUID and a
# 32-hex id with one key) also makes pairs across its two spellings, and the WHERE drops exactly those
# before the bits are cleared and the pairs summed.
#
# Grouping profiles by a hash of the id string (cityHash64) on the source table is both slower than this
# and inexact: two profiles whose hashes collide count as one (~n^2 / 2^65: 1e-7 at 2M profiles). A
# self-join of FINAL on the profile takes 1.6-1.8 s; bitmaps per segment need dense profile numbers,
# i.e. the same grouping, and were no faster; a bit mask per profile instead of the array, grouped by
# mask, was 5-25% slower (`python -m bench.variants`).
SEGMENT_NUMBERS = """groupArray(bitOr(
        transform(segment_id, {segment_ids:Array(UInt64)}, range(toUInt32(length({segment_ids:Array(UInt64)}))),
                  toUInt32(0)),
        bitShiftLeft(toUInt32(SPELLING), 31))) AS segs,"""
OVERLAP_SQL = f"""-- overlap.pairs
SELECT
    arrayFilter(p -> p.1 = p.2, pairs) AS diagonal,
    arraySlice(arraySort(p -> (-p.3, p.1, p.2), arrayFilter(p -> p.1 < p.2, pairs)), 1, {{top:UInt32}}) AS top
FROM (
    SELECT groupArray((a, b, shared)) AS pairs
    FROM (
        SELECT bitAnd(bitShiftRight(pair, 32), 2147483647) AS a, bitAnd(pair, 2147483647) AS b, sum(n) AS shared
        FROM (
            SELECT pair, count() AS n
            FROM ({current_profiles_sql(SEGMENT_NUMBERS)})
            ARRAY JOIN arrayFlatten(arrayMap((a, i) -> arrayMap(b -> bitOr(bitShiftLeft(toUInt64(least(a, b)), 32),
                                                                           greatest(a, b)),
                                                                arraySlice(segs, i)),
                                             segs, arrayEnumerate(segs))) AS pair
            GROUP BY pair
        )
        WHERE bitTest(pair, 63) = bitTest(pair, 31)
        GROUP BY a, b
    )
)
"""  # noqa: S608 - composed of module constants only; values travel as parameters


def fetch_overlap(pg: PostgresClient, ch: ClickHouseClient, org_id: int, now: datetime) -> list[dict[str, Any]]:
    """The top pairs; `now` is unused (membership is current state) but kept for the common signature."""
    segments = pg.run(SEGMENT_NAMES_SQL, org_id=org_id)
    names = {segment_id: name for segment_id, name, _ in segments}
    if len(names) < 2:
        return []
    ids = sorted(names)  # position in this list = the segment's number in OVERLAP_SQL
    ((diagonal, top),) = ch.cached_rows(OVERLAP_SQL, segments[0][2], org_id=org_id, segment_ids=ids, top=TOP_PAIRS)
    sizes = {int(a): int(size) for a, _, size in diagonal}
    return [
        {
            "seg_a_id": ids[a],
            "seg_a_name": names[ids[a]],
            "seg_b_id": ids[b],
            "seg_b_name": names[ids[b]],
            "overlap": int(shared),
            "overlap_pct": overlap_pct(int(shared), min(sizes[a], sizes[b])),
        }
        for a, b, shared in ((int(a), int(b), shared) for a, b, shared in top)
    ]


def overlap_pct(overlap: int, smaller_size: int) -> float:
    """`overlap / smaller_size * 100` rounded half up to one decimal: whole tenths, then a float."""
    return half_up(1000 * overlap, smaller_size) / 10
