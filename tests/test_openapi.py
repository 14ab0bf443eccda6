"""openapi.yaml: a valid OpenAPI 3.1 document, in step with template.yaml, and true of the real answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from analytics_common.endpoints import ENDPOINTS, NAMES, Endpoint
from devstack.gateway import HttpRequest
from tests.conftest import Stores
from tests.gateway_support import local_gateway
from tests.lambda_support import api_event, invoke, invoke_json
from tests.sample_tenant import SampleTenant
from tests.test_template import load_template

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = yaml.safe_load((ROOT / "openapi.yaml").read_text())


def response_schema(path: str, status: str) -> dict[str, Any]:
    """The JSON schema of one response, able to resolve the document's `#/components/...` references."""
    response = OPENAPI["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return {**response["content"]["application/json"]["schema"], "components": OPENAPI["components"]}


def check(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)


def test_openapi_document_is_valid() -> None:
    validate(OPENAPI)  # raises on any violation of the OpenAPI 3.1 schema
    assert OPENAPI["openapi"].startswith("3.1")


def test_openapi_describes_exactly_the_endpoints_of_the_template() -> None:
    template_paths = {
        event["Properties"]["Path"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    }
    assert {f"{path}/" for path in template_paths} == set(OPENAPI["paths"]) == {f"/api/analytics/{n}/" for n in NAMES}
    for path, operations in OPENAPI["paths"].items():
        assert set(operations) == {"get"}, path
        assert {"200", "401", "403", "404", "405", "429", "503", "504"} <= set(operations["get"]["responses"]), path
    assert OPENAPI["security"] == [{"bearerAuth": []}]
    scheme = OPENAPI["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_schemas_reject_what_the_contract_forbids() -> None:
    """The schemas are strict: a missing key, an extra key, a wrong type or timestamp format all fail."""
    overview = {"segment_count": 1, "total_members": 2, "events_30d": 3, "ai_credits_used": 4, "ai_credits_limit": -1}
    schema = response_schema("/api/analytics/overview/", "200")
    check(overview, schema)
    for bad in (
        {k: v for k, v in overview.items() if k != "events_30d"},
        {**overview, "extra": 1},
        {**overview, "total_members": "2"},
        {**overview, "ai_credits_limit": -2},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check(bad, schema)
    segment = {"id": 1, "name": "a", "member_count": 0, "last_computed_at": "2026-05-02T14:32:00Z", "trend": []}
    check([segment, {**segment, "last_computed_at": None}], response_schema("/api/analytics/segments/", "200"))
    for stamp in ("2026-05-02T14:32:00.123Z", "2026-05-02T14:32:00+00:00", "2026-05-02"):
        with pytest.raises(jsonschema.ValidationError):
            check([{**segment, "last_computed_at": stamp}], response_schema("/api/analytics/segments/", "200"))
    with pytest.raises(jsonschema.ValidationError):
        check({"detail": "x", "trace": "..."}, response_schema("/api/analytics/usage/", "404"))


@pytest.mark.parametrize("name", NAMES)
def test_every_endpoint_answers_what_its_schema_says(name: str, sample_tenant: SampleTenant) -> None:
    status, body = invoke_json(name, api_event(name, sample_tenant.org_id))
    assert status == 200, body
    check(body, response_schema(f"/api/analytics/{name}/", "200"))
    assert body == sample_tenant.expected[name]


def declared_headers(path: str, status: str) -> dict[str, dict[str, Any]]:
    """Header name -> its declaration (references resolved), of one response."""
    response = OPENAPI["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return {
        name: OPENAPI["components"]["headers"][header["$ref"].rsplit("/", 1)[-1]] if "$ref" in header else header
        for name, header in (response.get("headers") or {}).items()
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_endpoint_answers_the_headers_its_200_and_304_declare(name: str, sample_tenant: SampleTenant) -> None:
    path = f"/api/analytics/{name}/"
    first = invoke(name, api_event(name, sample_tenant.org_id))
    (etag,) = first["multiValueHeaders"]["ETag"]
    again = invoke(name, api_event(name, sample_tenant.org_id, headers={"If-None-Match": etag}))
    assert (first["statusCode"], again["statusCode"], again["body"]) == (200, 304, "")
    for status, response in (("200", first), ("304", again)):
        answered = {key: values[-1] for key, values in response["multiValueHeaders"].items()}
        for header, declaration in declared_headers(path, status).items():
            if declaration.get("required"):
                assert header in answered, (status, header)
            if header in answered:
                check(answered[header], declaration["schema"])


@pytest.mark.parametrize("name", NAMES)
def test_every_endpoint_error_answers_match_the_error_schema(name: str) -> None:
    """The functions' 403 and 404, and the gateway's own 401, 404 and 405 (the template's answers)."""
    path = f"/api/analytics/{name}/"
    no_org_status, no_org = invoke_json(name, api_event(name, None))
    unknown_status, unknown = invoke_json(name, api_event(name, 1, path=f"/api/analytics/{name}/nope"))
    assert (no_org_status, unknown_status) == (403, 404)
    check(no_org, response_schema(path, "403"))
    check(unknown, response_schema(path, "404"))
    gateway = local_gateway()
    for method, target, status in [("DELETE", path, "405"), ("GET", path, "401"), ("GET", path + "nope", "404")]:
        answer = gateway.handle(HttpRequest(method, target, []))
        assert str(answer.status) == status
        check(json.loads(answer.body), response_schema(path, status))


def test_usage_without_subscription_is_a_documented_404(db: Stores, ids: Iterator[int], now: datetime) -> None:
    status, body = invoke_json("usage", api_event("usage", next(ids)))
    assert status == 404
    check(body, response_schema("/api/analytics/usage/", "404"))


def declared_parameters(path: str) -> dict[str, dict[str, Any]]:
    """Query parameter name -> its declaration, for one operation."""
    declared = {}
    for entry in OPENAPI["paths"][path]["get"].get("parameters", []):
        parameter = OPENAPI["components"]["parameters"][entry["$ref"].rsplit("/", 1)[-1]] if "$ref" in entry else entry
        assert parameter["in"] == "query" and parameter["required"] is False
        declared[parameter["name"]] = parameter
    return declared


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=NAMES)
def test_openapi_declares_exactly_the_parameters_each_route_takes(endpoint: Endpoint) -> None:
    from tests.lambda_support import function_module

    path = endpoint.path
    takes = function_module(endpoint.name).app.query_parameters[endpoint.resource]
    assert sorted(declared_parameters(path)) == sorted(takes)
    responses = OPENAPI["paths"][path]["get"]["responses"]
    assert ("400" in responses) == bool(takes)
    assert ("Link" in responses["200"].get("headers", {})) == ("cursor" in takes)


def test_openapi_time_zones_are_the_bundled_tz_database() -> None:
    from analytics_common import window

    enum = OPENAPI["components"]["schemas"]["TimeZone"]["enum"]
    assert enum == sorted(window.zone_names())
    assert window.tz_database_version() in OPENAPI["components"]["parameters"]["Tz"]["description"]
