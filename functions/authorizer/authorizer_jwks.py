"""Signing keys from a JWKS URL: one PyJWKClient per container, a cached key set, bounded fetching.

- The key set is fetched on first use and again when it is older than
  `MAX_AGE_SECONDS`; if such a refresh fails, the last good copy stays in use.
- A `kid` that is not in the key set triggers a refresh only if no fetch was
  attempted in the last `MIN_REFETCH_SECONDS`: a flood of tokens with random
  `kid`s costs at most one fetch a minute.
- With no key set at all (cold start) a failed fetch is retried at most every
  `RETRY_AFTER_FAILURE_SECONDS`; meanwhile JWKS tokens are a server fault.
- Every fetch has a short HTTP timeout. A JWKS that cannot be fetched when a key
  is needed raises `JwksUnavailable` (API Gateway answers 500, not 401).
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from time import monotonic

from jwt import PyJWK, PyJWKClient, PyJWTError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 2.5
MAX_AGE_SECONDS = 300.0
MIN_REFETCH_SECONDS = 60.0
RETRY_AFTER_FAILURE_SECONDS = 10.0


class JwksUnavailable(Exception):
    """The JWKS could not be fetched (or held no usable signing key) when a key was needed."""


class JwksKeySet:
    """The signing keys of one JWKS URL, by `kid`."""

    def __init__(self, url: str, timeout_seconds: float = FETCH_TIMEOUT_SECONDS) -> None:
        # The client only fetches and parses; caching and rate limiting are ours (see the module doc).
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self._keys: dict[str, PyJWK] | None = None
        self._loaded_at = 0.0
        self._last_attempt: float | None = None
        self._lock = threading.Lock()

    def signing_key(self, kid: str) -> PyJWK | None:
        """The key with this `kid`, or None if the (possibly refreshed) key set has none."""
        with self._lock:
            now = monotonic()
            if self._keys is None:
                if not self._may_fetch(now, RETRY_AFTER_FAILURE_SECONDS):
                    raise JwksUnavailable("JWKS unavailable (retrying later)")
                self._load(now)
            elif now - self._loaded_at >= MAX_AGE_SECONDS and self._may_fetch(now, RETRY_AFTER_FAILURE_SECONDS):
                try:
                    self._load(now)
                except JwksUnavailable:
                    log.warning("jwks refresh failed; keeping the last good key set")
            key = self._current_keys().get(kid)
            if key is None and self._may_fetch(now, MIN_REFETCH_SECONDS):
                self._load(now)
                key = self._current_keys().get(kid)
            return key

    def _current_keys(self) -> dict[str, PyJWK]:
        if self._keys is None:
            raise JwksUnavailable("JWKS unavailable")
        return self._keys

    def _may_fetch(self, now: float, interval: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= interval

    def _load(self, now: float) -> None:
        self._last_attempt = now
        try:
            signing_keys = self._client.get_signing_keys(refresh=True)
        except (PyJWTError, ValueError, OSError) as exc:  # ValueError: a body that is not JSON
            log.warning("jwks fetch failed: %s", type(exc).__name__)
            raise JwksUnavailable("JWKS unavailable") from exc
        keys: dict[str, PyJWK] = {}
        for key in signing_keys:
            keys.setdefault(str(key.key_id), key)
        self._keys = keys
        self._loaded_at = now
        log.info("jwks loaded", extra={"kids": len(keys)})


@cache
def jwks_key_set(url: str) -> JwksKeySet:
    """The container's key set for `url` (JWT_JWKS_URL does not change within a container)."""
    return JwksKeySet(url)
