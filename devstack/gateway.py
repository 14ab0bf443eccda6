"""A local API Gateway (REST API) in front of the functions, driven by `template.yaml`.

It reads the routes (each `AWS::Serverless::Function` event of `Type: Api`) and the
REQUEST authorizer (`Auth.DefaultAuthorizer` of the API) from the template and
runs every function in this process, by its package path
(`functions/<name>/` + `app.lambda_handler` -> `functions.<name>.app.lambda_handler`).

Per request, like API Gateway: match the route (trailing slash optional); OPTIONS
goes to the function without authorization (its CORS preflight answer); otherwise
the identity header must be present, the authorizer gets a REQUEST event and
its policy must allow the method ARN (decisions cached per identity for
`ReauthorizeEvery` seconds); then the function gets the REST proxy event with the
authorizer context. Errors the gateway makes itself are JSON `{"detail": ...}`.

The in-process functions share the layer's cached store clients (one pg8000
connection, one chDB client), which must not be used by two threads at once, so
one invocation runs at a time (a Lambda container also handles one request at a time).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import importlib
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from devstack import compression

log = logging.getLogger("devstack.gateway")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
API_ID = "AnalyticsApi"  # the template's logical id of the REST API

REGION = "local"
ACCOUNT_ID = "000000000000"
REST_API_ID = "localapi"
STAGE = "local"
DEFAULT_REAUTHORIZE_SECONDS = 300  # API Gateway's default TTL of authorizer results

Handler = Callable[[dict[str, Any], Any], Any]


# ---------------------------------------------------------------------------- the template


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags (`!Ref`, `!GetAtt`...) as `{tag: value}`."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    module: str  # e.g. functions.overview.app
    handler: str  # e.g. lambda_handler
    code_dir: Path
    environment: Mapping[str, str]  # the template's literal values (and parameter defaults)
    memory_mb: int = 128
    timeout_seconds: float = 3.0


@dataclass(frozen=True)
class Route:
    path: str  # the template's resource path, e.g. /api/analytics/overview
    method: str  # GET, POST... or ANY
    function: str  # logical id
    authorized: bool
    api_key_required: bool
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]  # names of {path} parameters, in order


@dataclass(frozen=True)
class AuthorizerSpec:
    function: str  # logical id
    payload_type: str  # REQUEST or TOKEN
    identity_headers: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class ApiSpec:
    functions: Mapping[str, FunctionSpec]
    routes: tuple[Route, ...]
    authorizer: AuthorizerSpec | None
    layer_dirs: tuple[Path, ...]


def read_api(template: Mapping[str, Any], api_id: str = API_ID, root: Path = ROOT) -> ApiSpec:
    """The routes, functions and authorizer of REST API `api_id` in a SAM template."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    parameters: Mapping[str, Any] = template.get("Parameters") or {}
    globals_fn: Mapping[str, Any] = (template.get("Globals") or {}).get("Function") or {}

    def literal(value: Any) -> Any:
        if isinstance(value, Mapping) and len(value) == 1 and "Ref" in value:
            return (parameters.get(value["Ref"]) or {}).get("Default")
        return value

    api_props: Mapping[str, Any] = (resources.get(api_id) or {}).get("Properties") or {}
    api_auth: Mapping[str, Any] = api_props.get("Auth") or {}
    authorizer = _read_authorizer(api_auth, literal)
    api_key_default = bool(literal(api_auth.get("ApiKeyRequired", False)))

    functions: dict[str, FunctionSpec] = {}
    routes: list[Route] = []
    layer_dirs: list[Path] = []
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        props: Mapping[str, Any] = resource.get("Properties") or {}
        if kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            layer_dirs.append(root / props["ContentUri"])
        if kind != "AWS::Serverless::Function":
            continue
        merged = {**globals_fn, **props}
        code_uri, handler = merged.get("CodeUri"), merged.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            continue
        module_name, _, attribute = handler.rpartition(".")
        package = ".".join(Path(code_uri).parts)
        variables = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        environment = {name: str(value) for name, raw in variables.items() if (value := literal(raw)) not in (None, "")}
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            module=f"{package}.{module_name}" if package else module_name,
            handler=attribute,
            code_dir=root / code_uri,
            environment=environment,
            memory_mb=int(literal(merged.get("MemorySize")) or 128),
            timeout_seconds=float(literal(merged.get("Timeout")) or 3),
        )
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            event_props: Mapping[str, Any] = event.get("Properties") or {}
            rest_api = event_props.get("RestApiId")
            if rest_api is not None and rest_api != {"Ref": api_id}:
                continue
            event_auth: Mapping[str, Any] = event_props.get("Auth") or {}
            path, pattern, names = _compile_path(str(event_props["Path"]))
            routes.append(
                Route(
                    path=path,
                    method=str(event_props.get("Method", "ANY")).upper(),
                    function=logical_id,
                    authorized=authorizer is not None and event_auth.get("Authorizer") != "NONE",
                    api_key_required=bool(literal(event_auth.get("ApiKeyRequired", api_key_default))),
                    pattern=pattern,
                    parameters=names,
                )
            )
    return ApiSpec(functions, tuple(routes), authorizer, tuple(layer_dirs))


def _read_authorizer(api_auth: Mapping[str, Any], literal: Callable[[Any], Any]) -> AuthorizerSpec | None:
    name = api_auth.get("DefaultAuthorizer")
    if not name or name == "AWS_IAM":
        return None
    config: Mapping[str, Any] = (api_auth.get("Authorizers") or {})[name]
    arn = config.get("FunctionArn")
    if isinstance(arn, Mapping) and "GetAtt" in arn:  # !GetAtt Fn.Arn
        function = str(arn["GetAtt"]).split(".")[0]
    elif isinstance(arn, Mapping) and "Fn::GetAtt" in arn:  # Fn::GetAtt: [Fn, Arn]
        target = arn["Fn::GetAtt"]
        function = str(target[0] if isinstance(target, list) else target).split(".")[0]
    else:
        raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
    identity: Mapping[str, Any] = config.get("Identity") or {}
    payload_type = str(config.get("FunctionPayloadType", "TOKEN")).upper()
    headers = identity.get("Headers") or ([identity.get("Header", "Authorization")] if payload_type == "TOKEN" else [])
    ttl = literal(identity.get("ReauthorizeEvery", DEFAULT_REAUTHORIZE_SECONDS))
    return AuthorizerSpec(
        function=function,
        payload_type=payload_type,
        identity_headers=tuple(str(h) for h in headers),
        ttl_seconds=int(ttl if ttl is not None else DEFAULT_REAUTHORIZE_SECONDS),
    )


def _compile_path(path: str) -> tuple[str, re.Pattern[str], tuple[str, ...]]:
    """`/items/{id}` -> a regex on the path without its trailing slash, and the parameter names."""
    path = "/" + path.strip("/")
    names: list[str] = []
    parts = []
    for segment in path.split("/")[1:]:
        match = re.fullmatch(r"\{([^}+]+)(\+?)\}", segment)
        if match:
            names.append(match.group(1))
            parts.append("(.+)" if match.group(2) else "([^/]+)")
        else:
            parts.append(re.escape(segment))
    return path, re.compile("/" + "/".join(parts)), tuple(names)


def add_code_paths(spec: ApiSpec) -> None:
    """What Lambda puts on `sys.path`: the layers' code and each function's folder (for its own modules)."""
    for directory in [ROOT, *spec.layer_dirs, *(fn.code_dir for fn in spec.functions.values())]:
        entry = str(directory.resolve())
        if entry not in sys.path:
            sys.path.append(entry)


_import_lock = threading.Lock()


def import_handler(spec: FunctionSpec) -> Handler:
    """The function's handler, imported by package path with its template environment applied.

    The template's variables (e.g. `POWERTOOLS_SERVICE_NAME`) are set only while the module
    is imported (Powertools reads them then), and never override what the environment already sets.
    """
    overlay = {name: value for name, value in spec.environment.items() if name not in os.environ}
    with _import_lock, _environment(overlay):
        module = importlib.import_module(spec.module)
    handler = getattr(module, spec.handler)
    if not callable(handler):
        raise TypeError(f"{spec.module}.{spec.handler} is not callable")
    return handler


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)


# ---------------------------------------------------------------------------- requests and responses


@dataclass
class HttpRequest:
    method: str
    target: str  # path and query as sent
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The last value of a header (names are case-insensitive)."""
        value = None
        for key, item in self.headers:
            if key.lower() == name.lower():
                value = item
        return value


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass
class LocalLambdaContext:
    """The Lambda context object Powertools and the handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class AuthDecision:
    principal_id: str
    policy: Mapping[str, Any]
    context: Mapping[str, Any]
    usage_key: str | None


class GatewayError(Exception):
    """An answer API Gateway gives by itself."""

    def __init__(self, status: int, detail: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = list(headers)


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{REST_API_ID}/{STAGE}/{method}/{path.lstrip('/')}"


def policy_allows(policy: Mapping[str, Any], arn: str) -> bool:
    """IAM evaluation of an authorizer policy for `execute-api:Invoke` on `arn`: an explicit Deny wins."""
    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or not _covers(statement.get("Action"), "execute-api:Invoke", True):
            continue
        if not _covers(statement.get("Resource"), arn, False):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


def _covers(patterns: Any, value: str, ignore_case: bool) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return False
    flags = re.IGNORECASE if ignore_case else 0
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value, flags | re.DOTALL):
            return True
    return False


# ---------------------------------------------------------------------------- the gateway


class LocalGateway:
    """Routes, authorizes and invokes; `handle` turns one HTTP request into one HTTP response.

    `handlers` replaces functions by logical id (tests use it for stand-ins); the others are
    imported from the template at construction, so a broken function fails at start-up.
    """

    def __init__(
        self,
        template_path: Path = TEMPLATE,
        *,
        handlers: Mapping[str, Handler] | None = None,
        api_id: str = API_ID,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        template = load_template(template_path)
        self.spec = read_api(template, api_id)
        self.minimum_compression_size = compression.minimum_compression_size(template, api_id)
        add_code_paths(self.spec)
        overrides = dict(handlers or {})
        needed = {route.function for route in self.spec.routes}
        if self.spec.authorizer is not None:
            needed.add(self.spec.authorizer.function)
        self._handlers: dict[str, Handler] = {}
        self.missing: list[str] = []  # functions in the template whose code is not there (yet)
        for name in sorted(needed):
            if name in overrides:
                self._handlers[name] = overrides[name]
                continue
            try:
                self._handlers[name] = import_handler(self.spec.functions[name])
            except ModuleNotFoundError as exc:
                if not exc.name or not self.spec.functions[name].module.startswith(exc.name):
                    raise  # a dependency is missing: fail at start-up
                log.warning("%s: no module %s (yet); its requests fail", name, self.spec.functions[name].module)
                self.missing.append(name)
                self._handlers[name] = _missing_function(self.spec.functions[name].module)
        self._invoke_lock = threading.Lock()
        self._monotonic = monotonic
        self._auth_cache: dict[tuple[str, ...], tuple[float, AuthDecision]] = {}
        self._auth_cache_lock = threading.Lock()

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.spec.routes

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            response = self._handle(request, request_id)
        except GatewayError as error:
            response = self._error(request, error.status, error.detail, error.headers)
        except Exception:
            log.exception("gateway failure")
            response = self._error(request, 500, "Internal server error.")
        response.headers.append(("x-amzn-RequestId", request_id))
        accepted = request.header("Accept-Encoding")
        response.headers, response.body = compression.compressed(
            self.minimum_compression_size, accepted, response.status, response.headers, response.body
        )
        return response

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        parts = urlsplit(request.target)
        path = unquote(parts.path) or "/"
        try:
            route, path_parameters = self._match(request.method, path)
        except GatewayError:
            if request.method != "OPTIONS":
                raise
            # The template's `/{proxy+}` gets SAM's preflight answer: a script then reads the unknown path's 404.
            cors = [*cors_headers(request.header("Origin")), ("Access-Control-Allow-Methods", "GET,OPTIONS")]
            return HttpResponse(204, cors)
        query = parse_qsl(parts.query, keep_blank_values=True)
        context = self._request_context(request, route, path, request_id)

        if route.authorized and request.method != "OPTIONS":  # a CORS preflight needs no authorization
            started = time.perf_counter()
            decision = self._authorize(request, route, path, query, path_parameters, context)
            if route.api_key_required and not decision.usage_key:
                raise GatewayError(403, "Forbidden.")
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
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": context,
            **_body_fields(request.body),
        }
        try:
            result = self._invoke(route.function, event)
        except Exception as exc:  # a crashed Lambda: API Gateway answers 502
            log.error("%s failed:\n%s", route.function, traceback.format_exc())
            raise GatewayError(502, "Internal server error.") from exc
        return _proxy_response(result)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for `path` (with or without its trailing slash) and method; 404 if no path matches.

        A known path with another method still goes to that path's function, which answers 405.
        """
        normalized = "/" + path.strip("/") if path != "/" else "/"
        candidates = []
        for route in self.spec.routes:
            match = route.pattern.fullmatch(normalized)
            if match:
                candidates.append((route, dict(zip(route.parameters, match.groups(), strict=True))))
        if not candidates:
            raise GatewayError(404, "Not found.")
        for route, parameters in candidates:
            if route.method in (method, "ANY"):
                return route, parameters
        return candidates[0]

    def _authorize(
        self,
        request: HttpRequest,
        route: Route,
        path: str,
        query: list[tuple[str, str]],
        path_parameters: dict[str, str],
        request_context: dict[str, Any],
    ) -> AuthDecision:
        spec = self.spec.authorizer
        assert spec is not None
        identity = tuple(request.header(name) or "" for name in spec.identity_headers)
        if not all(identity):  # API Gateway answers this itself, without calling the authorizer
            raise GatewayError(401, "Unauthorized.", [("WWW-Authenticate", "Bearer")])
        normalized = "/" + path.strip("/")
        arn = method_arn(request.method, normalized)
        decision = self._cached_decision(identity)
        if decision is None:
            event = self._authorizer_event(spec, request, route, path, query, path_parameters, request_context, arn)
            decision = self._call_authorizer(spec, event)
            if spec.ttl_seconds > 0:
                with self._auth_cache_lock:
                    self._auth_cache[identity] = (self._monotonic() + spec.ttl_seconds, decision)
        # A method the path does not declare goes to the path's function (it answers 405), so the
        # policy is checked for the method the route declares: being allowed the path is what counts.
        declared = request.method if route.method in (request.method, "ANY") else route.method
        if not policy_allows(decision.policy, method_arn(declared, normalized)):
            raise GatewayError(403, "Forbidden.")
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

    def _authorizer_event(
        self,
        spec: AuthorizerSpec,
        request: HttpRequest,
        route: Route,
        path: str,
        query: list[tuple[str, str]],
        path_parameters: dict[str, str],
        request_context: dict[str, Any],
        arn: str,
    ) -> dict[str, Any]:
        if spec.payload_type == "TOKEN":
            return {"type": "TOKEN", "authorizationToken": request.header(spec.identity_headers[0]), "methodArn": arn}
        query_maps = _query_maps(query)
        return {
            "type": "REQUEST",
            "methodArn": arn,
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            **_header_maps(request.headers),
            "queryStringParameters": query_maps["queryStringParameters"] or {},
            "multiValueQueryStringParameters": query_maps["multiValueQueryStringParameters"] or {},
            "pathParameters": path_parameters,
            "stageVariables": {},
            "requestContext": copy.deepcopy(request_context),
        }

    def _call_authorizer(self, spec: AuthorizerSpec, event: dict[str, Any]) -> AuthDecision:
        try:
            result = self._invoke(spec.function, event)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise GatewayError(401, "Unauthorized.", [("WWW-Authenticate", "Bearer")]) from exc
            log.error("authorizer failed:\n%s", traceback.format_exc())
            raise GatewayError(500, "Internal server error.") from exc
        try:
            return _decision(result)
        except (TypeError, ValueError, KeyError) as exc:
            log.error("authorizer returned an invalid answer: %s", exc)
            raise GatewayError(500, "Internal server error.") from exc

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

    def _error(
        self, request: HttpRequest, status: int, detail: str, headers: Sequence[tuple[str, str]] = ()
    ) -> HttpResponse:
        return HttpResponse(
            status,
            [("Content-Type", "application/json"), *cors_headers(request.header("Origin")), *headers],
            json.dumps({"detail": detail}, separators=(",", ":")).encode(),
        )


def _missing_function(module: str) -> Handler:
    def handler(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError(f"{module} does not exist")

    return handler


def cors_headers(origin: str | None) -> list[tuple[str, str]]:
    """The functions' CORS settings, for the answers the gateway makes itself."""
    from analytics_common.api import cors_config

    config = cors_config()
    return list(config.to_dict(origin or "*").items())


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


def _header_maps(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return {"headers": single, "multiValueHeaders": multi}


def _query_maps(query: list[tuple[str, str]]) -> dict[str, Any]:
    if not query:
        return {"queryStringParameters": None, "multiValueQueryStringParameters": None}
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in query:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return {"queryStringParameters": single, "multiValueQueryStringParameters": multi}


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
        raise GatewayError(502, "Internal server error.")
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


# ---------------------------------------------------------------------------- the HTTP server

HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: LocalGateway) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.gateway = gateway
        super().__init__(address, GatewayRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Not http.server's HTTP/0.9: a request line without a version gets a status line and headers too.
    default_request_version = "HTTP/1.0"
    server_version = "LocalApiGateway"
    server: GatewayServer

    def _dispatch(self) -> None:
        started = time.perf_counter()
        length = self._content_length()
        if length is None:
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length > 0 else b"",
            source_ip=str(self.client_address[0]),
            protocol=self.request_version,
        )
        response = self.server.gateway.handle(request)
        # The path only: never headers (Authorization) nor the query string.
        elapsed = (time.perf_counter() - started) * 1000
        sys.stderr.write(f"{self.command} {urlsplit(self.path).path} {response.status} {elapsed:.0f} ms\n")
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        # Every other method (TRACE, CONNECT, PROPFIND...) goes through the gateway too, so it gets
        # the API's JSON answer (401, or 405 from the function) instead of http.server's 501 HTML page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _content_length(self) -> int | None:
        """The body's length; None after answering 400 (not a number) or 413 (over API Gateway's 10 MB)."""
        values = self.headers.get_all("Content-Length") or []
        if len(set(values)) > 1 or not all(value.strip().isdigit() for value in values):
            self.send_error(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
            return None
        length = int(values[0]) if values else 0
        if length > MAX_BODY_BYTES:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        return length

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, URI or header too long...) as JSON, like the gateway's.

        The status phrase only, in the answer and the log: `message` may quote the request line (with its
        query string), which is neither echoed back nor logged.
        """
        phrase = self.responses.get(code, ("Error",))[0]
        self.log_error("%d %s", code, phrase)
        body = json.dumps({"detail": f"{phrase}."}, separators=(",", ":")).encode()
        self.send_response(code, phrase)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        for name, value in cors_headers(None):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Logged by `_dispatch` instead."""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"gateway: {format % args}\n")


def make_server(gateway: LocalGateway, host: str = "127.0.0.1", port: int = 3000) -> GatewayServer:
    return GatewayServer((host, port), gateway)
