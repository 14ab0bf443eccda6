"""Schemathesis hooks of `make fuzz`, loaded by `SCHEMATHESIS_HOOKS=loadtest.fuzz_hooks` (see loadtest.fuzz).

- `same_tenant`, a check (on with `--checks all`): a 200 must be exactly what the run's credential
  gets from that endpoint with a plain request (fetched before the run, in the file that
  `LOADTEST_FUZZ_EXPECTED` names): nothing in the request may change whose data comes back.
- With `LOADTEST_FUZZ_IGNORED_INPUTS=1`, every operation declares optional query parameters and
  headers that name another tenant (`org_id`...), which the API must ignore. The endpoints take no
  input, so without them Schemathesis has nothing to vary on an authenticated request.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import schemathesis

EXPECTED_ENV = "LOADTEST_FUZZ_EXPECTED"
IGNORED_INPUTS_ENV = "LOADTEST_FUZZ_IGNORED_INPUTS"

IGNORED_PARAMETERS: tuple[dict[str, Any], ...] = (
    {"name": "org_id", "in": "query", "schema": {"type": "integer"}},
    {"name": "organization_id", "in": "query", "schema": {"type": "string"}},
    {"name": "tenant", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    {"name": "X-Org-Id", "in": "header", "schema": {"type": "string"}},
    {"name": "X-Tenant-Id", "in": "header", "schema": {"type": "string"}},
)


@functools.cache
def expected_bodies() -> dict[str, Any]:
    """Operation path -> the JSON a plain request with the run's credential got (empty: no expectation)."""
    path = os.environ.get(EXPECTED_ENV)
    if not path:
        return {}
    with open(path, encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    if os.environ.get(IGNORED_INPUTS_ENV) != "1":
        return
    for operations in raw_schema.get("paths", {}).values():
        operation = operations.get("get")
        if operation is not None:
            declared = operation.setdefault("parameters", [])
            declared.extend({**parameter, "required": False} for parameter in IGNORED_PARAMETERS)


@schemathesis.check
def same_tenant(ctx: Any, response: Any, case: Any) -> bool | None:
    """A GET answered 200 carries exactly the credential's own data, whatever else the request held.

    Other methods (Schemathesis tries some) are the gateway's own answers: OPTIONS is the CORS preflight.
    """
    if response.status_code != 200 or response.request.method != "GET":
        return None
    expected = expected_bodies().get(case.operation.path)
    if expected is None:
        return None
    got = json.loads(response.content)
    if got != expected:
        raise AssertionError(f"{case.operation.path} answered other data than the credential's own: {got!r:.300}")
    return True
