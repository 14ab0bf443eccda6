"""The query parameters of contract version 2 (docs/api.md §6): `tz`, `days`, `limit` and `cursor`.

Each route declares the parameters it takes; `parse_query` reads exactly those, from both
`queryStringParameters` and `multiValueQueryStringParameters` (API Gateway fills both; a name given
twice is only visible in the second), before any store is asked. An invalid or repeated parameter is
a `BadRequest` naming it; unknown parameters and those the endpoint does not take are ignored.

Values are read strictly, as the contract spells them: `tz` exactly as the tz database spells the
name (case-sensitive), `days` and `limit` as ASCII digits only (no sign, no space; leading zeros
allowed: `days=07` is 7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from analytics_common import window
from analytics_common.cursor import InvalidCursor, read_cursor, write_cursor
from analytics_common.errors import BadRequest

TZ, DAYS, LIMIT, CURSOR = "tz", "days", "limit", "cursor"
PARAMETERS = (TZ, DAYS, LIMIT, CURSOR)  # also the order they take in a `Link`
MAX_DAYS = 90
MAX_LIMIT = PAGE_LIMIT = 1000


@dataclass(frozen=True)
class Query:
    """A request's parameters, parsed (the defaults where one is not given)."""

    endpoint: str
    org_id: int
    given: Mapping[str, str] = field(default_factory=dict)  # the taken parameters the request gave, canonical
    tz_name: str = window.DEFAULT_ZONE
    days: int = window.DEFAULT_DAYS
    limit: int = PAGE_LIMIT
    after: int = 0  # the last id of the previous page (0: the first page)

    @property
    def zone(self) -> tzinfo:
        return window.zone(self.tz_name)

    def window(self, now: datetime) -> window.Window:
        """The request's window of local days: the last `days` days of `tz`, up to `now`."""
        return window.local_window(now, self.zone, self.days)

    def bound(self) -> tuple[str, ...]:
        """What a cursor of this request is bound to: whose answer, of which endpoint, shaped how."""
        return (self.endpoint, str(self.org_id), self.tz_name, str(self.days))


@dataclass(frozen=True)
class Page:
    """One page of a list in id order; `more`: at least one item follows it."""

    items: list[dict[str, Any]]
    more: bool


def values_of(event: Mapping[str, Any], name: str) -> list[str]:
    """Every value the request gave for `name` (API Gateway decodes them)."""
    many = (event.get("multiValueQueryStringParameters") or {}).get(name)
    if many is not None:
        return [str(value) for value in many]
    one = (event.get("queryStringParameters") or {}).get(name)
    return [] if one is None else [str(one)]


def parse_count(name: str, text: str, maximum: int) -> int:
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(maximum)) or not 1 <= int(text) <= maximum:
        raise BadRequest(f"{name}: must be a whole number from 1 to {maximum}, in ASCII digits.")
    return int(text)


def parse_tz(text: str) -> str:
    if text not in window.zone_names():
        raise BadRequest(
            f"{TZ}: must be an IANA time zone name, spelled as the tz database spells it (such as Europe/Berlin)."
        )
    return text


# A parameter's name -> the `Query` field it sets and the reading of its text (`cursor` is read last:
# it is checked against the others).
READERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    TZ: ("tz_name", parse_tz),
    DAYS: ("days", lambda text: parse_count(DAYS, text, MAX_DAYS)),
    LIMIT: ("limit", lambda text: parse_count(LIMIT, text, MAX_LIMIT)),
}


def given_once(event: Mapping[str, Any], takes: Iterable[str]) -> dict[str, str]:
    """The text of each parameter in `takes` that the request gave; BadRequest for one given twice."""
    given = {}
    for name in PARAMETERS:
        values = values_of(event, name) if name in takes else []
        if len(values) > 1:
            raise BadRequest(f"{name}: given more than once.")
        if values:
            given[name] = values[0]
    return given


def parse_query(event: Mapping[str, Any], takes: Iterable[str], endpoint: str, org_id: int) -> Query:
    """The parameters `takes` names, read from the API Gateway `event`; BadRequest for an invalid one."""
    given = given_once(event, takes)
    fields = {READERS[name][0]: READERS[name][1](text) for name, text in given.items() if name in READERS}
    canonical = {name: str(fields[READERS[name][0]]) for name in given if name in READERS}
    query = Query(endpoint=endpoint, org_id=org_id, given=canonical, **fields)
    if CURSOR not in given:
        return query
    try:
        return replace(query, after=read_cursor(given[CURSOR], query.bound()))
    except InvalidCursor:
        raise BadRequest(f"{CURSOR}: not a cursor this API wrote for this request.") from None


def next_link(query: Query, page: Page) -> str | None:
    """`Link` of the next page (a relative reference of a query only, RFC 8288), or None on the last page."""
    if not page.more or not page.items:
        return None
    cursor = write_cursor(int(page.items[-1]["id"]), query.bound())
    parameters: Sequence[tuple[str, str]] = [*query.given.items(), (CURSOR, cursor)]
    target = "&".join(f"{name}={quote(value, safe='/')}" for name, value in parameters)
    return f'<?{target}>; rel="next"'
