"""Time in UTC (the reporting window in the caller's zone is analytics_common.window).

Every query receives its instants from here as parameters; no SQL calls `now()`,
so one request sees one consistent "now" across both stores.
"""

from datetime import UTC, date, datetime, time


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def iso_utc(value: datetime | None) -> str | None:
    """`2026-05-02T14:32:00Z`: UTC, whole seconds, or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
