"""The REST resolver every endpoint function uses: routing, tenancy, response headers, errors and the access log.

Errors are mapped to HTTP here, once: every error body is `{"detail": "..."}`
and never holds a stack trace, SQL or a DSN.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from analytics_common import metrics, timing
from analytics_common.errors import ApiError, Forbidden
from analytics_common.logs import use_json_logs_for_the_layer
from analytics_common.query import Page, Query, next_link, parse_query
from analytics_common.tenancy import parse_org_id

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

JSON = content_types.APPLICATION_JSON


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body={"detail": detail}, headers=dict(headers or {}))


def json_text(data: Any) -> str:
    """Compact JSON of plain data (orjson: several times faster than `json` on the large answers)."""
    import orjson

    return orjson.dumps(data).decode()


def cors_config() -> CORSConfig:
    """CORS for the browser frontend: `CORS_ALLOWED_ORIGINS` is a comma-separated list (default `*`)."""
    origins = [o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "*").split(",") if o.strip()] or ["*"]
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=["Authorization", "If-None-Match"],
        expose_headers=["ETag", "Link", "Server-Timing"],
        max_age=600,
    )


class AnalyticsResolver(APIGatewayRestResolver):
    """APIGatewayRestResolver with what every route gets, without a line of its own.

    Before the route body: tenancy (`require_organization`, a global middleware), so a caller
    without a valid organization gets 403 before any store is touched. Per-route checks (query
    parameters, say) plug in the same way, as route middlewares (`@app.get(rule, middlewares=[...])`)
    that run after tenancy, raise an `ApiError` to refuse and put what they parsed in `app.context`.
    After it: `finish_response` (caching, Server-Timing and security headers) and one access-log line.
    """

    def __init__(self, logger: Logger) -> None:
        super().__init__(cors=cors_config(), serializer=json_text)
        self.logger = logger
        self.query_parameters: dict[str, tuple[str, ...]] = {}  # GET rule -> the parameters it takes
        self.use([require_organization])

    @property
    def org_id(self) -> int:
        """The caller's organization, for route bodies (`require_organization` has checked it)."""
        return int(self.context["org_id"])

    def get(self, rule: str, *args: Any, query: Sequence[str] = (), **kwargs: Any) -> Callable[..., Any]:
        """A GET route; `query`: the parameters (analytics_common.query) it takes, parsed before its body runs."""
        self.query_parameters[rule] = tuple(query)
        if query:
            kwargs["middlewares"] = [*(kwargs.get("middlewares") or []), query_middleware(rule, query)]
        return super().get(rule, *args, **kwargs)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        timing.reset()
        metrics.reset()
        response = super().resolve(event, context)
        finish_response(event, response)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self.logger.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "endpoint": event.get("resource") or event.get("path"),
                "status": response.get("statusCode"),
                "org_id": authorizer_context(event).get("org_id"),
                "duration_ms": duration_ms,
            },
        )
        # The route template only (never the raw path: its values are unbounded, and so would the metrics be).
        endpoint = str(event.get("resource") or "unknown")
        metrics.emit_request(endpoint, int(response.get("statusCode") or 0), duration_ms, timing.spent_seconds())
        return response


def require_organization(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """The caller's organization from the authorizer context into `app.context`; 403 if it is not a valid id."""
    org_id = parse_org_id(authorizer_context(app.current_event.raw_event).get("org_id"))
    if org_id is None:
        raise Forbidden("Forbidden.")
    app.append_context(org_id=org_id)
    return next_middleware(app)


def header_value(event: Mapping[str, Any], name: str) -> str | None:
    """A request header, matched case-insensitively (API Gateway passes names as the client sent them)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return str(value)
    return None


# The answer depends on the credential: without `Vary: Authorization` a browser that switches tokens within
# max-age serves the previous workspace's cached answer. `Accept-Encoding`: the gateway may gzip the body.
VARY = "Authorization, Accept-Encoding"


# On every answer of the functions: no MIME sniffing of the JSON, and HTTPS only for a year (the API
# is served over HTTPS only; a browser that saw this never tries plain HTTP to the host).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def finish_response(event: Mapping[str, Any], response: dict[str, Any]) -> None:
    """What every answer carries: the security headers; a 200 also its caching headers and Server-Timing."""
    headers = response.setdefault("multiValueHeaders", {})
    for name, value in SECURITY_HEADERS.items():
        headers[name] = [value]
    if response.get("statusCode") == HTTPStatus.OK:
        add_caching_headers(event, response)


def add_caching_headers(event: Mapping[str, Any], response: dict[str, Any]) -> None:
    """A weak ETag of the body, private caching for 60 s per credential, and 304 for a matching `If-None-Match`.

    Weak (`W/"..."`, RFC 9110 §8.8.1): API Gateway gzips the body after the function (MinimumCompressionSize),
    so one tag names both the identity and the gzip representation, which a strong tag must not. The tag is
    the hash of the identity JSON; `If-None-Match` uses the weak comparison, so either form matches.
    """
    body = response.get("body") or ""
    headers = response.setdefault("multiValueHeaders", {})
    # The next page's link is part of the answer: a list that grew behind an unchanged page is a new tag.
    tagged = body + "".join(headers.get("Link", []))
    etag = 'W/"' + hashlib.sha256(tagged.encode()).hexdigest()[:32] + '"'
    headers["ETag"] = [etag]
    headers["Cache-Control"] = ["private, max-age=60"]
    headers["Vary"] = [VARY]
    spent = timing.server_timing()
    if spent:
        headers["Server-Timing"] = [spent]
    if etag_matches(header_value(event, "If-None-Match"), etag):
        response["statusCode"] = int(HTTPStatus.NOT_MODIFIED)
        response["body"] = ""
        headers.pop("Content-Type", None)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal to `etag` by the weak comparison (`W/` ignored)."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag.removeprefix("W/") in candidates


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    return context if isinstance(context, Mapping) else {}


def query_middleware(rule: str, takes: Sequence[str]) -> Callable[..., Response]:
    """Parses the parameters a route takes (400 before any store is asked), hands them to its body
    (`request_query`), and turns a `Page` it answers into the page's items and a `Link` to the next one."""
    endpoint = rule.rstrip("/").rsplit("/", 1)[-1]

    def parameters(app: AnalyticsResolver, next_middleware: NextMiddleware) -> Response:
        query = parse_query(app.current_event.raw_event, takes, endpoint, app.org_id)
        app.append_context(query=query)
        response = next_middleware(app)
        if isinstance(response.body, Page):
            link = next_link(query, response.body)
            response.body = response.body.items
            if link:
                response.headers["Link"] = link
        return response

    return parameters


def request_query(app: APIGatewayRestResolver) -> Query:
    """The current request's parsed parameters (routes declared with `query=`)."""
    query: Query = app.context["query"]
    return query


def create_app(logger: Logger) -> AnalyticsResolver:
    app = AnalyticsResolver(logger)
    use_json_logs_for_the_layer(logger)

    @app.exception_handler(ApiError)
    def api_error(exc: ApiError) -> Response:
        metrics.note_cause(type(exc).__name__)
        if exc.status_code >= 500:
            logger.warning(
                "store failure",
                extra={"error": type(exc).__name__, "cause": type(exc.__cause__).__name__, **exc.log_context},
            )
        return error_response(exc.status_code, exc.detail)

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        metrics.note_cause("NotFound")
        return error_response(HTTPStatus.NOT_FOUND, "Not found.")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        metrics.note_cause(type(exc).__name__)
        logger.exception("unhandled error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error.")

    return app
