"""The API key format (docs/api.md §2.3): `pa_<prefix>_<secret>`, standard library only.

`<prefix>` is 8 lowercase letters or digits: it is public (stored, logged, listed) and finds the
key's row. `<secret>` is 32 to 128 URL-safe characters. Only the lowercase hex SHA-256 of the whole
key is stored. The one reading of the format for the authorizer, the provisioning tool
(`tools.apikeys`), the demo data and the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from random import Random

API_KEY_MARKER = "pa_"
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_REGEX = rf"[a-z0-9]{{{PREFIX_LENGTH}}}"
SECRET_ALPHABET = string.ascii_letters + string.digits + "-_"
MIN_SECRET_LENGTH = 32
# No key we issue is longer (token_urlsafe(32) is 43 characters); the cap keeps absurd input out.
MAX_SECRET_LENGTH = 128
SECRET_BYTES = 32
# Keys drawn from a seeded `random.Random` (demo data only) have a secret of this many characters.
SEEDED_SECRET_LENGTH = 40

API_KEY_PATTERN = re.compile(rf"pa_(?P<prefix>{PREFIX_REGEX})_[A-Za-z0-9_-]{{{MIN_SECRET_LENGTH},{MAX_SECRET_LENGTH}}}")


def looks_like_api_key(token: str) -> bool:
    """API keys are told apart from JWTs by their `pa_` start (a well-formed key or not)."""
    return token.startswith(API_KEY_MARKER)


def api_key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, or None if `key` does not have the format."""
    match = API_KEY_PATTERN.fullmatch(key)
    return match.group("prefix") if match else None


def issued_key_prefix(key: str) -> str:
    """The prefix of a key known to be well-formed (one we issued or wrote); ValueError otherwise."""
    prefix = api_key_prefix(key)
    if prefix is None:
        raise ValueError("not a well-formed API key")
    return prefix


def format_api_key(prefix: str, secret: str) -> str:
    """`pa_<prefix>_<secret>`; ValueError if the parts do not make a well-formed key."""
    key = f"{API_KEY_MARKER}{prefix}_{secret}"
    if api_key_prefix(key) != prefix:
        raise ValueError("an API key is pa_<8 lowercase letters or digits>_<32..128 URL-safe characters>")
    return key


def api_key_hash(key: str) -> str:
    """What `api_keys.key_hash` holds: the lowercase hex SHA-256 of the whole key string."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hash_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of the key's hash with the stored one."""
    return hmac.compare_digest(api_key_hash(key).encode("ascii"), stored_hash.strip().lower().encode("utf-8"))


def generate_api_key(rng: Random | None = None) -> str:
    """A new random key: a fresh prefix and 32 random bytes of secret (43 URL-safe characters).

    With `rng` (a seeded `random.Random`, for reproducible demo data only: never for a real key),
    the prefix and a secret of `SEEDED_SECRET_LENGTH` characters are drawn from it instead.
    """
    if rng is None:
        prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        return format_api_key(prefix, secrets.token_urlsafe(SECRET_BYTES))
    prefix = "".join(rng.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return format_api_key(prefix, "".join(rng.choice(SECRET_ALPHABET) for _ in range(SEEDED_SECRET_LENGTH)))


USAGE_KEY_LENGTH = 40  # API Gateway takes 20 to 128 characters


def generate_usage_key(rng: Random | None = None) -> str:
    """A usage-plan key (`api_keys.usage_key`, docs/api.md §2.5): random, unrelated to any customer key.

    With `rng` (seeded, demo data only), drawn from it instead.
    """
    if rng is None:
        return secrets.token_urlsafe(USAGE_KEY_LENGTH * 3 // 4)
    return "".join(rng.choice(SECRET_ALPHABET) for _ in range(USAGE_KEY_LENGTH))
