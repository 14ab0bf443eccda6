"""Time in UTC, and the reporting window of the contract.

Every query receives its instants from here as parameters; no SQL calls `now()`,
so one request sees one consistent "now" across both stores.
"""

from datetime import UTC, date, datetime, time, timedelta

WINDOW_DAYS = 30


def utc_now() -> datetime:
    return datetime.now(UTC)


def window_start(now: datetime) -> datetime:
    """00:00 UTC of the day 29 days before today: the first instant of "the last 30 days"."""
    first_day = now.astimezone(UTC).date() - timedelta(days=WINDOW_DAYS - 1)
    return datetime.combine(first_day, time(0), tzinfo=UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def month_bounds(today: date) -> tuple[date, date]:
    """First and last day of the calendar month holding `today`."""
    first = today.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return first, next_first - timedelta(days=1)


def iso_utc(value: datetime | None) -> str | None:
    """`2026-05-02T14:32:00Z`: UTC, whole seconds, or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
