"""The store clients on the real engines: read-only, time-boxed, reconnecting, failing as 503/504."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pg8000.native
import pytest

from analytics_common.clickhouse import ClickHouseClient, clickhouse_client
from analytics_common.errors import StoreTimeout, StoreUnavailable
from analytics_common.postgres import PostgresClient, parse_database_url, postgres_client
from tests.conftest import Stores
from tests.lambda_support import api_event, captured_logs, invoke, invoke_json, json_lines


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pg(db: Stores) -> Iterator[PostgresClient]:
    client = PostgresClient(parse_database_url(db.database_url), timeout_seconds=1)
    yield client
    client.close()


def test_postgres_session_is_read_only(pg: PostgresClient, ids: Iterator[int]) -> None:
    with pytest.raises(pg8000.native.DatabaseError, match="read-only"):
        pg.run("INSERT INTO organizations (id, name) VALUES (:id, 'x')", id=next(ids))


def test_postgres_statement_timeout_is_504(pg: PostgresClient) -> None:
    with pytest.raises(StoreTimeout):
        pg.run("SELECT pg_sleep(3)")
    assert pg.run("SELECT 1") == [[1]]  # the same connection goes on


def test_postgres_reconnects_once_after_the_connection_was_dropped(pg: PostgresClient, db: Stores) -> None:
    backend_pid = pg.run("SELECT pg_backend_pid()")[0][0]
    db.pg.run("SELECT pg_terminate_backend(:pid)", pid=backend_pid)  # as if the container was frozen too long

    new_pid = pg.run("SELECT pg_backend_pid()")[0][0]
    assert new_pid != backend_pid


def test_postgres_unreachable_is_503() -> None:
    client = PostgresClient(parse_database_url(f"postgresql://u:pw@127.0.0.1:{closed_port()}/db"), 1)
    with pytest.raises(StoreUnavailable) as failure:
        client.run("SELECT 1")
    assert "pw" not in str(failure.value)


def test_clickhouse_rows_use_server_side_parameters(db: Stores) -> None:
    client: ClickHouseClient = clickhouse_client()
    hostile = "x'); DROP TABLE events; --"
    assert client.row("SELECT {value:String}, {n:UInt64} + 1", value=hostile, n=41) == (hostile, 42)


def test_an_unreachable_store_answers_503_json_without_secrets(
    db: Stores, ids: Iterator[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://analytics:s3cr3t-pw@127.0.0.1:{closed_port()}/analytics")
    postgres_client.cache_clear()
    with captured_logs("overview") as logs:
        response = invoke("overview", api_event("overview", next(ids)))
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {"detail": "Database unavailable."}
    access_line = next(line for line in json_lines(logs) if line["message"] == "request")
    assert access_line["status"] == 503 and access_line["correlation_id"]
    assert "s3cr3t-pw" not in logs.getvalue()

    monkeypatch.setenv("DATABASE_URL", db.database_url)
    postgres_client.cache_clear()
    status, _ = invoke_json("overview", api_event("overview", next(ids)))
    assert status == 200
