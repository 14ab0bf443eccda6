"""`make bench`: cold starts, then every endpoint's handler warm, in-process, on the large tenants.

    python -m bench.run [--rebuild] [--runs 20] [--warmups 2] [--cold-runs 10] [--only overlap,segments]

Builds the dataset once into `.bench/` (see bench.dataset). First the cold starts (bench.coldstart:
fresh processes, so before this process opens the chDB folder). Then each function that exists
(`functions/<name>/app.py`) is invoked exactly as Lambda would, with an API Gateway event for each
benchmarked tenant, and prints the median and p95 of the warm runs. Next to each, its SQL alone:
the statements one invocation sends (recorded) replayed through the same clients, in runs
interleaved with the handler's, so both see the same load; the ratio is the handler's overhead.
"Now" is the dataset's anchor. Nothing here asserts a time: the targets are printed next to the figures.
"""

from __future__ import annotations

import argparse
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

ENDPOINTS = coldstart.ENDPOINTS
TARGET_SECONDS = {"overview": 0.35, "segments": 0.05, "overlap": 0.5, "usage": 0.3}
MEDIUM_TARGET_SECONDS = {"overlap": 0.15}
DEFAULT_TARGET_SECONDS = 0.3
OVERHEAD_TARGET = 1.15  # handler / its SQL alone

Statement = tuple[str, str, dict[str, Any]]  # store ("pg" or "ch"), SQL, parameters


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="build the dataset again")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per endpoint and tenant")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs first")
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

    print(f"\nWarm: wall time of the handler over {args.runs} runs after {args.warmups} warm-ups; cpu: CPU time of")
    print("this process (handler + embedded ClickHouse threads), less inflated by other load on the machine; min:")
    print("the fastest run, the best estimate of an idle machine when other processes compete for the cores;")
    print("sql: the same statements alone through the same clients (median), and handler / sql.")
    print(
        f"\n{'endpoint':<12}{'tenant':<9}{'median':>8}{'p95':>8}{'min':>8}{'cpu':>8}{'sql':>8}{'x sql':>7}{'target':>8}"
        f"{'rows':>6}  verdict"
    )
    for name in endpoints:
        for label in dataset.BENCH_TENANTS:
            org_id = manifest["tenants"][label]["org_id"]
            result = measure(name, org_id, args.warmups, args.runs)
            median, p95 = statistics.median(result.handler), percentile(result.handler, 95)
            sql = statistics.median(result.sql)
            target = target_seconds(name, label)
            verdict = "ok" if p95 <= target else ("median ok, p95 over" if median <= target else "OVER TARGET")
            ratio = median / sql
            if ratio > OVERHEAD_TARGET:
                verdict += f"; overhead over {OVERHEAD_TARGET}x"
            print(
                f"{name:<12}{label:<9}{median:>7.3f}s{p95:>7.3f}s{min(result.handler):>7.3f}s"
                f"{statistics.median(result.cpu):>7.3f}s"
                f"{sql:>7.3f}s{ratio:>6.2f}x{target:>7.2f}s{result.rows:>6}  {verdict}",
                flush=True,
            )
    print(f"\nAfter: load average {load_average()}; segment_memberships {membership_parts(clickhouse_client())}")


def target_seconds(name: str, label: str) -> float:
    if label == "medium" and name in MEDIUM_TARGET_SECONDS:
        return MEDIUM_TARGET_SECONDS[name]
    return TARGET_SECONDS.get(name, DEFAULT_TARGET_SECONDS)


def prepare_stores(rebuild: bool) -> dict[str, Any]:
    """The dataset's manifest (built first if needed), with its stores running and configured."""
    manifest = None if rebuild else dataset.cached_manifest()
    if manifest is None:
        print(f"Building the benchmark dataset into {dataset.BENCH_DIR} (once) ...", flush=True)
        manifest = dataset.build()
        print(f"Built in {manifest['build_seconds']} s.\n", flush=True)
    # The Postgres server may have been stopped since the build: start it again (its URL may change).
    admin_url = stores.start_embedded_postgres(dataset.BENCH_DIR / "pg")
    configure(stores.with_database(admin_url, dataset.DATABASE), dataset.clickhouse_url())
    return manifest


def configure(database_url: str, clickhouse_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["CLICKHOUSE_URL"] = clickhouse_url
    os.environ.pop("DATABASE_SECRET_ARN", None)
    os.environ.pop("CLICKHOUSE_SECRET_ARN", None)
    os.environ.setdefault("STORE_TIMEOUT_SECONDS", "30")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # no access-log line per request


def api_event(name: str, org_id: int) -> dict[str, Any]:
    """The function's sample event (events/<name>.json) for `org_id`."""
    event = json.loads((dataset.ROOT / "events" / f"{name}.json").read_text())
    event["requestContext"]["authorizer"]["org_id"] = str(org_id)
    return event


class Measured:
    def __init__(self) -> None:
        self.handler: list[float] = []
        self.cpu: list[float] = []
        self.sql: list[float] = []
        self.rows = 0


def measure(name: str, org_id: int, warmups: int, runs: int) -> Measured:
    """Wall and CPU seconds of each timed run of the handler, of its SQL alone, and the answer's size."""
    from tests.lambda_support import FakeLambdaContext, function_module

    handler = function_module(name).lambda_handler
    event = api_event(name, org_id)
    result = Measured()
    with recorded() as statements:
        body = invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
    result.rows = answer_rows(json.loads(body))
    replay = replayer(statements)
    for run in range(warmups + runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        replay()
        sql_elapsed = time.perf_counter() - started
        if run >= warmups:
            result.handler.append(elapsed)
            result.cpu.append(cpu_elapsed)
            result.sql.append(sql_elapsed)
    return result


def invoke(handler: Callable[..., dict[str, Any]], event: dict[str, Any], context: Any, name: str, org_id: int) -> str:
    response = handler(event, context)
    if response["statusCode"] != 200:
        raise SystemExit(f"{name} for org {org_id}: {response['statusCode']} {response.get('body')}")
    return str(response["body"])


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
