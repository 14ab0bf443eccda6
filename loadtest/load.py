"""`make load`: a bounded load on the local stack, with its requirements checked.

Starts the stack (`python -m devstack.run` on 127.0.0.1, in its own process), then sends
REQUESTS requests from CLIENTS concurrent clients (threads, one keep-alive connection
each), mixed over every endpoint of openapi.yaml that has code and over the credentials:
the demo JWT and API key (org 1) and a JWT for every other demo organization. Some
requests drop the trailing slash, some send the ETag they last saw (`If-None-Match`).

Requirements (the exit status is 1 if one fails):
- zero errors: an error is an answer other than 2xx or 304, a failed request, or a 200
  whose body differs from the one that credential got for that endpoint before the
  load (the data does not change meanwhile, so a difference is a mix-up);
- Postgres connections of the API (`pg_stat_activity` rows with its
  `application_name`, sampled on a separate connection) never above the workers:
  the local gateway runs one invocation at a time, all functions sharing one client;
- memory flat: the gateway process's RSS when the last request is done is at most
  MEMORY_GROWTH_LIMIT_BYTES above its RSS after the first thousand requests.

Latency p50/p95/max is reported per endpoint and overall (measured, never a requirement).

    python -m loadtest.load [--clients 32] [--requests 5000] [--port 0] [--local-dir .local/load]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import math
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from pg8000.exceptions import DatabaseError, InterfaceError

from analytics_common.endpoints import ENDPOINTS, Endpoint
from devstack import stores
from loadtest.common import (
    APPLICATION_NAME,
    DEFAULT_LOCAL_DIR,
    LOCAL_GATEWAY_WORKERS,
    Credential,
    Say,
    credentials,
    local_stack,
    request_pairs,
    rss_bytes,
    say_flushed,
)

CLIENTS = 32
REQUESTS = 5000
WINDOW = 1000  # "the first and the last thousand requests"
MEMORY_GROWTH_LIMIT_BYTES = 20 * 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_SECONDS = 240.0  # the request phase stops taking new requests after this
SAMPLE_EVERY_SECONDS = 0.02
SHOWN_ERRORS = 10

CONNECTIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
CONNECTIONS_IN_DATABASE_SQL = CONNECTIONS_SQL + " AND datname = :database"


@dataclass(frozen=True)
class Planned:
    credential: Credential
    endpoint: Endpoint
    trailing_slash: bool
    conditional: bool  # send If-None-Match with the ETag this client last saw for the pair, if any


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    credential: str
    status: int  # 0: no HTTP answer
    seconds: float
    problem: str | None  # None: a good answer


@dataclass
class LoadResult:
    planned: int
    outcomes: list[Outcome]
    elapsed_seconds: float
    connection_samples: int = 0
    max_connections: int = 0
    workers: int = LOCAL_GATEWAY_WORKERS
    rss_after_first_window: int | None = None
    rss_at_end: int | None = None
    not_modified: int = 0
    sampler_error: str | None = None

    @property
    def problems(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.problem is not None]

    @property
    def memory_growth(self) -> int | None:
        if self.rss_after_first_window is None or self.rss_at_end is None:
            return None
        return self.rss_at_end - self.rss_after_first_window

    def failures(self, *, check_memory: bool = True) -> list[str]:
        """The requirements that failed, as sentences; empty if all hold."""
        failed = []
        if len(self.outcomes) < self.planned:
            failed.append(f"only {len(self.outcomes)} of {self.planned} requests ran within {MAX_SECONDS:.0f} s")
        if self.problems:
            failed.append(f"{len(self.problems)} errors")
        if self.connection_samples == 0:
            failed.append("no sample of the Postgres connections was taken")
        if self.sampler_error is not None:
            failed.append(f"the Postgres connections were not watched to the end ({self.sampler_error})")
        if self.max_connections > self.workers:
            failed.append(f"{self.max_connections} Postgres connections at once, above the {self.workers} worker(s)")
        if check_memory:
            growth = self.memory_growth
            if growth is None:
                failed.append("the gateway's memory could not be measured")
            elif growth > MEMORY_GROWTH_LIMIT_BYTES:
                failed.append(f"memory grew by {mib(growth)} (limit {mib(MEMORY_GROWTH_LIMIT_BYTES)})")
        return failed


def plan_requests(pairs: Sequence[tuple[Credential, Endpoint]], count: int, seed: int = 20260502) -> list[Planned]:
    """`count` requests: every pair in turn (shuffled per round), 10% without the slash, 10% conditional."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    planned: list[Planned] = []
    while len(planned) < count:
        round_ = list(pairs)
        rng.shuffle(round_)
        for credential, endpoint in round_[: count - len(planned)]:
            planned.append(Planned(credential, endpoint, rng.random() >= 0.1, rng.random() < 0.1))
    return planned


class Client:
    """One keep-alive HTTP/1.1 connection to the gateway."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            self.connection.request("GET", path, headers=headers)
            response = self.connection.getresponse()
            body = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, body

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def baselines(url: str, pairs: Sequence[tuple[Credential, Endpoint]]) -> tuple[dict[tuple[str, str], bytes], list[str]]:
    """What each pair answers before the load (one request each), and the pairs that did not answer 200."""
    client = Client(url)
    bodies: dict[tuple[str, str], bytes] = {}
    bad = []
    try:
        for credential, endpoint in pairs:
            status, _, body = client.get(endpoint.path, credential.headers)
            if status != 200:
                bad.append(f"{credential.label} {endpoint.path}: {status} {body[:200]!r}")
            bodies[(credential.label, endpoint.name)] = body
    finally:
        client.close()
    return bodies, bad


class Sampler(threading.Thread):
    """Counts the API's Postgres connections on its own connection, as often as it can, until stopped."""

    def __init__(self, admin_url: str, database: str | None) -> None:
        super().__init__(daemon=True)
        self.connection = stores.connect(admin_url)
        self.database = database
        self.samples = 0
        self.maximum = 0
        self.error: Exception | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.database is None:
                    rows = self.connection.run(CONNECTIONS_SQL, name=APPLICATION_NAME)
                else:
                    rows = self.connection.run(
                        CONNECTIONS_IN_DATABASE_SQL, name=APPLICATION_NAME, database=self.database
                    )
                self.samples += 1
                self.maximum = max(self.maximum, int(rows[0][0]))
                self.stop.wait(SAMPLE_EVERY_SECONDS)
        except (DatabaseError, InterfaceError, OSError) as exc:  # reported with the run's result
            self.error = exc
        finally:
            self.connection.close()


def run_load(  # noqa: C901 - most of it is the two closures each client thread runs
    url: str,
    pairs: Sequence[tuple[Credential, Endpoint]],
    *,
    clients: int,
    requests: int,
    admin_url: str,
    database: str | None,
    gateway_pid: int | None,
    window: int = WINDOW,
    say: Say = say_flushed,
) -> LoadResult:
    """The load itself against a gateway already serving at `url`."""
    expected, bad = baselines(url, pairs)
    if bad:
        say("These did not answer 200 before the load:\n  " + "\n  ".join(bad))
    planned = plan_requests(pairs, requests)
    result = LoadResult(planned=len(planned), outcomes=[], elapsed_seconds=0.0)
    lock = threading.Lock()
    next_index = itertools.count()
    window = min(window, max(1, requests // 5))
    started = time.perf_counter()
    deadline = started + MAX_SECONDS

    def record(outcome: Outcome) -> None:
        with lock:
            result.outcomes.append(outcome)
            done = len(result.outcomes)
        if done == window and gateway_pid is not None:
            result.rss_after_first_window = rss_bytes(gateway_pid)

    def client_loop() -> None:
        client = Client(url)
        etags: dict[tuple[str, str], str] = {}
        try:
            while time.perf_counter() < deadline:
                with lock:
                    index = next(next_index)
                if index >= len(planned):
                    return
                record(one_request(client, planned[index], etags, expected))
        finally:
            client.close()

    sampler = Sampler(admin_url, database)
    sampler.start()
    threads = [threading.Thread(target=client_loop, name=f"client-{n}", daemon=True) for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        result.elapsed_seconds = time.perf_counter() - started
        if gateway_pid is not None:
            result.rss_at_end = rss_bytes(gateway_pid)
        sampler.stop.set()
        sampler.join()
    if sampler.error is not None:
        result.sampler_error = f"{type(sampler.error).__name__}: {sampler.error}"
    result.connection_samples = sampler.samples
    result.max_connections = sampler.maximum
    result.not_modified = sum(1 for outcome in result.outcomes if outcome.status == 304)
    return result


def one_request(
    client: Client, planned: Planned, etags: dict[tuple[str, str], str], expected: dict[tuple[str, str], bytes]
) -> Outcome:
    credential, endpoint = planned.credential, planned.endpoint
    key = (credential.label, endpoint.name)
    path = endpoint.path if planned.trailing_slash else endpoint.path.rstrip("/")
    headers = dict(credential.headers)
    if planned.conditional and key in etags:
        headers["If-None-Match"] = etags[key]
    started = time.perf_counter()
    try:
        status, response_headers, body = client.get(path, headers)
    except (OSError, http.client.HTTPException) as exc:
        elapsed = time.perf_counter() - started
        return Outcome(endpoint.name, credential.label, 0, elapsed, f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    problem = None
    if status == 200:
        if body != expected.get(key):
            problem = f"200 with another body than before the load: {body[:200]!r}"
        if "etag" in response_headers:
            etags[key] = response_headers["etag"]
    elif status != 304 and not 200 <= status < 300:
        problem = f"{status} {body[:200]!r}"
    return Outcome(endpoint.name, credential.label, status, elapsed, problem)


# ---------------------------------------------------------------------------- the report


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of values sorted ascending."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def mib(value: float) -> str:
    return f"{value / (1024 * 1024):.1f} MiB"


def report(result: LoadResult, clients: int) -> str:
    lines = [
        f"{len(result.outcomes)} requests from {clients} clients in {result.elapsed_seconds:.1f} s "
        f"({len(result.outcomes) / max(result.elapsed_seconds, 1e-9):.0f} requests/s); "
        f"{len(result.problems)} errors; {result.not_modified} answered 304",
        "",
        "Latency as the clients see it: the local gateway runs one invocation at a time, so it includes the wait.",
        f"{'endpoint':<14}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}",
    ]
    by_endpoint: dict[str, list[Outcome]] = {}
    for outcome in result.outcomes:
        by_endpoint.setdefault(outcome.endpoint, []).append(outcome)
    for name, outcomes in [*sorted(by_endpoint.items()), ("overall", result.outcomes)]:
        if not outcomes:
            continue
        times = sorted(outcome.seconds * 1000 for outcome in outcomes)
        errors = sum(1 for outcome in outcomes if outcome.problem is not None)
        lines.append(
            f"{name:<14}{len(outcomes):>9}{errors:>8}{percentile(times, 0.5):>9.1f}"
            f"{percentile(times, 0.95):>9.1f}{times[-1]:>9.1f}"
        )
    by_credential: dict[str, int] = {}
    for outcome in result.outcomes:
        by_credential[outcome.credential] = by_credential.get(outcome.credential, 0) + 1
    lines += ["", "credentials: " + ", ".join(f"{label} {count}" for label, count in sorted(by_credential.items()))]
    lines.append(
        f"Postgres connections of the API: at most {result.max_connections} at once over "
        f"{result.connection_samples} samples (bound: {result.workers} worker(s))"
    )
    if result.rss_after_first_window is not None and result.rss_at_end is not None:
        growth = result.rss_at_end - result.rss_after_first_window
        lines.append(
            f"gateway RSS: {mib(result.rss_after_first_window)} after the first {WINDOW} requests, "
            f"{mib(result.rss_at_end)} after the last; delta {growth / (1024 * 1024):+.1f} MiB "
            f"(flat: at most {mib(MEMORY_GROWTH_LIMIT_BYTES)})"
        )
    for outcome in result.problems[:SHOWN_ERRORS]:
        lines.append(f"error: {outcome.credential} {outcome.endpoint}: {outcome.problem}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.load", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--port", type=int, default=0, help="the stack's port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--local-dir", type=Path, default=DEFAULT_LOCAL_DIR, help="the stack's data and secrets")
    parser.add_argument("--scale", type=float, default=1.0, help="demo data size (as make run)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    endpoints = ENDPOINTS
    with local_stack(args.local_dir, port=args.port, scale=args.scale) as stack:
        now = datetime.now(UTC)
        creds = credentials(
            demo_jwt=stack.demo_jwt,
            demo_api_key=stack.demo_api_key,
            jwt_secret=stack.jwt_secret,
            database_url=stack.database_url,
            now=now,
        )
        pairs = request_pairs(creds, endpoints, stack.database_url, now.date())
        say_flushed(
            f"Load on {stack.url}: {args.requests} requests, {args.clients} clients, "
            f"{len(endpoints)} endpoints x {len(creds)} credentials ({len(pairs)} pairs)"
        )
        result = run_load(
            stack.url,
            pairs,
            clients=args.clients,
            requests=args.requests,
            admin_url=stack.admin_url,
            database=stack.database,
            gateway_pid=stack.pid,
        )
        failed = result.failures()
        if result.problems:
            say_flushed("Last lines of the stack's output:\n" + "".join(list(stack.output)[-40:]))
    print()
    print(report(result, args.clients))
    print()
    if failed:
        print("FAILED: " + "; ".join(failed))
        return 1
    print("OK: zero errors, connections within the bound, memory flat.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
