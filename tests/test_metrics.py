"""Each endpoint request's CloudWatch metrics (EMF lines on stdout, as Lambda sends them to CloudWatch).

Latency, requests and cold starts by endpoint; store time by endpoint and store; 4xx/5xx by cause.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from analytics_common import metrics
from analytics_common.postgres import postgres_client
from tests.authorizer_support import closed_port_url
from tests.conftest import Stores
from tests.lambda_support import api_event, invoke_json
from tests.sample_tenant import SampleTenant
from tests.test_lean_imports import run_fresh

ROOT_LAYER = metrics.__file__.rsplit("/analytics_common/", 1)[0]


def emf_lines(out: str) -> list[dict[str, Any]]:
    """{metric name: value, plus the dimensions} of every EMF line printed."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        [directive] = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "PlatformAnalytics"
        [dimensions] = directive["Dimensions"]
        names = [metric["Name"] for metric in directive["Metrics"]]
        values = {name: blob[name][0] if isinstance(blob[name], list) else blob[name] for name in names}
        found.append({"dimensions": {d: blob[d] for d in dimensions}, **values})
    return found


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "analytics-overview")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    return "analytics-overview"


def test_a_request_reports_latency_store_times_and_one_cold_start(
    sample_tenant: SampleTenant, service: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "_container", metrics._Container())  # a new container
    capsys.readouterr()
    for _ in range(2):
        status, _body = invoke_json("overview", api_event("overview", sample_tenant.org_id))
        assert status == 200
    lines = emf_lines(capsys.readouterr().out)
    where = {"service": service, "endpoint": "/api/analytics/overview"}
    requests = [line for line in lines if "Latency" in line]
    assert [line["dimensions"] for line in requests] == [where, where]
    assert all(line["Requests"] == 1.0 and line["Latency"] > 0 for line in requests)
    assert ["ColdStart" in line for line in requests] == [True, False]
    stores = sorted(
        (line["dimensions"]["store"], line["dimensions"] == {**where, "store": line["dimensions"]["store"]})
        for line in lines
        if "StoreTime" in line
    )
    assert stores == [("ch", True), ("ch", True), ("pg", True), ("pg", True)]
    assert not any("4xx" in line or "5xx" in line for line in lines)


def test_error_answers_are_counted_by_cause(
    db: Stores, service: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    assert invoke_json("overview", api_event("overview", None))[0] == 403
    assert invoke_json("overview", api_event("overview", 1, path="/api/analytics/nowhere/"))[0] == 404
    monkeypatch.setenv("DATABASE_URL", closed_port_url("/analytics").replace("https://", "postgresql://u:p@"))
    postgres_client.cache_clear()
    assert invoke_json("overview", api_event("overview", 1))[0] == 503
    postgres_client.cache_clear()
    errors = [
        (name, line["dimensions"]["cause"])
        for line in emf_lines(capsys.readouterr().out)
        for name in ("4xx", "5xx")
        if name in line
    ]
    assert errors == [("4xx", "Forbidden"), ("4xx", "NotFound"), ("5xx", "StoreUnavailable")]


def test_metrics_add_no_module_to_a_cold_start() -> None:
    loaded = run_fresh(
        """
        import json
        import analytics_common.config
        from aws_lambda_powertools import Logger
        before = set(sys.modules)
        import analytics_common.metrics
        print(json.dumps({"new": sorted(set(sys.modules) - before)}))
        """,
        [Path(ROOT_LAYER)],
    )
    assert loaded["new"] == ["analytics_common.metrics"]


def test_requests_while_disabled_leave_nothing_behind(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Disabled (`make run`), a request's metrics are dropped, not kept for the next line that is printed."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Dimension 'endpoint' has already been added"
        for latency in (11.0, 12.0):
            metrics.emit_request("/api/analytics/overview", 200, latency, {})
    assert capsys.readouterr().out == ""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    metrics.emit_request("/api/analytics/overview", 200, 13.0, {})
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"Latency"' in text]
    assert line["Latency"] == [13.0]
