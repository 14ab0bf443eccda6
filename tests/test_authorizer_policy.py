"""What an Allow covers (the cached decision is reused for other requests), and the event edge cases."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest

from analytics_common.api_keys import api_key_hash, format_api_key, issued_key_prefix
from analytics_common.endpoints import NAMES
from analytics_common.postgres import postgres_client
from tests.authorizer_support import (
    ACCOUNT,
    API_ID,
    REGION,
    STAGE,
    allow_resources,
    authorize,
    authorizer_event,
    expected_allow,
    iam_allows,
    method_arn,
    normalized,
)
from tests.conftest import Stores
from tests.lambda_support import ROOT, sample_event

SECRET = "policy-test-secret-0123456789abcdef-xyz"
FRONTEND_KEY = "frontend-usage-key-for-policy-tests-0001"
METHODS = ("POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*")


@pytest.fixture
def hs256_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_ALGORITHMS", "JWT_SECRET_ARN", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("FRONTEND_USAGE_KEY", FRONTEND_KEY)


def bearer(now: datetime, org_id: int = 77, sub: str = "analyst") -> str:
    at = int(now.timestamp())
    return "Bearer " + jwt.encode({"sub": sub, "exp": at + 600, "org_id": org_id}, SECRET, algorithm="HS256")


def unauthorized(event: dict[str, Any]) -> bool:
    try:
        authorize(event)
    except Exception as exc:  # noqa: BLE001 - classified here
        return str(exc) == "Unauthorized"
    return False


@pytest.mark.usefixtures("hs256_env")
def test_a_decision_for_overview_allows_usage_and_nothing_else(now: datetime) -> None:
    response = authorize(authorizer_event(bearer(now), arn=method_arn("/api/analytics/overview/")))
    policy = response["policyDocument"]
    assert normalized(response) == expected_allow(77, "user:analyst", "jwt", FRONTEND_KEY)

    # Every endpoint, with and without the trailing slash, on this API and stage: allowed.
    for name in NAMES:
        for path in (f"/api/analytics/{name}", f"/api/analytics/{name}/"):
            assert iam_allows(policy, method_arn(path)), path
    assert iam_allows(policy, method_arn("/api/analytics/usage/"))

    denied = [
        *(method_arn(f"/api/analytics/{name}/", method) for name in ("overview", "usage") for method in METHODS),
        method_arn("/api/analytics/usage/", api_id="otherapi01"),
        method_arn("/api/analytics/usage/", stage="staging"),
        method_arn("/api/analytics/usage/", region="us-east-1"),
        method_arn("/api/analytics/usage/", account="210987654321"),
        method_arn("/api/analytics/admin"),
        method_arn("/api/analytics/usage/extra"),
        method_arn("/api/analytics"),
        method_arn("/api/analytics/"),
        method_arn("/"),
        method_arn("/api/other/usage"),
    ]
    for arn in denied:
        assert not iam_allows(policy, arn), arn


@pytest.mark.usefixtures("hs256_env")
@pytest.mark.parametrize("called", ["/api/analytics/usage", "/api/analytics/segments/", "/api/analytics/overlap"])
def test_the_decision_does_not_depend_on_which_endpoint_was_called(now: datetime, called: str) -> None:
    response = authorize(authorizer_event(bearer(now), arn=method_arn(called)))
    assert normalized(response) == expected_allow(77, "user:analyst", "jwt", FRONTEND_KEY)


@pytest.mark.usefixtures("hs256_env")
def test_the_policy_follows_the_api_and_stage_that_asked(now: datetime) -> None:
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:zz99yy88xx/staging/GET/api/analytics/copilot"
    response = authorize(authorizer_event(bearer(now), arn=arn))
    assert sorted(response["policyDocument"]["Statement"][0]["Resource"]) == allow_resources(
        api_id="zz99yy88xx", stage="staging"
    )
    assert not iam_allows(response["policyDocument"], method_arn("/api/analytics/copilot", api_id=API_ID, stage=STAGE))


@pytest.mark.usefixtures("hs256_env")
@pytest.mark.parametrize(
    "arn", ["", "not-an-arn", "arn:aws:lambda:eu-west-1:123456789012:function:x", "arn:aws:execute-api:eu-west-1:1:a/b"]
)
def test_a_valid_token_with_an_unusable_method_arn_is_a_server_fault(now: datetime, arn: str) -> None:
    with pytest.raises(ValueError, match="methodArn"):
        authorize(authorizer_event(bearer(now), arn=arn))


@pytest.mark.usefixtures("hs256_env")
def test_conflicting_authorization_headers_are_unauthorized(now: datetime) -> None:
    event = authorizer_event(bearer(now))
    event["headers"]["authorization"] = bearer(now, org_id=78)
    assert unauthorized(event)

    repeated = authorizer_event(bearer(now))
    repeated["multiValueHeaders"]["Authorization"].append(bearer(now, org_id=78))
    assert unauthorized(repeated)


@pytest.mark.usefixtures("hs256_env")
def test_the_header_in_only_one_of_the_two_maps_is_enough(now: datetime) -> None:
    event = authorizer_event(bearer(now))
    del event["multiValueHeaders"]["Authorization"]
    assert normalized(authorize(event)) == expected_allow(77, "user:analyst", "jwt", FRONTEND_KEY)

    event = authorizer_event(bearer(now))
    event["headers"] = None
    assert normalized(authorize(event)) == expected_allow(77, "user:analyst", "jwt", FRONTEND_KEY)


@pytest.mark.usefixtures("hs256_env")
@pytest.mark.parametrize("shape", ["token event", "no headers", "header null", "header not text"])
def test_events_without_a_usable_header_are_unauthorized(now: datetime, shape: str) -> None:
    event: dict[str, Any]
    if shape == "token event":
        event = {"type": "TOKEN", "authorizationToken": bearer(now), "methodArn": method_arn()}
    else:
        event = authorizer_event(None)
        if shape == "header null":
            event["headers"]["Authorization"] = None
        elif shape == "header not text":
            event["headers"]["Authorization"] = {"token": bearer(now)}
            event["multiValueHeaders"]["Authorization"] = [12]
    assert unauthorized(event)


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Postgres configured at all: any query would be a server fault, not a 401."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    postgres_client.cache_clear()
    yield
    postgres_client.cache_clear()


@pytest.mark.usefixtures("no_database", "hs256_env")
@pytest.mark.parametrize(
    "key",
    [
        "pa_",
        "pa_abcdefgh",
        "pa_abcdefgh_",
        "pa_abcdefgh_" + "x" * 31,
        "pa_Abcdefgh_" + "x" * 40,
        "pa_abcdefgh_" + "x" * 129,
    ],
)
def test_malformed_api_keys_are_rejected_before_any_query(key: str) -> None:
    assert unauthorized(authorizer_event(f"Bearer {key}"))


@pytest.mark.usefixtures("no_database", "hs256_env")
def test_a_well_formed_api_key_does_query(now: datetime) -> None:
    # The counterpart of the test above: the same setup does fail once a query is made.
    with pytest.raises(Exception) as raised:
        authorize(authorizer_event("Bearer pa_abcdefgh_" + "x" * 40))
    assert str(raised.value) != "Unauthorized"


@pytest.mark.usefixtures("hs256_env")
def test_the_sample_event_is_allowed_once_its_demo_key_exists(db: Stores, ids: Iterator[int], now: datetime) -> None:
    event = sample_event("authorizer")
    key = event["headers"]["Authorization"].split(" ", 1)[1]
    org_id, key_id = next(ids), next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "demo"]])
    db.pg.run("DELETE FROM api_keys WHERE prefix = 'demo0001'")
    db.insert_pg(
        "api_keys",
        ["id", "org_id", "name", "prefix", "key_hash", "expires_at"],
        [[key_id, org_id, "sam local demo", "demo0001", api_key_hash(key), now + timedelta(days=1)]],
    )
    try:
        response = authorize(copy.deepcopy(event))
    finally:
        db.pg.run("DELETE FROM api_keys WHERE id = :id", id=key_id)
    assert normalized(response) == expected_allow(org_id, f"api_key:{key_id}", "api_key", key)
    assert event["type"] == "REQUEST" and event["requestContext"]["stage"] == STAGE


def test_a_cold_start_with_plain_env_settings_imports_no_boto3(db: Stores, ids: Iterator[int]) -> None:
    """Import the authorizer and decide a JWT and an API key in a fresh interpreter: boto3 never loads."""
    org_id, key_id = next(ids), next(ids)
    key = format_api_key(f"cold{org_id % 10000:04d}", "k" * 40)
    db.insert_pg("organizations", ["id", "name"], [[org_id, "cold start"]])
    db.insert_pg(
        "api_keys",
        ["id", "org_id", "name", "prefix", "key_hash"],
        [[key_id, org_id, "cold", issued_key_prefix(key), api_key_hash(key)]],
    )
    token = jwt.encode({"sub": "cold", "exp": int(time.time()) + 600, "org_id": org_id}, SECRET, algorithm="HS256")
    script = f"""
import json, sys
from functions.authorizer.app import lambda_handler
from tests.lambda_support import FakeLambdaContext, sample_event
for bearer in ({token!r}, {key!r}):
    event = sample_event("authorizer")
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = "Bearer " + bearer
    print(lambda_handler(event, FakeLambdaContext())["context"]["auth_type"], file=sys.stderr)
print(json.dumps(sorted(m for m in ("boto3", "aws_xray_sdk") if m in sys.modules)))
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{ROOT}/layers/common:{ROOT}/functions/authorizer",
        "JWT_SECRET": SECRET,
        "FRONTEND_USAGE_KEY": FRONTEND_KEY,
        "DATABASE_URL": db.database_url,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.split() == ["jwt", "api_key"]
    assert result.stdout.strip() == "[]"
