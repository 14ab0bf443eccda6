"""The Postgres client: one pg8000 connection per container, read-only, time-boxed.

`DATABASE_URL` is `postgresql://user:pass@host:port/db`, or with `?host=/dir` a
Unix socket in that directory. TLS with certificate and host verification is
used for every host that is not local (`sslmode=disable` turns it off, e.g. for
a private network that has none). Each statement is bounded by
`statement_timeout`, the socket by a slightly longer timeout, and the session
is read-only. A connection that died while the container was frozen is
re-opened once and the statement retried (safe: nothing here writes); a server
that stopped answering (the socket timed out) is a 504 at once, never retried.

pg8000 and ssl (about 45 ms) are imported when the first connection is made, not with this module:
the authorizer's JWT path never needs them, and an endpoint pays for them once, in the invocation
that connects anyway.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from analytics_common import config, timing
from analytics_common.errors import StoreTimeout, StoreUnavailable

if TYPE_CHECKING:
    import pg8000.native

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
QUERY_CANCELED = "57014"  # SQLSTATE of statement_timeout
CONNECTION_FAILURE_CODES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006"})


@dataclass(frozen=True)
class ConnectParams:
    user: str
    password: str | None
    database: str
    host: str
    port: int
    unix_sock: str | None
    tls: bool

    def connect(
        self, *, application_name: str, timeout: float | None = None, **settings: str
    ) -> pg8000.native.Connection:
        """A new connection; `settings` are server settings sent at start-up (e.g. `statement_timeout`)."""
        import ssl

        import pg8000.native

        return pg8000.native.Connection(
            user=self.user,
            password=self.password,
            database=self.database,
            host=self.host,
            port=self.port,
            unix_sock=self.unix_sock,
            ssl_context=ssl.create_default_context() if self.tls else None,
            timeout=timeout,
            application_name=application_name,
            startup_params={"TimeZone": "UTC", **settings},
        )

    def redacted(self) -> str:
        where = self.unix_sock or f"{self.host}:{self.port}"
        return f"postgresql://{self.user}@{where}/{self.database}"


def parse_database_url(url: str) -> ConnectParams:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise config.ConfigurationError("DATABASE_URL must start with postgresql://")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    port = parts.port or int(query.get("port", 5432))
    socket_dir = query.get("host", "")
    host = parts.hostname or ""
    unix_sock = None
    if socket_dir.startswith("/"):
        unix_sock = f"{socket_dir.rstrip('/')}/.s.PGSQL.{port}"
    elif socket_dir:
        host = socket_dir
    host = host or "localhost"
    sslmode = query.get("sslmode", "")
    tls = unix_sock is None and host not in LOCAL_HOSTS and sslmode != "disable"
    return ConnectParams(
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        database=unquote(parts.path.lstrip("/")) or "postgres",
        host=host,
        port=port,
        unix_sock=unix_sock,
        tls=tls,
    )


class PostgresClient:
    """Runs read-only statements with named parameters (`:name`), mapping failures to 503/504."""

    def __init__(self, params: ConnectParams, timeout_seconds: float) -> None:
        self._params = params
        self._timeout_seconds = timeout_seconds
        self._connection: pg8000.native.Connection | None = None

    def _connect(self) -> pg8000.native.Connection:
        from pg8000.exceptions import DatabaseError, InterfaceError

        params = self._params
        try:
            return params.connect(
                application_name="platform-analytics-api",
                timeout=self._timeout_seconds + 1,
                default_transaction_read_only="on",
                statement_timeout=str(int(self._timeout_seconds * 1000)),
            )
        except (InterfaceError, DatabaseError, OSError) as exc:
            log.warning("postgres connect failed: %s (%s)", type(exc).__name__, params.redacted())
            raise StoreUnavailable("Database unavailable.") from exc

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        """Rows of `sql`; reconnects once if the kept connection turned out to be dead."""
        reused = self._connection is not None
        try:
            return self._run_once(sql, params)
        except _ConnectionLost as lost:
            if not reused:
                raise StoreUnavailable("Database unavailable.") from lost.__cause__
            log.info("postgres connection was dropped; reconnecting once")
        try:
            return self._run_once(sql, params)
        except _ConnectionLost as lost:
            raise StoreUnavailable("Database unavailable.") from lost.__cause__

    def _run_once(self, sql: str, params: dict[str, Any]) -> list[list[Any]]:
        if self._connection is None:
            with timing.measure("pg"):
                self._connection = self._connect()  # the container's first statement also imports pg8000
        from pg8000.exceptions import DatabaseError, InterfaceError

        try:
            with timing.measure("pg"):
                return self._connection.run(sql, **params)
        except DatabaseError as exc:
            code = _sqlstate(exc)
            if code == QUERY_CANCELED:
                raise StoreTimeout("Database query timed out.") from exc
            if code not in CONNECTION_FAILURE_CODES:
                raise  # a bug in our SQL: a 500, logged with its traceback
            self.close()
            raise _ConnectionLost() from exc
        except (InterfaceError, OSError) as exc:
            self.close()
            if _timed_out(exc):
                # The server stopped answering (hung, or the network is gone): it is not a connection
                # that died while the container was frozen, so do not spend a second budget reconnecting.
                raise StoreTimeout("Database query timed out.") from exc
            raise _ConnectionLost() from exc

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # the socket may already be gone
                connection.close()


class _ConnectionLost(Exception):
    """The connection broke under a statement (its cause says how)."""


def _timed_out(exc: BaseException) -> bool:
    """Whether the socket timed out (pg8000 wraps socket errors in InterfaceError)."""
    return isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError)


def _sqlstate(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else None
    return str(detail.get("C", "")) if isinstance(detail, dict) else ""


@cache
def postgres_client() -> PostgresClient:
    """The container's Postgres client, created on first use."""
    params = parse_database_url(config.database_url())
    return PostgresClient(params, config.store_timeout_seconds())
