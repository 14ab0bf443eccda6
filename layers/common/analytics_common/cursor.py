"""Pagination cursors (docs/api.md §6, `cursor`): opaque, URL-safe and tamper-evident.

A cursor is the last id of a page, signed with HMAC-SHA256 over that id and everything else that
shapes the answer: the endpoint, the caller's organization and the request's other answer-shaping
parameters (`tz`, `days`). Only the id travels (34 characters of `A-Z a-z 0-9 - _`); the rest is
taken from the request that presents it, so a cursor written for another organization, endpoint,
zone or window length does not verify (400), and nothing in it can widen what a caller sees: it only
ever adds `id > last id` to the caller's own query.

The key is `CURSOR_SECRET`, or the secret `CURSOR_SECRET_ARN` names (read once per container, cached
like every secret), and is read only when a cursor is written or read. Rotating it ends every cursor
in flight: a client that gets 400 starts again from the first page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from analytics_common import config
from analytics_common.errors import ConfigurationError

VERSION = 1
ID_BYTES = 8
MAC_BYTES = 16  # 128 bits of HMAC-SHA256
TOKEN_BYTES = 1 + ID_BYTES + MAC_BYTES
TOKEN_LENGTH = -(-TOKEN_BYTES * 4 // 3)  # unpadded URL-safe base64: 34 characters
MAX_ID = 2**63 - 1  # the ids are bigints


class InvalidCursor(ValueError):
    """Not a cursor this API wrote for this request."""


def cursor_key() -> bytes:
    secret = config.setting_or_secret("CURSOR_SECRET", "CURSOR_SECRET_ARN")
    if not secret:
        raise ConfigurationError("CURSOR_SECRET or CURSOR_SECRET_ARN must be set")
    return secret.encode()


def _mac(key: bytes, payload: bytes, bound: Sequence[str]) -> bytes:
    message = payload + b"\x00" + "\x00".join(bound).encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def write_cursor(last_id: int, bound: Sequence[str], key: bytes | None = None) -> str:
    """The cursor of the position after `last_id`, for requests with exactly `bound` (endpoint, org, ...)."""
    payload = bytes([VERSION]) + last_id.to_bytes(ID_BYTES, "big")
    token = payload + _mac(key or cursor_key(), payload, bound)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def read_cursor(cursor: str, bound: Sequence[str], key: bytes | None = None) -> int:
    """The last id a cursor names; InvalidCursor unless this API wrote it for a request with `bound`."""
    if len(cursor) != TOKEN_LENGTH or not cursor.isascii():
        raise InvalidCursor(cursor)
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    # Only the canonical spelling: re-encoding must give the same text (no alternative last bits).
    if len(token) != TOKEN_BYTES or base64.urlsafe_b64encode(token).rstrip(b"=").decode() != cursor:
        raise InvalidCursor(cursor)
    payload, mac = token[: 1 + ID_BYTES], token[1 + ID_BYTES :]
    if payload[0] != VERSION or not hmac.compare_digest(mac, _mac(key or cursor_key(), payload, bound)):
        raise InvalidCursor(cursor)
    last_id = int.from_bytes(payload[1:], "big")
    if not 0 < last_id <= MAX_ID:
        raise InvalidCursor(cursor)
    return last_id
