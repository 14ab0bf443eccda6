"""Hostile requests over real HTTP to the gateway (in this process, on a small demo dataset of the session's stores).

Raw bytes on a socket, so nothing is cleaned up on the way: odd header casing, repeated and
huge headers, non-UTF-8 bytes, dot segments and NULs in paths, query strings the API ignores,
other methods, bodies on GET. Every answer must be the normal answer (the caller's own
organization's data, byte for byte) or a clean JSON error `{"detail": ...}`; never a 5xx, never
another organization's data; and the server must go on answering.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from analytics_common.api_keys import generate_api_key
from analytics_common.clickhouse import clickhouse_client
from analytics_common.endpoints import ENDPOINTS, Endpoint
from analytics_common.postgres import postgres_client
from devstack import demo_data, run
from devstack.gateway import LocalGateway
from tests.conftest import Stores
from tests.gateway_support import load_small_demo, serving, use_demo_stack

DATABASE = "hostile_demo"
JWT_SECRET = "hostile-input-secret-0123456789abcdef01"
DEMO_KEY = generate_api_key()
ORG = demo_data.DEMO_ORG_ID  # the caller
OTHER_ORG = 3  # another tenant with data in every endpoint
OVERVIEW = "/api/analytics/overview/"


# ---------------------------------------------------------------------------- raw HTTP


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def build(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    """A request exactly as given (plus Host and Connection: close); Content-Length for a body unless given."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body and not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def send(url: str, request: bytes) -> Answer:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock, method=request.split(b" ", 1)[0].decode("latin-1"))
        response.begin()
        return Answer(response.status, response.headers, response.read())


def auth(token: str, scheme: bytes = b"Bearer", name: bytes = b"Authorization") -> tuple[bytes, bytes]:
    return name, scheme + b" " + token.encode()


# ---------------------------------------------------------------------------- the stack


@dataclass
class Site:
    url: str
    jwt: str  # org ORG
    other_jwt: str  # org OTHER_ORG
    expected: dict[str, bytes]  # endpoint path -> org ORG's normal answer
    others: dict[str, bytes]  # endpoint path -> org OTHER_ORG's

    def get(self, path: str, token: str) -> Answer:
        return send(self.url, build(b"GET", path.encode(), [auth(token)]))


@pytest.fixture(scope="module")
def hostile_demo(session_stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> demo_data.LoadResult:
    return load_small_demo(session_stores, DATABASE, tmp_path_factory.mktemp("hostile"), DEMO_KEY)


@pytest.fixture
def site(hostile_demo: demo_data.LoadResult, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    use_demo_stack(monkeypatch, hostile_demo, JWT_SECRET, "hostile-usage-key")
    now = datetime.now(UTC)
    jwt, other_jwt = run.demo_jwt(JWT_SECRET, now, org_id=ORG), run.demo_jwt(JWT_SECRET, now, org_id=OTHER_ORG)
    try:
        with serving(LocalGateway()) as url:
            site = Site(url, jwt, other_jwt, {}, {})
            for endpoint in ENDPOINTS:
                mine, theirs = site.get(endpoint.path, jwt), site.get(endpoint.path, other_jwt)
                assert mine.status == theirs.status == 200, (endpoint, mine, theirs)
                assert mine.body != theirs.body  # so a wrong tenant cannot go unnoticed
                site.expected[endpoint.path], site.others[endpoint.path] = mine.body, theirs.body
            yield site
            for endpoint in ENDPOINTS:  # the server still answers, and still correctly
                again = site.get(endpoint.path, jwt)
                assert (again.status, again.body) == (200, site.expected[endpoint.path])
    finally:
        postgres_client.cache_clear()
        clickhouse_client.cache_clear()


def assert_clean(answer: Answer, expected_status: set[int], normal: bytes | None = None, head: bool = False) -> None:
    """The status is one of `expected_status`; a 200 is `normal` exactly, an error a JSON `{"detail": str}`."""
    assert answer.status in expected_status, (answer.status, answer.body[:300])
    assert answer.status < 500
    if head:
        assert answer.body == b""
        return
    if answer.status == 200:
        assert normal is not None and answer.body == normal, answer.body[:300]
        return
    assert answer.headers.get("Content-Type") == "application/json", answer.headers
    error = json.loads(answer.body)
    assert list(error) == ["detail"] and isinstance(error["detail"], str) and error["detail"]


def paths(endpoint: Endpoint) -> list[str]:
    return [endpoint.path, endpoint.path.rstrip("/")]


# ---------------------------------------------------------------------------- the Authorization header


def test_header_name_and_scheme_in_any_case(site: Site) -> None:
    for endpoint in ENDPOINTS:
        for name, scheme, token in [
            (b"aUtHoRiZaTiOn", b"Bearer", site.jwt),
            (b"authorization", b"bearer", site.jwt),
            (b"AUTHORIZATION", b"BEARER", DEMO_KEY),
            (b"Authorization", b"bEaReR", DEMO_KEY),
        ]:
            answer = send(site.url, build(b"GET", endpoint.path.encode(), [auth(token, scheme, name)]))
            assert_clean(answer, {200}, site.expected[endpoint.path])


def test_repeated_authorization_headers(site: Site) -> None:
    """Two values are ambiguous: refused (401) before the gateway's decision cache is consulted, so a token
    already authorized there does not let another value ride along; later callers are unaffected."""
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        assert site.get(endpoint.path, site.jwt).body == site.expected[endpoint.path]  # both tokens cached now
        assert site.get(endpoint.path, site.other_jwt).body == site.others[endpoint.path]
        for first, second in [
            (site.jwt, site.jwt),
            (site.jwt, site.other_jwt),
            (site.other_jwt, site.jwt),
            ("x", site.jwt),
            (site.jwt, "x"),
            ("x", "y"),
        ]:
            assert_clean(send(site.url, build(b"GET", path, [auth(first), auth(second)])), {401})
        assert_clean(
            send(site.url, build(b"GET", path, [auth(site.jwt), auth(DEMO_KEY, name=b"authorization")])), {401}
        )
        assert site.get(endpoint.path, site.jwt).body == site.expected[endpoint.path]
        assert site.get(endpoint.path, site.other_jwt).body == site.others[endpoint.path]


def test_huge_header_values(site: Site) -> None:
    big = b"A" * 20_000
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        normal = site.expected[endpoint.path]
        assert_clean(send(site.url, build(b"GET", path, [(b"Authorization", b"Bearer " + big)])), {401})
        assert_clean(send(site.url, build(b"GET", path, [(b"Authorization", b"Bearer " + b"pa_" + big)])), {401})
        padded = (b"Authorization", b"Bearer " + site.jwt.encode() + big)
        assert_clean(send(site.url, build(b"GET", path, [padded])), {401})
        assert_clean(send(site.url, build(b"GET", path, [auth(site.jwt), (b"X-Padding", big)])), {200}, normal)
        assert_clean(send(site.url, build(b"GET", path, [auth(site.jwt), (b"If-None-Match", big)])), {200}, normal)
        assert_clean(send(site.url, build(b"GET", path, [auth(site.jwt), (b"Origin", big)])), {200}, normal)
    many = [auth(site.jwt)] + [(f"X-H{n}".encode(), b"v") for n in range(500)]
    assert_clean(send(site.url, build(b"GET", OVERVIEW.encode(), many)), {200, 431}, site.expected[OVERVIEW])
    too_long = [auth(site.jwt), (b"X-Padding", b"A" * 70_000)]  # one line over http.server's 64 kB
    assert_clean(send(site.url, build(b"GET", OVERVIEW.encode(), too_long)), {431})


def test_non_utf8_bytes_in_headers(site: Site) -> None:
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        normal = site.expected[endpoint.path]
        for value in (
            b"Bearer \xff\xfe\xfd",
            b"\xc3\x28 " + site.jwt.encode(),
            b"Bearer " + site.jwt.encode() + b"\x80",
        ):
            assert_clean(send(site.url, build(b"GET", path, [(b"Authorization", value)])), {401})
        for name, value in [(b"X-Binary", b"\xff\x00\xfe"), (b"User-Agent", b"\xe2\x28\xa1"), (b"X-\xff", b"1")]:
            assert_clean(send(site.url, build(b"GET", path, [auth(DEMO_KEY), (name, value)])), {200}, normal)


# ---------------------------------------------------------------------------- paths and query strings


ODD_PATHS = {
    "raw-ff": (b"/api/analytics/overview/\xff", {404}),
    "raw-bad-utf8": (b"/api/analytics/\xc3\x28/", {404}),
    "encoded-ff": (b"/api/analytics/overview%ff/", {404}),
    "encoded-garbage": (b"/api/analytics/%ff%fe%fd/", {404}),
    "dot-dot": (b"/api/analytics/x/../overview/", {200, 404}),
    "dot-dot-escape": (b"/api/analytics/overview/../../../../etc/passwd", {404}),
    "encoded-dot-dot": (b"/api/analytics/x/%2e%2e/overview/", {200, 404}),
    "encoded-dot-dot-upper": (b"/api/analytics/%2E%2E/analytics/overview/", {200, 404}),
    "encoded-dot-dot-other-endpoint": (b"/api/analytics/overview/%2e%2e/usage/", {200, 404}),
    "nul-in-name": (b"/api/analytics/overview%00/", {404}),
    "nul-after": (b"/api/analytics/overview/%00", {404}),
    "nul-in-base": (b"/api/analytics%00/overview/", {404}),
    "encoded-slash": (b"/api/analytics/overview%2F", {200, 404}),
    "leading-double-slash": (b"//api/analytics/overview/", {200, 404}),
    "double-slashes": (b"/api//analytics//overview//", {200, 404}),
    "triple-slashes": (b"///api///analytics///overview", {200, 404}),
    "host-like": (b"//evil.example/api/analytics/overview/", {404}),
    "8k-segment": (b"/api/analytics/overview/" + b"a" * 8_000, {404}),
    "5k-escapes": (b"/api/analytics/overview/" + b"%41" * 5_000, {404}),
    "30k-segments": (b"/" + b"x/" * 30_000, {404, 414}),
    "70k-path": (b"/api/analytics/overview/" + b"a" * 70_000, {414}),
    "asterisk": (b"*", {404}),
    "absolute-form": (b"http://127.0.0.1/api/analytics/overview/", {200, 404}),
}


@pytest.mark.parametrize(("target", "statuses"), ODD_PATHS.values(), ids=ODD_PATHS.keys())
def test_odd_paths(site: Site, target: bytes, statuses: set[int]) -> None:
    for token in (site.jwt, DEMO_KEY):
        answer = send(site.url, build(b"GET", target, [auth(token)]))
        assert answer.status in statuses, (answer.status, answer.body[:200])
        if answer.status == 200:  # a path that resolves to an endpoint answers just that endpoint, for the caller
            assert answer.body in site.expected.values()
        else:
            assert_clean(answer, statuses)


IGNORED_QUERIES = {
    "org_id": b"org_id=2",
    "org_id-twice": b"org_id=3&org_id=4",
    "org_id-array": b"org_id[]=3",
    "other-names": b"orgId=3&org=3&tenant=3&organization_id=3",
    "negative": b"org_id=-1",
    "huge-number": b"org_id=99999999999999999999999999",
    "nul": b"org_id=%00",
    "non-utf8": b"%ff%fe=%ff",
    "semicolons": b"org_id=3;org_id=3",
    "empty-pairs": b"&&&==&",
    "20k-value": b"a=" + b"b" * 20_000,
}


@pytest.mark.parametrize("query", IGNORED_QUERIES.values(), ids=IGNORED_QUERIES.keys())
def test_query_strings_never_change_the_tenant(site: Site, query: bytes) -> None:
    for endpoint in ENDPOINTS:
        for path in paths(endpoint):
            for token in (site.jwt, DEMO_KEY):
                answer = send(site.url, build(b"GET", path.encode() + b"?" + query, [auth(token)]))
                assert_clean(answer, {200}, site.expected[endpoint.path])
            answer = send(site.url, build(b"GET", path.encode() + b"?" + query, [auth(site.other_jwt)]))
            assert_clean(answer, {200}, site.others[endpoint.path])


def test_tenant_headers_are_ignored(site: Site) -> None:
    for endpoint in ENDPOINTS:
        headers = [auth(site.jwt), (b"X-Org-Id", b"3"), (b"X-Tenant-Id", b"3"), (b"X-Forwarded-For", b"10.0.0.3")]
        assert_clean(
            send(site.url, build(b"GET", endpoint.path.encode(), headers)), {200}, site.expected[endpoint.path]
        )


# ---------------------------------------------------------------------------- methods and bodies


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"PATCH", b"DELETE", b"TRACE", b"CONNECT", b"PROPFIND", b"FOO"])
def test_other_methods_are_json_errors(site: Site, method: bytes) -> None:
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        with_token = send(site.url, build(method, path, [auth(site.jwt)], b'{"org_id": 3}'))
        assert_clean(with_token, {405})
        assert with_token.headers.get("Allow") == "GET, OPTIONS"
        assert_clean(send(site.url, build(method, path, [])), {405})
        assert_clean(send(site.url, build(method, b"/api/analytics/nope/", [auth(site.jwt)])), {404})


def test_head_and_preflight_carry_no_data(site: Site) -> None:
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        # Only GET: HEAD is the template's MOCK `ANY` method, with or without a token.
        assert_clean(send(site.url, build(b"HEAD", path, [auth(site.jwt)])), {405}, head=True)
        assert_clean(send(site.url, build(b"HEAD", path, [])), {405}, head=True)
        preflight = [(b"Origin", b"http://localhost:5173"), (b"Access-Control-Request-Method", b"GET")]
        answer = send(site.url, build(b"OPTIONS", path, preflight))
        assert answer.status in (200, 204) and answer.body == b""


def test_bodies_on_get_are_ignored(site: Site) -> None:
    for endpoint in ENDPOINTS:
        path = endpoint.path.encode()
        normal = site.expected[endpoint.path]
        for body in (b'{"org_id": 3}', b"\xff\xfe\x00garbage", b"org_id=3", b"x" * 100_000):
            assert_clean(send(site.url, build(b"GET", path, [auth(site.jwt)], body)), {200}, normal)
        chunked = [auth(site.jwt), (b"Transfer-Encoding", b"chunked")]
        assert_clean(send(site.url, build(b"GET", path, chunked, b'd\r\n{"org_id": 3}\r\n0\r\n\r\n')), {200}, normal)
        for length in (b"abc", b"-1", b"1e3", b"5, 6"):
            bad_length = [auth(site.jwt), (b"Content-Length", length)]
            assert_clean(send(site.url, build(b"GET", path, bad_length, b"hello")), {400})
        too_big = [auth(site.jwt), (b"Content-Length", b"99999999999")]
        assert_clean(send(site.url, build(b"GET", path, too_big)), {413})


def test_garbage_request_lines(site: Site) -> None:
    for request, status in [
        (b"GET\r\n\r\n", 400),
        (b"GET /api/analytics/overview/\r\n\r\n", 401),  # HTTP/0.9 form: answered as HTTP/1.0, no token
        (b"GET /api/analytics/overview/ FOO/1.1\r\n\r\n", 400),
        (b"\x00\xff\xfe / HTTP/1.1\r\n\r\n", 404),
        (b"GET /a b c HTTP/1.1\r\n\r\n", 400),
        # The one 5xx here is HTTP's own answer to a protocol version the server does not speak.
        (b"GET /api/analytics/overview/ HTTP/9.9\r\n\r\n", 505),
    ]:
        answer = send(site.url, request)
        assert answer.status == status, (request, answer.status, answer.body)
        assert answer.headers.get("Content-Type") == "application/json"
        assert list(json.loads(answer.body)) == ["detail"]
