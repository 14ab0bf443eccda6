"""The browser suite: headless Chromium (Debian's package, driven by Playwright) calls `make run`'s stack
from a page on another origin, as the platform's frontend does, and opens the explorer's pages.

The stack is `python -m devstack.run` in its own process and folder (loadtest.common.local_stack),
with its own embedded Postgres and demo data; tokens for other organizations are minted with that
folder's `jwt-secret`, as `make run` keeps it in `.local/jwt-secret`. What crosses the wire is read
from Chromium's DevTools protocol (Network events: the real status and headers, 304s included).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from analytics_common.endpoints import NAMES
from devstack import run
from loadtest.common import RunningStack, local_stack
from tests.browser_support import CHROMIUM_ARGS, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.engines]  # its own stack: Postgres and chDB

ORG_WITHOUT_SUBSCRIPTION = 5  # devstack.demo_data: its subscriptions all ended

# What a page's script does: one fetch, and what the script can read of the answer (status, body and
# the headers CORS lets it see). A failed fetch (CORS refused) comes back as {"error": ...}.
FETCH = """async ([url, token, cache]) => {
  const init = {cache: cache || "default", headers: token ? {Authorization: `Bearer ${token}`} : {}};
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    return {status: response.status, body, headers: Object.fromEntries(response.headers)};
  } catch (error) {
    return {error: String(error)};
  }
}"""


# ---------------------------------------------------------------------------- the stack, the page's origin, Chromium


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("browser-stack"), scale=0.05, say=lambda _: None) as running:
        yield running


class _FrontendPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><head><link rel=icon href='data:,'><title>frontend</title></head></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def frontend_origin() -> Iterator[str]:
    """A blank page on another port of 127.0.0.1: another origin than the API's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FrontendPage)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    assert executable, "no Chromium found"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


@dataclass
class Exchange:
    """One request as it crossed the wire (DevTools' ExtraInfo events: after the cache, before decoding)."""

    url: str = ""
    method: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Tab:
    page: Any
    exchanges: dict[str, Exchange]
    console_errors: list[str]

    def fetch(self, url: str, token: str | None = None, cache: str = "default") -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(FETCH, [url, token, cache])
        return result

    def wire(self, url: str, method: str = "GET") -> list[Exchange]:
        return [e for e in self.exchanges.values() if e.url == url and e.method == method and e.status is not None]


@pytest.fixture
def tab(chromium: Any, frontend_origin: str) -> Iterator[Tab]:
    """A fresh browser context (empty HTTP cache) with a page on the frontend's origin."""
    context = chromium.new_context()
    page = context.new_page()
    exchanges: dict[str, Exchange] = {}
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")

    def sent(event: dict[str, Any]) -> None:
        exchange = exchanges.setdefault(event["requestId"], Exchange())
        exchange.url, exchange.method = event["request"]["url"], event["request"]["method"]

    def sent_headers(event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["headers"].items()}
        exchanges.setdefault(event["requestId"], Exchange()).request_headers = headers

    def received(event: dict[str, Any]) -> None:
        exchange = exchanges.setdefault(event["requestId"], Exchange())
        exchange.status = event["statusCode"]
        exchange.response_headers = {k.lower(): v for k, v in event["headers"].items()}

    devtools.on("Network.requestWillBeSent", sent)
    devtools.on("Network.requestWillBeSentExtraInfo", sent_headers)
    devtools.on("Network.responseReceivedExtraInfo", received)
    page.goto(frontend_origin + "/")
    yield Tab(page, exchanges, console_errors)
    context.close()


# ---------------------------------------------------------------------------- the API, read directly


def endpoint_url(stack: RunningStack, name: str, **params: Any) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{stack.url}/api/analytics/{name}/{query}"


def direct(url: str, token: str) -> tuple[int, Any]:
    """The API's answer, read without a browser."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - local
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def org_token(stack: RunningStack, org_id: int) -> str:
    """A JWT for another organization, signed with the secret in the stack's folder (as `make run` keeps it)."""
    return run.demo_jwt(stack.jwt_secret, datetime.now(UTC), org_id=org_id)


# ---------------------------------------------------------------------------- a script on another origin


@pytest.mark.parametrize("name", NAMES)
def test_each_endpoint_is_readable_cross_origin(stack: RunningStack, tab: Tab, name: str) -> None:
    url = endpoint_url(stack, name)
    got = tab.fetch(url, stack.demo_jwt)
    assert got.get("status") == 200, got
    assert json.loads(got["body"]) == direct(url, stack.demo_jwt)[1]
    headers = got["headers"]
    assert headers["etag"].startswith('W/"'), headers  # exposed, and weak (see analytics_common.api)
    assert headers["cache-control"] == "private, max-age=60"
    assert "pg;dur=" in headers["server-timing"]
    (exchange,) = tab.wire(url)
    assert exchange.response_headers["vary"] == "Authorization, Accept-Encoding"
    assert exchange.response_headers["access-control-expose-headers"] == "ETag,Link,Server-Timing"


def test_switching_tokens_within_max_age_shows_the_other_org(stack: RunningStack, tab: Tab) -> None:
    """The tenant-confusion case: without `Vary: Authorization` the second fetch is org 1's cached answer."""
    url = endpoint_url(stack, "overview")
    org_2 = org_token(stack, 2)
    first = tab.fetch(url, stack.demo_jwt)
    second = tab.fetch(url, org_2)  # well within max-age=60
    assert json.loads(first["body"]) == direct(url, stack.demo_jwt)[1]
    assert json.loads(second["body"]) == direct(url, org_2)[1]
    assert first["body"] != second["body"]
    back = tab.fetch(url, stack.demo_jwt)  # org 1's answer again, from the cache or the API: org 1's either way
    assert back["body"] == first["body"]
    bad = tab.fetch(url, "bad")
    assert (bad["status"], json.loads(bad["body"])) == (401, {"detail": "Unauthorized."})
    assert len(tab.wire(url)) >= 3  # org 1, org 2 and the bad token each went to the API


def test_the_browsers_revalidation_gets_304_and_the_same_data(stack: RunningStack, tab: Tab) -> None:
    url = endpoint_url(stack, "segments")
    first = tab.fetch(url, stack.demo_jwt)
    again = tab.fetch(url, stack.demo_jwt, cache="no-cache")  # the HTTP cache revalidates with If-None-Match
    assert again["status"] == 200 and again["body"] == first["body"]  # the script sees the cached copy
    assert again["headers"]["etag"] == first["headers"]["etag"]
    original, revalidation = tab.wire(url)
    assert original.status == 200 and "if-none-match" not in original.request_headers
    assert revalidation.request_headers["if-none-match"] == first["headers"]["etag"]
    assert revalidation.status == 304
    assert revalidation.response_headers["etag"] == first["headers"]["etag"]
    assert revalidation.response_headers["vary"] == "Authorization, Accept-Encoding"
    assert revalidation.response_headers["access-control-allow-origin"] == "*"
    assert logged(stack, f"GET {urlsplit(url).path} 304")  # the gateway's own log


def logged(stack: RunningStack, text: str, timeout: float = 5.0) -> bool:
    """Whether the stack's output shows `text` (its lines are read by another thread: wait for them a little)."""
    deadline = time.monotonic() + timeout
    while not any(text in line for line in list(stack.output)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_gzip_arrives_on_the_wire_and_decodes(stack: RunningStack, tab: Tab) -> None:
    for name in ("segments", "activations"):
        url = endpoint_url(stack, name)
        got = tab.fetch(url, stack.demo_jwt)
        (exchange,) = tab.wire(url)
        assert "gzip" in exchange.request_headers["accept-encoding"]
        assert exchange.response_headers["content-encoding"] == "gzip", name
        assert int(exchange.response_headers["content-length"]) < len(got["body"].encode())
        assert json.loads(got["body"]) == direct(url, stack.demo_jwt)[1]
    # Below 1 KiB nothing is compressed; and what the browser decoded is what the wire's gzip held.
    small = endpoint_url(stack, "overview")
    tab.fetch(small, stack.demo_jwt)
    assert "content-encoding" not in tab.wire(small)[0].response_headers
    url = endpoint_url(stack, "segments")
    headers = {"Authorization": f"Bearer {stack.demo_jwt}", "Accept-Encoding": "gzip"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:  # noqa: S310 - local
        assert response.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.read())) == direct(url, stack.demo_jwt)[1]


@pytest.mark.parametrize(
    ("case", "expected_status", "detail"),
    [
        ("no token", 401, "Unauthorized."),
        ("bad token", 401, "Unauthorized."),
        ("unknown path", 404, "Not found."),  # its preflight succeeds, so the script reads the 404
        ("no subscription", 404, "No subscription found."),  # a 404 on a known path, from the function
    ],
)
def test_error_bodies_are_readable_by_the_script(
    stack: RunningStack, tab: Tab, case: str, expected_status: int, detail: str
) -> None:
    url, token = {
        "no token": (endpoint_url(stack, "overview"), None),
        "bad token": (endpoint_url(stack, "overview"), "bad"),
        "unknown path": (f"{stack.url}/api/analytics/nope/", stack.demo_jwt),
        "no subscription": (endpoint_url(stack, "usage"), org_token(stack, ORG_WITHOUT_SUBSCRIPTION)),
    }[case]
    got = tab.fetch(url, token)
    assert "error" not in got, got
    assert (got["status"], json.loads(got["body"])) == (expected_status, {"detail": detail})
    assert got["headers"]["content-type"] == "application/json"


def test_a_400_body_is_readable_by_the_script(stack: RunningStack, tab: Tab) -> None:
    got = tab.fetch(endpoint_url(stack, "segments", days="0"), stack.demo_jwt)
    assert got.get("status") == 400, got
    assert "days" in json.loads(got["body"])["detail"]


def test_pagination_follows_link_from_the_page(stack: RunningStack, tab: Tab) -> None:
    everything = direct(endpoint_url(stack, "segments"), stack.demo_jwt)[1]
    assert len(everything) > 4
    pages: list[list[Any]] = []
    url: str | None = endpoint_url(stack, "segments", limit="4")
    while url:
        got = tab.fetch(url, stack.demo_jwt)
        assert got["status"] == 200, got
        pages.append(json.loads(got["body"]))
        link = got["headers"].get("link")  # exposed by CORS
        url = tab.page.evaluate(
            '([link, base]) => { const m = link && link.match(/<([^>]*)>\\s*;\\s*rel="next"/);'
            " return m ? new URL(m[1], base).href : null; }",
            [link, url],
        )
        assert len(pages) <= len(everything)
    assert len(pages) == -(-len(everything) // 4)  # pages of 4, the last one partial or full, no empty page
    assert [len(page) for page in pages[:-1]] == [4] * (len(pages) - 1)
    assert [item for page in pages for item in page] == everything


def test_a_time_zone_from_the_page_moves_the_days(stack: RunningStack, tab: Tab) -> None:
    # A zone whose date differs from UTC's now: +14 h late in the UTC day, -11 h early in it.
    zone = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 12 else "Pacific/Pago_Pago"
    url = endpoint_url(stack, "segments", tz=zone, days="7")
    got = tab.fetch(url, stack.demo_jwt)
    assert got["status"] == 200, got
    segments = json.loads(got["body"])
    assert segments == direct(url, stack.demo_jwt)[1]
    local_today = datetime.now(ZoneInfo(zone)).date().isoformat()
    trends = [segment["trend"] for segment in segments if segment["trend"]]
    assert trends
    for trend in trends:
        assert len(trend) <= 7
        assert trend[-1]["day"] == local_today


# ---------------------------------------------------------------------------- the explorer of `make run`


def dashboard_figures(page: Any) -> dict[str, Any]:
    """What the dashboard shows, read from its DOM (each figure carries the value it was drawn from)."""
    figures: dict[str, Any] = page.evaluate(
        """() => {
      const value = (node) => JSON.parse(node.dataset.value);
      const field = (root, name) => value(root.querySelector(`[data-field="${name}"]`));
      const figures = {};
      const shown = "#overview [data-field], #usage [data-field], #copilot > div [data-field]";
      for (const node of document.querySelectorAll(shown)) {
        figures[node.dataset.field] = node.dataset.field === "usage.detail" ? node.textContent : value(node);
      }
      figures.segments = [...document.querySelectorAll("#segments tbody tr")].map((row) => ({
        id: Number(row.dataset.id), name: row.cells[0].textContent, member_count: field(row, "member_count"),
        points: Number(row.querySelector("svg").dataset.points), text: row.cells[1].textContent}));
      figures.overlap = [...document.querySelectorAll("#overlap tbody tr")].map((row) => ({
        pair: row.dataset.pair, overlap: field(row, "overlap"), overlap_pct: field(row, "overlap_pct")}));
      figures.activations = [...document.querySelectorAll("#activations tbody tr")].map((row) => ({
        id: Number(row.dataset.id), status: row.cells[2].textContent, success_rate: field(row, "success_rate")}));
      figures.copilot_daily = [...document.querySelectorAll("#copilot g[data-day]")].map((g) => ({
        day: g.dataset.day, success: Number(g.dataset.success), error: Number(g.dataset.error)}));
      return figures;
    }"""
    )
    return figures


def api_figures(stack: RunningStack, tz: str, days: str) -> dict[str, Any]:
    """The same figures, from the API's answers read directly."""
    token = stack.demo_jwt
    overview = direct(endpoint_url(stack, "overview", tz=tz), token)[1]
    segments = direct(endpoint_url(stack, "segments", tz=tz, days=days), token)[1]
    overlap = direct(endpoint_url(stack, "overlap"), token)[1]
    activations = direct(endpoint_url(stack, "activations"), token)[1]
    copilot = direct(endpoint_url(stack, "copilot", tz=tz, days=days), token)[1]
    usage = direct(endpoint_url(stack, "usage"), token)[1]
    figures: dict[str, Any] = {f"overview.{key}": value for key, value in overview.items()}
    if overview["ai_credits_limit"] == -1:
        del figures["overview.ai_credits_limit"]  # shown as "unlimited"
    for key in ("events", "users", "segments", "ai_credits"):
        figures[f"usage.{key}.used"] = usage[key]["used"]
        figures[f"usage.{key}.limit"] = usage[key]["limit"]
    figures["copilot.total"] = copilot["total"]
    figures["segments"] = [
        {
            "id": s["id"],
            "name": s["name"],
            "member_count": s["member_count"],
            "points": len(s["trend"]),
            "text": f"{s['member_count']:,}",
        }
        for s in segments
    ]
    figures["overlap"] = [
        {"pair": f"{p['seg_a_id']}-{p['seg_b_id']}", "overlap": p["overlap"], "overlap_pct": p["overlap_pct"]}
        for p in overlap
    ]
    figures["activations"] = [
        {"id": a["id"], "status": a["status"], "success_rate": a["success_rate"]} for a in activations
    ]
    figures["copilot_daily"] = copilot["daily"]
    return figures


def wait_until_drawn(page: Any) -> None:
    page.wait_for_selector("body[data-state=ready], body[data-state=failed]", timeout=60_000)
    assert page.evaluate("document.body.dataset.state") == "ready", page.inner_text("#status")


def test_the_dashboard_shows_the_apis_numbers(stack: RunningStack, tab: Tab) -> None:
    tab.page.goto(stack.explorer_url + "/")
    wait_until_drawn(tab.page)
    assert urlsplit(stack.explorer_url).netloc != urlsplit(stack.url).netloc  # another origin: CORS at work
    assert dashboard_figures(tab.page) == api_figures(stack, "UTC", "30")
    assert tab.page.inner_text("#overview").count("\n") >= 4
    assert tab.console_errors == []


def test_the_dashboards_pickers_ask_for_the_zone_and_the_range(stack: RunningStack, tab: Tab) -> None:
    tab.page.goto(stack.explorer_url + "/")
    wait_until_drawn(tab.page)
    tab.page.select_option("#tz", "Asia/Kolkata")
    wait_until_drawn(tab.page)
    tab.page.select_option("#days", "7")
    wait_until_drawn(tab.page)
    assert tab.page.evaluate("location.search") == "?tz=Asia%2FKolkata&days=7"
    asked = {e.url for e in tab.exchanges.values() if e.method == "GET" and e.status == 200}
    for name, params in (("overview", {"tz": "Asia/Kolkata"}), ("segments", {"tz": "Asia/Kolkata", "days": "7"})):
        assert endpoint_url(stack, name, **params) in asked
    assert endpoint_url(stack, "copilot", tz="Asia/Kolkata", days="7") in asked
    assert dashboard_figures(tab.page) == api_figures(stack, "Asia/Kolkata", "7")
    assert tab.console_errors == []


def test_the_dashboards_range_shortens_the_series(stack: RunningStack, tab: Tab) -> None:
    tab.page.goto(stack.explorer_url + "/?tz=UTC&days=7")
    wait_until_drawn(tab.page)
    figures = dashboard_figures(tab.page)
    assert max(segment["points"] for segment in figures["segments"]) == 7
    assert len(figures["copilot_daily"]) <= 7


def test_the_docs_render_and_try_it_calls_the_local_api(stack: RunningStack, tab: Tab) -> None:
    page = tab.page
    page.goto(stack.explorer_url + "/docs")
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)
    assert page.inner_text(".info .title").startswith("Platform Analytics API")
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert sorted(operations) == sorted(f"/api/analytics/{name}/" for name in NAMES)
    assert page.locator(".servers select").input_value() == stack.url  # "Try it out" goes to the local stack
    operation = page.locator("#operations-analytics-getOverview")
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    live.first.wait_for(timeout=60_000)
    assert live.locator(".response-col_status").first.inner_text().strip() == "200"
    shown = json.loads(live.locator(".response-col_description pre").first.inner_text())
    assert shown == direct(endpoint_url(stack, "overview"), stack.demo_jwt)[1]
    (exchange,) = tab.wire(endpoint_url(stack, "overview"))
    assert exchange.request_headers["authorization"] == f"Bearer {stack.demo_jwt}"  # the demo token, preauthorized
    assert exchange.request_headers["origin"] == stack.explorer_url
    assert tab.console_errors == []
