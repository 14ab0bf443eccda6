"""Invoke the functions in-process exactly as Lambda would: their handler, a sample event, a context."""

from __future__ import annotations

import copy
import importlib
import io
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from the Lambda context object."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def function_module(name: str) -> ModuleType:
    """`functions/<name>/app.py`, imported by its package path (the project's one import rule)."""
    return importlib.import_module(f"functions.{name}.app")


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def api_event(
    name: str,
    org_id: int | str | None,
    *,
    path: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: Mapping[str, str | list[str]] | None = None,
) -> dict[str, Any]:
    """The function's sample event for `org_id` (None: no authorizer context), with the query parameters
    `query` (a list: a name given several times) in both maps, as API Gateway fills them."""
    event = copy.deepcopy(sample_event(name))
    if query:
        multi = {key: [value] if isinstance(value, str) else list(value) for key, value in query.items()}
        event["multiValueQueryStringParameters"] = multi
        event["queryStringParameters"] = {key: values[-1] for key, values in multi.items()}
    if path is not None:
        event["path"] = path
        event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    if org_id is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"]["org_id"] = str(org_id) if isinstance(org_id, int) else org_id
    if headers:
        event["headers"].update(headers)
        event["multiValueHeaders"].update({key: [value] for key, value in headers.items()})
    return event


def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
    return function_module(name).lambda_handler(event, FakeLambdaContext(function_name=name))


def invoke_json(name: str, event: dict[str, Any]) -> tuple[int, Any]:
    """Status and parsed JSON body of one invocation."""
    response = invoke(name, event)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


@contextmanager
def captured_logs(name: str) -> Iterator[io.StringIO]:
    """Everything function `name` logs while the block runs, as its JSON lines."""
    logger = function_module(name).logger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def next_page_query(response: Mapping[str, Any]) -> dict[str, str] | None:
    """The query of the `Link: <?...>; rel="next"` target a response carries, or None without one."""
    links = (response.get("multiValueHeaders") or {}).get("Link") or []
    if not links:
        return None
    (link,) = links
    target, relation = link.split(";", 1)
    assert relation.strip() == 'rel="next"' and target.startswith("<?") and target.endswith(">"), link
    return dict(parse_qsl(target[2:-1], keep_blank_values=True, strict_parsing=True))


def all_pages(endpoint: str, org_id: int, query: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Every page of a list, following each `Link` as a client would (only its query, as given)."""
    pages = []
    while True:
        response = invoke(endpoint, api_event(endpoint, org_id, query=query))
        assert response["statusCode"] == 200, response["body"]
        page = json.loads(response["body"])
        pages.append(page)
        following = next_page_query(response)
        if following is None:
            return pages
        assert page, "a link to a page after an empty one"
        assert without_cursor(following) == without_cursor(query)
        query = following


def without_cursor(query: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in query.items() if name != "cursor"}
