"""The logs: one JSON line per request (endpoints) and per decision (authorizer), and no secret anywhere.

Every endpoint writes one `request` line per invocation carrying the request id
(`correlation_id`, API Gateway's; `function_request_id`, Lambda's), `org_id`,
`endpoint`, `method`, `status` and `duration_ms`, whatever the outcome. The
authorizer writes one decision line (`allowed`, `denied` or `authorizer fault`)
with the same ids, `decision`, `endpoint` and `duration_ms`, plus `org_id` when
allowed and `status` when API Gateway answers for it (401, 500).

A full run (good and bad credentials through the authorizer, every endpoint
with the caller's token in its event, store and configuration faults) is logged
at DEBUG for our own loggers and INFO for the libraries', and no line holds a
token, an API key or its secret part, a password, a configured secret or a DSN.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import jwt
import pytest
from moto import mock_aws

from analytics_common import config
from analytics_common.api_keys import api_key_hash, generate_api_key, issued_key_prefix
from analytics_common.clickhouse import clickhouse_client
from analytics_common.endpoints import NAMES
from analytics_common.postgres import postgres_client
from tests.authorizer_support import LogCollector, authorizer_event
from tests.conftest import AWS_REGION, Stores, fake_aws_credentials
from tests.fault_support import Tenants, free_port, seed_tenants
from tests.lambda_support import FakeLambdaContext, api_event, function_module

ENDPOINTS = NAMES
HS_SECRET = "logs-test-hs256-secret-0123456789abcdef-xyz"
FRONTEND_KEY = "logs-test-frontend-usage-key-0123456789ab"
PG_PASSWORD = "pg-log-pa55word-never-logged"
CH_PASSWORD = "ch-log-pa55word-never-logged"
REGION = AWS_REGION


# ---- capturing every log line ----


@dataclass
class CapturedLogs:
    json_stream: io.StringIO = field(default_factory=io.StringIO)
    collector: LogCollector = field(default_factory=LogCollector)

    def json_lines(self) -> list[dict[str, Any]]:
        """The functions' Powertools lines, exactly as Lambda would write them to CloudWatch."""
        return [json.loads(line) for line in self.json_stream.getvalue().splitlines() if line.strip()]

    def for_request(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if line.get("correlation_id") == request_id]

    def text(self) -> str:
        return self.json_stream.getvalue() + "\n".join(self.collector.lines)


OWN_LOGGERS = ("analytics_common", "authorizer_jwt", "authorizer_jwks", "authorizer_api_keys")


@contextmanager
def all_logs() -> Iterator[CapturedLogs]:
    """Every function's Powertools logger at DEBUG; everything else through the root logger."""
    captured = CapturedLogs()
    json_handler = logging.StreamHandler(captured.json_stream)
    restore: list[tuple[logging.Logger, int]] = []
    function_loggers: dict[str, logging.Logger] = {}
    for name in [*ENDPOINTS, "authorizer"]:
        powertools_logger = function_module(name).logger
        json_handler.setFormatter(powertools_logger.registered_formatter)
        # Functions whose Logger has the same service share one stdlib logger: one handler each.
        function_loggers[powertools_logger.name] = logging.getLogger(powertools_logger.name)
    root = logging.getLogger()
    loggers = [*function_loggers.values(), *(logging.getLogger(name) for name in OWN_LOGGERS)]
    for logger in [root, *loggers]:
        restore.append((logger, logger.level))
    root.setLevel(logging.INFO)  # libraries at the level a deployment would run them
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    # The layer's loggers write through the functions' JSON handler and do not propagate to the root.
    json_loggers = [*function_loggers.values(), logging.getLogger("analytics_common")]
    for logger in json_loggers:
        logger.addHandler(json_handler)
    root.addHandler(captured.collector)
    try:
        yield captured
    finally:
        root.removeHandler(captured.collector)
        for logger in json_loggers:
            logger.removeHandler(json_handler)
        for logger, level in restore:
            logger.setLevel(level)


# ---- invoking with a known context ----


def call_endpoint(name: str, event: dict[str, Any]) -> tuple[dict[str, Any], FakeLambdaContext]:
    context = FakeLambdaContext(function_name=name)
    return function_module(name).lambda_handler(event, context), context


def call_authorizer(header: str | None) -> tuple[str, str, FakeLambdaContext]:
    """("allow" | "401" | "5xx", the request id, the context)."""
    event = authorizer_event(header)
    context = FakeLambdaContext(function_name="authorizer")
    try:
        function_module("authorizer").lambda_handler(event, context)
        outcome = "allow"
    except Exception as exc:  # noqa: BLE001 - classified here
        outcome = "401" if str(exc) == "Unauthorized" else "5xx"
    return outcome, event["requestContext"]["requestId"], context


def with_password(url: str, password: str) -> tuple[str, str]:
    """`url` carrying a password (the session's embedded server trusts any); the URL and the password used."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{host}")), password


@dataclass
class Credentials:
    jwt: str
    api_key: str
    revoked_key: str
    secrets: list[str]  # what must never be logged


@pytest.fixture
def auth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_ALGORITHMS", "JWT_SECRET_ARN", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FRONTEND_USAGE_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv("JWT_SECRET", HS_SECRET)
    monkeypatch.setenv("FRONTEND_USAGE_KEY", FRONTEND_KEY)


def make_credentials(db: Stores, ids: Iterator[int], org_id: int, now: datetime) -> Credentials:
    at = int(now.timestamp())
    good = jwt.encode({"sub": "analyst@example.com", "exp": at + 600, "org_id": org_id}, HS_SECRET, algorithm="HS256")
    api_key, revoked_key = generate_api_key(), generate_api_key()
    rows: list[list[Any]] = [
        [next(ids), org_id, "ci", issued_key_prefix(api_key), api_key_hash(api_key), None],
        [next(ids), org_id, "old", issued_key_prefix(revoked_key), api_key_hash(revoked_key), now - timedelta(days=1)],
    ]
    db.insert_pg("api_keys", ["id", "org_id", "name", "prefix", "key_hash", "revoked_at"], rows)
    secrets = [HS_SECRET, FRONTEND_KEY, good, good.split(".")[2]]
    for key in (api_key, revoked_key):
        secrets += [key, key.split("_", 2)[2]]
    return Credentials(good, api_key, revoked_key, secrets)


def assert_no_secret(logs: CapturedLogs, secrets: list[str]) -> None:
    text = logs.text()
    assert text.strip(), "something was logged"
    for secret in secrets:
        assert secret, "an empty string proves nothing"
        if secret in text:
            at = text.index(secret)
            pytest.fail(f"a secret reached the logs: ...{text[max(0, at - 150) : at + 20]}...")


# ---- one line per request ----


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_writes_one_request_line_per_request(
    name: str, db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants: Tenants = seed_tenants(db.insert_pg, ids, now)
    org = str(tenants.org_id)
    resource = api_event(name, tenants.org_id)["resource"]
    requests = [
        (api_event(name, tenants.org_id), 200, org),
        (api_event(name, None), 403, None),
        (api_event(name, tenants.org_id, path=f"/api/analytics/{name}/nope"), 404, org),
        (api_event(name, tenants.org_id, method="DELETE"), 404, org),  # the gateway answers 405 before this
    ]
    with all_logs() as logs:
        answered = [(event, *call_endpoint(name, event), status, org_id) for event, status, org_id in requests]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://analytics:{PG_PASSWORD}@127.0.0.1:{free_port()}/analytics")
        postgres_client.cache_clear()
        event = api_event(name, tenants.org_id)
        answered.append((event, *call_endpoint(name, event), 503, org))

    for event, response, context, status, org_id in answered:
        assert response["statusCode"] == status
        lines = [
            line for line in logs.for_request(event["requestContext"]["requestId"]) if line["message"] == "request"
        ]
        assert len(lines) == 1, lines
        line = lines[0]
        assert line["function_request_id"] == context.aws_request_id
        assert line["status"] == status
        assert line["method"] == event["httpMethod"]
        assert line["endpoint"] == resource
        assert line.get("org_id") == org_id
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert line["level"] == "INFO" and line["timestamp"]
    assert_no_secret(logs, [PG_PASSWORD])


@pytest.mark.usefixtures("auth_env")
def test_the_authorizer_writes_one_decision_line_per_request(
    db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "Caller"]])
    credentials = make_credentials(db, ids, org_id, now)
    postgres_client.cache_clear()
    with all_logs() as logs:
        decisions = [
            (*call_authorizer(f"Bearer {credentials.jwt}"), "allowed", "allow"),
            (*call_authorizer(f"Bearer {credentials.api_key}"), "allowed", "allow"),
            (*call_authorizer(f"Bearer {credentials.revoked_key}"), "denied", "401"),
            (*call_authorizer(None), "denied", "401"),
        ]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://analytics:{PG_PASSWORD}@127.0.0.1:{free_port()}/analytics")
        postgres_client.cache_clear()
        decisions.append((*call_authorizer(f"Bearer {credentials.api_key}"), "authorizer fault", "5xx"))

    expected_status = {"allow": None, "401": 401, "5xx": 500}
    for outcome, request_id, context, message, expected in decisions:
        assert outcome == expected
        lines = [
            line
            for line in logs.for_request(request_id)
            if line["message"] in ("allowed", "denied", "authorizer fault")
        ]
        assert len(lines) == 1, lines
        line = lines[0]
        assert line["message"] == message
        assert line["function_request_id"] == context.aws_request_id
        assert line["decision"] == {"allow": "allow", "401": "deny", "5xx": "error"}[outcome]
        assert line["endpoint"] == "/api/analytics/overview" and line["method"] == "GET"
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert line.get("status") == expected_status[outcome]
        if outcome == "allow":
            assert line["org_id"] == str(org_id)
            assert line["auth_type"] in ("jwt", "api_key")
        else:
            assert "org_id" not in line
    assert_no_secret(logs, [*credentials.secrets, PG_PASSWORD])


# ---- a full run, and nothing secret in its logs ----


@pytest.mark.usefixtures("auth_env")
def test_a_full_run_logs_no_secret(
    db: Stores, ids: Iterator[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint functions' events carry the bearer token: with POWERTOOLS_LOGGER_LOG_EVENT=true
    # (read when the handlers are decorated, at import) they would log it, and this test fails.
    tenants = seed_tenants(db.insert_pg, ids, now)
    credentials = make_credentials(db, ids, tenants.org_id, now)
    database_url, pg_password = with_password(db.database_url, PG_PASSWORD)
    monkeypatch.setenv("DATABASE_URL", database_url)
    postgres_client.cache_clear()

    at = int(now.timestamp())
    claims = {"sub": "analyst@example.com", "exp": at + 600, "org_id": tenants.org_id}
    wrong_secret = "someone-elses-hs256-secret-0123456789abcdef"
    forged_jwt = jwt.encode(claims, wrong_secret, algorithm="HS256")
    expired_jwt = jwt.encode({**claims, "exp": at - 3600}, HS_SECRET, algorithm="HS256")
    forged_key = credentials.api_key[:-6] + "AAAAAA"
    basic_password = "basic-pa55word-never-logged"
    basic = base64.b64encode(f"analyst:{basic_password}".encode()).decode()
    closed_ch = f"https://analytics:{CH_PASSWORD}@127.0.0.1:{free_port()}/analytics"
    closed_pg = f"postgresql://analytics:{PG_PASSWORD}@127.0.0.1:{free_port()}/analytics"
    rds_password = "rds-pa55word-from-secrets-manager"
    secrets = [
        *credentials.secrets,
        forged_jwt,
        forged_jwt.split(".")[2],
        expired_jwt,
        expired_jwt.split(".")[2],
        wrong_secret,
        forged_key,
        forged_key.split("_", 2)[2],
        basic_password,
        basic,
        pg_password,
        database_url,
        CH_PASSWORD,
        closed_ch,
        closed_pg,
        rds_password,
    ]

    with all_logs() as logs:
        # The authorizer: good and bad credentials, and a fault.
        outcomes = [
            call_authorizer(f"Bearer {credentials.jwt}")[0],
            call_authorizer(f"bearer {credentials.api_key}")[0],
            call_authorizer(f"Bearer {forged_jwt}")[0],
            call_authorizer(f"Bearer {expired_jwt}")[0],
            call_authorizer(f"Bearer {forged_key}")[0],
            call_authorizer(f"Bearer {credentials.revoked_key}")[0],
            call_authorizer(f"Basic {basic}")[0],
            call_authorizer(f"Bearer {credentials.api_key} {credentials.jwt}")[0],
        ]
        assert outcomes == ["allow", "allow", "401", "401", "401", "401", "401", "401"]

        # Every endpoint, with the caller's credentials in the event as API Gateway passes them on.
        statuses = []
        for name in ENDPOINTS:
            for token in (credentials.jwt, credentials.api_key):
                headers = {"Authorization": f"Bearer {token}"}
                statuses.append(call_endpoint(name, api_event(name, tenants.org_id, headers=headers))[0]["statusCode"])
                statuses.append(call_endpoint(name, api_event(name, None, headers=headers))[0]["statusCode"])
        assert statuses == [200, 403] * 2 * len(ENDPOINTS)

        # Faults: a store unreachable, a query that is a bug, a secret that cannot be read.
        headers = {"Authorization": f"Bearer {credentials.jwt}"}
        monkeypatch.setenv("CLICKHOUSE_URL", closed_ch)
        clickhouse_client.cache_clear()
        statuses = [
            call_endpoint(name, api_event(name, tenants.org_id, headers=headers))[0]["statusCode"] for name in ENDPOINTS
        ]
        assert 503 in statuses
        monkeypatch.setenv("CLICKHOUSE_URL", db.clickhouse_url)
        clickhouse_client.cache_clear()

        monkeypatch.setenv("DATABASE_URL", closed_pg)
        postgres_client.cache_clear()
        statuses = [
            call_endpoint(name, api_event(name, tenants.org_id, headers=headers))[0]["statusCode"] for name in ENDPOINTS
        ]
        assert set(statuses) == {503}
        assert call_authorizer(f"Bearer {credentials.api_key}")[0] == "5xx"

        import overview_queries

        with monkeypatch.context() as patch:
            patch.setenv("DATABASE_URL", database_url)
            postgres_client.cache_clear()
            patch.setattr(
                overview_queries, "OVERVIEW_SQL", "SELECT no_such_column FROM segments WHERE org_id = :org_id"
            )
            assert (
                call_endpoint("overview", api_event("overview", tenants.org_id, headers=headers))[0]["statusCode"]
                == 500
            )

        fake_aws_credentials(monkeypatch)
        monkeypatch.delenv("DATABASE_URL")
        with mock_aws():
            config.secrets_provider.cache_clear()  # the next one is made inside moto
            secretsmanager = boto3.client("secretsmanager", region_name=REGION)
            secret = {"username": "analytics", "password": rds_password, "host": "127.0.0.1", "port": free_port()}
            arn = secretsmanager.create_secret(Name="analytics-db", SecretString=json.dumps(secret))["ARN"]
            monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
            postgres_client.cache_clear()
            secretsmanager.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
            assert call_endpoint("overview", api_event("overview", tenants.org_id))[0]["statusCode"] == 503
            secretsmanager.restore_secret(SecretId=arn)  # readable again; its database is not reachable
            assert call_endpoint("overview", api_event("overview", tenants.org_id))[0]["statusCode"] == 503
            config.secrets_provider.cache_clear()  # its client is moto's

    assert_no_secret(logs, secrets)
    # The layer's own lines (connection failures) were captured too, as JSON with the request id.
    layer_lines = [line for line in logs.json_lines() if str(line.get("name", "")).startswith("analytics_common")]
    assert layer_lines and all(line.get("correlation_id") for line in layer_lines)
    request_lines = [line for line in logs.json_lines() if line["message"] == "request"]
    decision_lines = [
        line for line in logs.json_lines() if line["message"] in ("allowed", "denied", "authorizer fault")
    ]
    assert len(request_lines) == 4 * len(ENDPOINTS) + 2 * len(ENDPOINTS) + 3
    assert len(decision_lines) == 9


@pytest.mark.parametrize("name", ENDPOINTS)
def test_the_event_is_never_logged_even_when_powertools_is_told_to(name: str) -> None:
    # POWERTOOLS_LOGGER_LOG_EVENT is read when the handler is decorated (at import): a fresh process.
    token = "Bearer eyJ-never-logged-token-" + name
    script = (
        "import json, sys\n"
        f"from functions.{name}.app import lambda_handler\n"
        "from tests.lambda_support import FakeLambdaContext, api_event\n"
        f"event = api_event('{name}', None, headers={{'Authorization': sys.argv[1]}})\n"
        "print(json.dumps(lambda_handler(event, FakeLambdaContext())['statusCode']))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "layers/common"), str(root / "functions" / name)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script, token], capture_output=True, text=True, env=env, cwd=root, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "403"
    assert '"message":"request"' in result.stdout  # it did log
    assert "never-logged-token" not in result.stdout + result.stderr
