"""What the local gateway reads from `template.yaml`: the REST API, its functions and its own answers.

- The functions (`AWS::Serverless::Function`): code folder, handler, environment, memory, timeout.
- The routes: each function event of `Type: Api` on the API (a method, a path, API key or not).
- The REQUEST authorizer: `Auth.DefaultAuthorizer` (its function, identity headers, cache TTL).
- `MinimumCompressionSize`: from what size API Gateway gzips an answer (devstack.compression).
- The answers API Gateway gives by itself: the MOCK methods of the API's `DefinitionBody` (405 on
  any other method), the CORS preflight SAM builds from `Cors`, and the `GatewayResponses`
  (401, 403, 404... with their headers and JSON bodies).

Values that are `!Ref <Parameter>` or `!Sub "...${Parameter}..."` take the parameter's default, or its override.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
API_ID = "AnalyticsApi"  # the template's logical id of the REST API
DEFAULT_REAUTHORIZE_SECONDS = 300  # API Gateway's default TTL of authorizer results
ANY_METHOD = "x-amazon-apigateway-any-method"

Headers = tuple[tuple[str, str], ...]


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
    """A method that invokes a function (Lambda proxy integration), behind the authorizer."""

    path: str  # the template's resource path, e.g. /api/analytics/overview
    method: str  # GET
    function: str  # logical id
    api_key_required: bool


@dataclass(frozen=True)
class CannedAnswer:
    """A method API Gateway answers by itself (a MOCK integration), with no authorizer."""

    path: str
    method: str  # OPTIONS, or ANY: every method the path declares no other way
    status: int
    headers: Headers
    body: str


@dataclass(frozen=True)
class GatewayResponse:
    """One of the template's `GatewayResponses`: what API Gateway's own errors of that type look like."""

    status: int | None  # None: the type's own status
    headers: Headers
    body_template: str | None  # `$context.error.messageString` stands for the quoted message


@dataclass(frozen=True)
class AuthorizerSpec:
    function: str  # logical id
    identity_headers: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class ApiSpec:
    functions: Mapping[str, FunctionSpec]
    routes: tuple[Route, ...]
    canned: tuple[CannedAnswer, ...]
    gateway_responses: Mapping[str, GatewayResponse]
    authorizer: AuthorizerSpec
    layer_dirs: tuple[Path, ...]
    minimum_compression_size: int | None  # bytes; None: API Gateway compresses nothing


class Values:
    """The template's literal values: `!Ref` and `!Sub` of parameters resolved to their defaults, or to the
    `overrides` given (as `sam deploy --parameter-overrides` would), and its conditions evaluated on them."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> None:
        parameters: Mapping[str, Any] = template.get("Parameters") or {}
        unknown = set(overrides or {}) - set(parameters)
        if unknown:
            raise ValueError(f"parameter overrides the template does not declare: {sorted(unknown)}")
        self.defaults = {name: (spec or {}).get("Default") for name, spec in parameters.items()} | dict(overrides or {})
        self.conditions: Mapping[str, Any] = template.get("Conditions") or {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Mapping) and list(value) == ["Ref"]:
            return self.defaults.get(value["Ref"])
        if isinstance(value, Mapping) and list(value) == ["Sub"] and isinstance(value["Sub"], str):
            return re.sub(r"\$\{([\w:]+)\}", lambda m: str(self.defaults.get(m[1], m[0])), value["Sub"])
        return value

    def condition(self, name: str | None) -> bool:
        """Whether the named condition holds (no condition: always); `Equals`, `Not`, `And`, `Or`, `Condition`."""
        return True if name is None else self._holds(self.conditions[name])

    def _holds(self, expression: Any) -> bool:
        [(function, arguments)] = expression.items()
        if function == "Equals":
            left, right = (str(self(argument)) for argument in arguments)
            return left == right
        if function == "Not":
            return not self._holds(arguments[0])
        if function == "And":
            return all(self._holds(argument) for argument in arguments)
        if function == "Or":
            return any(self._holds(argument) for argument in arguments)
        if function == "Condition":
            return self.condition(arguments)
        raise ValueError(f"condition function {function} is not evaluated locally")

    def static(self, value: Any) -> str:
        """A static header value as API Gateway writes it (`"'GET,OPTIONS'"`), without its quotes."""
        text = str(self(value))
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def read_api(
    template: Mapping[str, Any], api_id: str = API_ID, root: Path = ROOT, values: Values | None = None
) -> ApiSpec:
    """The functions, routes, authorizer and API Gateway's own answers of REST API `api_id`."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    values = values or Values(template)
    api_props: Mapping[str, Any] = (resources.get(api_id) or {}).get("Properties") or {}
    api_key_default = bool(values((api_props.get("Auth") or {}).get("ApiKeyRequired", False)))

    functions: dict[str, FunctionSpec] = {}
    routes: list[Route] = []
    layer_dirs: list[Path] = []
    globals_fn: Mapping[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    for logical_id, resource in resources.items():
        props: Mapping[str, Any] = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            layer_dirs.append(root / props["ContentUri"])
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        functions[logical_id] = _function(logical_id, props, globals_fn, values, root)
        for event in (props.get("Events") or {}).values():
            event_props: Mapping[str, Any] = event.get("Properties") or {}
            if event.get("Type") != "Api" or event_props.get("RestApiId") != {"Ref": api_id}:
                continue
            api_key = values((event_props.get("Auth") or {}).get("ApiKeyRequired", api_key_default))
            path = "/" + str(event_props["Path"]).strip("/")
            routes.append(Route(path, str(event_props["Method"]).upper(), logical_id, bool(api_key)))

    canned = _mock_methods(api_props, values)
    canned += _preflights(api_props, values, {route.path for route in routes} | {a.path for a in canned})
    return ApiSpec(
        functions=functions,
        routes=tuple(routes),
        canned=tuple(canned),
        gateway_responses=_gateway_responses(api_props, values),
        authorizer=_authorizer(api_props, values),
        layer_dirs=tuple(layer_dirs),
        minimum_compression_size=_minimum_compression_size(api_props, values),
    )


def _minimum_compression_size(api_props: Mapping[str, Any], values: Values) -> int | None:
    value = values(api_props.get("MinimumCompressionSize"))
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _function(
    logical_id: str, props: Mapping[str, Any], globals_fn: Mapping[str, Any], values: Values, root: Path
) -> FunctionSpec:
    merged = {**globals_fn, **props}
    code_uri, handler = str(merged["CodeUri"]), str(merged["Handler"])
    module_name, _, attribute = handler.rpartition(".")
    variables = {
        **((globals_fn.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    environment = {name: str(value) for name, raw in variables.items() if (value := values(raw)) not in (None, "")}
    return FunctionSpec(
        logical_id=logical_id,
        module=".".join([*Path(code_uri).parts, module_name]),  # functions/overview/ + app -> functions.overview.app
        handler=attribute,
        code_dir=root / code_uri,
        environment=environment,
        memory_mb=int(values(merged.get("MemorySize")) or 128),
        timeout_seconds=float(values(merged.get("Timeout")) or 3),
    )


def _authorizer(api_props: Mapping[str, Any], values: Values) -> AuthorizerSpec:
    auth: Mapping[str, Any] = api_props.get("Auth") or {}
    name = auth["DefaultAuthorizer"]
    config: Mapping[str, Any] = auth["Authorizers"][name]
    if config.get("FunctionPayloadType") != "REQUEST":
        raise ValueError(f"authorizer {name}: only REQUEST authorizers are served locally")
    arn = config.get("FunctionArn")
    if not (isinstance(arn, Mapping) and list(arn) == ["GetAtt"]):
        raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
    identity: Mapping[str, Any] = config.get("Identity") or {}
    ttl = values(identity.get("ReauthorizeEvery", DEFAULT_REAUTHORIZE_SECONDS))
    return AuthorizerSpec(
        function=str(arn["GetAtt"]).split(".")[0],
        identity_headers=tuple(str(header) for header in identity["Headers"]),
        ttl_seconds=int(ttl if ttl is not None else DEFAULT_REAUTHORIZE_SECONDS),
    )


def _mock_methods(api_props: Mapping[str, Any], values: Values) -> list[CannedAnswer]:
    """The MOCK methods of the API's DefinitionBody, each with its default integration response."""
    answers = []
    for path, methods in ((api_props.get("DefinitionBody") or {}).get("paths") or {}).items():
        for key, operation in methods.items():
            integration: Mapping[str, Any] = operation["x-amazon-apigateway-integration"]
            if integration["type"] != "mock":
                raise ValueError(f"{path} {key}: only MOCK integrations are served from the DefinitionBody")
            response: Mapping[str, Any] = integration["responses"]["default"]
            headers = tuple(
                (name.removeprefix("method.response.header."), values.static(value))
                for name, value in (response.get("responseParameters") or {}).items()
            )
            body = (response.get("responseTemplates") or {}).get("application/json", "")
            method = "ANY" if key == ANY_METHOD else key.upper()
            answers.append(CannedAnswer("/" + path.strip("/"), method, int(response["statusCode"]), headers, body))
    return answers


CORS_HEADERS = {
    "AllowOrigin": "Access-Control-Allow-Origin",
    "AllowMethods": "Access-Control-Allow-Methods",
    "AllowHeaders": "Access-Control-Allow-Headers",
    "MaxAge": "Access-Control-Max-Age",
}


def _preflights(api_props: Mapping[str, Any], values: Values, paths: set[str]) -> list[CannedAnswer]:
    """The OPTIONS method SAM adds to every path for `Cors`: 200, the Access-Control-* headers, no body."""
    cors = api_props.get("Cors")
    if not cors:
        return []
    settings: Mapping[str, Any] = cors if isinstance(cors, Mapping) else {"AllowOrigin": cors}
    headers = tuple((header, values.static(settings[key])) for key, header in CORS_HEADERS.items() if key in settings)
    if settings.get("AllowCredentials"):
        headers += (("Access-Control-Allow-Credentials", "true"),)
    return [CannedAnswer(path, "OPTIONS", 200, headers, "") for path in sorted(paths)]


def _gateway_responses(api_props: Mapping[str, Any], values: Values) -> dict[str, GatewayResponse]:
    found = {}
    for kind, config in (api_props.get("GatewayResponses") or {}).items():
        headers = tuple(
            (name, values.static(value))
            for name, value in ((config.get("ResponseParameters") or {}).get("Headers") or {}).items()
        )
        status = config.get("StatusCode")
        template = (config.get("ResponseTemplates") or {}).get("application/json")
        found[kind] = GatewayResponse(int(status) if status is not None else None, headers, template)
    return found
