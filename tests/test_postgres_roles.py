"""schema/postgres.sql's two roles on the real Postgres: each reaches exactly what its functions read.

The operator's setup (docs/deploy.md) is done here as written: a login user IN ROLE analytics_reader
for the endpoints and one IN ROLE analytics_authorizer for the authorizer. Then every endpoint answers
its whole contract through the reader, the authorizer accepts an API key through its own user, and
every other read and every write is refused by Postgres itself (SQLSTATE 42501), not by the clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pg8000.native
import pytest

from analytics_common.endpoints import NAMES
from analytics_common.postgres import postgres_client
from devstack import stores
from tests.authorizer_support import authorize, authorizer_event, expected_allow, normalized
from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.sample_tenant import SampleTenant

# Every Postgres table of schema/postgres.sql, and which the endpoints read (from their SQL).
TABLES = {
    "organizations",
    "api_keys",
    "segments",
    "activations",
    "activation_sync_logs",
    "copilot_requests",
    "plans",
    "subscriptions",
}
ENDPOINT_TABLES = {"segments", "activations", "activation_sync_logs", "copilot_requests", "plans", "subscriptions"}
AUTHORIZER_TABLES = {"api_keys"}
USERS = {"analytics_reader": "analytics_test_endpoints", "analytics_authorizer": "analytics_test_authorizer"}
INSUFFICIENT_PRIVILEGE = "42501"


def user_url(database_url: str, user: str) -> str:
    parts = urlsplit(database_url)
    host = parts.hostname or "localhost"
    return urlunsplit(parts._replace(netloc=f"{user}:{user}-password@{host}:{parts.port or 5432}"))


@pytest.fixture(scope="module")
def login_urls(session_stores: Stores) -> Iterator[dict[str, str]]:
    """Role -> the URL of a login user in it, made as docs/deploy.md tells the operator."""
    admin = session_stores.pg
    for role, user in USERS.items():
        admin.run(f"DROP ROLE IF EXISTS {user}")
        admin.run(f"CREATE ROLE {user} LOGIN PASSWORD '{user}-password' IN ROLE {role}")
    yield {role: user_url(session_stores.database_url, user) for role, user in USERS.items()}
    for user in USERS.values():
        admin.run(f"DROP ROLE IF EXISTS {user}")


def denied(url: str, sql: str) -> bool:
    """Whether Postgres refuses `sql` to this user for lack of privilege (a plain read-write session)."""
    connection = stores.connect(url)
    try:
        connection.run(sql)
    except pg8000.native.DatabaseError as exc:
        code = exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None
        assert code == INSUFFICIENT_PRIVILEGE, exc
        return True
    finally:
        connection.close()
    return False


def test_the_schema_is_re_runnable_and_keeps_the_grants_exact(session_stores: Stores) -> None:
    stores.apply_postgres_schema(session_stores.database_url)
    stores.apply_postgres_schema(session_stores.database_url)
    grants = session_stores.pg.run(
        "SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee IN ('analytics_reader', 'analytics_authorizer') ORDER BY 1, 2, 3"
    )
    assert sorted(map(tuple, grants)) == sorted(
        [("analytics_reader", table, "SELECT") for table in ENDPOINT_TABLES]
        + [("analytics_authorizer", table, "SELECT") for table in AUTHORIZER_TABLES]
    )
    roles = session_stores.pg.run(
        "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('analytics_reader', 'analytics_authorizer')"
    )
    assert sorted(map(tuple, roles)) == [("analytics_authorizer", False), ("analytics_reader", False)]
    usage_key_indexes = session_stores.pg.run(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'api_keys' AND indexdef LIKE '%(usage_key)%'"
    )
    assert usage_key_indexes == [[1]]  # ADD COLUMN IF NOT EXISTS ... UNIQUE ran twice, one index


def test_every_endpoint_answers_through_the_reader_role(
    sample_tenant: SampleTenant, login_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", login_urls["analytics_reader"])
    postgres_client.cache_clear()
    for name in NAMES:
        status, body = invoke_json(name, api_event(name, sample_tenant.org_id))
        assert (status, body) == (200, sample_tenant.expected[name]), name
    postgres_client.cache_clear()


def test_the_authorizer_answers_through_its_own_role(
    sample_tenant: SampleTenant, login_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", login_urls["analytics_authorizer"])
    monkeypatch.setenv("JWT_SECRET", "roles-test-secret-0123456789abcdef-0123")
    monkeypatch.setenv("FRONTEND_USAGE_KEY", "frontend-usage-key-roles-test-00000000")
    postgres_client.cache_clear()
    answer = authorize(authorizer_event(f"Bearer {sample_tenant.api_key}"))
    postgres_client.cache_clear()
    principal = f"api_key:{sample_tenant.api_key_id}"
    assert normalized(answer) == expected_allow(sample_tenant.org_id, principal, "api_key", sample_tenant.api_key)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_role_reads_only_its_tables(table: str, login_urls: dict[str, str]) -> None:
    for role, allowed in (("analytics_reader", ENDPOINT_TABLES), ("analytics_authorizer", AUTHORIZER_TABLES)):
        assert denied(login_urls[role], f"SELECT * FROM {table} LIMIT 1") == (table not in allowed), (role, table)


@pytest.mark.parametrize("role", sorted(USERS))
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {table} DEFAULT VALUES",
        "UPDATE {table} SET id = id WHERE false",
        "DELETE FROM {table} WHERE false",
        "TRUNCATE {table}",
    ],
)
def test_neither_role_writes_anything(role: str, statement: str, login_urls: dict[str, str]) -> None:
    for table in sorted(TABLES):
        assert denied(login_urls[role], statement.format(table=table)), (role, table)
    assert denied(login_urls[role], "CREATE TABLE public.intruder (id int)")
