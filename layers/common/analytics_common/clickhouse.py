"""The ClickHouse client: clickhouse-connect, one per container, time-boxed.

`CLICKHOUSE_URL` is a clickhouse-connect DSN: `https://user:pass@host:8443/db`
for a server or cluster, or `chdb:///path?database=db` for the embedded engine
used locally and in tests. Values always travel as server-side `{name:Type}`
parameters. Failures become 503 (unreachable) or 504 (too slow).

Answers that depend only on data that changes in known steps (memberships change when a segment is
recomputed) can be served from a result cache shared by every container: `cached_rows` (see there).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from analytics_common import config, timing
from analytics_common.errors import StoreTimeout, StoreUnavailable

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

TIMEOUT_ERROR_CODES = frozenset({159, 160, 209, 210})  # TIMEOUT_EXCEEDED, TOO_SLOW, SOCKET_TIMEOUT, NETWORK_ERROR
BUDGET_ERROR_CODES = frozenset({159, 160})  # the server stopped the statement at max_execution_time
TOO_LARGE_DETAIL = (
    "This question is too large to answer in time for this organization's data; the analytics store stopped it."
)

# The result cache (schema/clickhouse.sql: api_result_cache). A row is one statement's answer, keyed by
# the SHA-256 of the statement, its parameters and the data version the caller read: a new version (a
# recomputed segment) is a new key, so a recompute is visible at once; the TTL bounds any other staleness.
CACHE_LOOKUP_SQL = """
SELECT result
FROM api_result_cache
WHERE cache_key = {cache_key:String}
  AND org_id = {org_id:UInt64}
  AND stored_at >= now64(3) - toIntervalMillisecond({ttl_ms:UInt64})
ORDER BY stored_at DESC
LIMIT 1
"""
CACHE_STORE_SQL = """
INSERT INTO api_result_cache (cache_key, org_id, stored_at, result)
SELECT {cache_key:String}, {org_id:UInt64}, now64(3), {result:String}
"""


class ClickHouseClient:
    """Runs parameterized SELECTs and returns plain rows.

    The driver is opened by the first query, not before: a request that needs no ClickHouse
    (an organization without segments, say) never depends on it being reachable.
    """

    def __init__(self, open_driver: Callable[[], Client]) -> None:
        self._open_driver = open_driver
        self._client: Client | None = None

    def rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        with timing.measure("ch"):
            if self._client is None:
                self._client = self._open_driver()  # the first query imports clickhouse-connect and connects
            from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

            try:
                return self._client.query(sql, parameters=parameters).result_rows
            except OperationalError as exc:
                raise _store_error(exc) from exc
            except DatabaseError as exc:
                code = _error_code(str(exc))
                if code in BUDGET_ERROR_CODES:  # logged once, by the resolver, with these names (no values)
                    context = {"org_id": parameters.get("org_id"), "statement": statement_name(sql)}
                    raise StoreTimeout(TOO_LARGE_DETAIL, log_context=context) from exc
                if code in TIMEOUT_ERROR_CODES:
                    raise StoreTimeout("Analytics store query timed out.") from exc
                raise

    def row(self, sql: str, **parameters: Any) -> Sequence[Any]:
        return self.rows(sql, **parameters)[0]

    def cached_rows(self, sql: str, data_version: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        """Rows of `sql`, from the result cache when the same statement with the same parameters and
        `data_version` was answered within `QUERY_CACHE_TTL_SECONDS` (0: no cache, always run).

        The key covers the whole statement and every parameter by construction, so an answer never
        crosses organizations, windows or pages. A cache that cannot be read or written is skipped
        (logged): the answer is then computed as if there were no cache.
        """
        ttl = config.query_cache_ttl_seconds()
        if ttl <= 0:
            timing.cache_outcome("off")
            return self.rows(sql, **parameters)
        key = cache_key(sql, data_version, parameters)
        org_id = parameters.get("org_id", 0)
        # A lookup that times out fails the request (the statement would too); a slow write is skipped.
        # org_id is in the key already; as a predicate it lets a sharded cluster prune to one shard.
        cached = self._cache_call(CACHE_LOOKUP_SQL, (), cache_key=key, org_id=org_id, ttl_ms=int(ttl * 1000))
        if cached:
            timing.cache_outcome("hit")
            return json.loads(cached[0][0])
        timing.cache_outcome("miss")
        rows = self.rows(sql, **parameters)
        result = json.dumps([list(row) for row in rows], default=_plain)
        self._cache_call(CACHE_STORE_SQL, (StoreTimeout,), cache_key=key, org_id=org_id, result=result)
        return rows

    def _cache_call(
        self, sql: str, also_skip: tuple[type[Exception], ...], **parameters: Any
    ) -> Sequence[Sequence[Any]]:
        from clickhouse_connect.driver.exceptions import DatabaseError

        skipped: tuple[type[Exception], ...] = (DatabaseError, StoreUnavailable, *also_skip)
        try:
            return self.rows(sql, **parameters)
        except skipped as exc:  # a cache that fails is no cache
            log.warning("result cache skipped", extra={"error": type(exc).__name__})
            return []


def cache_key(sql: str, data_version: str, parameters: Mapping[str, Any]) -> str:
    text = json.dumps([sql, data_version, sorted(parameters.items())], default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, set)) else str(value)


def statement_name(sql: str) -> str:
    """A statement's name for logs: its leading `-- name` comment, else a digest of its text (no values)."""
    first_line = sql.lstrip().split("\n", 1)[0]
    if first_line.startswith("--"):
        return first_line[2:].strip()
    return "sql:" + hashlib.sha256(sql.encode()).hexdigest()[:12]


def _store_error(exc: Exception) -> Exception:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return StoreTimeout("Analytics store query timed out.")
    return StoreUnavailable("Analytics store unavailable.")


def _error_code(message: str) -> int | None:
    # clickhouse-connect messages start with "Code: 159. DB::Exception: ..." (or carry it after a prefix).
    marker = message.find("Code: ")
    if marker < 0:
        return None
    digits = message[marker + 6 :].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def client_options(dsn: str, timeout_seconds: float) -> Mapping[str, Any]:
    # Not int(): a budget below one second would become 0, which ClickHouse reads as "no limit".
    budget = int(timeout_seconds) if float(timeout_seconds).is_integer() else timeout_seconds
    settings = {"max_execution_time": budget}
    if dsn.startswith("chdb:"):
        return {"dsn": dsn, "settings": settings}
    return {
        "dsn": dsn,
        # clickhouse-connect ignores the DSN's scheme (it infers TLS from ports 443/8443 only):
        # without this, `https://` on any other port would send the credentials in clear text.
        "secure": dsn.lower().startswith("https:"),
        "settings": settings,
        # One shared client in a single-threaded container: no server sessions, no session locks.
        "autogenerate_session_id": False,
        "connect_timeout": min(3.0, timeout_seconds),
        "send_receive_timeout": timeout_seconds + 1,
        "query_retries": 1,
    }


def open_driver() -> Client:
    """A clickhouse-connect client for the configured DSN (a server handshake for http/https)."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import OperationalError

    options = client_options(config.clickhouse_url(), config.store_timeout_seconds())
    try:
        return clickhouse_connect.get_client(**options)
    except OperationalError as exc:
        log.warning("clickhouse connect failed: %s", type(exc).__name__)
        raise _store_error(exc) from exc


@cache
def clickhouse_client() -> ClickHouseClient:
    """The container's ClickHouse client; the connection is opened by its first query."""
    return ClickHouseClient(open_driver)
