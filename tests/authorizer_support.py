"""Helpers of the authorizer tests: real signing keys, a real JWKS server, events, logs, IAM matching."""

from __future__ import annotations

import copy
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from analytics_common.endpoints import NAMES
from tests.lambda_support import FakeLambdaContext, function_module, sample_event

REGION = "eu-west-1"
ACCOUNT = "123456789012"
API_ID = "abcdef1234"
STAGE = "prod"


def method_arn(
    path: str = "/api/analytics/overview/",
    method: str = "GET",
    *,
    api_id: str = API_ID,
    stage: str = STAGE,
    region: str = REGION,
    account: str = ACCOUNT,
) -> str:
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


def authorizer_event(authorization: str | None, *, header_name: str = "Authorization", arn: str | None = None) -> dict:
    """The sample REQUEST authorizer event with this Authorization value (None: no such header)."""
    event = copy.deepcopy(sample_event("authorizer"))
    for field_name in ("headers", "multiValueHeaders"):
        event[field_name] = {k: v for k, v in event[field_name].items() if k.lower() != "authorization"}
    if authorization is not None:
        event["headers"][header_name] = authorization
        event["multiValueHeaders"][header_name] = [authorization]
    if arn is not None:
        event["methodArn"] = arn
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def authorize(event: dict) -> dict:
    return function_module("authorizer").lambda_handler(event, FakeLambdaContext(function_name="authorizer"))


def allow_resources(*, api_id: str = API_ID, stage: str = STAGE) -> list[str]:
    """The twelve method ARNs a valid caller may invoke, written out independently of the authorizer."""
    return sorted(
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/GET/api/analytics/{name}{slash}"
        for name in NAMES
        for slash in ("", "/")
    )


def expected_allow(org_id: int, principal_id: str, auth_type: str, usage_key: str) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": allow_resources()}],
        },
        "context": {"org_id": str(org_id), "principal_id": principal_id, "auth_type": auth_type},
        "usageIdentifierKey": usage_key,
    }


def normalized(response: dict[str, Any]) -> dict[str, Any]:
    """`response` with each statement's resources sorted (their order carries no meaning)."""
    result = copy.deepcopy(response)
    for statement in result.get("policyDocument", {}).get("Statement", []):
        if isinstance(statement.get("Resource"), list):
            statement["Resource"] = sorted(statement["Resource"])
    return result


def _iam_pattern(resource: str) -> re.Pattern[str]:
    """IAM resource matching: `*` any run of characters (slashes included), `?` one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource))


def iam_allows(policy: dict[str, Any], arn: str) -> bool:
    """Whether the policy document allows execute-api:Invoke on `arn` (an explicit Deny wins)."""
    allowed = False
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(_iam_pattern(action).fullmatch("execute-api:Invoke") for action in actions):
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(_iam_pattern(resource).fullmatch(arn) for resource in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


# ---- signing keys and a JWKS server ----


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        exporter = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        jwk = json.loads(exporter.to_jwk(public))
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = "same",
        algorithm: str | None = None,
        extra_headers: dict[str, Any] | None = None,
    ) -> str:
        headers = {} if kid is None else {"kid": self.kid if kid == "same" else kid}
        headers.update(extra_headers or {})
        return jwt.encode(claims, self.private_key, algorithm=algorithm or self.algorithm, headers=headers)


def rsa_key(kid: str, bits: int = 2048) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (stdlib http.server in a thread) whose answer tests can change."""

    keys: list[SigningKey] = field(default_factory=list)
    status: int = 200
    body_override: bytes | None = None
    delay_seconds: float = 0.0
    requests: int = 0

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.delay_seconds:
                    threading.Event().wait(server.delay_seconds)
                body = server.body_override
                if body is None:
                    body = json.dumps({"keys": [key.public_jwk() for key in server.keys]}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"

    def serve(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.body_override = None

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url(path: str = "/.well-known/jwks.json") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class FakeMonotonic:
    """Stands in for time.monotonic in authorizer_jwks; tests move it forward explicitly."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---- logs ----


class LogCollector(logging.Handler):
    """Each record as formatted (traceback included) and as its raw fields (message arguments, extras)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.__dict__))


@contextmanager
def captured_log_lines() -> Iterator[list[str]]:
    """Every log record at any level while the block runs: the formatted line, traceback and extras."""
    app_logger = function_module("authorizer").logger
    collector = LogCollector()
    powertools_lines = LogCollector()
    powertools_lines.setFormatter(app_logger.registered_formatter)
    root = logging.getLogger()
    old_root_level, old_app_level = root.level, app_logger.log_level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    app_logger.addHandler(powertools_lines)
    app_logger.setLevel(logging.DEBUG)
    lines: list[str] = []
    try:
        yield lines
    finally:
        lines.extend(collector.lines + powertools_lines.lines)
        root.removeHandler(collector)
        root.setLevel(old_root_level)
        app_logger.removeHandler(powertools_lines)
        app_logger.setLevel(old_app_level)
