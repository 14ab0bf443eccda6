"""The explorer that `make run` serves beside the API, on another origin (local only, never deployed).

- `/` a live dashboard of the demo organization, drawn from the six endpoints by the page's script;
- `/docs` openapi.yaml in Swagger UI (the `swagger-ui-bundle-v2` package's assets, no CDN), whose
  "Try it out" calls the local API with the demo token.

Both call the API cross-origin, as the platform's frontend does, so they exercise its CORS, caching and
compression. `/config.json` hands the pages the API's address and the demo JWT (the banner prints the
same token): this server listens on the loopback address only.
"""

from __future__ import annotations

import json
import mimetypes
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from devstack.server import LocalHTTPServer

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.yaml"
PAGES = Path(__file__).resolve().parent / "explorer"
ROUTES = {"/": "dashboard.html", "/docs": "docs.html", "/docs/": "docs.html"}


def swagger_ui_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


class ExplorerServer(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], api_url: str, token: str) -> None:
        self.api_url = api_url
        self.token = token
        super().__init__(address, ExplorerRequestHandler)

    def openapi(self) -> dict[str, Any]:
        """openapi.yaml with the local API as its server, so "Try it out" calls it."""
        document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
        document["servers"] = [{"url": self.api_url, "description": "the local stack (make run)"}]
        return document


class ExplorerRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalExplorer"
    server: ExplorerServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ROUTES:
            self._file(PAGES / ROUTES[path])
        elif path == "/config.json":
            self._json({"api": self.server.api_url, "token": self.server.token})
        elif path == "/openapi.json":
            self._json(self.server.openapi())
        elif path.startswith("/static/"):
            self._named_file(PAGES, path.removeprefix("/static/"))
        elif path.startswith("/swagger-ui/"):
            self._named_file(swagger_ui_dir(), path.removeprefix("/swagger-ui/"))
        else:
            self._send(HTTPStatus.NOT_FOUND, b"Not found.\n", "text/plain; charset=utf-8")

    def _named_file(self, folder: Path, name: str) -> None:
        """A file directly in `folder`, by a plain name (no path can climb out of it)."""
        if "/" in name or "\\" in name or name.startswith(".") or not (folder / name).is_file():
            self._send(HTTPStatus.NOT_FOUND, b"Not found.\n", "text/plain; charset=utf-8")
            return
        self._file(folder / name)

    def _file(self, path: Path) -> None:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
            kind += "; charset=utf-8"
        self._send(HTTPStatus.OK, path.read_bytes(), kind)

    def _json(self, data: Any) -> None:
        self._send(HTTPStatus.OK, json.dumps(data).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # the pages follow the working tree
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sys.stderr.write(f"explorer: {self.command} {urlsplit(self.path).path} {code}\n")


def make_explorer(api_url: str, token: str, host: str = "127.0.0.1", port: int = 3001) -> ExplorerServer:
    return ExplorerServer((host, port), api_url, token)
