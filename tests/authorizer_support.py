"""Helpers of the authorizer tests: real signing keys, a real JWKS server, events, logs, IAM matching."""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import logging
import re
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
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


@dataclass(frozen=True)
class LocalTls:
    """A certificate authority made for this test session, and a server certificate it signed for 127.0.0.1."""

    ca_file: Path  # trusted by the authorizer through SSL_CERT_FILE, as a private CA would be
    server_context: ssl.SSLContext


@cache
def local_tls() -> LocalTls:
    folder = Path(tempfile.mkdtemp(prefix="test-tls-"))
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "analytics test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain_file, key_file = folder / "server.pem", folder / "server.key"
    chain_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    return LocalTls(ca_file, context)


def trust_test_ca(monkeypatch: Any) -> None:
    """Make TLS clients of this process trust the test CA (OpenSSL reads SSL_CERT_FILE for its default paths)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(local_tls().ca_file))


@dataclass
class JwksServer:
    """A JWKS endpoint on https://127.0.0.1 (stdlib http.server in a thread) whose answer tests can change.

    Its certificate is signed by `local_tls()`'s CA, which a client trusts with SSL_CERT_FILE.
    """

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
        self._httpd.socket = local_tls().server_context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"

    def serve(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.body_override = None

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url(path: str = "/.well-known/jwks.json") -> str:
    """An https URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"https://127.0.0.1:{port}{path}"


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
