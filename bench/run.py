"""`make bench`: time every endpoint's handler in-process on the large-tenant dataset.

    python -m bench.run [--rebuild] [--runs 20] [--warmups 2] [--only overlap,segments]

Builds the dataset once into `.bench/` (see bench.dataset), then invokes each function that
exists (`functions/<name>/app.py`) exactly as Lambda would, with an API Gateway event for each
benchmarked tenant, and prints the median and p95 of the warm runs. "Now" is the dataset's anchor.
Nothing here asserts a time: the targets are printed next to the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bench import dataset
from devstack import stores

ENDPOINTS = ["overview", "segments", "overlap", "activations", "copilot", "usage"]
TARGET_SECONDS = {"segments": 0.05, "overlap": 0.6}
DEFAULT_TARGET_SECONDS = 0.3


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="build the dataset again")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per endpoint and tenant")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs first")
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all that exist)")
    args = parser.parse_args(argv)

    manifest = None if args.rebuild else dataset.cached_manifest()
    if manifest is None:
        print(f"Building the benchmark dataset into {dataset.BENCH_DIR} (once) ...", flush=True)
        manifest = dataset.build()
        print(f"Built in {manifest['build_seconds']} s.\n", flush=True)
    # The Postgres server may have been stopped since the build: start it again (its URL may change).
    admin_url = stores.start_embedded_postgres(dataset.BENCH_DIR / "pg")
    configure(stores.with_database(admin_url, dataset.DATABASE), dataset.clickhouse_url())
    anchor = datetime.fromisoformat(manifest["anchor"])

    from analytics_common import clock
    from analytics_common.clickhouse import clickhouse_client

    clock.utc_now = lambda: anchor  # every handler sees the dataset's "now"

    wanted = [name for name in args.only.split(",") if name] or ENDPOINTS
    endpoints = [name for name in wanted if (dataset.ROOT / "functions" / name / "app.py").is_file()]
    print_header(manifest, clickhouse_client())

    print(f"\nWall time of the handler over {args.runs} warm runs after {args.warmups} warm-ups. cpu: CPU time of this")
    print("process (handler + embedded ClickHouse threads), less inflated by other load on the machine.")
    print(f"\n{'endpoint':<12}{'tenant':<10}{'median':>9}{'p95':>9}{'cpu':>9}{'target':>8}  {'rows':>6}  verdict")
    for name in endpoints:
        for label in dataset.BENCH_TENANTS:
            org_id = manifest["tenants"][label]["org_id"]
            timings, cpu, rows = measure(name, org_id, args.warmups, args.runs)
            median, p95 = statistics.median(timings), percentile(timings, 95)
            target = TARGET_SECONDS.get(name, DEFAULT_TARGET_SECONDS)
            verdict = "ok" if p95 <= target else ("median ok, p95 over" if median <= target else "OVER TARGET")
            print(
                f"{name:<12}{label:<10}{median:>8.3f}s{p95:>8.3f}s{statistics.median(cpu):>8.3f}s{target:>7.2f}s"
                f"  {rows:>6}  {verdict}",
                flush=True,
            )
    print(f"\nAfter: load average {load_average()}; segment_memberships {membership_parts(clickhouse_client())}")


def configure(database_url: str, clickhouse_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["CLICKHOUSE_URL"] = clickhouse_url
    os.environ.pop("DATABASE_SECRET_ARN", None)
    os.environ.pop("CLICKHOUSE_SECRET_ARN", None)
    os.environ.setdefault("STORE_TIMEOUT_SECONDS", "30")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # no access-log line per request


def api_event(name: str, org_id: int) -> dict[str, Any]:
    """The function's sample event (or the overview one, re-pathed) for `org_id`."""
    sample = dataset.ROOT / "events" / f"{name}.json"
    event = json.loads((sample if sample.is_file() else dataset.ROOT / "events" / "overview.json").read_text())
    path = f"/api/analytics/{name}/"
    event = copy.deepcopy(event)
    event.update(resource=path.rstrip("/"), path=path, httpMethod="GET")
    event["requestContext"].update(resourcePath=path.rstrip("/"), path=f"/prod{path}", httpMethod="GET")
    event["requestContext"]["authorizer"]["org_id"] = str(org_id)
    return event


def measure(name: str, org_id: int, warmups: int, runs: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of each timed run of the handler, and the number of rows in the answer."""
    from tests.lambda_support import FakeLambdaContext, function_module

    handler = function_module(name).lambda_handler
    event = api_event(name, org_id)
    timings, cpu = [], []
    body: Any = None
    for run in range(warmups + runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = handler(event, FakeLambdaContext(function_name=name))
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu_started
        if response["statusCode"] != 200:
            raise SystemExit(f"{name} for org {org_id}: {response['statusCode']} {response.get('body')}")
        if run >= warmups:
            timings.append(elapsed)
            cpu.append(cpu_elapsed)
        body = response["body"]
    return timings, cpu, answer_rows(json.loads(body))


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


def print_header(manifest: dict[str, Any], ch: Any) -> None:
    (version,) = ch.row("SELECT version()")
    machine = f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, load average {load_average()}"
    print(f"Machine: {machine}")
    print(f"Python {platform.python_version()}, ClickHouse (chDB) {version}")
    print(f"Dataset: {dataset.BENCH_DIR} (version {manifest['version']}), now = {manifest['anchor']}")
    print(f"segment_memberships: {membership_parts(ch)}")
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
