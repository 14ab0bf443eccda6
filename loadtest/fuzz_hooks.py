"""Schemathesis hooks of `make fuzz`, loaded by `SCHEMATHESIS_HOOKS=loadtest.fuzz_hooks` (see loadtest.fuzz).

- `same_tenant`, a check (on with `--checks all`): a 200 must be exactly what the run's credential
  gets from that endpoint with a plain request carrying only the query parameters the endpoint
  takes (openapi.yaml): nothing else in the request may change whose data comes back. The plain
  request goes to the stack (`LOADTEST_FUZZ_URL`) with the run's token (`LOADTEST_FUZZ_TOKEN`).
- `cursor` is "only as the API wrote it": a schema-valid string is not a cursor. Before a positive
  case is sent, a generated cursor is swapped for one the API wrote for the case's other parameters
  (the `Link` of a one-item page), or dropped when there is no second page. Negative cases keep theirs.
- With `LOADTEST_FUZZ_IGNORED_INPUTS=1`, every operation declares optional query parameters and
  headers that name another tenant (`org_id`...), which the API must ignore; a name the operation
  already takes is left as declared.
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode

import schemathesis
import yaml

from loadtest.common import OPENAPI

URL_ENV = "LOADTEST_FUZZ_URL"
TOKEN_ENV = "LOADTEST_FUZZ_TOKEN"  # noqa: S105 - the name of the variable, not a secret
IGNORED_INPUTS_ENV = "LOADTEST_FUZZ_IGNORED_INPUTS"
CURSOR = re.compile(r"[A-Za-z0-9_-]{34}")

IGNORED_PARAMETERS: tuple[dict[str, Any], ...] = (
    {"name": "org_id", "in": "query", "schema": {"type": "integer"}},
    {"name": "organization_id", "in": "query", "schema": {"type": "string"}},
    {"name": "tenant", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    {"name": "X-Org-Id", "in": "header", "schema": {"type": "string"}},
    {"name": "X-Tenant-Id", "in": "header", "schema": {"type": "string"}},
)


@functools.cache
def taken_parameters() -> dict[str, frozenset[str]]:
    """Operation path -> the query parameters openapi.yaml declares for it (what the endpoint takes)."""
    spec = yaml.safe_load(OPENAPI.read_text())
    components = spec.get("components", {}).get("parameters", {})
    taken = {}
    for path, operations in spec["paths"].items():
        names = set()
        for entry in operations["get"].get("parameters", []):
            parameter = components[entry["$ref"].rsplit("/", 1)[-1]] if "$ref" in entry else entry
            names.add(parameter["name"])
        taken[path] = frozenset(names)
    return taken


def own_request(path: str, query: dict[str, Any]) -> tuple[int, bytes, str | None]:
    """Status, body and `Link` of a plain GET of `path` with the run's credential and only `query`."""
    url = os.environ[URL_ENV] + path + ("?" + urlencode(query) if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack
            return response.status, response.read(), response.headers.get("Link")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), None


def taken_query(case: Any) -> dict[str, Any]:
    taken = taken_parameters().get(case.operation.path, frozenset())
    return {name: value for name, value in (case.query or {}).items() if name in taken}


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    if os.environ.get(IGNORED_INPUTS_ENV) != "1":
        return
    for path, operations in raw_schema.get("paths", {}).items():
        operation = operations.get("get")
        if operation is not None:
            taken = taken_parameters().get(path, frozenset())
            declared = operation.setdefault("parameters", [])
            declared.extend({**p, "required": False} for p in IGNORED_PARAMETERS if p["name"] not in taken)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A positive case's schema-valid cursor becomes one the API wrote for the case's other parameters."""
    query = case.query or {}
    cursor = query.get("cursor")
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if TOKEN_ENV not in os.environ or not positive or not isinstance(cursor, str) or not CURSOR.fullmatch(cursor):
        return
    others = {name: value for name, value in taken_query(case).items() if name not in ("cursor", "limit")}
    _, _, link = own_request(case.operation.path, {**others, "limit": 1})
    written = parse_qs(link[2 : link.index(">")]).get("cursor") if link else None
    if written:
        query["cursor"] = written[0]
    else:
        del query["cursor"]


@schemathesis.check
def same_tenant(ctx: Any, response: Any, case: Any) -> bool | None:
    """A GET answered 200 carries exactly the credential's own data, whatever else the request held.

    Other methods (Schemathesis tries some) are the gateway's own answers: OPTIONS is the CORS preflight.
    """
    if response.status_code != 200 or response.request.method != "GET" or TOKEN_ENV not in os.environ:
        return None
    status, body, _ = own_request(case.operation.path, taken_query(case))
    got = json.loads(response.content)
    if status != 200 or got != json.loads(body):
        raise AssertionError(f"{case.operation.path} answered other data than the credential's own: {got!r:.300}")
    return True
