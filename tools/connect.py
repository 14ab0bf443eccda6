"""How the operator tools open their store: one line on stderr when they cannot, naming only the error's
type (a connection error's text can carry the URL or DSN, with its password)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

Client = TypeVar("Client")


def connect_or_report(connect: Callable[[], Client], store: str) -> Client | None:
    try:
        return connect()
    except Exception as exc:  # noqa: BLE001 - reported to the operator without the URL
        print(f"error: cannot connect to {store} ({type(exc).__name__})", file=sys.stderr)
        return None
