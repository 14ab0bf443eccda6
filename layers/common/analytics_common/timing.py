"""Time spent in each data store during the current request, for the `Server-Timing` header.

A Lambda container serves one request at a time, so module state is per request:
the resolver resets it when a request starts.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

_spent_seconds: dict[str, float] = {}
_cache_outcomes: list[str] = []


def reset() -> None:
    _spent_seconds.clear()
    _cache_outcomes.clear()


def cache_outcome(outcome: str) -> None:
    """Record a result-cache lookup: "hit", "miss" or "off" (no cache configured)."""
    _cache_outcomes.append(outcome)


@contextmanager
def measure(store: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _spent_seconds[store] = _spent_seconds.get(store, 0.0) + time.perf_counter() - started


def spent_seconds() -> dict[str, float]:
    """Seconds spent in each store asked during the current request."""
    return dict(_spent_seconds)


def server_timing() -> str:
    """`pg;dur=3.1, ch;dur=12.0` (milliseconds), then `cache;desc=hit` (or miss, off) when a cacheable
    statement ran: "miss" if any of the request's lookups missed. "" when no store was asked."""
    metrics = [f"{store};dur={seconds * 1000:.1f}" for store, seconds in _spent_seconds.items()]
    if _cache_outcomes:
        outcome = next((o for o in ("miss", "off") if o in _cache_outcomes), "hit")
        metrics.append(f"cache;desc={outcome}")
    return ", ".join(metrics)
