"""The API's endpoints, listed once: each one's name, path and function (its logical id in template.yaml).

template.yaml declares the same list (each function's `Get` event and a 405 path of the API's
DefinitionBody); tests/test_template.py fails when the two differ. The authorizer's policy, the
tests, the local gateway, the bench and the load tools all read the endpoints from here.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_PATH = "/api/analytics"


@dataclass(frozen=True)
class Endpoint:
    name: str  # the function's folder, functions/<name>/, and its sample event, events/<name>.json
    resource: str  # the template's resource path, e.g. /api/analytics/overview
    function: str  # the function's logical id in template.yaml

    @property
    def path(self) -> str:
        """The path as docs/api.md and openapi.yaml write it: with the trailing slash (optional in requests)."""
        return self.resource + "/"


def _endpoint(name: str) -> Endpoint:
    return Endpoint(name, f"{BASE_PATH}/{name}", f"{name.capitalize()}Function")


ENDPOINTS: tuple[Endpoint, ...] = tuple(
    _endpoint(name) for name in ("overview", "segments", "overlap", "activations", "copilot", "usage")
)
NAMES: tuple[str, ...] = tuple(endpoint.name for endpoint in ENDPOINTS)
AUTHORIZER_FUNCTION = "AuthorizerFunction"
