"""Time spent in each data store during the current request, for the `Server-Timing` header.

A Lambda container serves one request at a time, so module state is per request:
the resolver resets it when a request starts.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

_spent_seconds: dict[str, float] = {}


def reset() -> None:
    _spent_seconds.clear()


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
    """`pg;dur=3.1, ch;dur=12.0` (milliseconds), or "" when no store was asked."""
    return ", ".join(f"{store};dur={seconds * 1000:.1f}" for store, seconds in _spent_seconds.items())
