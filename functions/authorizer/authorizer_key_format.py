"""The API key format of the contract: `pa_<prefix>_<secret>` (standard library only).

`<prefix>` is 8 lowercase letters or digits: it is public (stored, logged, listed)
and finds the key's row. `<secret>` is at least 32 URL-safe characters. Only the
lowercase hex SHA-256 of the whole key is stored. The provisioning tool
(`tools.apikeys`) generates keys with this module, so both sides agree on it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

API_KEY_MARKER = "pa_"
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MIN_SECRET_LENGTH = 32
# No key we issue is longer (token_urlsafe(32) is 43 characters); the cap keeps absurd input out.
MAX_SECRET_LENGTH = 128
SECRET_BYTES = 32

API_KEY_PATTERN = re.compile(
    rf"pa_(?P<prefix>[a-z0-9]{{{PREFIX_LENGTH}}})_[A-Za-z0-9_-]{{{MIN_SECRET_LENGTH},{MAX_SECRET_LENGTH}}}"
)


def looks_like_api_key(token: str) -> bool:
    """API keys are told apart from JWTs by their `pa_` start (a well-formed key or not)."""
    return token.startswith(API_KEY_MARKER)


def api_key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, or None if `key` does not have the contract's format."""
    match = API_KEY_PATTERN.fullmatch(key)
    return match.group("prefix") if match else None


def api_key_hash(key: str) -> str:
    """What `api_keys.key_hash` holds: the lowercase hex SHA-256 of the whole key string."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hash_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of the key's hash with the stored one."""
    return hmac.compare_digest(api_key_hash(key).encode("ascii"), stored_hash.strip().lower().encode("utf-8"))


def generate_api_key() -> str:
    """A new random key: a fresh prefix and 32 random bytes of secret (43 URL-safe characters)."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return f"{API_KEY_MARKER}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
