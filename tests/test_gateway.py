"""The local API Gateway and the stack of `make run`, over real HTTP on 127.0.0.1.

The routes, the authorizer and the gateway's own answers come from template.yaml. Requests go
through the real authorizer (functions/authorizer/app.py). Tests of the gateway's own mechanics
(policies, caching, event shapes) replace functions with small handlers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.client import HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from analytics_common.api_keys import generate_api_key, issued_key_prefix
from analytics_common.clickhouse import clickhouse_client
from analytics_common.endpoints import ENDPOINTS
from analytics_common.postgres import postgres_client
from devstack import demo_data, run
from devstack.gateway import LocalGateway
from devstack.iam import method_arn, policy_allows
from devstack.template import load_template, read_api
from tests.conftest import Stores
from tests.gateway_support import serving
from tests.lambda_support import api_event, invoke_json

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "gateway-test-secret-0123456789abcdef"
OVERVIEW = "/api/analytics/overview/"
ARN = method_arn("GET", "/api/analytics/overview")


# ---------------------------------------------------------------------------- helpers


def allow(resource: str | list[str], org_id: Any, principal: str, auth_type: str, usage_key: str) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": {"org_id": str(org_id), "principal_id": principal, "auth_type": auth_type},
        "usageIdentifierKey": usage_key,
    }


def http(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)  # noqa: S310 - local
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(org_id: Any, *, secret: str = JWT_SECRET, expires_in: timedelta = timedelta(hours=1)) -> str:
    exp = datetime.now().astimezone() + expires_in
    return jwt.encode({"sub": "tester", "org_id": org_id, "exp": int(exp.timestamp())}, secret, algorithm="HS256")


def assert_gateway_error(status: int, headers: dict[str, str], body: bytes, expected_status: int, detail: str) -> None:
    assert (status, json.loads(body)) == (expected_status, {"detail": detail})
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


# ---------------------------------------------------------------------------- the demo stores


@pytest.fixture(scope="module")
def demo_stores(session_stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> demo_data.LoadResult:
    """A small demo dataset in its own databases on the session's servers (and its chDB path)."""
    database = "gateway_demo"
    chdb_dir = Path(urlsplit(session_stores.clickhouse_url).path)
    return demo_data.ensure_loaded(
        admin_url=session_stores.database_url,
        clickhouse_url=f"chdb://{chdb_dir}?database={database}",
        database=database,
        marker=tmp_path_factory.mktemp("gateway") / "demo-data.json",
        now=datetime.now().astimezone(),
        demo_api_key=DEMO_KEY,
        scale=0.02,
    )


DEMO_KEY = generate_api_key()


@pytest.fixture
def demo_env(demo_stores: demo_data.LoadResult, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions (and the authorizer) configured as `make run` configures them."""
    monkeypatch.setenv("DATABASE_URL", demo_stores.database_url)
    monkeypatch.setenv("CLICKHOUSE_URL", demo_stores.clickhouse_url)
    monkeypatch.setenv("JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("JWT_ALGORITHMS", "HS256")
    monkeypatch.setenv("FRONTEND_USAGE_KEY", "test-frontend-usage-key")
    for name in ("DATABASE_SECRET_ARN", "CLICKHOUSE_SECRET_ARN", "JWT_SECRET_ARN", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()
    yield
    postgres_client.cache_clear()
    clickhouse_client.cache_clear()


@pytest.fixture
def api_url(demo_env: None) -> Iterator[str]:
    with serving(LocalGateway()) as url:
        yield url


# ---------------------------------------------------------------------------- the template


def test_routes_and_authorizer_come_from_the_template() -> None:
    template = load_template()
    resources = template["Resources"]
    spec = read_api(template)
    expected_routes = set()
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        function = spec.functions[name]
        assert function.module == "functions." + props["CodeUri"].strip("/").split("/")[-1] + ".app"
        assert function.handler == "lambda_handler"
        variables = (props.get("Environment") or {}).get("Variables") or {}
        if "POWERTOOLS_SERVICE_NAME" in variables:
            assert function.environment["POWERTOOLS_SERVICE_NAME"] == variables["POWERTOOLS_SERVICE_NAME"]
        for event in (props.get("Events") or {}).values():
            path, method = event["Properties"]["Path"], event["Properties"]["Method"]
            expected_routes.add(("/" + path.strip("/"), method.upper(), name))
    assert {(route.path, route.method, route.function) for route in spec.routes} == expected_routes
    assert expected_routes == {(endpoint.resource, "GET", endpoint.function) for endpoint in ENDPOINTS}
    # API Gateway's own answers on every endpoint path: the DefinitionBody's MOCK ANY and the Cors preflight.
    canned = {(answer.path, answer.method): answer for answer in spec.canned}
    paths = [*(endpoint.resource for endpoint in ENDPOINTS), "/{proxy+}"]  # and any other path: 404
    assert set(canned) == {(path, method) for path in paths for method in ("ANY", "OPTIONS")}
    assert (canned[("/{proxy+}", "ANY")].status, canned[("/{proxy+}", "OPTIONS")].status) == (404, 200)
    for endpoint in ENDPOINTS:
        refusal, preflight = canned[(endpoint.resource, "ANY")], canned[(endpoint.resource, "OPTIONS")]
        assert (refusal.status, json.loads(refusal.body)) == (405, {"detail": "Method not allowed."})
        assert dict(refusal.headers) == {"Allow": "GET, OPTIONS", "Access-Control-Allow-Origin": "*"}
        assert (preflight.status, preflight.body) == (200, "")
    assert spec.gateway_responses["UNAUTHORIZED"].status == 401
    assert spec.gateway_responses["MISSING_AUTHENTICATION_TOKEN"].status == 404

    auth = resources["AnalyticsApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert spec.authorizer is not None
    assert spec.authorizer.function == authorizer["FunctionArn"]["GetAtt"].split(".")[0] == "AuthorizerFunction"
    assert spec.authorizer.identity_headers == ("Authorization",)
    ttl = authorizer["Identity"]["ReauthorizeEvery"]
    if isinstance(ttl, dict):
        ttl = template["Parameters"][ttl["Ref"]]["Default"]
    assert spec.authorizer.ttl_seconds == ttl
    assert spec.functions["AuthorizerFunction"].module == "functions.authorizer.app"


# ---------------------------------------------------------------------------- through the real authorizer


def test_demo_jwt_gets_what_a_direct_call_gets(api_url: str, now: datetime) -> None:
    expected_status, expected = invoke_json("overview", api_event("overview", demo_data.DEMO_ORG_ID))
    assert expected_status == 200 and expected["segment_count"] > 0 and expected["events_30d"] > 0
    token = run.demo_jwt(JWT_SECRET, now)
    for path in (OVERVIEW, OVERVIEW.rstrip("/")):  # the trailing slash is optional
        status, headers, body = http(api_url + path, headers=bearer(token))
        assert (status, json.loads(body)) == (200, expected)
        assert headers["Content-Type"] == "application/json"


def test_demo_api_key_gets_the_overview(api_url: str, now: datetime) -> None:
    _, expected = invoke_json("overview", api_event("overview", demo_data.DEMO_ORG_ID))
    status, _, body = http(api_url + OVERVIEW, headers=bearer(DEMO_KEY))
    assert (status, json.loads(body)) == (200, expected)


def test_another_org_sees_its_own_figures(api_url: str, now: datetime) -> None:
    _, expected = invoke_json("overview", api_event("overview", 3))
    status, _, body = http(api_url + OVERVIEW, headers=bearer(token_for(3)))
    assert (status, json.loads(body)) == (200, expected)
    _, org_one = invoke_json("overview", api_event("overview", 1))
    assert expected != org_one


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {token_for(1, secret='another-secret-that-is-long-enough-for-hs256')}"},
        {"Authorization": f"Bearer {token_for(1, expires_in=timedelta(minutes=-5))}"},
        {"Authorization": "Bearer pa_nosuchk1_" + "x" * 40},
        {"Authorization": "Bearer " + DEMO_KEY[:-1] + ("A" if DEMO_KEY[-1] != "A" else "B")},
    ],
    ids=["none", "empty", "no-token", "garbage", "basic", "wrong-secret", "expired", "unknown-key", "wrong-key"],
)
def test_bad_or_missing_authorization_is_401(api_url: str, headers: dict[str, str]) -> None:
    status, response_headers, body = http(api_url + OVERVIEW, headers=headers)
    assert_gateway_error(status, response_headers, body, 401, "Unauthorized.")
    assert response_headers["WWW-Authenticate"] == "Bearer"


def test_unknown_path_is_404(api_url: str) -> None:
    for path in ("/api/analytics/nope/", "/", "/api/analytics/overview/extra"):
        status, headers, body = http(api_url + path, headers=bearer(DEMO_KEY))
        assert_gateway_error(status, headers, body, 404, "Not found.")
    status, headers, body = http(api_url + "/api/analytics/nope/")  # no authorization needed to get a 404
    assert_gateway_error(status, headers, body, 404, "Not found.")


def test_another_method_is_405_from_the_template_without_authorization() -> None:
    """The DefinitionBody's MOCK `ANY` method answers, as in API Gateway: no authorizer, no function."""
    recorder = Recorder()
    with serving(recorder.gateway()) as url:
        for method, headers in [("POST", bearer("t")), ("DELETE", {}), ("PUT", bearer("t")), ("HEAD", {})]:
            status, response_headers, body = http(url + OVERVIEW, method=method, headers=headers, body=b"{}")
            assert status == 405
            if method != "HEAD":
                assert json.loads(body) == {"detail": "Method not allowed."}
            assert response_headers["Allow"] == "GET, OPTIONS"
            assert response_headers["Access-Control-Allow-Origin"] == "*"
            assert response_headers["X-Content-Type-Options"] == "nosniff"
    assert recorder.events == {"authorizer": [], "function": []}


def test_preflight_is_the_templates_cors_without_authorization() -> None:
    recorder = Recorder()
    with serving(recorder.gateway()) as url:
        status, headers, body = http(
            url + OVERVIEW,
            method="OPTIONS",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
    assert (status, body) == (200, b"")
    assert headers["Access-Control-Allow-Origin"] == "*"  # AllowedOrigins' default
    assert headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,If-None-Match"
    assert headers["Access-Control-Max-Age"] == "600"
    assert recorder.events == {"authorizer": [], "function": []}


def test_the_log_never_shows_the_token(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    http(api_url + OVERVIEW + "?secret=query-value", headers=bearer(DEMO_KEY))
    err = capsys.readouterr().err
    assert "GET /api/analytics/overview/ 200" in err
    assert DEMO_KEY not in err and "query-value" not in err


# ---------------------------------------------------------------------------- the gateway's own mechanics


class Recorder:
    """Stand-in functions that record their events and answer as told."""

    def __init__(self, authorizer_answer: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {"authorizer": [], "function": []}
        self.authorizer_answer = authorizer_answer or (
            lambda event: allow("arn:aws:execute-api:*:*:*/*/GET/api/analytics/*", 7, "user:ann", "jwt", "usage-1")
        )
        self.function_answer: Callable[[dict[str, Any], Any], Any] = lambda event, context: {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"ok": True}),
        }

    def authorizer(self, event: dict[str, Any], context: Any) -> Any:
        self.events["authorizer"].append(event)
        return self.authorizer_answer(event)

    def function(self, event: dict[str, Any], context: Any) -> Any:
        self.events["function"].append(event)
        return self.function_answer(event, context)

    def gateway(self, **kwargs: Any) -> LocalGateway:
        handlers = {"AuthorizerFunction": self.authorizer, "OverviewFunction": self.function}
        return LocalGateway(handlers=handlers, **kwargs)


def test_events_have_the_api_gateway_shapes() -> None:
    recorder = Recorder()
    with serving(recorder.gateway()) as url:
        status, _, _ = http(
            url + "/api/analytics/overview/?a=1&a=2&b=",
            headers={**bearer("token-1"), "X-Custom": "yes", "Origin": "http://localhost:5173"},
        )
    assert status == 200
    [auth_event] = recorder.events["authorizer"]
    assert auth_event["type"] == "REQUEST"
    assert auth_event["methodArn"] == "arn:aws:execute-api:local:000000000000:localapi/local/GET/api/analytics/overview"
    assert auth_event["headers"]["Authorization"] == "Bearer token-1"
    assert auth_event["multiValueHeaders"]["Authorization"] == ["Bearer token-1"]
    assert (auth_event["resource"], auth_event["path"], auth_event["httpMethod"]) == (
        "/api/analytics/overview",
        "/api/analytics/overview/",
        "GET",
    )
    assert auth_event["queryStringParameters"] == {"a": "2", "b": ""}
    assert "authorizer" not in auth_event["requestContext"]

    [event] = recorder.events["function"]
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/api/analytics/overview",
        "/api/analytics/overview/",
        "GET",
    )
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"]["X-Custom"] == "yes"
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"], context["stage"]) == (
        "/api/analytics/overview",
        "GET",
        "local",
    )
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["apiKey"] == "usage-1"
    authorizer = dict(context["authorizer"])
    assert isinstance(authorizer.pop("integrationLatency"), int)
    assert authorizer == {"org_id": "7", "principal_id": "user:ann", "auth_type": "jwt", "principalId": "user:ann"}


@pytest.mark.parametrize(
    ("statements", "status"),
    [
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN}], 200),
        ([{"Effect": "Allow", "Action": "execute-api:*", "Resource": ["arn:aws:execute-api:*"]}], 200),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN + "/more"}], 403),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN.replace("GET", "POST")}], 403),
        ([{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*"}], 403),
        (
            [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
                {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*/GET/api/analytics/overview"},
            ],
            403,
        ),
        ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], 403),
        ([], 403),
    ],
)
def test_the_policy_decides(statements: list[dict[str, Any]], status: int) -> None:
    def answer(event: dict[str, Any]) -> dict[str, Any]:
        decision = allow("*", 7, "user:ann", "jwt", "usage-1")
        decision["policyDocument"]["Statement"] = statements
        return decision

    recorder = Recorder(answer)
    with serving(recorder.gateway()) as url:
        got, headers, body = http(url + OVERVIEW, headers=bearer("t"))
    assert got == status
    if status == 403:
        assert_gateway_error(got, headers, body, 403, "Forbidden.")
        assert recorder.events["function"] == []


def test_policy_wildcards_match_like_iam() -> None:
    resource = "arn:aws:execute-api:?ocal:*"
    policy = {"Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource}}
    assert policy_allows(policy, ARN)
    assert not policy_allows({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*"}]}, ARN)


def test_authorizer_failures() -> None:
    def unauthorized(event: dict[str, Any]) -> Any:
        raise Exception("Unauthorized")

    def broken(event: dict[str, Any]) -> Any:
        raise RuntimeError("bug")

    for answer, status, detail in [
        (unauthorized, 401, "Unauthorized."),
        (broken, 500, "Internal server error."),
        (lambda event: {"principalId": "x"}, 500, "Internal server error."),  # no policy
        (lambda event: {**allow("*", 1, "x", "jwt", "k"), "context": {"a": {"b": 1}}}, 500, "Internal server error."),
    ]:
        recorder = Recorder(answer)
        with serving(recorder.gateway()) as url:
            got, headers, body = http(url + OVERVIEW, headers=bearer("t"))
        assert_gateway_error(got, headers, body, status, detail)
        assert recorder.events["function"] == []


def test_decisions_are_cached_per_token_for_the_ttl() -> None:
    clock = [1000.0]
    recorder = Recorder()
    with serving(recorder.gateway(monotonic=lambda: clock[0])) as url:
        for token in ("a", "a", "b", "a"):
            assert http(url + OVERVIEW, headers=bearer(token))[0] == 200
        assert len(recorder.events["authorizer"]) == 2
        clock[0] += 299
        assert http(url + OVERVIEW, headers=bearer("a"))[0] == 200
        assert len(recorder.events["authorizer"]) == 2
        clock[0] += 2  # past ReauthorizeEvery (300 s)
        assert http(url + OVERVIEW, headers=bearer("a"))[0] == 200
        assert len(recorder.events["authorizer"]) == 3
    assert len(recorder.events["function"]) == 6


def test_function_answers_are_written_back() -> None:
    recorder = Recorder()
    recorder.function_answer = lambda event, context: {
        "statusCode": 202,
        "headers": {"Content-Type": "application/octet-stream", "X-One": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x00\xffbinary").decode(),
        "isBase64Encoded": True,
    }
    with serving(recorder.gateway()) as url:
        request = urllib.request.Request(url + OVERVIEW, headers=bearer("t"))  # noqa: S310 - local
        with urllib.request.urlopen(request) as response:  # noqa: S310
            assert response.status == 202
            assert response.read() == b"\x00\xffbinary"
            assert response.headers["X-One"] == "1"
            assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
            assert response.headers["x-amzn-RequestId"]


def test_a_crashing_or_malformed_function_is_502() -> None:
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("bug")

    for answer in (crash, lambda event, context: {"body": "no status"}):
        recorder = Recorder()
        recorder.function_answer = answer
        with serving(recorder.gateway()) as url:
            got, headers, body = http(url + OVERVIEW, headers=bearer("t"))
        assert_gateway_error(got, headers, body, 502, "Internal server error.")


def test_request_bodies_reach_the_function() -> None:
    recorder = Recorder()
    with serving(recorder.gateway()) as url:
        http(url + OVERVIEW, headers=bearer("t"), body=b'{"x": 1}')
        http(url + OVERVIEW, headers=bearer("t"), body=b"\xff\x00")
    text, binary = recorder.events["function"]
    assert (text["body"], text["isBase64Encoded"], text["httpMethod"]) == ('{"x": 1}', False, "GET")
    assert (base64.b64decode(binary["body"]), binary["isBase64Encoded"]) == (b"\xff\x00", True)


def test_two_authorization_values_are_401_whatever_the_cache_holds() -> None:
    recorder = Recorder()
    with serving(recorder.gateway()) as url:
        assert http(url + OVERVIEW, headers=bearer("a"))[0] == 200  # "a" is now in the decision cache
        for second in ("a", "b"):
            request = b"GET " + OVERVIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            request += b"Authorization: Bearer a\r\nauthorization: Bearer " + second.encode() + b"\r\n\r\n"
            status, headers, body = raw_http(url, request)
            assert_gateway_error(status, headers, body, 401, "Unauthorized.")
    assert len(recorder.events["authorizer"]) == 1 and len(recorder.events["function"]) == 1


def raw_http(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall(request)
        response = HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.headers), response.read()


def test_idle_connections_are_closed() -> None:
    with serving(Recorder().gateway(), idle_timeout=0.3) as url:
        parts = urlsplit(url)
        for sent in (b"", b"GET /api/analytics/overview/ HTTP/1.1\r\nHost: x\r\n"):  # nothing; half a request
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as sock:
                sock.sendall(sent)
                assert sock.recv(1024) == b""  # closed by the server, long before the client's 10 s
        assert http(url + OVERVIEW, headers=bearer("t"))[0] == 200  # and it still serves


def test_the_log_escapes_what_the_request_line_holds(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(Recorder().gateway()) as url:
        request = b"G\x1b[2JET /api/\x1b]0;owned\x07x\\y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert raw_http(url, request)[0] == 404
        assert raw_http(url, b"\x1b[31m / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 404
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "G\\x1b[2JET /api/\\x1b]0;owned\\x07x\\\\y 404" in err
    assert "\\x1b[31m / 404" in err


def test_the_context_object() -> None:
    contexts: list[Any] = []
    recorder = Recorder()

    def answer(event: dict[str, Any], context: Any) -> Any:
        contexts.append(context)
        return {"statusCode": 204, "body": ""}

    recorder.function_answer = answer
    with serving(recorder.gateway()) as url:
        assert http(url + OVERVIEW, headers=bearer("t"))[0] == 204
    [context] = contexts
    assert context.function_name == "OverviewFunction"
    template = load_template()
    memory = int(template["Parameters"]["FunctionMemorySize"]["Default"])
    timeout_ms = int(template["Globals"]["Function"]["Timeout"]) * 1000
    assert context.memory_limit_in_mb == memory and 0 < context.get_remaining_time_in_millis() <= timeout_ms
    assert context.invoked_function_arn.endswith(":function:OverviewFunction")
    assert context.aws_request_id


# ---------------------------------------------------------------------------- the stack of `make run`


@pytest.fixture
def run_options(session_stores: Stores, ids: Iterator[int], tmp_path: Path) -> run.RunOptions:
    """`make run` on the session's Postgres server and chDB path, with a small demo in its own databases."""
    return run.RunOptions(
        host="127.0.0.1",
        port=0,
        local_dir=tmp_path / "local",
        postgres_url=session_stores.database_url,
        chdb_path=Path(urlsplit(session_stores.clickhouse_url).path),
        database=f"run_demo_{next(ids)}",
        scale=0.02,
    )


def test_the_stack_serves_the_demo_and_a_second_run_reuses_it(
    run_options: run.RunOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    def apply(environment: Any) -> None:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)

    stack = run.prepare_stack(run_options, apply_environment=apply)
    try:
        assert stack.loaded
        assert os.environ["DATABASE_URL"] == stack.environment["DATABASE_URL"]
        thread = threading.Thread(target=stack.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        _, expected = invoke_json("overview", api_event("overview", demo_data.DEMO_ORG_ID))
        for credential in (stack.jwt, stack.api_key):
            status, _, body = http(stack.url + OVERVIEW, headers=bearer(credential))
            assert (status, json.loads(body)) == (200, expected)
        # Metered as on AWS: JWT callers by the frontend's plan, the demo key by its organization's tier's plan.
        _, usage = invoke_json("usage", api_event("usage", demo_data.DEMO_ORG_ID))
        tier = usage["plan_tier"]  # the tier /usage/ reports for the demo organization
        ((usage_key,),) = postgres_client().run(
            "SELECT usage_key FROM api_keys WHERE prefix = :prefix", prefix=issued_key_prefix(stack.api_key)
        )
        assert usage_key and stack.api_key.split("_")[-1] not in usage_key  # a random identifier, not the secret
        limits = stack.server.gateway.limits
        assert limits.usage_plan_keys == {
            stack.environment["FRONTEND_USAGE_KEY"]: "FrontendUsagePlan",
            usage_key: f"{tier.capitalize()}UsagePlan",
        }
        stack.server.shutdown()
        thread.join()
    finally:
        stack.close()

    local = run_options.local_dir
    secret = (local / "jwt-secret").read_text().strip()
    claims = jwt.decode(stack.jwt, secret, algorithms=["HS256"])
    assert (claims["sub"], claims["org_id"]) == (run.DEMO_USER, demo_data.DEMO_ORG_ID)
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert re.fullmatch(r"pa_[a-z0-9]{8}_[A-Za-z0-9_-]{32,}", stack.api_key)
    assert (local / "demo-api-key").read_text().strip() == stack.api_key
    for name in ("jwt-secret", "demo-api-key"):
        assert (local / name).stat().st_mode & 0o077 == 0  # only the owner can read the local secrets

    again = run.prepare_stack(run_options, apply_environment=apply)
    try:
        assert not again.loaded
        assert again.api_key == stack.api_key
        assert jwt.decode(again.jwt, secret, algorithms=["HS256"])["org_id"] == demo_data.DEMO_ORG_ID
    finally:
        again.close()


def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in run.POWERTOOLS_DEFAULTS.items():
        monkeypatch.setenv(name, os.environ.get(name, value))  # restored after the test
    with serving(Recorder().gateway()) as url:
        port = urlsplit(url).port
        code = run.main(["--port", str(port), "--local-dir", str(tmp_path / "local")])
    assert code == 1
    assert not (tmp_path / "local").exists()


def test_the_cli_serves_until_interrupted(session_stores: Stores, ids: Iterator[int], tmp_path: Path) -> None:
    """`python -m devstack.run` in its own process (its own chDB path): serve, then Ctrl-C stops it cleanly."""
    command = [sys.executable, "-m", "devstack.run", "--port", "0", "--scale", "0.01"]
    command += ["--local-dir", str(tmp_path / "local"), "--postgres-url", session_stores.database_url]
    command += ["--database", f"cli_demo_{next(ids)}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "serving on" in line:
                break
        banner = "".join(lines)
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        assert http(match.group(1) + "/api/analytics/nope")[0] == 404
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "Stopped." in output
    assert "Traceback" not in output
