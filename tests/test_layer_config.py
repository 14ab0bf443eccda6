"""Configuration and secrets: env vars, Secrets Manager through Powertools parameters (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analytics_common import config
from analytics_common.errors import ConfigurationError, StoreUnavailable
from analytics_common.postgres import parse_database_url
from tests.conftest import AWS_REGION as REGION


@pytest.fixture
def secretsmanager(mocked_secretsmanager: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("DATABASE_URL", "DATABASE_SECRET_ARN", "CLICKHOUSE_URL", "CLICKHOUSE_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    return mocked_secretsmanager


def test_database_url_from_an_rds_format_secret(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = {"username": "analytics", "password": "p@ss:w/rd", "host": "db.internal", "port": 6432, "dbname": "cdp"}
    arn = secretsmanager.create_secret(Name="rds", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)

    params = parse_database_url(config.database_url())
    assert (params.user, params.password, params.host, params.port, params.database) == (
        "analytics",
        "p@ss:w/rd",
        "db.internal",
        6432,
        "cdp",
    )
    assert params.tls  # a non-local host is reached over verified TLS


def test_secret_is_cached_per_container(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = secretsmanager.create_secret(Name="ch", SecretString="https://u:pw@ch.example.com:8443/analytics")["ARN"]
    monkeypatch.setenv("CLICKHOUSE_SECRET_ARN", arn)
    assert config.clickhouse_url() == "https://u:pw@ch.example.com:8443/analytics"

    secretsmanager.put_secret_value(SecretId=arn, SecretString="https://u:rotated@ch.example.com:8443/analytics")
    assert config.clickhouse_url() == "https://u:pw@ch.example.com:8443/analytics"  # cached (max_age)


def test_env_var_wins_over_the_secret(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "chdb:///tmp/x?database=y")
    monkeypatch.setenv("CLICKHOUSE_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:never-read")
    assert config.clickhouse_url() == "chdb:///tmp/x?database=y"


def test_secrets_manager_failure_is_503_and_not_cached(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:clickhouse-dsn-AbCdEf"
    monkeypatch.setenv("CLICKHOUSE_SECRET_ARN", missing)
    with pytest.raises(StoreUnavailable):
        config.clickhouse_url()

    arn = secretsmanager.create_secret(Name="clickhouse-dsn", SecretString="https://u:pw@h:8443/db")["ARN"]
    monkeypatch.setenv("CLICKHOUSE_SECRET_ARN", arn)
    assert config.clickhouse_url() == "https://u:pw@h:8443/db"


def test_one_time_boxed_provider_through_the_public_api(secretsmanager, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    arn = secretsmanager.create_secret(Name="dsn", SecretString="https://u:pw@h:8443/db")["ARN"]
    monkeypatch.setenv("CLICKHOUSE_SECRET_ARN", arn)
    assert config.clickhouse_url() == "https://u:pw@h:8443/db"
    provider = config.secrets_provider()
    assert provider is config.secrets_provider()  # one per container, with the value cache
    client_config = provider.client.meta.config
    assert (client_config.connect_timeout, client_config.read_timeout) == (1, 2)
    assert client_config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert "secrets" not in base.DEFAULT_PROVIDERS  # Powertools' own providers are left alone


def test_missing_configuration_is_a_server_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_SECRET_ARN", "CLICKHOUSE_URL", "CLICKHOUSE_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError):
        config.database_url()
    with pytest.raises(ConfigurationError):
        config.clickhouse_url()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres:@/postgres?host=/run/pg",
            ("postgres", None, "postgres", "/run/pg/.s.PGSQL.5432", False),
        ),
        (
            "postgresql://app:secret@localhost:5433/analytics",
            ("app", "secret", "analytics", None, False),
        ),
        (
            "postgresql://app:s%40cret@db.example.com/analytics",
            ("app", "s@cret", "analytics", None, True),
        ),
        (
            "postgresql://app:x@10.0.0.5:5432/analytics?sslmode=disable",
            ("app", "x", "analytics", None, False),
        ),
        (
            "postgres://app@/analytics?host=/var/run/postgresql&port=6432",
            ("app", None, "analytics", "/var/run/postgresql/.s.PGSQL.6432", False),
        ),
    ],
)
def test_database_url_forms(url: str, expected: tuple) -> None:
    params = parse_database_url(url)
    assert (params.user, params.password, params.database, params.unix_sock, params.tls) == expected
    assert "secret" not in params.redacted() and "cret" not in params.redacted()
