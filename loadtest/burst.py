"""`make burst`: what a burst from one frontend user does to other users and other tenants.

Starts the local stack (`python -m devstack.run`, whose gateway applies the template's limits: WAF rate
rules, stage throttle, usage plans; devstack.limits) once per configuration, with the frontend's limits
scaled down to what one local process can reach (`SCALED` below; on AWS the defaults are 500 requests/s
for the frontend's shared plan and 600 requests/min per token). In each, for SECONDS seconds:

- the bursting user (org 1) sends GET /copilot/ from WORKERS threads, as fast as answers come;
- another user of org 1 and a user of org 2 each send STEADY_RPS requests a second.

Printed per user: requests, answers 200 and 429, and the median latency of the 200s. Nothing is asserted:
tests/test_limits.py checks the rules; this shows their effect on a running stack.

    python -m loadtest.burst [--seconds 15] [--workers 4] [--local-dir .local/burst]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from devstack import run
from loadtest.common import ROOT, local_stack, say_flushed

PATH = "/api/analytics/copilot/"
STEADY_RPS = 2.0
# The frontend's plan at 20 requests/s (burst 20) and one token at 60 requests/min: what the local gateway,
# one process invoking one function at a time, can exceed; the ratios between users are what carries over.
SCALED = {"FrontendRateLimit": "20", "FrontendBurstLimit": "20"}
CONFIGURATIONS = {
    "shared frontend plan only (EnableWaf=false)": SCALED,
    "with the WAF rule per token (EnableWaf=true)": {
        **SCALED,
        "EnableWaf": "true",
        "WafRequestsPerTokenPerMinute": "60",
    },
    # As the defaults are sized (600 a minute per token, burst 1000): one token's minute fits in the burst.
    "WAF, and the plan's burst above one token's minute": {
        **SCALED,
        "FrontendBurstLimit": "80",
        "EnableWaf": "true",
        "WafRequestsPerTokenPerMinute": "60",
    },
}


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == 200:
                self.latencies.append(seconds)


def send_until(url: str, user: User, tally: Tally, deadline: float, interval: float = 0.0) -> None:
    """Requests on one keep-alive connection until `deadline`, one every `interval` seconds (0: back to back)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=30, source_address=(user.address, 0)
    )
    token = user.token
    headers = {"Authorization": f"Bearer {token}"}
    next_at = time.monotonic()
    try:
        while (now := time.monotonic()) < deadline:
            if now < next_at:
                time.sleep(next_at - now)
                continue
            started = time.perf_counter()
            connection.request("GET", PATH, headers=headers)
            response = connection.getresponse()
            response.read()
            tally.add(response.status, time.perf_counter() - started)
            next_at += interval
    finally:
        connection.close()


@dataclass(frozen=True)
class User:
    token: str
    address: str  # each user calls from an address of its own (127.0.0.0/8 is all loopback), as on the internet


def measure(url: str, secret: str, seconds: float, workers: int) -> dict[str, Tally]:
    tallies = {"bursting user, org 1": Tally(), "another user, org 1": Tally(), "a user of org 2": Tally()}
    now = datetime.now(UTC)
    bursting, colleague, other = (
        User(run.demo_jwt(secret, now, org_id=org_id, user=name, hours=1), f"127.0.0.{n}")
        for n, (org_id, name) in enumerate(((1, "burst"), (1, "colleague"), (2, "other")), start=2)
    )
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=send_until, args=(url, bursting, tallies["bursting user, org 1"], deadline))
        for _ in range(workers)
    ]
    threads += [
        threading.Thread(target=send_until, args=(url, user, tally, deadline, 1 / STEADY_RPS))
        for user, tally in ((colleague, tallies["another user, org 1"]), (other, tallies["a user of org 2"]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tallies


def report(name: str, parameters: dict[str, str], tallies: dict[str, Tally], seconds: float) -> None:
    say_flushed(f"\n{name}: " + " ".join(f"{key}={value}" for key, value in parameters.items()))
    say_flushed(f"{'user':<24}{'requests':>9}{'/s':>7}{'200':>7}{'429':>7}{'other':>7}{'200 share':>11}{'p50 200':>10}")
    for user, tally in tallies.items():
        total = sum(tally.statuses.values())
        ok, throttled = tally.statuses[200], tally.statuses[429]
        median = f"{statistics.median(tally.latencies) * 1000:.1f} ms" if tally.latencies else "-"
        say_flushed(
            f"{user:<24}{total:>9}{total / seconds:>7.1f}{ok:>7}{throttled:>7}{total - ok - throttled:>7}"
            f"{ok / total if total else 0:>10.0%}{median:>10}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.burst", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=4, help="threads of the bursting user")
    parser.add_argument("--local-dir", type=Path, default=ROOT / ".local" / "burst")
    parser.add_argument("--scale", type=float, default=0.2, help="demo data size (as make run)")
    args = parser.parse_args(argv)
    for number, (name, parameters) in enumerate(CONFIGURATIONS.items()):
        # A stack (and Postgres) of its own per configuration: each starts with full buckets and empty windows.
        with local_stack(args.local_dir / str(number), scale=args.scale, parameters=parameters) as stack:
            tallies = measure(stack.url, stack.jwt_secret, args.seconds, args.workers)
        report(name, parameters, tallies, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
