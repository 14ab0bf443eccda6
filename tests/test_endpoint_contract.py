"""What every endpoint shares (docs/api.md), one parametrized test each over analytics_common.endpoints.

The trailing slash is optional; a caller without a valid organization gets 403 before any store is
asked; any method but GET is the gateway's 405 (the template's MOCK method) and OPTIONS its CORS
preflight; a 200 carries the caching, timing and security headers and answers a matching
`If-None-Match` with 304; every error is JSON; each endpoint sends a fixed number of statements to
each store. What is particular to one endpoint stays in its own test file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from analytics_common.endpoints import ENDPOINTS, Endpoint
from devstack.gateway import HttpRequest
from tests.gateway_support import local_gateway
from tests.lambda_support import api_event, invoke
from tests.sample_tenant import SampleTenant

# Statements per request, per store (with the query cache off, as here).
ROUND_TRIPS = {
    "overview": {"postgres": 1, "clickhouse": 2},  # ClickHouse: current members (cacheable), events
    "segments": {"postgres": 1, "clickhouse": 1},
    "overlap": {"postgres": 1, "clickhouse": 1},
    "activations": {"postgres": 1, "clickhouse": 0},
    "copilot": {"postgres": 1, "clickhouse": 0},
    # ClickHouse: the period's event count, then the distinct users keyed by that count (cacheable).
    "usage": {"postgres": 1, "clickhouse": 2},
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
INVALID_ORG_IDS = [None, "", "abc", "0", "-3", "1.5", "١٢", "99999999999999999999", " 7", "7 "]
OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE", "HEAD", "TRACE", "FOO"]

each_endpoint = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    """A proxy answer's headers, one value each (the resolver writes them as multiValueHeaders)."""
    single = dict(response.get("headers") or {})
    single.update({name: ", ".join(values) for name, values in (response.get("multiValueHeaders") or {}).items()})
    return single


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


def test_every_endpoint_is_covered() -> None:
    assert set(ROUND_TRIPS) == {endpoint.name for endpoint in ENDPOINTS}


@each_endpoint
def test_both_paths_answer_the_callers_data_in_fixed_round_trips(
    endpoint: Endpoint, sample_tenant: SampleTenant, round_trips: dict[str, int]
) -> None:
    for path in (endpoint.path, endpoint.resource):
        before = dict(round_trips)
        response = invoke(endpoint.name, api_event(endpoint.name, sample_tenant.org_id, path=path))
        assert (response["statusCode"], body_of(response)) == (200, sample_tenant.expected[endpoint.name])
        assert {store: count - before[store] for store, count in round_trips.items()} == ROUND_TRIPS[endpoint.name]


@each_endpoint
@pytest.mark.parametrize("org_id", INVALID_ORG_IDS)
def test_without_a_valid_organization_is_403_before_any_store(
    endpoint: Endpoint, org_id: str | None, round_trips: dict[str, int]
) -> None:
    # No `db` fixture either: no store is configured, so a query would be a 500, not a 403.
    response = invoke(endpoint.name, api_event(endpoint.name, org_id))
    assert (response["statusCode"], body_of(response)) == (403, {"detail": "Forbidden."})
    assert round_trips == {"postgres": 0, "clickhouse": 0}
    assert SECURITY_HEADERS.items() <= headers_of(response).items()


@each_endpoint
def test_a_200_carries_caching_timing_and_security_headers(endpoint: Endpoint, sample_tenant: SampleTenant) -> None:
    response = invoke(endpoint.name, api_event(endpoint.name, sample_tenant.org_id))
    headers = headers_of(response)
    assert response["statusCode"] == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "private, max-age=60"
    assert headers["Vary"] == "Authorization, Accept-Encoding"
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', headers["ETag"])
    stores = {"pg" if store == "postgres" else "ch" for store, n in ROUND_TRIPS[endpoint.name].items() if n}
    timed = {part.split(";")[0].strip() for part in headers["Server-Timing"].split(",") if ";dur=" in part}
    assert timed == stores  # (a `cache;desc=...` entry says what the result cache did)
    assert SECURITY_HEADERS.items() <= headers.items()

    again = invoke(
        endpoint.name, api_event(endpoint.name, sample_tenant.org_id, headers={"If-None-Match": headers["ETag"]})
    )
    assert (again["statusCode"], again["body"]) == (304, "")
    assert headers_of(again)["ETag"] == headers["ETag"]
    assert SECURITY_HEADERS.items() <= headers_of(again).items()


@each_endpoint
def test_an_unknown_path_below_an_endpoint_is_404_json(endpoint: Endpoint) -> None:
    response = invoke(endpoint.name, api_event(endpoint.name, 1, path=endpoint.path + "nope"))
    assert (response["statusCode"], body_of(response)) == (404, {"detail": "Not found."})
    assert SECURITY_HEADERS.items() <= headers_of(response).items()
    answer = local_gateway().handle(HttpRequest("GET", endpoint.path + "nope", [("Authorization", "Bearer x")]))
    assert (answer.status, json.loads(answer.body)) == (404, {"detail": "Not found."})


@each_endpoint
@pytest.mark.parametrize("method", OTHER_METHODS)
def test_another_method_is_the_gateways_405_without_authorization(endpoint: Endpoint, method: str) -> None:
    for path in (endpoint.path, endpoint.resource):
        for headers in ([], [("Authorization", "Bearer not-even-checked")]):
            answer = local_gateway().handle(HttpRequest(method, path, headers, b'{"org_id": 3}'))
            assert (answer.status, json.loads(answer.body)) == (405, {"detail": "Method not allowed."})
            assert answer.header("Allow") == "GET, OPTIONS"
            assert answer.header("Content-Type") == "application/json"
            assert all(answer.header(name) == value for name, value in SECURITY_HEADERS.items())


@each_endpoint
def test_the_preflight_is_the_gateways_own(endpoint: Endpoint) -> None:
    preflight = [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")]
    for path in (endpoint.path, endpoint.resource):
        answer = local_gateway().handle(HttpRequest("OPTIONS", path, preflight))
        assert (answer.status, answer.body) == (200, b"")
        assert answer.header("Access-Control-Allow-Methods") == "GET,OPTIONS"
        assert "Authorization" in (answer.header("Access-Control-Allow-Headers") or "")
