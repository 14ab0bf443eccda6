"""A local API Gateway (REST API) in front of the functions, driven by `template.yaml` (devstack.template).

Per request, like API Gateway: match the resource (trailing slash optional) and the method. A MOCK
method answers by itself, without the authorizer: 405 for any method but GET (the DefinitionBody's
`ANY`), the CORS preflight for OPTIONS (`Cors`). GET goes through the REQUEST authorizer: its identity
header must be there exactly once, the authorizer gets a REQUEST event and its policy must allow the
method ARN (decisions cached per identity for `ReauthorizeEvery` seconds); then the function gets the
REST proxy event with the authorizer context. Any other path is the template's greedy `/{proxy+}` MOCK
(404, and its preflight). The gateway's own errors take their status, headers and body from the
template's `GatewayResponses`. Last, an answer is gzipped by the template's `MinimumCompressionSize`
(devstack.compression).

The in-process functions share the layer's cached store clients (one pg8000 connection, one chDB
client), which must not be used by two threads at once, so one invocation runs at a time (a Lambda
container also handles one request at a time).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from analytics_common.api import SECURITY_HEADERS
from devstack import compression
from devstack.iam import ACCOUNT_ID, REST_API_ID, STAGE, method_arn, policy_allows
from devstack.lambda_runtime import Handler, LocalLambdaContext, add_code_paths, import_handler
from devstack.limits import Limits, read_limits
from devstack.template import API_ID, TEMPLATE, CannedAnswer, Route, Values, load_template, read_api

log = logging.getLogger("devstack.gateway")


@dataclass
class HttpRequest:
    method: str
    target: str  # path and query as sent
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in order (names are case-insensitive)."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        """The last value of a header."""
        values = self.header_values(name)
        return values[-1] if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass(frozen=True)
class AuthDecision:
    principal_id: str
    policy: Mapping[str, Any]
    context: Mapping[str, Any]
    usage_key: str | None


class GatewayError(Exception):
    """An error API Gateway answers by itself: a `GatewayResponses` type, its default status, a message."""

    def __init__(self, kind: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.detail = detail


def unauthorized() -> GatewayError:
    return GatewayError("UNAUTHORIZED", 401, "Unauthorized.")


def throttled(kind: str) -> GatewayError:
    """A throttle (`THROTTLED`) or a usage plan's quota (`QUOTA_EXCEEDED`): 429."""
    return GatewayError(kind, 429, "Too many requests." if kind == "THROTTLED" else "Usage quota exceeded.")


def internal_error(kind: str, status: int = 500) -> GatewayError:
    return GatewayError(kind, status, "Internal server error.")


class LocalGateway:
    """Routes, authorizes and invokes; `handle` turns one HTTP request into one HTTP response.

    Every function the API uses is imported at construction, so a missing or broken one fails at
    start-up. `handlers` replaces functions by logical id (tests of the gateway's own mechanics).
    """

    def __init__(
        self,
        template_path: Path = TEMPLATE,
        *,
        handlers: Mapping[str, Handler] | None = None,
        api_id: str = API_ID,
        monotonic: Callable[[], float] = time.monotonic,
        parameters: Mapping[str, str] | None = None,
        usage_plan_keys: Mapping[str, str] | None = None,
    ) -> None:
        template = load_template(template_path)
        values = Values(template, parameters)
        self.spec = read_api(template, api_id, values=values)
        self.limits = Limits(read_limits(template, values, api_id), usage_plan_keys or {}, monotonic)
        add_code_paths(self.spec)
        overrides = dict(handlers or {})
        needed = {route.function for route in self.spec.routes} | {self.spec.authorizer.function}
        self._handlers: dict[str, Handler] = {
            name: overrides[name] if name in overrides else import_handler(self.spec.functions[name])
            for name in sorted(needed)
        }
        self._routes = {(route.path, route.method): route for route in self.spec.routes}
        self._canned = {(answer.path, answer.method): answer for answer in self.spec.canned}
        self._paths = {path for path, _ in self._routes} | {path for path, _ in self._canned}
        self._greedy_path = next((path for path in sorted(self._paths) if re.fullmatch(r"/\{\w+\+\}", path)), None)
        self._invoke_lock = threading.Lock()
        self._monotonic = monotonic
        self._auth_cache: dict[tuple[str, ...], tuple[float, AuthDecision]] = {}
        self._auth_cache_lock = threading.Lock()

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The one place every answer of the gateway comes from (a function's, a MOCK's or an error)."""
        request_id = str(uuid.uuid4())
        try:
            response = self._handle(request, request_id)
        except GatewayError as error:
            response = self.error_answer(error)
        except Exception:
            log.exception("gateway failure")
            response = self.error_answer(internal_error("DEFAULT_5XX"))
        response.headers.append(("x-amzn-RequestId", request_id))
        accepted = request.header("Accept-Encoding")
        response.headers, response.body = compression.compressed(
            self.spec.minimum_compression_size, accepted, response.status, response.headers, response.body
        )
        return response

    def error_answer(self, error: GatewayError) -> HttpResponse:
        """`error` as the template's `GatewayResponses` write it (the type's own, else DEFAULT_4XX/5XX)."""
        responses = self.spec.gateway_responses
        own = responses.get(error.kind)
        configured = own or responses.get("DEFAULT_4XX" if error.status < 500 else "DEFAULT_5XX")
        status = own.status if own is not None and own.status is not None else error.status
        message = json.dumps(error.detail)
        if configured is not None and configured.body_template is not None:
            body = configured.body_template.replace("$context.error.messageString", message)
        else:
            body = '{"detail": ' + message + "}"
        headers = [("Content-Type", "application/json"), *(configured.headers if configured else ())]
        return HttpResponse(status, [*headers, *SECURITY_HEADERS.items()], body.encode())

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        blocked = self.limits.waf_block(request.source_ip, request.header)
        if blocked is not None:
            return HttpResponse(blocked.status, list(blocked.headers), blocked.body.encode())
        if self.limits.stage_throttled():
            raise throttled("THROTTLED")
        parts = urlsplit(request.target)
        path = unquote(parts.path) or "/"
        resource = "/" + path.strip("/")
        route = self._routes.get((resource, request.method))
        if route is None:
            return canned_answer(self._canned_answer_for(resource, request.method))

        query = parse_qsl(parts.query, keep_blank_values=True)
        context = self._request_context(request, route, path, request_id)
        started = time.perf_counter()
        decision = self._authorize(request, route, path, query, context)
        if route.api_key_required and not decision.usage_key:
            raise GatewayError("INVALID_API_KEY", 403, "Forbidden.")
        refusal = self.limits.plan_refusal(decision.usage_key)
        if refusal is not None:
            raise throttled(refusal)
        context["authorizer"] = {
            **decision.context,
            "principalId": decision.principal_id,
            "integrationLatency": round((time.perf_counter() - started) * 1000),
        }
        context["identity"]["apiKey"] = decision.usage_key
        event = {
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            **_header_maps(request.headers),
            **_query_maps(query),
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": context,
            **_body_fields(request.body),
        }
        try:
            result = self._invoke(route.function, event)
        except Exception as exc:  # a crashed Lambda: API Gateway answers 502
            log.error("%s failed:\n%s", route.function, traceback.format_exc())
            raise internal_error("DEFAULT_5XX", 502) from exc
        return _proxy_response(result)

    def _canned_answer_for(self, resource: str, method: str) -> CannedAnswer:
        """The MOCK method (the method's own, else ANY) of `resource`, or of the template's greedy path
        (`/{proxy+}`: any path below the root that no other resource matches), as API Gateway picks them."""
        if resource not in self._paths and resource != "/" and self._greedy_path is not None:
            resource = self._greedy_path
        canned = self._canned.get((resource, method)) or self._canned.get((resource, "ANY"))
        if canned is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", 403, "Not found.")  # API Gateway's "no route"
        return canned

    def _authorize(
        self,
        request: HttpRequest,
        route: Route,
        path: str,
        query: list[tuple[str, str]],
        request_context: dict[str, Any],
    ) -> AuthDecision:
        spec = self.spec.authorizer
        identity = []
        for name in spec.identity_headers:
            values = request.header_values(name)
            # Missing or empty: API Gateway answers 401 without calling the authorizer. Twice: ambiguous
            # (which token is the caller's?), so refused before the decision cache is even looked at.
            if len(values) != 1 or not values[0]:
                raise unauthorized()
            identity.append(values[0])
        key = tuple(identity)
        arn = method_arn(request.method, route.path)
        decision = self._cached_decision(key)
        if decision is None:
            event = {
                "type": "REQUEST",
                "methodArn": arn,
                "resource": route.path,
                "path": path,
                "httpMethod": request.method,
                **_header_maps(request.headers),
                **{name: value or {} for name, value in _query_maps(query).items()},
                "pathParameters": {},
                "stageVariables": {},
                "requestContext": copy.deepcopy(request_context),
            }
            decision = self._call_authorizer(event)
            if spec.ttl_seconds > 0:
                with self._auth_cache_lock:
                    self._auth_cache[key] = (self._monotonic() + spec.ttl_seconds, decision)
        if not policy_allows(decision.policy, arn):
            raise GatewayError("ACCESS_DENIED", 403, "Forbidden.")
        return decision

    def _cached_decision(self, identity: tuple[str, ...]) -> AuthDecision | None:
        with self._auth_cache_lock:
            cached = self._auth_cache.get(identity)
            if cached is None:
                return None
            expires, decision = cached
            if self._monotonic() >= expires:
                del self._auth_cache[identity]
                return None
            return decision

    def _call_authorizer(self, event: dict[str, Any]) -> AuthDecision:
        try:
            result = self._invoke(self.spec.authorizer.function, event)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise unauthorized() from exc
            log.error("authorizer failed:\n%s", traceback.format_exc())
            raise internal_error("AUTHORIZER_FAILURE") from exc
        try:
            return _decision(result)
        except (TypeError, ValueError, KeyError) as exc:
            log.error("authorizer returned an invalid answer: %s", exc)
            raise internal_error("AUTHORIZER_CONFIGURATION_ERROR") from exc

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        spec = self.spec.functions[function]
        with self._invoke_lock:
            context = LocalLambdaContext(spec.logical_id, spec.memory_mb, spec.timeout_seconds)
            return self._handlers[function](event, context)

    def _request_context(self, request: HttpRequest, route: Route, path: str, request_id: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        host = request.header("Host") or "127.0.0.1"
        return {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": path,
            "accountId": ACCOUNT_ID,
            "protocol": request.protocol,
            "stage": STAGE,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": request.header("User-Agent"),
                "apiKey": None,
                "apiKeyId": None,
            },
            "domainName": host,
            "apiId": REST_API_ID,
        }


def canned_answer(canned: CannedAnswer) -> HttpResponse:
    """A MOCK method's answer: the integration response's status, headers and JSON body."""
    content_type = [("Content-Type", "application/json")] if canned.body else []
    headers = [*content_type, *canned.headers, *SECURITY_HEADERS.items()]
    return HttpResponse(canned.status, headers, canned.body.encode())


def _decision(result: Any) -> AuthDecision:
    if not isinstance(result, Mapping):
        raise TypeError("the authorizer answer is not an object")
    policy = result["policyDocument"]
    if not isinstance(policy, Mapping):
        raise TypeError("policyDocument is not an object")
    context = result.get("context") or {}
    if not isinstance(context, Mapping) or not all(
        isinstance(value, str | int | float | bool) for value in context.values()
    ):
        raise ValueError("context values must be strings, numbers or booleans")  # API Gateway rejects others
    usage_key = result.get("usageIdentifierKey")
    return AuthDecision(str(result["principalId"]), policy, dict(context), str(usage_key) if usage_key else None)


def _by_name(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views of repeated names: the last value of each, and all of them."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _header_maps(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    single, multi = _by_name(headers)
    return {"headers": single, "multiValueHeaders": multi}


def _query_maps(query: list[tuple[str, str]]) -> dict[str, Any]:
    single, multi = _by_name(query)
    return {"queryStringParameters": single or None, "multiValueQueryStringParameters": multi or None}


def _body_fields(body: bytes) -> dict[str, Any]:
    if not body:
        return {"body": None, "isBase64Encoded": False}
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def _proxy_response(result: Any) -> HttpResponse:
    """A Lambda proxy integration answer as HTTP; a malformed one is a 502, as in API Gateway."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int | str):
        log.error("function returned a malformed proxy response")
        raise internal_error("DEFAULT_5XX", 502)
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers.extend((name, str(value)) for value in values)
    seen = {name.lower() for name in multi}
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in seen:
            headers.append((name, str(value)))
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, payload)
