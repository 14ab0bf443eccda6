"""JWT verification (docs/api.md §2.2): configured algorithms only, signature, claims, times.

- `JWT_ALGORITHMS`: a comma-separated subset of HS256, RS256, ES256 (default
  HS256). Anything else, `none` included, is a configuration error.
- HS256 verifies with `JWT_SECRET` (or the secret `JWT_SECRET_ARN` names): either
  one secret, or a JSON object `{"<kid>": "<secret>", ...}` (a current and a next
  secret, for rotation without downtime: docs/deploy.md), where the token's `kid`
  selects the secret and a token without a listed `kid` is invalid. Every secret
  must be at least 32 bytes. RS256/ES256 verify with the key of the token's `kid`
  from `JWT_JWKS_URL`, which must be `https://`. The token's `alg` picks the key source, and the signature is
  checked with exactly that one algorithm, so a token can never make an RSA or
  EC public key serve as an HMAC secret.
- Required claims: `sub` (a non-empty string), `exp`, `org_id`; `iss` and `aud`
  when `JWT_ISSUER` / `JWT_AUDIENCE` are set; `exp`, `nbf` and `iat` are checked
  against `now` with `JWT_LEEWAY_SECONDS` of leeway (default 30, at most 60).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
from authorizer_identity import InvalidCredentials, Principal, organization_id
from authorizer_jwks import jwks_key_set
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from analytics_common import config
from analytics_common.errors import ConfigurationError

log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = frozenset({"HS256", "RS256", "ES256"})
JWKS_ALGORITHMS = frozenset({"RS256", "ES256"})
DEFAULT_ALGORITHMS = "HS256"
DEFAULT_LEEWAY_SECONDS = 30.0
MAX_LEEWAY_SECONDS = 60.0
MIN_HS256_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048
MAX_KID_LENGTH = 256
REQUIRED_CLAIMS = ("sub", "exp", "org_id")


@dataclass(frozen=True)
class JwtSettings:
    algorithms: frozenset[str]
    issuer: str
    audience: str
    leeway_seconds: float
    jwks_url: str


def jwt_settings() -> JwtSettings:
    """The JWT settings from the environment; a bad value is a configuration error (a server fault)."""
    names = [name.strip() for name in (config.env("JWT_ALGORITHMS") or DEFAULT_ALGORITHMS).split(",")]
    algorithms = frozenset(name for name in names if name)
    unsupported = algorithms - SUPPORTED_ALGORITHMS
    if unsupported or not algorithms:
        raise ConfigurationError(f"JWT_ALGORITHMS may only list {sorted(SUPPORTED_ALGORITHMS)}")
    jwks_url = config.env("JWT_JWKS_URL")
    if jwks_url and not jwks_url.lower().startswith("https://"):
        # Keys fetched over plain HTTP could be swapped on the way: anyone on the path could mint tokens.
        raise ConfigurationError("JWT_JWKS_URL must be an https:// URL")
    return JwtSettings(
        algorithms=algorithms,
        issuer=config.env("JWT_ISSUER"),
        audience=config.env("JWT_AUDIENCE"),
        leeway_seconds=leeway_seconds(config.env("JWT_LEEWAY_SECONDS")),
        jwks_url=jwks_url,
    )


def leeway_seconds(value: str) -> float:
    if not value:
        return DEFAULT_LEEWAY_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError("JWT_LEEWAY_SECONDS must be a number") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError("JWT_LEEWAY_SECONDS must be a number >= 0")
    return min(seconds, MAX_LEEWAY_SECONDS)


def verify_jwt(token: str, settings: JwtSettings, now: datetime) -> Principal:
    """The principal a valid JWT proves; InvalidCredentials if it is not valid."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidCredentials("malformed jwt") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in settings.algorithms:
        raise InvalidCredentials("jwt algorithm not accepted")

    key: Any = hs256_secret(header) if algorithm == "HS256" else jwks_signing_key(header, settings)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.audience or None,
            issuer=settings.issuer or None,
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_aud": bool(settings.audience),
                "verify_iss": bool(settings.issuer),
                # Times are checked below against the request's `now` (analytics_common.clock).
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidKeyError as exc:
        if algorithm == "HS256":  # e.g. a PEM key configured as the shared secret
            raise ConfigurationError("JWT_SECRET is not usable as an HS256 secret") from exc
        raise InvalidCredentials("jwks key not acceptable") from None
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(f"invalid jwt ({type(exc).__name__})") from None

    check_times(claims, now.timestamp(), settings.leeway_seconds)
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidCredentials("jwt sub is empty")
    return Principal(
        org_id=organization_id(claims["org_id"]),
        principal_id=f"user:{subject}",
        auth_type="jwt",
        usage_key=None,
    )


def usable_kid(header: Mapping[str, Any], refusal: str) -> str:
    """The token's `kid`: a non-empty string of at most MAX_KID_LENGTH characters; else InvalidCredentials."""
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise InvalidCredentials(refusal)
    return kid


def hs256_secret(header: Mapping[str, Any]) -> bytes:
    """The shared secret for this token (JWT_SECRET or JWT_SECRET_ARN, cached); misconfigured is a server fault."""
    secrets = hs256_secrets(config.setting_or_secret("JWT_SECRET", "JWT_SECRET_ARN"))
    if ANY_KID in secrets:
        return secrets[ANY_KID]
    secret = secrets.get(usable_kid(header, "hs256 jwt without a usable kid"))
    if secret is None:
        raise InvalidCredentials("hs256 jwt kid not configured")
    return secret


ANY_KID = ""  # the key of a single configured secret: it verifies a token whatever its kid


@lru_cache(maxsize=4)
def hs256_secrets(configured: str) -> dict[str, bytes]:
    """The configured HS256 secrets by kid: `{ANY_KID: secret}` for a plain secret, else the JSON object's."""
    if not configured:
        raise ConfigurationError("HS256 is accepted but JWT_SECRET or JWT_SECRET_ARN is not set")
    if not configured.startswith("{"):
        by_kid = {ANY_KID: configured}
    else:
        try:
            by_kid = json.loads(configured)
        except ValueError:
            raise ConfigurationError("the HS256 secret starts with { but is not a JSON object") from None
        if (
            not isinstance(by_kid, dict)
            or not by_kid
            or not all(isinstance(k, str) and 0 < len(k) <= MAX_KID_LENGTH for k in by_kid)
            or not all(isinstance(v, str) for v in by_kid.values())
        ):
            raise ConfigurationError('the HS256 secret must be a JSON object {"<kid>": "<secret>", ...}')
    secrets = {kid: value.encode("utf-8") for kid, value in by_kid.items()}
    if any(len(secret) < MIN_HS256_SECRET_BYTES for secret in secrets.values()):
        raise ConfigurationError(f"every HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")
    return secrets


def jwks_signing_key(header: Mapping[str, Any], settings: JwtSettings) -> jwt.PyJWK:
    """The JWKS key named by the token's `kid`; InvalidCredentials if there is none."""
    if not settings.jwks_url:
        raise ConfigurationError("RS256/ES256 are accepted but JWT_JWKS_URL is not set")
    key = jwks_key_set(settings.jwks_url).signing_key(usable_kid(header, "jwt without a usable kid"))
    if key is None:
        raise InvalidCredentials("jwt kid not in the jwks")
    if isinstance(key.key, RSAPublicKey) and key.key.key_size < MIN_RSA_KEY_BITS:
        log.warning("jwks key is shorter than %d bits; its tokens are rejected", MIN_RSA_KEY_BITS)
        raise InvalidCredentials("jwks key too short")
    return key


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """`exp` (required), `nbf` and `iat` as NumericDates, with `leeway` seconds of clock skew."""
    expires = numeric_date(claims, "exp")
    if expires is None or expires <= now - leeway:
        raise InvalidCredentials("jwt expired")
    not_before = numeric_date(claims, "nbf")
    if not_before is not None and not_before > now + leeway:
        raise InvalidCredentials("jwt not yet valid")
    issued_at = numeric_date(claims, "iat")
    if issued_at is not None and issued_at > now + leeway:
        raise InvalidCredentials("jwt issued in the future")


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidCredentials(f"jwt {name} is not a NumericDate")
    return float(value)
