"""Store and configuration faults on the real engines: every endpoint answers 503/504 JSON, quickly, and recovers.

docs/api.md §3.8: a data store that is unreachable or too slow is a 503 or 504
with a `detail`, well inside the Lambda (10 s) and API Gateway time limits; an
error body is exactly `{"detail": ...}` and never holds a stack trace, SQL, a
DSN or another tenant's data. Each test covers every endpoint
(`analytics_common.endpoints`), expecting a fault only where the
endpoint actually used the store on a healthy run (counted by `round_trips`).

Wall-time bounds here are behaviour, not benchmarks: a fault must be answered
well inside the function's timeout, so the bounds are generous.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication

from analytics_common.clickhouse import TOO_LARGE_DETAIL, clickhouse_client
from analytics_common.endpoints import NAMES
from analytics_common.errors import StoreTimeout
from analytics_common.postgres import postgres_client
from devstack import stores
from tests.conftest import AWS_REGION, Stores, fake_aws_credentials
from tests.fault_support import (
    FaultPostgres,
    Tenants,
    assert_clean_error,
    free_port,
    seed_tenants,
    silent_server,
)
from tests.lambda_support import api_event, invoke

ENDPOINTS = NAMES
FAULT_DATABASE = "analytics_faults"
PG_PASSWORD = "pg-pa55word-never-shown"
CH_PASSWORD = "ch-pa55word-never-shown"
REGION = AWS_REGION
# A fault must be answered well inside the functions' 10 s timeout.
FAULT_BOUND_SECONDS = 3.0
# Secrets Manager gets two attempts of at most 1 s to connect and 2 s to answer (config.SECRETS_CLIENT_CONFIG),
# with a backoff between them, after making the provider's client (first use, in the request): well inside
# the function's 15 s timeout.
SECRETS_FAULT_BOUND_SECONDS = 10.0
# Many seconds of work for chDB: only a budget stops it.
HEAVY_CLICKHOUSE_SQL = "SELECT sum(cityHash64(number)) + {org_id:UInt64} * 0, 0 FROM numbers(10000000000)"

DB_UNAVAILABLE = "Database unavailable."
DB_TIMEOUT = "Database query timed out."
CH_UNAVAILABLE = "Analytics store unavailable."
CH_TIMEOUT = "Analytics store query timed out."
CH_TOO_LARGE = TOO_LARGE_DETAIL
CONFIG_UNAVAILABLE = "Configuration store unavailable."


# ---- helpers ----


def timed_invoke(name: str, org_id: int) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = invoke(name, api_event(name, org_id))
    return response, time.perf_counter() - started


def store_use(round_trips: dict[str, int], org_id: int) -> dict[str, dict[str, int]]:
    """Each endpoint answered 200 for `org_id`; the statements it sent to each store."""
    used = {}
    for name in ENDPOINTS:
        before = dict(round_trips)
        response = invoke(name, api_event(name, org_id))
        assert response["statusCode"] == 200, (name, response["body"])
        used[name] = {store: round_trips[store] - before[store] for store in before}
    return used


@pytest.fixture(scope="module")
def fault_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPostgres]:
    server = FaultPostgres(Path(tmp_path_factory.mktemp("fault-pg")) / "pg")
    stores.ensure_postgres_database(server.url(), FAULT_DATABASE, fresh=True)
    yield server
    if server.running():
        server.stop()


@pytest.fixture
def fault_tenants(
    fault_pg: FaultPostgres, db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> Tenants:
    """The functions read the test's own Postgres (a password in its URL) and the session's ClickHouse."""
    if not fault_pg.running():  # a failed test may have left it stopped
        fault_pg.start()
    writer = stores.connect(fault_pg.url(FAULT_DATABASE))
    try:
        tenants = seed_tenants(lambda *args: stores.insert_rows(writer, *args), ids, now)
    finally:
        writer.close()
    monkeypatch.setenv("DATABASE_URL", fault_pg.url(FAULT_DATABASE, PG_PASSWORD))
    postgres_client.cache_clear()  # a fresh container
    return tenants


@pytest.fixture
def session_tenants(db: Stores, ids: Iterator[int], now: datetime) -> Tenants:
    return seed_tenants(db.insert_pg, ids, now)


# ---- Postgres ----


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stopped_mid_run_is_503_at_once_and_the_warm_client_reconnects(
    mode: str, fault_pg: FaultPostgres, fault_tenants: Tenants, round_trips: dict[str, int]
) -> None:
    used = store_use(round_trips, fault_tenants.org_id)  # warm: every endpoint answered 200
    client = postgres_client()

    fault_pg.stop(mode)
    for name in ENDPOINTS:
        response, seconds = timed_invoke(name, fault_tenants.org_id)
        if used[name]["postgres"]:
            assert_clean_error(response, 503, DB_UNAVAILABLE, PG_PASSWORD, FAULT_DATABASE)
        else:
            assert response["statusCode"] == 200
        assert seconds < FAULT_BOUND_SECONDS, (name, seconds)
        print(f"postgres stopped ({mode}): {name} {response['statusCode']} in {seconds * 1000:.1f} ms")

    fault_pg.start()
    for name in ENDPOINTS:
        response, _ = timed_invoke(name, fault_tenants.org_id)
        assert response["statusCode"] == 200, (name, response["body"])
    assert postgres_client() is client  # the same warm container's client, reconnected


def test_postgres_that_stops_answering_is_504_within_one_budget(
    fault_pg: FaultPostgres, fault_tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung server (or a network that drops packets): the open connection times out once, never twice."""
    monkeypatch.setenv("STORE_TIMEOUT_SECONDS", "1")  # statement_timeout 1 s, socket timeout 2 s
    name = "overview"
    response, _ = timed_invoke(name, fault_tenants.org_id)
    assert response["statusCode"] == 200
    client = postgres_client()

    with fault_pg.frozen():
        response, seconds = timed_invoke(name, fault_tenants.org_id)
        print(f"postgres frozen, warm connection: {response['statusCode']} in {seconds * 1000:.0f} ms")
        assert_clean_error(response, 504, DB_TIMEOUT, PG_PASSWORD)
        assert seconds < FAULT_BOUND_SECONDS

        response, seconds = timed_invoke(name, fault_tenants.org_id)  # a new connection cannot start up
        print(f"postgres frozen, new connection: {response['statusCode']} in {seconds * 1000:.0f} ms")
        assert_clean_error(response, 503, DB_UNAVAILABLE, PG_PASSWORD)
        assert seconds < FAULT_BOUND_SECONDS

    response, _ = timed_invoke(name, fault_tenants.org_id)
    assert response["statusCode"] == 200
    assert postgres_client() is client


# ---- ClickHouse ----


def assert_clickhouse_fault(org_id: int, used: dict[str, dict[str, int]], status: int, detail: str, label: str) -> None:
    """Every endpoint under a ClickHouse fault, each with a new client: those that ask ClickHouse
    answer a clean `status` in time, the others 200."""
    for name in ENDPOINTS:
        clickhouse_client.cache_clear()
        response, seconds = timed_invoke(name, org_id)
        if used[name]["clickhouse"]:
            assert_clean_error(response, status, detail, CH_PASSWORD)
        else:
            assert response["statusCode"] == 200
        assert seconds < FAULT_BOUND_SECONDS, (name, seconds)
        print(f"{label}: {name} {response['statusCode']} in {seconds * 1000:.0f} ms")


def test_clickhouse_unreachable_is_503(
    session_tenants: Tenants, round_trips: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    used = store_use(round_trips, session_tenants.org_id)
    assert any(use["clickhouse"] for use in used.values())

    monkeypatch.setenv("CLICKHOUSE_URL", f"https://analytics:{CH_PASSWORD}@127.0.0.1:{free_port()}/analytics")
    assert_clickhouse_fault(session_tenants.org_id, used, 503, CH_UNAVAILABLE, "clickhouse unreachable")


def test_clickhouse_that_never_answers_is_504_and_is_spoken_to_over_tls(
    session_tenants: Tenants, round_trips: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    used = store_use(round_trips, session_tenants.org_id)
    monkeypatch.setenv("STORE_TIMEOUT_SECONDS", "1")
    with silent_server() as server:
        # Not port 8443 or 443: the `https` of the DSN alone must switch TLS on.
        monkeypatch.setenv("CLICKHOUSE_URL", f"https://analytics:{CH_PASSWORD}@127.0.0.1:{server.port}/analytics")
        assert_clickhouse_fault(session_tenants.org_id, used, 504, CH_TIMEOUT, "clickhouse silent")
        assert server.first_bytes, "the functions reached the server"
        for first in server.first_bytes:
            assert first[:2] == b"\x16\x03", f"not a TLS handshake: {first[:60]!r}"  # no credentials in clear text


def test_clickhouse_query_past_its_budget_is_stopped_by_the_server(db: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_TIMEOUT_SECONDS", "1")
    clickhouse_client.cache_clear()
    started = time.perf_counter()
    with pytest.raises(StoreTimeout) as failure:
        clickhouse_client().rows(HEAVY_CLICKHOUSE_SQL, org_id=1)
    seconds = time.perf_counter() - started
    print(f"clickhouse over budget: {seconds * 1000:.0f} ms")
    assert "TIMEOUT_EXCEEDED" in str(failure.value.__cause__)  # max_execution_time, not a client-side guess
    assert seconds < FAULT_BOUND_SECONDS


def test_a_budget_below_one_second_still_limits_clickhouse(db: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_TIMEOUT_SECONDS", "0.5")
    clickhouse_client.cache_clear()
    started = time.perf_counter()
    with pytest.raises(StoreTimeout):
        clickhouse_client().rows(HEAVY_CLICKHOUSE_SQL, org_id=1)
    assert time.perf_counter() - started < FAULT_BOUND_SECONDS


def test_an_endpoint_whose_clickhouse_query_is_too_slow_answers_504_too_large(
    session_tenants: Tenants, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import overview_queries

    monkeypatch.setenv("STORE_TIMEOUT_SECONDS", "1")
    clickhouse_client.cache_clear()
    monkeypatch.setattr(overview_queries, "TOTAL_MEMBERS_SQL", "-- overview.total_members\n" + HEAVY_CLICKHOUSE_SQL)
    caplog.clear()
    response, seconds = timed_invoke("overview", session_tenants.org_id)
    print(f"overview with a slow clickhouse query: {response['statusCode']} in {seconds * 1000:.0f} ms")
    # The server stopped it at max_execution_time: the caller is told the question is too large.
    assert_clean_error(response, 504, CH_TOO_LARGE)
    assert seconds < FAULT_BOUND_SECONDS
    failures = [record for record in caplog.records if record.getMessage() == "store failure"]
    assert len(failures) == 1, caplog.records
    fields = {name: getattr(failures[0], name, None) for name in ("org_id", "statement", "error")}
    assert fields == {"org_id": session_tenants.org_id, "statement": "overview.total_members", "error": "StoreTimeout"}
    assert "SELECT" not in str(vars(failures[0])) and "segment_ids" not in str(vars(failures[0]))


# ---- Secrets Manager ----


@pytest.fixture
def secretsmanager(mocked_secretsmanager: Any) -> Any:
    return mocked_secretsmanager


def rds_secret(fault_pg: FaultPostgres) -> str:
    return json.dumps(
        {
            "username": "postgres",
            "password": PG_PASSWORD,
            "host": "127.0.0.1",
            "port": fault_pg.port,
            "dbname": FAULT_DATABASE,
        }
    )


def all_answer(org_id: int, status: int, detail: str | None = None) -> None:
    for name in ENDPOINTS:
        response, seconds = timed_invoke(name, org_id)
        if detail is None:
            assert response["statusCode"] == status, (name, response["body"])
        else:
            assert_clean_error(response, status, detail, PG_PASSWORD, "secretsmanager", "analytics-db")
        assert seconds < FAULT_BOUND_SECONDS, (name, seconds)


def test_a_secret_that_cannot_be_read_is_503_and_is_read_again_later(
    fault_pg: FaultPostgres, fault_tenants: Tenants, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = secretsmanager.create_secret(Name="analytics-db", SecretString=rds_secret(fault_pg))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    secretsmanager.delete_secret(SecretId=arn, RecoveryWindowInDays=7)  # GetSecretValue now fails

    all_answer(fault_tenants.org_id, 503, CONFIG_UNAVAILABLE)
    secretsmanager.restore_secret(SecretId=arn)
    all_answer(fault_tenants.org_id, 200)  # the failure was not cached


def test_access_denied_to_the_secret_is_503_until_the_role_may_read_it(
    fault_pg: FaultPostgres, fault_tenants: Tenants, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="analytics-function")
    access_key = iam.create_access_key(UserName="analytics-function")["AccessKey"]
    arn = secretsmanager.create_secret(Name="analytics-db", SecretString=rds_secret(fault_pg))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key["AccessKeyId"])  # the function's role, without the grant
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access_key["SecretAccessKey"])

    with enable_iam_authentication():
        all_answer(fault_tenants.org_id, 503, CONFIG_UNAVAILABLE)
    iam.put_user_policy(
        UserName="analytics-function",
        PolicyName="read-database-secret",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
            }
        ),
    )
    with enable_iam_authentication():
        all_answer(fault_tenants.org_id, 200)


def test_secrets_manager_that_never_answers_is_503_inside_the_function_timeout(
    session_tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_credentials(monkeypatch)
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:analytics-db")
    with silent_server() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{server.port}")
        response, seconds = timed_invoke("overview", session_tenants.org_id)
    print(f"secrets manager silent: {response['statusCode']} in {seconds * 1000:.0f} ms")
    assert_clean_error(response, 503, CONFIG_UNAVAILABLE)
    assert seconds < SECRETS_FAULT_BOUND_SECONDS


# ---- bugs and bad requests ----


def test_a_failing_query_is_a_500_without_sql(session_tenants: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    import overview_queries

    broken = "SELECT no_such_column FROM segments WHERE org_id = :org_id AND name = 'Other-Tenant-Private-Segment'"
    monkeypatch.setattr(overview_queries, "OVERVIEW_SQL", broken)
    response, _ = timed_invoke("overview", session_tenants.org_id)
    assert_clean_error(response, 500, "Internal server error.", "no_such_column")


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_refusal_is_a_detail_object(name: str, session_tenants: Tenants) -> None:
    assert_clean_error(invoke(name, api_event(name, None)), 403, "Forbidden.")
    assert_clean_error(invoke(name, api_event(name, "1 OR 1=1")), 403, "Forbidden.")
    unknown = api_event(name, session_tenants.org_id, path=f"/api/analytics/{name}/../../admin")
    assert_clean_error(invoke(name, unknown), 404, "Not found.")
    # Another method never reaches a function (the gateway answers 405); one that did knows no such route.
    post = api_event(name, session_tenants.org_id, method="POST")
    assert_clean_error(invoke(name, post), 404, "Not found.")
