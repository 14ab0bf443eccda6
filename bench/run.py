"""`make bench`: cold starts, then every endpoint's handler warm, in-process, on the large tenants.

    python -m bench.run [--rebuild] [--runs 20] [--warmups 2] [--cold-runs 10] [--only overlap,segments]

Builds the dataset once into `.bench/` (see bench.dataset). First the cold starts (bench.coldstart:
fresh processes, so before this process opens the chDB folder). Then each function that exists
(`functions/<name>/app.py`) is invoked exactly as Lambda would, with an API Gateway event for each
benchmarked tenant, and prints the median and p95 of the warm runs. Next to each, its SQL alone:
the statements one invocation sends (recorded) replayed through the same clients, in runs
interleaved with the handler's, so both see the same load; the ratio is the handler's overhead.
"Now" is the dataset's anchor. Nothing here asserts a time: the targets are printed next to the figures.

Each run also times the FINAL floor of the tenant (FLOOR_SQL: the count of its current memberships,
the least any exact answer read from the raw rows costs), interleaved with the handler, so the
ratio handler / floor holds under whatever load the machine has. Runs are uncached
(QUERY_CACHE_TTL_SECONDS=0); then the cacheable endpoints again with the result cache on, after one
request that fills it: "cached" is the handler's time on a hit, "server" the Server-Timing total.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bench import coldstart, dataset
from devstack import stores
from tests.lambda_support import api_event

ENDPOINTS = coldstart.ENDPOINTS
# Uncached targets: overview and overlap as multiples of the FINAL floor, the others in seconds.
FLOOR_TARGETS = {"overview": 1.2, "overlap": 1.5}
TARGET_SECONDS = {"usage": 0.3}
DEFAULT_TARGET_SECONDS = 0.05
OVERHEAD_TARGET = 1.15  # handler / its SQL alone
CACHED = ("overview", "overlap", "usage")  # the endpoints with a cacheable statement
CACHED_TARGET_SECONDS = 0.03  # server time of a repeated request
CACHE_TTL_SECONDS = "300"

FLOOR_SQL = """
SELECT count() FROM segment_memberships FINAL
WHERE org_id = {org_id:UInt64} AND segment_id IN {segment_ids:Array(UInt64)} AND is_deleted = 0
"""
# Contract version 2, at the large tenant: a zone against the UTC answer, the first page against the whole list.
ZONE = "America/New_York"
TZ_TARGET = 1.1
PAGE_LIMIT = 100
PAGE_TARGET = 0.2
V2_ROWS: tuple[tuple[str, dict[str, str], float], ...] = (
    ("overview", {"tz": ZONE}, TZ_TARGET),
    ("segments", {"tz": ZONE}, TZ_TARGET),
    ("copilot", {"tz": ZONE}, TZ_TARGET),
    ("segments", {"limit": str(PAGE_LIMIT)}, PAGE_TARGET),
    ("activations", {"limit": str(PAGE_LIMIT)}, PAGE_TARGET),
)

Statement = tuple[str, str, dict[str, Any]]  # store ("pg" or "ch"), SQL, parameters


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="build the dataset again")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per endpoint and tenant")
    parser.add_argument("--warmups", type=int, default=1, help="untimed runs first")
    parser.add_argument("--tenants", default=",".join(dataset.BENCH_TENANTS), help="comma-separated tenants")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per function (0: no cold starts)")
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all that exist)")
    args = parser.parse_args(argv)

    manifest = prepare_stores(args.rebuild)
    anchor = datetime.fromisoformat(manifest["anchor"])
    wanted = [name for name in args.only.split(",") if name] or ENDPOINTS
    endpoints = [name for name in wanted if (dataset.ROOT / "functions" / name / "app.py").is_file()]
    print_machine(manifest)
    if args.cold_runs:
        cold_names = [*endpoints, "authorizer"] if not args.only else endpoints
        coldstart.report(coldstart.measure(cold_names, manifest, args.cold_runs))

    from analytics_common import clock
    from analytics_common.clickhouse import clickhouse_client

    clock.utc_now = lambda: anchor  # every handler sees the dataset's "now"
    print_dataset(manifest, clickhouse_client())

    print(f"\nWarm, uncached: wall time of the handler over {args.runs} runs after {args.warmups} warm-up(s); cpu:")
    print("CPU time of this process (handler + embedded ClickHouse threads), less inflated by other load on the")
    print("machine; sql: the same statements alone through the same clients (median), and handler / sql; floor:")
    print("the tenant's FINAL count (median), timed in the same runs, and handler / floor (wall, and cpu / the")
    print("floor's cpu: on a loaded machine the cpu ratio is the steadier one).")
    print(
        f"\n{'endpoint':<12}{'tenant':<10}{'median':>8}{'p95':>8}{'min':>8}{'cpu':>8}{'sql':>8}{'x sql':>7}"
        f"{'floor':>8}{'x floor':>8}{'cpu x':>7}{'target':>9}{'rows':>6}  verdict"
    )
    tenants = [label for label in args.tenants.split(",") if label]
    report_uncached(endpoints, tenants, manifest, args.warmups, args.runs)
    report_cached([name for name in endpoints if name in CACHED], tenants, manifest, args.runs)
    print_version_2_rows(endpoints, manifest["tenants"]["large"]["org_id"], args.warmups, args.runs)
    print(f"\nAfter: load average {load_average()}; segment_memberships {membership_parts(clickhouse_client())}")


def report_uncached(
    endpoints: Sequence[str], tenants: Sequence[str], manifest: dict[str, Any], warmups: int, runs: int
) -> None:
    org_ids = {label: manifest["tenants"][label]["org_id"] for label in tenants}
    for name in endpoints:
        for label in tenants:
            result = measure(name, org_ids[label], warmups, runs)
            median, p95 = statistics.median(result.handler), percentile(result.handler, 95)
            sql, floor = statistics.median(result.sql), statistics.median(result.floor)
            ratio, floor_ratio = median / sql, median / floor
            cpu_ratio = statistics.median(result.cpu) / statistics.median(result.floor_cpu)
            if name in FLOOR_TARGETS:
                target, verdict = f"{FLOOR_TARGETS[name]:.2f}x", "ok" if floor_ratio <= FLOOR_TARGETS[name] else "OVER"
            else:
                seconds = TARGET_SECONDS.get(name, DEFAULT_TARGET_SECONDS)
                target, verdict = f"{seconds:.2f}s", "ok" if median <= seconds else "OVER"
            if ratio > OVERHEAD_TARGET:
                verdict += f"; overhead over {OVERHEAD_TARGET}x"
            print(
                f"{name:<12}{label:<10}{median:>7.3f}s{p95:>7.3f}s{min(result.handler):>7.3f}s"
                f"{statistics.median(result.cpu):>7.3f}s{sql:>7.3f}s{ratio:>6.2f}x{floor:>7.3f}s{floor_ratio:>7.2f}x"
                f"{cpu_ratio:>6.2f}x"
                f"{target:>9}{result.rows:>6}  {verdict}",
                flush=True,
            )


def print_version_2_rows(endpoints: Sequence[str], org_id: int, warmups: int, runs: int) -> None:
    """Each version-2 row against the same endpoint without its parameters, runs interleaved (same load)."""
    print("\nVersion 2 parameters at the large tenant: the handler with the query against it without one (a zone")
    print("against UTC, a page against the whole list, walked by its Link at the default limit of 1000), runs")
    print("interleaved; wall and cpu medians, and their ratios with / without; the verdict is on the cpu ratio, the")
    print("steadier one on a loaded machine.")
    print(
        f"\n{'endpoint':<12}{'query':<22}{'median':>8}{'without':>9}{'x wall':>7}{'cpu':>8}{'without':>9}{'x cpu':>7}"
        f"{'target':>8}{'rows':>10}  verdict"
    )
    for name, query, target in V2_ROWS:
        if name not in endpoints:
            continue
        with_query, without = measure_pair(name, org_id, query, warmups, runs)
        wall = [statistics.median(result.handler) for result in (with_query, without)]
        cpu = [statistics.median(result.cpu) for result in (with_query, without)]
        shown = "&".join(f"{key}={value}" for key, value in query.items())
        rows = f"{with_query.rows}/{without.rows}"
        print(
            f"{name:<12}{shown:<22}{wall[0]:>7.3f}s{wall[1]:>8.3f}s{wall[0] / wall[1]:>6.2f}x"
            f"{cpu[0]:>7.3f}s{cpu[1]:>8.3f}s{cpu[0] / cpu[1]:>6.2f}x{target:>7.2f}x{rows:>10}  "
            f"{'ok' if cpu[0] / cpu[1] <= target else 'OVER TARGET'}",
            flush=True,
        )


def measure_pair(name: str, org_id: int, query: dict[str, str], warmups: int, runs: int) -> tuple[Measured, Measured]:
    """Wall and CPU seconds of the handler with `query` and without, one run of each in turn. Without a query,
    a paged list is the whole list: its pages at the default limit, each next one from the previous `Link`."""
    from tests.lambda_support import FakeLambdaContext, function_module, next_page_query

    handler = function_module(name).lambda_handler
    context = FakeLambdaContext(function_name=name)

    def with_query() -> int:
        response = invoke(handler, api_event(name, org_id, query=query), context, name, org_id)
        return answer_rows(json.loads(response["body"]))

    def whole_list() -> int:
        rows, page_query = 0, None
        while True:
            response = invoke(handler, api_event(name, org_id, query=page_query), context, name, org_id)
            rows += answer_rows(json.loads(response["body"]))
            page_query = next_page_query(response)
            if page_query is None:
                return rows

    calls = (with_query, whole_list)
    results = (Measured(), Measured())
    for call, result in zip(calls, results, strict=True):
        result.rows = call()
    for run in range(warmups + runs):
        for call, result in zip(calls, results, strict=True):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            if run >= warmups:
                result.handler.append(time.perf_counter() - started)
                result.cpu.append(time.process_time() - cpu_started)
    return results


def report_cached(cached: Sequence[str], tenants: Sequence[str], manifest: dict[str, Any], runs: int) -> None:
    if cached:
        print(f"\nCached (QUERY_CACHE_TTL_SECONDS={CACHE_TTL_SECONDS}; one request fills the cache first): handler")
        print("wall time on a hit, and the request's Server-Timing total (store time), median of the runs.")
        print(f"\n{'endpoint':<12}{'tenant':<10}{'median':>8}{'p95':>8}{'server':>8}{'target':>8}  cache  verdict")
        for name in cached:
            for label in tenants:
                org_id = manifest["tenants"][label]["org_id"]
                handler, server, outcomes = measure_cached(name, org_id, runs)
                median = statistics.median(server)
                verdict = "ok" if median <= CACHED_TARGET_SECONDS else "OVER"
                print(
                    f"{name:<12}{label:<10}{statistics.median(handler):>7.3f}s{percentile(handler, 95):>7.3f}s"
                    f"{median:>7.3f}s{CACHED_TARGET_SECONDS:>7.2f}s  {'/'.join(sorted(outcomes)):<5}  {verdict}",
                    flush=True,
                )


def prepare_stores(rebuild: bool, data: dataset.Dataset = dataset.MAIN) -> dict[str, Any]:
    """The dataset's manifest (built first if needed), with its stores running and configured."""
    manifest = None if rebuild else dataset.cached_manifest(data)
    if manifest is None:
        print(f"Building the benchmark dataset into {data.directory} (once) ...", flush=True)
        manifest = dataset.build(data=data)
        print(f"Built in {manifest['build_seconds']} s.\n", flush=True)
    # The Postgres server may have been stopped since the build: start it again (its URL may change).
    admin_url = stores.start_embedded_postgres(data.directory / "pg")
    stores.clickhouse_writer(dataset.clickhouse_url(data), dataset.DATABASE).close()  # schema added since the build
    configure(stores.with_database(admin_url, dataset.DATABASE), dataset.clickhouse_url(data))
    return manifest


def configure(database_url: str, clickhouse_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["CLICKHOUSE_URL"] = clickhouse_url
    os.environ.pop("DATABASE_SECRET_ARN", None)
    os.environ.pop("CLICKHOUSE_SECRET_ARN", None)
    os.environ.setdefault("STORE_TIMEOUT_SECONDS", "30")
    os.environ.setdefault("CURSOR_SECRET", "bench-only-cursor-key")  # signs the Link of a list longer than a page
    os.environ["QUERY_CACHE_TTL_SECONDS"] = "0"
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # no access-log line per request


class Measured:
    def __init__(self) -> None:
        self.handler: list[float] = []
        self.cpu: list[float] = []
        self.sql: list[float] = []
        self.floor: list[float] = []
        self.floor_cpu: list[float] = []
        self.rows = 0


def measure(name: str, org_id: int, warmups: int, runs: int) -> Measured:
    """Wall and CPU seconds of each timed run of the handler, of its SQL alone, of the tenant's FINAL
    floor, and the answer's size."""
    from tests.lambda_support import FakeLambdaContext, function_module

    handler = function_module(name).lambda_handler
    event = api_event(name, org_id)
    result = Measured()
    with recorded() as statements:
        body = invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)["body"]
    result.rows = answer_rows(json.loads(body))
    replay, floor = replayer(statements), floor_runner(org_id)
    for run in range(warmups + runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        replay()
        sql_elapsed = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        floor()
        floor_elapsed, floor_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if run >= warmups:
            result.handler.append(elapsed)
            result.cpu.append(cpu_elapsed)
            result.sql.append(sql_elapsed)
            result.floor.append(floor_elapsed)
            result.floor_cpu.append(floor_cpu)
    return result


def measure_cached(name: str, org_id: int, runs: int) -> tuple[list[float], list[float], set[str]]:
    """Handler seconds and Server-Timing seconds of `runs` requests after one that fills the cache,
    and the cache outcomes they reported."""
    from tests.lambda_support import FakeLambdaContext, function_module

    handler = function_module(name).lambda_handler
    event = api_event(name, org_id)
    os.environ["QUERY_CACHE_TTL_SECONDS"] = CACHE_TTL_SECONDS
    try:
        invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
        walls: list[float] = []
        servers: list[float] = []
        outcomes: set[str] = set()
        for _ in range(runs):
            started = time.perf_counter()
            response = invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
            walls.append(time.perf_counter() - started)
            timing_header = response["multiValueHeaders"]["Server-Timing"][0]
            servers.append(server_seconds(timing_header))
            outcomes.update(part.split("desc=")[1] for part in timing_header.split(", ") if "desc=" in part)
        return walls, servers, outcomes
    finally:
        os.environ["QUERY_CACHE_TTL_SECONDS"] = "0"


def server_seconds(server_timing: str) -> float:
    """The sum of the `dur` values of a Server-Timing header, in seconds."""
    return sum(float(part.split("dur=")[1]) for part in server_timing.split(", ") if "dur=" in part) / 1000


def floor_runner(org_id: int) -> Callable[[], None]:
    """Runs FLOOR_SQL for the tenant's active segments (read once from Postgres)."""
    from analytics_common.clickhouse import clickhouse_client
    from analytics_common.postgres import postgres_client

    ids = dataset.active_segment_ids(postgres_client(), org_id)
    ch = clickhouse_client()

    def floor() -> None:
        ch.rows(FLOOR_SQL, org_id=org_id, segment_ids=ids)

    return floor


def invoke(
    handler: Callable[..., dict[str, Any]], event: dict[str, Any], context: Any, name: str, org_id: int
) -> dict[str, Any]:
    # The handler's EMF metric lines (one JSON print per request, as in Lambda) go to /dev/null, not the report.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        response = handler(event, context)
    if response["statusCode"] != 200:
        raise SystemExit(f"{name} for org {org_id}: {response['statusCode']} {response.get('body')}")
    return response


@contextmanager
def recorded() -> Iterator[list[Statement]]:
    """The statements the stores' clients are asked to run while the block runs (they still run)."""
    from analytics_common.clickhouse import ClickHouseClient
    from analytics_common.postgres import PostgresClient

    statements: list[Statement] = []
    pg_run, ch_rows = PostgresClient.run, ClickHouseClient.rows

    def recording_run(self: PostgresClient, sql: str, **params: Any) -> list[list[Any]]:
        statements.append(("pg", sql, params))
        return pg_run(self, sql, **params)

    def recording_rows(self: ClickHouseClient, sql: str, **params: Any) -> Any:
        statements.append(("ch", sql, params))
        return ch_rows(self, sql, **params)

    PostgresClient.run = recording_run  # type: ignore[method-assign]
    ClickHouseClient.rows = recording_rows  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        PostgresClient.run = pg_run  # type: ignore[method-assign]
        ClickHouseClient.rows = ch_rows  # type: ignore[method-assign]


def replayer(statements: list[Statement]) -> Callable[[], None]:
    """Runs `statements` again through the functions' own (cached) clients, in order."""
    from analytics_common.clickhouse import clickhouse_client
    from analytics_common.postgres import postgres_client

    pg, ch = postgres_client(), clickhouse_client()

    def replay() -> None:
        for store, sql, params in statements:
            if store == "pg":
                pg.run(sql, **params)
            else:
                ch.rows(sql, **params)

    return replay


def answer_rows(body: Any) -> int:
    """Items of a list answer; for an object, the items of its lists (or 1)."""
    if isinstance(body, list):
        return len(body)
    lists = [value for value in body.values() if isinstance(value, list)]
    return sum(len(value) for value in lists) if lists else 1


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115 - a tiny read-once file
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def membership_parts(ch: Any) -> str:
    parts, rows = ch.row(
        "SELECT count(), sum(rows) FROM system.parts WHERE database = currentDatabase()"
        " AND table = 'segment_memberships' AND active"
    )
    return f"{parts} active parts, {rows:,} rows"


def print_machine(manifest: dict[str, Any]) -> None:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"Machine: {cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, {memory:.0f} GiB")
    print(f"Load average at start: {load_average()}")
    print(f"Python {platform.python_version()}; dataset {dataset.BENCH_DIR} (version {manifest['version']}), ", end="")
    print(f"now = {manifest['anchor']}")


def print_dataset(manifest: dict[str, Any], ch: Any) -> None:
    (version,) = ch.row("SELECT version()")
    print(f"\nClickHouse (chDB) {version}; segment_memberships: {membership_parts(ch)}")
    print(f"\n{'tenant':<10}{'org':>4}{'segments':>9}{'memberships':>12}{'events':>12}{'activations':>12}"
          f"{'sync logs':>10}{'copilot':>9}")  # fmt: skip
    for label, counts in manifest["row_counts"].items():
        org_id = manifest["tenants"][label]["org_id"]
        print(
            f"{label:<10}{org_id:>4}{counts['segments']:>9}{counts['membership_rows']:>12,}{counts['events']:>12,}"
            f"{counts['activations']:>12,}{counts['sync_logs']:>10,}{counts['copilot_requests']:>9,}"
        )


if __name__ == "__main__":
    main()
