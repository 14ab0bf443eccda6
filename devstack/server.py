"""The local gateway over HTTP/1.1 (http.server, one thread per connection).

Every method, whatever its name, goes to the gateway, so any request gets the API's JSON answer;
http.server's own errors (a bad request line, a header or URI too long) are JSON too, shaped like
the gateway's. A connection that sends nothing for `idle_timeout` seconds is closed. The log line
of a request names its method, path and status only, with anything unprintable escaped.
"""

from __future__ import annotations

import socket
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from devstack.gateway import GatewayError, HttpRequest, HttpResponse, LocalGateway

HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_REQUEST_LINE = 65536  # http.server's limit
IDLE_TIMEOUT_SECONDS = 60.0


class LocalHTTPServer(ThreadingHTTPServer):
    """A server of the local stack (the gateway, the explorer): one thread a connection, IPv4 or IPv6."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class GatewayServer(LocalHTTPServer):
    def __init__(
        self, address: tuple[str, int], gateway: LocalGateway, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS
    ) -> None:
        self.gateway = gateway
        self.idle_timeout = idle_timeout
        super().__init__(address, GatewayRequestHandler)


def printable(text: str) -> str:
    """`text` safe for a terminal: control and other unprintable characters (and backslashes) escaped."""
    return "".join(char if char.isprintable() and char != "\\" else ascii(char)[1:-1] for char in text)


class GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Not http.server's HTTP/0.9: a request line without a version gets a status line and headers too.
    default_request_version = "HTTP/1.0"
    server_version = "LocalApiGateway"
    server: GatewayServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # reading an idle connection raises TimeoutError

    def handle_one_request(self) -> None:
        """http.server's loop step, except that every method goes to `_dispatch` (never its 501 page)."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.parse_request():
                self._dispatch()
                self.wfile.flush()
        except TimeoutError:
            self.close_connection = True  # idle: closed without an answer, as a proxy would

    def _dispatch(self) -> None:
        started = time.perf_counter()
        length = self._content_length()
        if length is None:
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length > 0 else b"",
            source_ip=str(self.client_address[0]),
            protocol=self.request_version,
        )
        response = self.server.gateway.handle(request)
        # The path only: never headers (Authorization) nor the query string.
        elapsed = (time.perf_counter() - started) * 1000
        path = printable(urlsplit(self.path).path)
        sys.stderr.write(f"{printable(self.command)} {path} {response.status} {elapsed:.0f} ms\n")
        self._write(response)

    def _write(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        if close:
            self.send_header("Connection", "close")
        for name, value in response.headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _content_length(self) -> int | None:
        """The body's length; None after answering 400 (not a number) or 413 (over API Gateway's 10 MB)."""
        values = self.headers.get_all("Content-Length") or []
        if len(set(values)) > 1 or not all(value.strip().isdigit() for value in values):
            self.send_error(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
            return None
        length = int(values[0]) if values else 0
        if length > MAX_BODY_BYTES:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        return length

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors as the gateway's JSON errors (DEFAULT_4XX / DEFAULT_5XX), then close.

        The status phrase only, in the answer and the log: `message` may quote the request line (with its
        query string), which is neither echoed back nor logged.
        """
        phrase = self.responses.get(code, ("Error",))[0]
        self.log_error("%d %s", code, phrase)
        kind = "DEFAULT_4XX" if code < 500 else "DEFAULT_5XX"
        self.close_connection = True
        self._write(self.server.gateway.error_answer(GatewayError(kind, code, f"{phrase}.")), close=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Logged by `_dispatch` instead."""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"gateway: {printable(format % args)}\n")


def make_server(
    gateway: LocalGateway, host: str = "127.0.0.1", port: int = 3000, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS
) -> GatewayServer:
    return GatewayServer((host, port), gateway, idle_timeout=idle_timeout)
