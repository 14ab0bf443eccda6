"""API key verification (docs/api.md §2.3): format first, then the `api_keys` row of its prefix.

A malformed key is rejected before any query. The stored `key_hash` is compared
with the key's SHA-256 in constant time; a revoked key, or one whose
`expires_at` is at or before `now`, is invalid. Only the prefix is ever logged.
A store failure is not a 401: it propagates (API Gateway answers 500).

The usage-plan key API Gateway meters the caller by is the row's `usage_key`, a
random value that is not the secret; a key issued before that column (NULL) is
still metered by the key string itself, until `tools.apikeys migrate` gives it one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from authorizer_identity import InvalidCredentials, Principal, organization_id

from analytics_common.api_keys import api_key_prefix, hash_matches
from analytics_common.postgres import PostgresClient

API_KEY_BY_PREFIX = """
SELECT id, org_id, key_hash, expires_at, revoked_at, usage_key
FROM api_keys
WHERE prefix = :prefix
"""


def verify_api_key(key: str, postgres: Callable[[], PostgresClient], now: datetime) -> Principal:
    """The principal a valid API key proves; InvalidCredentials if it is not valid.

    `postgres` is the client factory: a malformed key never even configures a client.
    """
    prefix = api_key_prefix(key)
    if prefix is None:
        raise InvalidCredentials("malformed api key")
    rows = postgres().run(API_KEY_BY_PREFIX, prefix=prefix)
    if not rows:
        raise InvalidCredentials(f"unknown api key prefix {prefix}")
    key_id, org_id, key_hash, expires_at, revoked_at, usage_key = rows[0]
    if not hash_matches(key, key_hash):
        raise InvalidCredentials(f"api key {prefix} does not match")
    if revoked_at is not None:
        raise InvalidCredentials(f"api key {prefix} is revoked")
    if expires_at is not None and expires_at <= now:
        raise InvalidCredentials(f"api key {prefix} has expired")
    return Principal(
        org_id=organization_id(org_id),
        principal_id=f"api_key:{key_id}",
        auth_type="api_key",
        usage_key=usage_key or key,  # NULL: a legacy key, whose API Gateway key is the key string
    )
