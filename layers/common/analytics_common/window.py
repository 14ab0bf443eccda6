"""Local calendar days of a time zone, and the reporting window made of them (docs/api.md §6, `tz` and `days`).

Zones come from the `tzdata` package the layer ships, never from the host's /usr/share/zoneinfo: the
answers follow the same tz database release (`tzdata.IANA_VERSION`) on a laptop, in CI and in Lambda.
The day boundaries are worked out here, once per request from its one `now`, and travel to the stores
as plain UTC instants: no SQL ever names a zone, so neither store's own tz data matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache

DEFAULT_DAYS = 30
DEFAULT_ZONE = "UTC"
# In the tz database, but no place's calendar: "local time is unknown" (its abbreviation is "-00").
NOT_A_CALENDAR = frozenset({"Factory"})
_DAY = timedelta(days=1)


@cache
def zone_names() -> frozenset[str]:
    """Every zone and link name of the bundled tz database, spelled as it spells them."""
    from importlib import resources  # here, not at import: a request without `tz` never needs it (cold start)

    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(listed) - NOT_A_CALENDAR


def tz_database_version() -> str:
    import tzdata

    return str(tzdata.IANA_VERSION)


@cache
def zone(name: str) -> tzinfo:
    """The zone `name` from the bundled tz database (a name from `zone_names()`); UTC is `datetime.UTC`."""
    if name == DEFAULT_ZONE:
        return UTC
    if name not in zone_names():
        raise KeyError(name)  # only listed names: never a path, never the host's files
    from importlib import resources
    from zoneinfo import ZoneInfo

    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant (UTC) of the local calendar day `day` in `tz`: usually its midnight; where the
    clocks skip midnight (America/Santiago in September), the transition, when the day starts at 01:00."""
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    instant = midnight.astimezone(UTC)  # fold=0: an ambiguous midnight's first occurrence
    local = instant.astimezone(tz)
    if local.replace(tzinfo=None) == midnight.replace(tzinfo=None):
        return instant
    # Midnight does not exist. fold=0 read it with the offset before the gap, which puts `instant`
    # after the transition by at most the gap's length: the day starts at the transition, the first
    # instant whose local date is `day`. Transitions fall on whole seconds.
    gap = (local.utcoffset() or timedelta(0)) - (midnight.utcoffset() or timedelta(0))
    low, high = int((instant - gap).timestamp()) - 1, int(instant.timestamp())  # low: still the day before
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).date() >= day:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


@dataclass(frozen=True)
class Window:
    """The last `len(days)` local calendar days of a zone, today included, up to `now`.

    `starts[i]` is the first instant of `days[i]`, and `starts[-1]` that of the day after today, so a
    local day `days[i]` is the half-open range [`starts[i]`, `starts[i + 1]`) (23, 24 or 25 hours long).
    """

    now: datetime
    days: tuple[date, ...]
    starts: tuple[datetime, ...]

    @property
    def start(self) -> datetime:
        """The window's first instant."""
        return self.starts[0]

    @property
    def labels(self) -> list[str]:
        """The days as `YYYY-MM-DD`."""
        return [day.isoformat() for day in self.days]


def local_window(now: datetime, tz: tzinfo = UTC, days: int = DEFAULT_DAYS) -> Window:
    today = now.astimezone(tz).date()
    local_days = tuple(today - (days - 1 - n) * _DAY for n in range(days))
    starts = tuple(day_start(day, tz) for day in (*local_days, today + _DAY))
    return Window(now=now, days=local_days, starts=starts)
