"""The local gateway in tests: served on a free port, over a small demo dataset on the session's stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from analytics_common.clickhouse import clickhouse_client
from analytics_common.postgres import postgres_client
from devstack import demo_data
from devstack.gateway import LocalGateway
from devstack.lambda_runtime import Handler
from devstack.server import make_server
from devstack.template import TEMPLATE, load_template, read_api
from tests.conftest import Stores


@cache
def local_gateway() -> LocalGateway:
    """The gateway of template.yaml with the real functions, for answers that touch no store (405, 401...)."""
    return LocalGateway()


@contextmanager
def serving(gateway: LocalGateway, **server_options: float) -> Iterator[str]:
    server = make_server(gateway, "127.0.0.1", 0, **server_options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def load_small_demo(stores: Stores, database: str, marker_dir: Path, api_key: str) -> demo_data.LoadResult:
    """The demo dataset at 2% scale in its own databases of the session's Postgres and chDB path."""
    chdb_dir = Path(urlsplit(stores.clickhouse_url).path)
    return demo_data.ensure_loaded(
        admin_url=stores.database_url,
        clickhouse_url=f"chdb://{chdb_dir}?database={database}",
        database=database,
        marker=marker_dir / "demo-data.json",
        now=datetime.now(UTC),
        demo_api_key=api_key,
        scale=0.02,
    )


def use_demo_stack(
    monkeypatch: pytest.MonkeyPatch, demo: demo_data.LoadResult, jwt_secret: str, usage_key: str
) -> None:
    """Point the in-process functions (authorizer included) at `demo`, with an HS256 secret."""
    monkeypatch.setenv("DATABASE_URL", demo.database_url)
    monkeypatch.setenv("CLICKHOUSE_URL", demo.clickhouse_url)
    monkeypatch.setenv("JWT_SECRET", jwt_secret)
    monkeypatch.setenv("JWT_ALGORITHMS", "HS256")
    monkeypatch.setenv("FRONTEND_USAGE_KEY", usage_key)
    for name in ("DATABASE_SECRET_ARN", "CLICKHOUSE_SECRET_ARN", "JWT_SECRET_ARN", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()


def stand_in_gateway(
    function: Handler, template: Path = TEMPLATE, *, authorizer: Handler | None = None, **options: Any
) -> LocalGateway:
    """The local gateway with `function` behind every route and `authorizer` (by default one allowing
    everything, org 7); `options` go to LocalGateway (its clock, parameter overrides...).

    No real function is imported, so none is first imported under the gateway's environment here.
    """

    def allow_all(event: dict[str, Any], context: Any) -> dict[str, Any]:
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
        return {
            "principalId": "user:ann",
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": {"org_id": "7"},
            "usageIdentifierKey": "usage-1",
        }

    routed = {route.function for route in read_api(load_template(template)).routes}
    handlers = {"AuthorizerFunction": authorizer or allow_all, **dict.fromkeys(routed, function)}
    return LocalGateway(template, handlers=handlers, **options)
