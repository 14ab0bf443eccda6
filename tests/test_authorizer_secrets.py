"""The HS256 secret and the frontend usage key from Secrets Manager (moto): read once, cached, faults are 5xx."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt
import pytest

from tests.authorizer_support import authorize, authorizer_event, expected_allow, normalized
from tests.conftest import AWS_REGION as REGION

SECRET = "hs256-secret-from-secrets-manager-0123456789"
FRONTEND_KEY = "frontend-usage-key-from-secrets-manager-01"


@pytest.fixture
def secretsmanager(mocked_secretsmanager: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("JWT_SECRET", "FRONTEND_USAGE_KEY", "JWT_ALGORITHMS", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    client = mocked_secretsmanager
    monkeypatch.setenv("JWT_SECRET_ARN", client.create_secret(Name="jwt", SecretString=SECRET)["ARN"])
    monkeypatch.setenv(
        "FRONTEND_USAGE_KEY_SECRET_ARN", client.create_secret(Name="frontend", SecretString=FRONTEND_KEY)["ARN"]
    )
    return client


def decide(token: str) -> str | dict[str, Any]:
    try:
        return normalized(authorize(authorizer_event(f"Bearer {token}")))
    except Exception as exc:  # noqa: BLE001 - classified here
        return "401" if str(exc) == "Unauthorized" else "5xx"


def token(now: datetime, secret: str = SECRET) -> str:
    return jwt.encode({"sub": "s", "exp": int(now.timestamp()) + 600, "org_id": 9}, secret, algorithm="HS256")


def test_secrets_come_from_secrets_manager_and_are_cached(secretsmanager: Any, now: datetime) -> None:
    assert decide(token(now)) == expected_allow(9, "user:s", "jwt", FRONTEND_KEY)

    # Rotating the secret is seen only when the cached copy ages out (per container, SECRET_MAX_AGE_SECONDS).
    secretsmanager.put_secret_value(SecretId="jwt", SecretString="rotated-" + SECRET)
    assert decide(token(now)) == expected_allow(9, "user:s", "jwt", FRONTEND_KEY)
    assert decide(token(now, "rotated-" + SECRET)) == "401"


def test_a_short_secret_in_secrets_manager_is_a_server_fault(secretsmanager: Any, now: datetime) -> None:
    secretsmanager.put_secret_value(SecretId="jwt", SecretString="too-short")
    assert decide(token(now)) == "5xx"


def test_an_unreadable_secret_is_a_server_fault(
    secretsmanager: Any, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:missing-AbCdEf")
    assert decide(token(now)) == "5xx"
    assert decide("garbage") == "401"  # a token that is not even a JWT never needs the secret


def test_an_unreadable_frontend_key_is_a_server_fault(
    secretsmanager: Any, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FRONTEND_USAGE_KEY_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:gone-AbCdEf"
    )
    assert decide(token(now)) == "5xx"
