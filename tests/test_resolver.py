"""The layer's resolver (analytics_common.api) on routes that do nothing special: what every route gets by itself.

Tenancy before the route body (403, the body never runs), the organization in `app.org_id`, the
caching, timing and security headers, errors mapped to JSON in one place, one access-log line.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from analytics_common import timing
from analytics_common.api import AnalyticsResolver, create_app
from analytics_common.errors import StoreUnavailable
from tests.lambda_support import FakeLambdaContext, api_event

SECURITY = {"X-Content-Type-Options": ["nosniff"], "Strict-Transport-Security": ["max-age=31536000; includeSubDomains"]}
PATH = "/api/analytics/overview"


@pytest.fixture
def probe() -> tuple[AnalyticsResolver, list[int]]:
    """An app with plain routes: one answers the org id it was given, the others fail."""
    app = create_app(Logger(service="probe"))
    calls: list[int] = []

    @app.get(PATH)
    def plain() -> dict[str, Any]:
        calls.append(app.org_id)
        with timing.measure("pg"):
            pass
        return {"org_id": app.org_id}

    @app.get("/fails")
    def fails() -> None:
        raise StoreUnavailable("Database unavailable.")

    @app.get("/crashes")
    def crashes() -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    return app, calls


def call(app: AnalyticsResolver, org_id: int | str | None, path: str = PATH, **headers: str) -> dict[str, Any]:
    return app.resolve(api_event("overview", org_id, path=path, headers=headers or None), FakeLambdaContext())


@pytest.mark.parametrize("org_id", [None, "", "x", "0", "-1", "1e3"])
def test_no_organization_is_403_and_the_route_body_never_runs(
    probe: tuple[AnalyticsResolver, list[int]], org_id: str | None
) -> None:
    app, calls = probe
    response = call(app, org_id)
    assert (response["statusCode"], json.loads(response["body"])) == (403, {"detail": "Forbidden."})
    assert calls == []
    assert SECURITY.items() <= response["multiValueHeaders"].items()
    assert "ETag" not in response["multiValueHeaders"]


def test_the_route_gets_the_organization_and_the_answer_its_headers(
    probe: tuple[AnalyticsResolver, list[int]],
) -> None:
    app, calls = probe
    response = call(app, 42)
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"org_id": 42})
    assert calls == [42]
    headers = response["multiValueHeaders"]
    assert SECURITY.items() <= headers.items()
    assert headers["Cache-Control"] == ["private, max-age=60"]
    assert headers["Vary"] == ["Authorization, Accept-Encoding"]
    assert headers["Server-Timing"][0].startswith("pg;dur=")
    [etag] = headers["ETag"]
    again = call(app, 42, **{"If-None-Match": etag})
    assert (again["statusCode"], again["body"]) == (304, "")
    assert app.context == {}  # nothing of one request is left for the next
    assert call(app, 7)["body"] == '{"org_id":7}'


def test_errors_are_mapped_to_json_in_one_place(probe: tuple[AnalyticsResolver, list[int]]) -> None:
    app, _ = probe
    for path, status, detail in [
        ("/fails", 503, "Database unavailable."),
        ("/crashes", 500, "Internal server error."),
        ("/nowhere", 404, "Not found."),
    ]:
        response = call(app, 42, path=path)
        assert (response["statusCode"], json.loads(response["body"])) == (status, {"detail": detail})
        assert SECURITY.items() <= response["multiValueHeaders"].items()
        assert "SELECT" not in response["body"]


def test_one_access_log_line_per_request(probe: tuple[AnalyticsResolver, list[int]]) -> None:
    app, _ = probe
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(app.logger.registered_formatter)
    logging.getLogger(app.logger.name).addHandler(handler)  # the standard logger under the Powertools one
    try:
        call(app, None)
        call(app, 5)
    finally:
        logging.getLogger(app.logger.name).removeHandler(handler)
    forbidden, ok = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in (forbidden, ok)] == ["request", "request"]
    assert (forbidden["status"], forbidden.get("org_id"), ok["status"], ok["org_id"]) == (403, None, 200, "5")
