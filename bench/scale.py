"""`make bench-scale`: one tenant at 1M, 5M and 20M memberships; per endpoint the growth of its cost.

    python -m bench.scale [--rebuild] [--runs 5] [--only overview,overlap]

The dataset is bench.dataset.SCALE (its own folder, `.bench/scale/`): the skewed shape at three sizes,
with events (two per membership), activations, sync logs and copilot requests scaled alike. Each
endpoint's handler runs uncached (QUERY_CACHE_TTL_SECONDS=0) for each size: the median wall time and
the peak memory of its statements as ClickHouse tracks it (`system.processes.peak_memory_usage`,
sampled every 10 ms from a second connection). Then a least-squares line through the
three points per endpoint, and the size at which it passes 1 s and the 5 s store budget on this machine.
CPU seconds (this process: chDB's threads included) are fitted too: on a shared machine they move far
less than wall time, and they are what sizes the cores a tenant needs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from bench import dataset
from bench.run import ENDPOINTS, invoke, load_average, prepare_stores, print_machine
from tests.lambda_support import api_event

BUDGET_SECONDS = (1.0, 5.0)
PEAK_MEMORY_SQL = "SELECT max(peak_memory_usage) FROM system.processes WHERE query NOT LIKE '%system.processes%'"


@contextmanager
def peak_memory(url: str) -> Iterator[list[int]]:
    """Yields a list that holds, after the block, the highest memory (bytes) a ClickHouse statement
    reached while the block ran, sampled from a second connection."""
    import clickhouse_connect

    sampler_client = clickhouse_connect.get_client(dsn=url)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], int(sampler_client.query(PEAK_MEMORY_SQL).result_rows[0][0] or 0))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: list[int] = []
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        sampler_client.close()
        result.append(peak[0])


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through the points."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def crossing(intercept: float, slope: float, seconds: float) -> str:
    """The size (memberships) at which the line reaches `seconds`, as text."""
    if slope <= 0:
        return "never"
    rows = (seconds - intercept) / slope
    return f"{rows / 1e6:.0f}M" if rows >= 1e6 else f"{max(rows, 0) / 1e6:.1f}M"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="build the scale dataset again")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per endpoint and size")
    parser.add_argument("--only", default="", help="comma-separated endpoints (default: all that exist)")
    args = parser.parse_args(argv)

    os.environ.setdefault("STORE_TIMEOUT_SECONDS", "300")  # measure past the 5 s budget, not stop at it
    manifest = prepare_stores(args.rebuild, dataset.SCALE)
    anchor = datetime.fromisoformat(manifest["anchor"])
    wanted = [name for name in args.only.split(",") if name] or ENDPOINTS
    endpoints = [name for name in wanted if (dataset.ROOT / "functions" / name / "app.py").is_file()]
    print_machine(manifest)

    from analytics_common import clock
    from tests.lambda_support import FakeLambdaContext, function_module

    clock.utc_now = lambda: anchor
    sizes = [manifest["row_counts"][label]["membership_rows"] for label in dataset.SCALE.bench_tenants]
    print(f"\nUncached, {args.runs} runs after 1 warm-up; per size the median wall seconds, median CPU seconds")
    print("and ClickHouse's peak memory (MB). Fit: seconds = a + b x memberships (wall and CPU); 1 s / 5 s: the size")
    print("where the wall-time line passes it on this machine.")
    header = "".join(f"{label + ' s':>9}{label + ' cpu':>9}{label + ' MB':>8}" for label in dataset.SCALE.bench_tenants)
    print(f"\n{'endpoint':<12}{header}{'a (s)':>8}{'b (s/M)':>9}{'cpu s/M':>9}{'MB/M':>7}{'1 s at':>8}{'5 s at':>8}")
    for name in endpoints:
        handler = function_module(name).lambda_handler
        medians: list[float] = []
        cpus: list[float] = []
        peaks: list[float] = []
        for label in dataset.SCALE.bench_tenants:
            org_id = manifest["tenants"][label]["org_id"]
            event = api_event(name, org_id)
            invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
            walls, cpu = [], []
            with peak_memory(dataset.clickhouse_url(dataset.SCALE)) as peak:
                for _ in range(args.runs):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    invoke(handler, event, FakeLambdaContext(function_name=name), name, org_id)
                    walls.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)
            medians.append(statistics.median(walls))
            cpus.append(statistics.median(cpu))
            peaks.append(peak[0] / 2**20)
        intercept, slope = linear_fit(sizes, medians)
        _, cpu_slope = linear_fit(sizes, cpus)
        _, memory_slope = linear_fit(sizes, peaks)
        cells = "".join(f"{s:>8.3f}s{c:>8.3f}s{mb:>8.0f}" for s, c, mb in zip(medians, cpus, peaks, strict=True))
        one, five = (crossing(intercept, slope, seconds) for seconds in BUDGET_SECONDS)
        print(
            f"{name:<12}{cells}{intercept:>8.3f}{slope * 1e6:>9.4f}{cpu_slope * 1e6:>9.4f}{memory_slope * 1e6:>7.0f}"
            f"{one:>8}{five:>8}",
            flush=True,
        )
    print(f"\nAfter: load average {load_average()}")


if __name__ == "__main__":
    main()
