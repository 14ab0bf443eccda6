"""tools.openapi_diff: what breaks a client of the released contract, and where the release comes from."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import openapi_diff
from tools.openapi_diff import breaking_changes

ROOT = Path(__file__).resolve().parent.parent
RELEASED = yaml.safe_load((ROOT / "docs" / "releases" / "openapi-v1.yaml").read_text())

Edit = Callable[[dict[str, Any]], None]
SEGMENTS = "/api/analytics/segments/"
ACTIVATIONS = "/api/analytics/activations/"


def edited(edit: Edit) -> dict[str, Any]:
    document = copy.deepcopy(RELEASED)
    edit(document)
    openapi_diff.validate(document)  # every case is a valid document: only the diff decides
    return document


def query(name: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema or {"type": "string"}}


def with_parameters(*params: dict[str, Any]) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc["paths"][SEGMENTS]["get"]["parameters"] = list(params)

    return edit


def add_v2(doc: dict[str, Any]) -> None:
    """What version 2 adds: optional parameters, a 400, a Link header, a new property and a new path."""
    get = doc["paths"][SEGMENTS]["get"]
    get["parameters"] = [
        query("tz"),
        query("days", type="integer", minimum=1, maximum=90),
        query("limit", type="integer", minimum=1, maximum=1000),
        query("cursor", type="string", pattern="^[A-Za-z0-9_-]+$"),
    ]
    get["responses"]["400"] = {"$ref": "#/components/responses/NotFound"}
    get["responses"]["200"]["headers"] = {"Link": {"schema": {"type": "string"}}}
    doc["components"]["schemas"]["Segment"]["properties"]["kind"] = {"type": "string"}
    doc["components"]["schemas"]["Segment"]["properties"]["trend"]["maxItems"] = 90
    doc["paths"]["/api/analytics/funnels/"] = funnels = copy.deepcopy(doc["paths"][SEGMENTS])
    funnels["get"]["operationId"] = "getFunnels"


def test_the_contract_now_breaks_nothing_of_the_release() -> None:
    assert breaking_changes(RELEASED, yaml.safe_load((ROOT / "openapi.yaml").read_text())) == []


def test_additions_are_not_breaking() -> None:
    assert breaking_changes(RELEASED, edited(add_v2)) == []


def _drop_required(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["Segment"]["required"].remove("trend")


def _drop_property(doc: dict[str, Any]) -> None:
    segment = doc["components"]["schemas"]["Segment"]
    segment["required"].remove("trend")
    del segment["properties"]["trend"]


def _widen_enum(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["SyncLog"]["properties"]["status"]["enum"].append("skipped")


def _nullable_name(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["Segment"]["properties"]["name"] = {"type": ["string", "null"]}


def _number_rate(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["Activation"]["properties"]["success_rate"]["oneOf"][0]["type"] = "number"


def _nested_required(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["UsedAndLimit"]["required"] = ["used"]


BREAKING: list[tuple[str, Edit, list[str]]] = [
    ("path removed", lambda d: d["paths"].pop(SEGMENTS), [f"{SEGMENTS}: path removed"]),
    ("operation removed", lambda d: d["paths"][SEGMENTS].pop("get"), [f"GET {SEGMENTS}: operation removed"]),
    (
        "response code removed",
        lambda d: d["paths"][SEGMENTS]["get"]["responses"].pop("503"),
        [f"GET {SEGMENTS}: response 503 removed"],
    ),
    (
        "response header removed",
        lambda d: d["components"]["responses"]["TooManyRequests"].pop("headers"),
        [f"GET {path} 429: header Retry-After removed" for path in RELEASED["paths"]],
    ),
    (
        "required property optional",
        _drop_required,
        [f"GET {SEGMENTS} 200 body[]: property 'trend' is no longer required"],
    ),
    ("required property removed", _drop_property, [f"GET {SEGMENTS} 200 body[]: required property 'trend' removed"]),
    (
        "nested required property optional",
        _nested_required,
        [
            f"GET /api/analytics/usage/ 200 body.{name}: property 'limit' is no longer required"
            for name in ("events", "users", "segments", "ai_credits")
        ],
    ),
    (
        "response enum widened",
        _widen_enum,
        [f'GET {ACTIVATIONS} 200 body[].sync_logs[].status: may now be "skipped"'],
    ),
    ("response type widened", _nullable_name, [f"GET {SEGMENTS} 200 body[].name: may now be null"]),
    ("integer became number", _number_rate, [f"GET {ACTIVATIONS} 200 body[].success_rate: may now be number"]),
    (
        "new required parameter",
        with_parameters(query("tz", required=True)),
        [f"GET {SEGMENTS} query parameter 'tz': required now"],
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [case[1:] for case in BREAKING], ids=[case[0] for case in BREAKING])
def test_each_breaking_change_is_reported(edit: Edit, expected: list[str]) -> None:
    assert breaking_changes(RELEASED, edited(edit)) == expected


def test_request_parameters_may_widen_but_not_narrow_or_go() -> None:
    v2 = edited(with_parameters(query("tz", enum=["UTC", "Europe/Berlin"]), query("days", type="integer")))
    wider = edited(
        with_parameters(query("tz", enum=["UTC", "Europe/Berlin", "Asia/Kolkata"]), query("days", type="number"))
    )
    assert breaking_changes(v2, wider) == []
    narrower = edited(with_parameters(query("tz", enum=["UTC"]), query("days", type="string")))
    assert breaking_changes(v2, narrower) == [
        f"GET {SEGMENTS} query parameter 'days': no longer accepts integer",
        f"GET {SEGMENTS} query parameter 'tz': accepts fewer values",
    ]
    required = edited(with_parameters(query("tz", required=True, enum=["UTC", "Europe/Berlin"])))
    assert breaking_changes(v2, required) == [
        f"GET {SEGMENTS} query parameter 'tz': required now",
        f"GET {SEGMENTS} query parameter 'days': removed",
    ]


def test_main_exits_0_on_the_tree_1_on_a_breaking_change_and_2_on_an_invalid_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert openapi_diff.main([]) == 0
    assert "no breaking change" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(edited(lambda d: d["paths"].pop(SEGMENTS))))
    assert openapi_diff.main(["--head", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{SEGMENTS}: path removed\n" and "1 breaking change(s)" in err
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(yaml.safe_dump({**RELEASED, "paths": {SEGMENTS: {"get": {"responses": "none"}}}}))
    assert openapi_diff.main(["--head", str(invalid)]) == 2
    assert "invalid OpenAPI document" in capsys.readouterr().err


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)  # noqa: S607


def test_the_release_is_the_newest_version_tag_else_the_newest_committed_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "clone"
    (repo / "docs" / "releases").mkdir(parents=True)
    (repo / "docs" / "releases" / "openapi-v1.yaml").write_text("baseline 1")
    (repo / "docs" / "releases" / "openapi-v2.yaml").write_text("baseline 2")
    (repo / "docs" / "releases" / "openapi-v10-draft.yaml").write_text("not a baseline")
    git(repo, "init", "-q")
    monkeypatch.setattr(openapi_diff, "ROOT", repo)
    assert openapi_diff.released_contract() == ("docs/releases/openapi-v2.yaml", "baseline 2")

    for tag, text in [("v1.9.0", "at v1.9.0"), ("v1.10.0", "at v1.10.0"), ("nightly", "at nightly")]:
        (repo / "openapi.yaml").write_text(text)
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", tag)
        git(repo, "tag", tag)
    assert openapi_diff.released_contract() == ("tag v1.10.0", "at v1.10.0")  # by version, not by text
