"""Breaking changes of `openapi.yaml` against the last released contract: `python -m tools.openapi_diff`.

Both documents must be valid OpenAPI 3.1 (openapi-spec-validator). The released one is `openapi.yaml`
at the newest git tag `v*` when the clone has tags, else the committed baseline
`docs/releases/openapi-v<N>.yaml` of the newest release (a CI clone may hold no tags; docs/api.md §8).
Exit status 0: no breaking change; 1: breaking changes, one a line; 2: a document is invalid.

Breaking, for a client written against the release:
- a path, an operation, or a response status code of an operation is gone;
- a response header is gone, a response loses its JSON body, or a property a response required is
  gone or no longer required;
- a response value may take a type or an enum value it could not take before (the client never
  handled it);
- a request parameter is new and required, or became required, or is gone;
- a request parameter's values are narrowed: a type or an enum value it accepted is no longer
  accepted.
Everything else is an addition and not breaking: new paths, operations, optional parameters, response
codes (a new 400), response headers (a new `Link`) and response properties.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPISpecValidatorError, OpenAPIValidationError

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = Path("openapi.yaml")
BASELINES = Path("docs/releases")
RELEASE_TAG = re.compile(r"v(\d+)(?:\.(\d+))?(?:\.(\d+))?")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Document = Mapping[str, Any]


def resolve(document: Document, node: Any) -> Any:
    """`node` with a local `$ref` (`#/components/...`) followed, repeatedly."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"unsupported or circular $ref {ref!r}")
        seen.add(ref)
        node = document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def value_types(document: Document, schema: Any) -> set[str]:
    """The JSON types a schema admits (`type`, a list of types, `const`, and oneOf/anyOf branches)."""
    schema = resolve(document, schema)
    if not isinstance(schema, Mapping):
        return set()
    branches = [*schema.get("oneOf", []), *schema.get("anyOf", [])]
    if branches:
        return set().union(*(value_types(document, branch) for branch in branches))
    declared = schema.get("type")
    if declared is None:
        return {"any"}
    return {declared} if isinstance(declared, str) else set(declared)


def enum_values(document: Document, schema: Any) -> set[str] | None:
    """The values an enum (or const) allows, as JSON text; None when the schema has no enum."""
    schema = resolve(document, schema)
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return {json.dumps(schema["const"])}
    if "enum" in schema:
        return {json.dumps(value) for value in schema["enum"]}
    return None


@dataclass(frozen=True)
class Diff:
    """The released document (`old`) and the one now (`new`): every `$ref` resolves in its own."""

    old: Document
    new: Document

    def changes(self) -> list[str]:
        """Every change of `new` that breaks a client of `old`, one line each, in path order."""
        changes: list[str] = []
        new_paths = self.new.get("paths", {})
        for path, old_ref in self.old.get("paths", {}).items():
            if path not in new_paths:
                changes.append(f"{path}: path removed")
                continue
            old_item, new_item = resolve(self.old, old_ref), resolve(self.new, new_paths[path])
            for method in (m for m in METHODS if m in old_item):
                where = f"{method.upper()} {path}"
                if method not in new_item:
                    changes.append(f"{where}: operation removed")
                    continue
                old_op, new_op = old_item[method], new_item[method]
                old_params = parameters(self.old, old_item, old_op)
                changes += self.parameter_changes(old_params, parameters(self.new, new_item, new_op), where)
                changes += self.response_changes(old_op.get("responses", {}), new_op.get("responses", {}), where)
        return changes

    def parameter_changes(self, old: Mapping, new: Mapping, where: str) -> Iterator[str]:
        """New or newly required request parameters, removed ones, and narrowed ones."""
        for key, parameter in sorted(new.items()):
            if parameter.get("required") and not (key in old and old[key].get("required")):
                yield f"{where} {key[0]} parameter {key[1]!r}: required now"
        for key, old_parameter in sorted(old.items()):
            label = f"{where} {key[0]} parameter {key[1]!r}"
            if key not in new:
                yield f"{label}: removed"
                continue
            old_schema, new_schema = old_parameter.get("schema", {}), new[key].get("schema", {})
            old_types, new_types = value_types(self.old, old_schema), value_types(self.new, new_schema)
            lost = old_types - new_types - ({"integer"} if "number" in new_types else set())
            if "any" not in new_types and lost:
                yield f"{label}: no longer accepts {', '.join(sorted(lost))}"
            old_enum, new_enum = enum_values(self.old, old_schema), enum_values(self.new, new_schema)
            if new_enum is not None and (old_enum is None or old_enum - new_enum):
                yield f"{label}: accepts fewer values"

    def response_changes(self, old: Mapping, new: Mapping, where: str) -> Iterator[str]:
        """Removed status codes, headers and JSON bodies, and breaking changes of each body."""
        for status, old_ref in old.items():
            if status not in new:
                yield f"{where}: response {status} removed"
                continue
            old_response, new_response = resolve(self.old, old_ref), resolve(self.new, new[status])
            new_headers = {name.lower() for name in new_response.get("headers", {})}
            for header in old_response.get("headers", {}):
                if header.lower() not in new_headers:
                    yield f"{where} {status}: header {header} removed"
            old_schema, new_schema = json_schema(old_response), json_schema(new_response)
            if old_schema is not None and new_schema is None:
                yield f"{where} {status}: JSON body removed"
            elif old_schema is not None:
                yield from self.body_changes(old_schema, new_schema, f"{where} {status} body")

    def body_changes(self, old_ref: Any, new_ref: Any, where: str) -> Iterator[str]:
        """A response value: wider types or enums, required properties lost, and the same below it."""
        old, new = resolve(self.old, old_ref), resolve(self.new, new_ref)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            return
        yield from self.widened(old, new, where)
        yield from lost_required(old, new, where)
        new_properties = new.get("properties", {})
        for name, old_property in old.get("properties", {}).items():
            if name in new_properties:
                yield from self.body_changes(old_property, new_properties[name], f"{where}.{name}")
        if "items" in old and "items" in new:
            yield from self.body_changes(old["items"], new["items"], f"{where}[]")
        # oneOf/anyOf branches are matched by the types they hold (an object or null, say), so the
        # object's properties are still compared.
        for old_branch in [*old.get("oneOf", []), *old.get("anyOf", [])]:
            kinds = value_types(self.old, old_branch)
            for new_branch in [*new.get("oneOf", []), *new.get("anyOf", [])]:
                if kinds == value_types(self.new, new_branch):
                    yield from self.body_changes(old_branch, new_branch, where)

    def widened(self, old: Mapping, new: Mapping, where: str) -> Iterator[str]:
        """Types and enum values a response value may take now and could not before."""
        old_types, new_types = value_types(self.old, old), value_types(self.new, new)
        if "any" not in old_types and (added := new_types - old_types):
            yield f"{where}: may now be {', '.join(sorted(added))}"
        old_enum, new_enum = enum_values(self.old, old), enum_values(self.new, new)
        if old_enum is not None and new_enum is None:
            yield f"{where}: no longer limited to {', '.join(sorted(old_enum))}"
        elif old_enum is not None and new_enum is not None and (added_values := new_enum - old_enum):
            yield f"{where}: may now be {', '.join(sorted(added_values))}"


def lost_required(old: Mapping, new: Mapping, where: str) -> Iterator[str]:
    """Properties an object response required that are gone or optional now."""
    new_required, new_properties = set(new.get("required", [])), new.get("properties", {})
    for name in sorted(old.get("required", [])):
        if name not in new_properties:
            yield f"{where}: required property {name!r} removed"
        elif name not in new_required:
            yield f"{where}: property {name!r} is no longer required"


def breaking_changes(old: Document, new: Document) -> list[str]:
    """Every change of `new` that breaks a client of `old`, one line each, in path order."""
    return Diff(old, new).changes()


def parameters(document: Document, path_item: Mapping[str, Any], operation: Mapping[str, Any]) -> dict[tuple, Any]:
    """The operation's parameters (path-level ones included, the operation's win) by (in, name)."""
    found = {}
    for ref in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        parameter = resolve(document, ref)
        found[(parameter["in"], parameter["name"])] = parameter
    return found


def json_schema(response: Mapping[str, Any]) -> Any:
    return response.get("content", {}).get("application/json", {}).get("schema")


def load(text: str, name: str) -> dict[str, Any]:
    """A parsed document, validated against the OpenAPI schema; OpenAPIValidationError if invalid."""
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise OpenAPIValidationError(f"{name}: not a YAML mapping")
    validate(document)
    return document


def git(*args: str) -> str | None:
    command = ["git", "-C", str(ROOT), *args]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return completed.stdout if completed.returncode == 0 else None


def latest_release_tag() -> str | None:
    """The highest `vMAJOR[.MINOR[.PATCH]]` tag of this clone, or None (CI clones may have none)."""
    tags = (git("tag", "--list", "v*") or "").split()
    versions = [
        (tuple(int(part or 0) for part in match.groups()), tag) for tag in tags if (match := RELEASE_TAG.fullmatch(tag))
    ]
    return max(versions)[1] if versions else None


def latest_baseline() -> Path:
    """The committed contract of the newest release: docs/releases/openapi-v<N>.yaml with the highest N."""
    numbered = [
        (int(match.group(1)), path)
        for path in (ROOT / BASELINES).glob("openapi-v*.yaml")
        if (match := re.fullmatch(r"openapi-v(\d+)\.yaml", path.name))
    ]
    if not numbered:
        raise FileNotFoundError(f"no {BASELINES}/openapi-v<N>.yaml baseline")
    return max(numbered)[1]


def released_contract() -> tuple[str, str]:
    """(label, text) of the released contract: the newest release tag's openapi.yaml, else the baseline."""
    tag = latest_release_tag()
    if tag is not None and (text := git("show", f"{tag}:{CONTRACT}")) is not None:
        return f"tag {tag}", text
    baseline = latest_baseline()
    return str(baseline.relative_to(ROOT)), baseline.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the released contract (default: newest v* tag, else baseline)")
    parser.add_argument("--head", type=Path, default=ROOT / CONTRACT, help="the contract now (default openapi.yaml)")
    args = parser.parse_args(argv)
    base_label, base_text = (str(args.base), args.base.read_text()) if args.base else released_contract()
    try:
        base = load(base_text, base_label)
        head = load(args.head.read_text(), str(args.head))
    except (OpenAPIValidationError, OpenAPISpecValidatorError) as exc:
        print(f"invalid OpenAPI document: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    changes = breaking_changes(base, head)
    for change in changes:
        print(change)
    verdict = f"{len(changes)} breaking change(s)" if changes else "no breaking change"
    print(f"openapi diff against {base_label}: {verdict}", file=sys.stderr)
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
