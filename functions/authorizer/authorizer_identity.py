"""Who is calling: the bearer token of the request, and the principal it proves.

`InvalidCredentials` means "no valid credentials" (API Gateway answers 401); its
reason is a fixed phrase for the log, never the token or anything taken from it.
Any other exception is a server fault (API Gateway answers 500).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analytics_common.tenancy import parse_org_id

AUTHORIZATION_HEADER = "authorization"
BEARER_SCHEME = "bearer"
MAX_TOKEN_LENGTH = 8192
# RFC 6750 b64token: what a bearer token may consist of (JWTs and API keys both fit).
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class InvalidCredentials(Exception):
    """The request carries no valid credentials; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """A verified caller: what goes into the authorizer context and the usage plan."""

    org_id: int
    principal_id: str  # `user:<sub>` or `api_key:<api_keys.id>`
    auth_type: Literal["jwt", "api_key"]
    usage_key: str | None  # the API key's usage-plan key (api_keys.usage_key); None for JWT callers (the frontend's)


def authorization_header(event: Mapping[str, Any]) -> str | None:
    """The one `Authorization` header of a REQUEST authorizer event (any letter case).

    Several different values (two spellings in `headers`, or a repeated header in
    `multiValueHeaders`) are ambiguous and count as invalid credentials.
    """
    values: set[str] = set()
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if not isinstance(headers, Mapping):
            continue
        for name, value in headers.items():
            if not isinstance(name, str) or name.lower() != AUTHORIZATION_HEADER:
                continue
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    values.add(item if isinstance(item, str) else "")
    if len(values) > 1:
        raise InvalidCredentials("several authorization headers")
    return values.pop() if values else None


def bearer_token(header: str | None) -> str:
    """The token of `Bearer <token>` (scheme in any letter case); InvalidCredentials otherwise."""
    if header is None:
        raise InvalidCredentials("no authorization header")
    parts = header.strip().split()
    if not parts:
        raise InvalidCredentials("empty authorization header")
    if parts[0].lower() != BEARER_SCHEME:
        raise InvalidCredentials("not a bearer scheme")
    if len(parts) != 2:  # the scheme and the token
        raise InvalidCredentials("no single bearer token")
    token = parts[1]
    if len(token) > MAX_TOKEN_LENGTH or not TOKEN_PATTERN.fullmatch(token):
        raise InvalidCredentials("malformed bearer token")
    return token


def organization_id(value: object) -> int:
    """A positive integer, or a string of ASCII digits, that fits organizations.id; else InvalidCredentials."""
    number = parse_org_id(value)
    if number is None:
        raise InvalidCredentials("org_id is not a valid organization id")
    return number
