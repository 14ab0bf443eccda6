"""`make load` in small: 4 clients, 100 requests through the gateway over real HTTP, on the session's stores.

The same code as `python -m loadtest.load` (plan, clients, body check, connection sampler),
with the gateway served in this process over a small demo dataset in its own databases.
No timing is asserted: zero errors and the Postgres connection bound only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from analytics_common.api_keys import generate_api_key
from analytics_common.clickhouse import clickhouse_client
from analytics_common.endpoints import ENDPOINTS
from analytics_common.postgres import postgres_client
from devstack import demo_data, run
from devstack.gateway import LocalGateway
from loadtest.common import (
    LOCAL_GATEWAY_WORKERS,
    credentials,
    request_pairs,
)
from loadtest.load import run_load
from tests.conftest import Stores
from tests.gateway_support import load_small_demo, serving, use_demo_stack

DATABASE = "load_smoke_demo"
JWT_SECRET = "load-smoke-secret-0123456789abcdef0123"
DEMO_KEY = generate_api_key()


@pytest.fixture(scope="module")
def smoke_demo(session_stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> demo_data.LoadResult:
    return load_small_demo(session_stores, DATABASE, tmp_path_factory.mktemp("load-smoke"), DEMO_KEY)


@pytest.fixture
def gateway_url(smoke_demo: demo_data.LoadResult, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    use_demo_stack(monkeypatch, smoke_demo, JWT_SECRET, "load-smoke-usage-key")
    try:
        with serving(LocalGateway()) as url:
            yield url
    finally:
        postgres_client().close()  # the connection the functions kept; the next test's client opens its own
        postgres_client.cache_clear()
        clickhouse_client.cache_clear()


def test_a_small_mixed_load_has_no_errors_and_one_connection(
    gateway_url: str, smoke_demo: demo_data.LoadResult, session_stores: Stores
) -> None:
    now = datetime.now(UTC)
    endpoints = ENDPOINTS
    creds = credentials(
        demo_jwt=run.demo_jwt(JWT_SECRET, now),
        demo_api_key=DEMO_KEY,
        jwt_secret=JWT_SECRET,
        database_url=smoke_demo.database_url,
        now=now,
    )
    assert {c.kind for c in creds} == {"jwt", "api_key"}
    assert {c.org_id for c in creds} == {org.id for org in demo_data.DEMO_ORGS}
    pairs = request_pairs(creds, endpoints, smoke_demo.database_url, now.date(), say=lambda _: None)
    messages: list[str] = []

    result = run_load(
        gateway_url,
        pairs,
        clients=4,
        requests=100,
        admin_url=session_stores.database_url,
        database=DATABASE,
        gateway_pid=None,
        say=messages.append,
    )

    assert messages == []  # every pair answered 200 before the load
    assert [o.problem for o in result.problems] == []
    assert len(result.outcomes) == 100
    assert {o.endpoint for o in result.outcomes} == {e.name for e in endpoints}
    assert {o.credential for o in result.outcomes} == {c.label for c in creds}
    assert {o.status for o in result.outcomes} <= {200, 304}
    assert result.connection_samples > 0
    # The functions' one cached connection is open throughout (opened by the requests before the load).
    assert result.max_connections == LOCAL_GATEWAY_WORKERS == 1
    assert result.failures(check_memory=False) == []
