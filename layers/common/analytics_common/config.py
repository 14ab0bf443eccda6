"""Settings from the environment (docs/api.md §5) and secrets from Secrets Manager.

A `*_SECRET_ARN` is read through one Powertools `SecretsProvider` per container
(`secrets_provider()`), which caches each value for `SECRET_MAX_AGE_SECONDS`. It is
created on first use, so boto3 is imported only when a secret is actually needed: a
function configured by plain env vars never pays for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from analytics_common.errors import ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_MAX_AGE_SECONDS = 300
DEFAULT_STORE_TIMEOUT_SECONDS = 5.0
# boto3's defaults (60 s timeouts, retries) would let an unreachable Secrets Manager outlast the
# function's timeout; these keep a failing fetch to a few seconds, answered as 503.
SECRETS_CLIENT_CONFIG: Mapping[str, Any] = {
    "connect_timeout": 1,
    "read_timeout": 2,
    "retries": {"mode": "standard", "total_max_attempts": 2},
}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def store_timeout_seconds() -> float:
    """Budget of one store query; kept well below the function timeout."""
    return float(env("STORE_TIMEOUT_SECONDS") or DEFAULT_STORE_TIMEOUT_SECONDS)


def query_cache_ttl_seconds() -> float:
    """How long a cached answer may be served (`QUERY_CACHE_TTL_SECONDS`; unset or 0: no cache)."""
    return float(env("QUERY_CACHE_TTL_SECONDS") or 0)


@lru_cache(maxsize=1)
def secrets_provider() -> SecretsProvider:
    """The container's one provider (and value cache), its Secrets Manager client time-boxed."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.config import Config

    return SecretsProvider(boto_config=Config(**SECRETS_CLIENT_CONFIG))


def get_secret_value(arn: str) -> str:
    """The secret string behind `arn`, cached per container; failures are not cached."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = secrets_provider().get(arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise StoreUnavailable("Configuration store unavailable.") from exc
    if not isinstance(value, str):  # binary secrets are not supported
        raise ConfigurationError(f"secret {arn} holds no string")
    return value


def setting_or_secret(name: str, secret_arn_name: str) -> str:
    """`name` from the environment, or else the secret named by `secret_arn_name`."""
    value = env(name)
    if value:
        return value
    arn = env(secret_arn_name)
    if arn:
        return get_secret_value(arn)
    return ""


def database_url() -> str:
    url = env("DATABASE_URL")
    if url:
        return url
    arn = env("DATABASE_SECRET_ARN")
    if not arn:
        raise ConfigurationError("DATABASE_URL or DATABASE_SECRET_ARN must be set")
    return rds_secret_to_url(json.loads(get_secret_value(arn)))


def rds_secret_to_url(secret: Mapping[str, Any]) -> str:
    """A Secrets Manager secret in the RDS format as a `postgresql://` URL."""
    user = quote(str(secret["username"]), safe="")
    password = quote(str(secret.get("password", "")), safe="")
    host = secret["host"]
    port = secret.get("port", 5432)
    dbname = quote(str(secret.get("dbname", "postgres")), safe="")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}"


def clickhouse_url() -> str:
    dsn = setting_or_secret("CLICKHOUSE_URL", "CLICKHOUSE_SECRET_ARN")
    if not dsn:
        raise ConfigurationError("CLICKHOUSE_URL or CLICKHOUSE_SECRET_ARN must be set")
    return dsn
