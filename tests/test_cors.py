"""CORS on every answer a function gives a browser's script: 200, 304, 403, 404, 500, 503.

The answers API Gateway makes itself (401, 403, 404 of an unknown path, 405, 429, 5xx) carry it from the
template's MOCK methods and GatewayResponses (tests/test_template.py) and from the local gateway; tests/test_browser.py
reads them from a real page on another origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from analytics_common import clock
from analytics_common.postgres import postgres_client
from devstack.gateway import HttpRequest
from tests.conftest import Stores
from tests.fault_support import free_port
from tests.gateway_support import stand_in_gateway
from tests.lambda_support import api_event, invoke

ORIGIN = "http://127.0.0.1:5173"
EXPOSED = "ETag,Link,Server-Timing"


def broken_clock() -> datetime:
    raise RuntimeError("bug")


def cors(response: dict[str, Any]) -> dict[str, str]:
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    return {name: value for name, value in headers.items() if name.lower().startswith("access-control-")}


@pytest.mark.parametrize("name", ["overview", "segments", "usage"])
def test_every_function_answer_carries_cors(
    name: str, db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Cors Org"]])
    origin = {"Origin": ORIGIN}
    answers: dict[str, dict[str, Any]] = {}
    ok = invoke(name, api_event(name, org_id, headers=origin))
    if name != "usage":  # usage without a subscription: its 404 is the known path's answer
        answers["200"] = ok
        etag = ok["multiValueHeaders"]["ETag"][0]
        answers["304"] = invoke(name, api_event(name, org_id, headers={**origin, "If-None-Match": etag}))
    else:
        answers["404 (known path)"] = ok
    answers["403"] = invoke(name, api_event(name, None, headers=origin))
    answers["404"] = invoke(name, api_event(name, org_id, path=f"/api/analytics/{name}/nope", headers=origin))
    with monkeypatch.context() as patch:
        patch.setattr(clock, "utc_now", broken_clock)  # a bug: the function's catch-all answers 500
        answers["500"] = invoke(name, api_event(name, org_id, headers=origin))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://analytics:x@127.0.0.1:{free_port()}/analytics")
    postgres_client.cache_clear()
    answers["503"] = invoke(name, api_event(name, org_id, headers=origin))

    expected_status = {"200": 200, "304": 304, "404 (known path)": 404, "403": 403, "404": 404}
    expected_status |= {"500": 500, "503": 503}
    for case, response in answers.items():
        assert response["statusCode"] == expected_status[case], case
        headers = cors(response)
        assert headers["Access-Control-Allow-Origin"] in ("*", ORIGIN), case
        assert headers["Access-Control-Expose-Headers"] == EXPOSED, case


def test_the_local_gateways_own_answers_carry_cors() -> None:
    def function(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "{}"}

    gateway = stand_in_gateway(function)
    origin = ("Origin", ORIGIN)
    preflight = [origin, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "authorization")]
    # An unknown path's preflight succeeds (SAM's preflight on the template's /{proxy+}), then its 404 is readable.
    answer = gateway.handle(HttpRequest("OPTIONS", "/api/analytics/nope/", preflight))
    assert (answer.status, answer.body) == (200, b"")
    assert answer.header("Access-Control-Allow-Origin") in ("*", ORIGIN)
    assert answer.header("Access-Control-Allow-Methods") == "GET,OPTIONS"
    assert "Authorization" in (answer.header("Access-Control-Allow-Headers") or "")
    for request, status in (
        (HttpRequest("GET", "/api/analytics/nope/", [origin, ("Authorization", "Bearer t")]), 404),
        (HttpRequest("GET", "/api/analytics/overview/", [origin]), 401),
        (HttpRequest("DELETE", "/api/analytics/overview/", [origin]), 405),
    ):
        answer = gateway.handle(request)
        assert answer.status == status
        assert answer.header("Access-Control-Allow-Origin") in ("*", ORIGIN)
