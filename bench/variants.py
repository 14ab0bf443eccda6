"""Alternative forms of the heavy ClickHouse queries, timed side by side on the bench dataset.

    python -m bench.variants [--runs 7] [--tenants large,power-law,dense] [--only overview,usage]

The record behind the choices in the query modules (and BENCHMARKS.md): for each query, the form
in use ("in use") and the alternatives that were measured, each run in rounds (one run of every
form per round, so load drifts hit all alike) straight through clickhouse-connect. Prints the
median and minimum wall time, the median CPU time of this process (chDB runs in it), and whether
each form's answer equals the form in use. A form marked "inexact" may differ on hash collisions.
The tenants default to one of each data shape (bench.dataset); at the end, a summary gives each
form's median as a multiple of the FINAL floor (its "FINAL alone" row) per shape, to pick the
forms that win on every shape rather than on one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics_common.memberships import current_profiles_sql
from bench import dataset

MEMBERS = "org_id = {org_id:UInt64} AND segment_id IN {segment_ids:Array(UInt64)}"
PERIOD = (
    "org_id = {org_id:UInt64} AND timestamp >= {period_start:DateTime64(3, 'UTC')}"
    " AND timestamp < {period_end:DateTime64(3, 'UTC')}"
)


@dataclass(frozen=True)
class Variant:
    label: str
    sql: str
    note: str = ""
    segment_numbers: bool = False  # overlap: segments as positions in segment_ids, not ids
    core: bool = False  # one of the forms `--core` keeps (with the one in use and the floor)


def comparable(query: str, variant: Variant, answer: Any, params: dict[str, Any]) -> Any:
    """Overlap answers as ({segment id: size}, [(id a, id b, shared)]); others as they are."""
    if query != "overlap" or variant.note == "a part":
        return answer
    (diagonal, top), ids = answer[0], params["segment_ids"]
    number = (lambda n: ids[int(n)]) if variant.segment_numbers else int
    return {number(a): int(n) for a, _, n in diagonal}, [(number(a), number(b), int(n)) for a, b, n in top]


def overview_variants() -> list[Variant]:
    from functions.overview.overview_queries import TOTAL_MEMBERS_SQL

    final = f"FROM segment_memberships FINAL WHERE {MEMBERS} AND is_deleted = 0"
    groups = f"SELECT count() FROM (SELECT 1 {final} GROUP BY profile_id)"
    return [
        Variant("copies by profile key (memberships.py)", TOTAL_MEMBERS_SQL, "in use"),
        Variant(
            "copies, grouped by (profile_key, profile_class)",
            TOTAL_MEMBERS_SQL.replace("GROUP BY profile_key", "GROUP BY profile_key, profile_class"),
            core=True,
        ),
        Variant("source, GROUP BY profile_id, count groups", groups, "before", core=True),
        Variant("source, uniqExact(profile_id)", f"SELECT uniqExact(profile_id) {final}", core=True),
        Variant(
            "source, GROUP BY profile_id, no two-level aggregation",
            f"{groups} SETTINGS group_by_two_level_threshold = 0, group_by_two_level_threshold_bytes = 0",
        ),
        Variant(
            "source, uniqExact, FINAL in a subquery", f"SELECT uniqExact(profile_id) FROM (SELECT profile_id {final})"
        ),
        Variant("source, length(groupUniqArray(profile_id))", f"SELECT length(groupUniqArray(profile_id)) {final}"),
        Variant(
            "source, count(DISTINCT) rewritten to GROUP BY",
            f"SELECT count(DISTINCT profile_id) {final} SETTINGS count_distinct_optimization = 1",
        ),
        Variant("source, SELECT DISTINCT, count", f"SELECT count() FROM (SELECT DISTINCT profile_id {final})"),
        Variant(
            "source, argMax per (segment, profile), no FINAL",
            "SELECT uniqExact(profile_id) FROM (SELECT profile_id, argMax(is_deleted, version) AS deleted"
            f" FROM segment_memberships WHERE {MEMBERS} GROUP BY segment_id, profile_id HAVING deleted = 0)",
        ),
        Variant(
            "source, argMax in order (optimize_aggregation_in_order)",
            "SELECT count() FROM (SELECT profile_id FROM (SELECT profile_id FROM segment_memberships"
            f" WHERE {MEMBERS} GROUP BY org_id, segment_id, profile_id HAVING argMax(is_deleted, version) = 0)"
            " GROUP BY profile_id) SETTINGS optimize_aggregation_in_order = 1",
        ),
        Variant(
            "source, PREWHERE on the sort key",
            "SELECT count() FROM (SELECT 1 FROM segment_memberships FINAL"
            f" PREWHERE {MEMBERS} WHERE is_deleted = 0 GROUP BY profile_id)",
        ),
        Variant("source, enable_vertical_final = 0", f"{groups} SETTINGS enable_vertical_final = 0"),
        Variant(
            "source, do_not_merge_across_partitions_select_final",
            f"{groups} SETTINGS do_not_merge_across_partitions_select_final = 1",
        ),
        Variant("source, max_threads = 1", f"{groups} SETTINGS max_threads = 1"),
        Variant("source, max_threads = 4", f"{groups} SETTINGS max_threads = 4, max_final_threads = 4"),
        Variant(
            "source, uniqExact(murmurHash3_128) as UInt128",
            f"SELECT uniqExact(reinterpretAsUInt128(murmurHash3_128(profile_id))) {final}",
            "inexact",
        ),
        Variant(
            "source, uniqExact(cityHash64)", f"SELECT uniqExact(cityHash64(profile_id)) {final}", "inexact", core=True
        ),
        Variant("FINAL alone (count rows)", f"SELECT count() {final}", "a part"),
    ]


def usage_variants() -> list[Variant]:
    events = f"FROM events WHERE {PERIOD}"
    count = f"SELECT count() {events}"
    return [
        Variant(
            "count(); GROUP BY profile_id, count groups",
            f"SELECT ({count}), (SELECT count() FROM (SELECT 1 {events} GROUP BY profile_id))",
            "in use",
        ),
        Variant(
            "count(), uniqExact(profile_id) in one pass", f"SELECT count(), uniqExact(profile_id) {events}", "before"
        ),
        Variant(
            "GROUP BY profile_id with count() per group",
            f"SELECT sum(c), count() FROM (SELECT profile_id, count() AS c {events} GROUP BY profile_id)",
        ),
        Variant(
            "count(); SELECT DISTINCT", f"SELECT ({count}), (SELECT count() FROM (SELECT DISTINCT profile_id {events}))"
        ),
        Variant(
            "count(DISTINCT) rewritten to GROUP BY",
            f"SELECT count(), count(DISTINCT profile_id) {events} SETTINGS count_distinct_optimization = 1",
        ),
        Variant(
            "uniqExact(toUUIDOrZero) (UUID-shaped ids only)",
            f"SELECT count(), uniqExact(toUUIDOrZero(profile_id)) {events}",
            "inexact",
        ),
        Variant(
            "uniqExact(murmurHash3_128) as UInt128",
            f"SELECT count(), uniqExact(reinterpretAsUInt128(murmurHash3_128(profile_id))) {events}",
            "inexact",
        ),
        Variant("uniqExact(cityHash64)", f"SELECT count(), uniqExact(cityHash64(profile_id)) {events}", "inexact"),
        Variant("read only (count, sum of lengths)", f"SELECT count(), sum(length(profile_id)) {events}", "a part"),
    ]


# The overlap statement before the copies by profile key: the source table, grouped by the id string.
SOURCE_OVERLAP_SQL = """
SELECT
    arrayFilter(p -> p.1 = p.2, pairs) AS diagonal,
    arraySlice(arraySort(p -> (-p.3, p.1, p.2), arrayFilter(p -> p.1 < p.2, pairs)), 1, {top:UInt32}) AS top
FROM (
    SELECT groupArray((bitShiftRight(pair, 32), bitAnd(pair, 4294967295), shared)) AS pairs
    FROM (
        SELECT pair, count() AS shared
        FROM (
            SELECT arraySort(groupArray(transform(segment_id, {segment_ids:Array(UInt64)},
                                                  range(toUInt32(length({segment_ids:Array(UInt64)}))),
                                                  toUInt32(0)))) AS segs
            FROM segment_memberships FINAL
            WHERE org_id = {org_id:UInt64}
              AND segment_id IN {segment_ids:Array(UInt64)}
              AND is_deleted = 0
            GROUP BY profile_id
        )
        ARRAY JOIN arrayFlatten(arrayMap((a, i) -> arrayMap(b -> bitOr(bitShiftLeft(toUInt64(a), 32), b),
                                                            arraySlice(segs, i)),
                                         segs, arrayEnumerate(segs))) AS pair
        GROUP BY pair
    )
)
"""


def overlap_variants() -> list[Variant]:
    from functions.overlap.overlap_queries import OVERLAP_SQL

    ids = """
SELECT
    arrayFilter(p -> p.1 = p.2, pairs) AS diagonal,
    arraySlice(arraySort(p -> (-p.3, p.1, p.2), arrayFilter(p -> p.1 < p.2, pairs)), 1, {top:UInt32}) AS top
FROM (
    SELECT groupArray((seg_a, seg_b, shared)) AS pairs
    FROM (
        SELECT seg_a, seg_b, count() AS shared
        FROM (
            SELECT groupArray(segment_id) AS segs
            FROM segment_memberships FINAL
            WHERE org_id = {org_id:UInt64} AND segment_id IN {segment_ids:Array(UInt64)} AND is_deleted = 0
            GROUP BY profile_id
        )
        ARRAY JOIN segs AS seg_a
        ARRAY JOIN arrayFilter(s -> s >= seg_a, segs) AS seg_b
        GROUP BY seg_a, seg_b
    )
)
"""
    final = f"FROM segment_memberships FINAL WHERE {MEMBERS} AND is_deleted = 0"
    return [
        Variant("copies by profile key (memberships.py)", OVERLAP_SQL, "in use", segment_numbers=True),
        Variant(
            "copies, grouped by (profile_key, profile_class)",
            OVERLAP_SQL.replace("GROUP BY profile_key", "GROUP BY profile_key, profile_class"),
            segment_numbers=True,
            core=True,
        ),
        Variant(
            "copies, each profile's array sorted, pairs as they come",
            OVERLAP_SQL.replace("groupArray(bitOr(", "arraySort(groupArray(bitOr(")
            .replace("31))) AS segs", "31)))) AS segs")
            .replace("least(a, b)", "a")
            .replace("greatest(a, b)", "b"),
            segment_numbers=True,
            core=True,
        ),
        Variant(
            "source, dense numbers, UInt64 pair keys", SOURCE_OVERLAP_SQL, "before", segment_numbers=True, core=True
        ),
        Variant("source, (seg_a, seg_b) ids, two ARRAY JOINs", ids),
        Variant(
            "source, distinct segment arrays first, weighted pairs",
            SOURCE_OVERLAP_SQL.replace(
                "SELECT pair, count() AS shared\n        FROM (\n",
                "SELECT pair, sum(n) AS shared\n        FROM (SELECT segs, count() AS n FROM (\n",
            ).replace("GROUP BY profile_id\n        )\n", "GROUP BY profile_id\n        ) GROUP BY segs)\n"),
            segment_numbers=True,
        ),
        Variant(
            "source, grouped by cityHash64",
            SOURCE_OVERLAP_SQL.replace("GROUP BY profile_id", "GROUP BY cityHash64(profile_id)"),
            "inexact",
            segment_numbers=True,
            core=True,
        ),
        Variant(
            "source, FINAL + GROUP BY profile_id alone",
            f"SELECT count() FROM (SELECT groupArray(segment_id) {final} GROUP BY profile_id)",
            "a part",
        ),
        Variant(
            "copies, FINAL + GROUP BY profile_key alone",
            f"SELECT count() FROM ({current_profiles_sql('groupArray(segment_id),')})",
            "a part",
            core=True,
        ),
        Variant("FINAL alone (count rows)", f"SELECT count() {final}", "a part"),
    ]


VARIANTS = {"overview": overview_variants, "usage": usage_variants, "overlap": overlap_variants}


def parameters(query: str, manifest: dict[str, Any], label: str) -> dict[str, Any]:
    from analytics_common.postgres import postgres_client
    from analytics_common.subscriptions import CURRENT_SUBSCRIPTION_SQL, period_bounds

    org_id = manifest["tenants"][label]["org_id"]
    pg = postgres_client()
    segment_ids = dataset.active_segment_ids(pg, org_id)
    now = datetime.fromisoformat(manifest["anchor"])
    if query == "usage":
        row = pg.run(CURRENT_SUBSCRIPTION_SQL, org_id=org_id, today=now.astimezone(UTC).date())[0]
        start, end = period_bounds(row[1], row[2])
        return {"org_id": org_id, "period_start": start, "period_end": end}
    return {"org_id": org_id, "segment_ids": segment_ids, "top": 20}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="rounds (one run of every form each)")
    parser.add_argument("--tenants", default=",".join(dataset.SHAPE_TENANTS), help="comma-separated bench tenants")
    parser.add_argument("--only", default="", help="comma-separated queries: overview, usage, overlap")
    parser.add_argument("--core", action="store_true", help="only the form in use, the floor and the main rivals")
    args = parser.parse_args(argv)
    from bench.run import load_average, prepare_stores

    manifest = prepare_stores(rebuild=False)
    import clickhouse_connect

    ch = clickhouse_connect.get_client(dsn=dataset.clickhouse_url())
    print(f"Load average at start: {load_average()}")
    tenants = args.tenants.split(",")
    for query in [name for name in args.only.split(",") if name] or list(VARIANTS):
        floors: dict[str, dict[str, float]] = {}  # form -> tenant -> median / floor
        for label in tenants:
            params = parameters(query, manifest, label)
            variants = [v for v in VARIANTS[query]() if not args.core or v.core or v.note in ("in use", "a part")]
            walls: dict[str, list[float]] = {v.label: [] for v in variants}
            cpus: dict[str, list[float]] = {v.label: [] for v in variants}
            answers: dict[str, Any] = {}
            for _ in range(args.runs):
                for variant in variants:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    rows = ch.query(variant.sql, parameters=params).result_rows
                    walls[variant.label].append(time.perf_counter() - started)
                    cpus[variant.label].append(time.process_time() - cpu_started)
                    answers[variant.label] = comparable(query, variant, rows, params)
            reference = answers[variants[0].label]
            floor = next((statistics.median(walls[v.label]) for v in variants if v.label.startswith("FINAL alone")), 0)
            for variant in variants:
                if floor:
                    floors.setdefault(variant.label, {})[label] = statistics.median(walls[variant.label]) / floor
            print(f"\n{query}, tenant {label} ({args.runs} rounds)")
            print(f"{'form':<50}{'median':>8}{'min':>8}{'cpu':>8}  same answer")
            for variant in variants:
                same = "-" if variant.note == "a part" else ("yes" if answers[variant.label] == reference else "NO")
                print(
                    f"{variant.label:<50}{statistics.median(walls[variant.label]):>7.3f}s"
                    f"{min(walls[variant.label]):>7.3f}s{statistics.median(cpus[variant.label]):>7.3f}s  {same:<4}"
                    f"{variant.note}",
                    flush=True,
                )
        if floors:
            print(f"\n{query}: median / FINAL floor per tenant")
            print(f"{'form':<50}" + "".join(f"{label:>11}" for label in tenants))
            for form, ratios in floors.items():
                print(f"{form:<50}" + "".join(f"{ratios.get(label, 0):>10.2f}x" for label in tenants), flush=True)
    print(f"\nLoad average at the end: {load_average()}")


if __name__ == "__main__":
    main()
