"""The explorer's server (devstack.explorer), over HTTP without a browser: what it serves, and nothing else.

The pages themselves are checked in Chromium by tests/test_browser.py.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from devstack.explorer import OPENAPI, make_explorer, swagger_ui_dir

API = "http://127.0.0.1:3999"


@pytest.fixture(scope="module")
def explorer() -> Iterator[str]:
    server = make_explorer(API, "demo-token", "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()
    thread.join()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_the_pages_and_their_config(explorer: str) -> None:
    for path, marker in (("/", b"dashboard.js"), ("/docs", b"swagger-ui-bundle.js"), ("/docs/", b"docs.js")):
        status, kind, body = get(explorer + path)
        assert (status, kind) == (200, "text/html; charset=utf-8"), path
        assert marker in body, path
    status, _, body = get(explorer + "/config.json")
    assert (status, json.loads(body)) == (200, {"api": API, "token": "demo-token"})


def test_openapi_points_try_it_at_the_local_api(explorer: str) -> None:
    status, kind, body = get(explorer + "/openapi.json")
    assert (status, kind) == (200, "application/json")
    expected = yaml.safe_load(OPENAPI.read_text())
    expected["servers"] = [{"url": API, "description": "the local stack (make run)"}]
    assert json.loads(body) == expected


def test_swagger_ui_assets_come_from_the_package(explorer: str) -> None:
    status, kind, body = get(explorer + "/swagger-ui/swagger-ui-bundle.js")
    assert status == 200 and "javascript" in kind
    assert body == (swagger_ui_dir() / "swagger-ui-bundle.js").read_bytes()
    assert get(explorer + "/static/dashboard.js")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/static/../explorer.py",
        "/static/%2e%2e/explorer.py",
        "/static/.hidden",
        "/swagger-ui/../__init__.py",
        "/swagger-ui/",
        "/static/",
    ],
)
def test_nothing_else_is_served(explorer: str, path: str) -> None:
    status, _, body = get(explorer + path)
    assert (status, body) == (404, b"Not found.\n")
