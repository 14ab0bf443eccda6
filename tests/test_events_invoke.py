"""Every handler, run with its sample event the way Lambda runs it: in a fresh process whose import
path is only the function's folder and the layer (plus the installed libraries), `import app`,
`app.lambda_handler(event, context)`. The stores are the test session's Postgres and a ClickHouse
(chDB) of this test's own: chDB opens one data path per process, and this process holds the session's.

Also: events/env.json (for `sam local invoke --env-vars`) names only variables the template declares,
since SAM ignores the others; the invocations here use its values, the store URLs aside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from analytics_common.endpoints import NAMES
from devstack import stores
from tests.conftest import Stores
from tests.sample_tenant import SampleTenant, build
from tests.test_template import FUNCTIONS, transformed

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "common"
ENV_JSON = json.loads((ROOT / "events" / "env.json").read_text())
LOGICAL_IDS = {name: logical_id for logical_id, name in FUNCTIONS.items()}
CLICKHOUSE_DATABASE = "analytics_invoke"
SUBPROCESS_TIMEOUT_SECONDS = 120

# Runs in the fresh process. The clock is frozen to the instant the rows were written for (as the
# `now` fixture does in-process); nothing else of the project is imported before `app`.
RUNNER = r"""
import json, sys
from datetime import datetime

function_dir, layer_dir, event_file, result_file, frozen_now = sys.argv[1:6]
sys.path[:0] = [function_dir, layer_dir]

from analytics_common import clock
instant = datetime.fromisoformat(frozen_now)
clock.utc_now = lambda: instant

import app

class Context:
    function_name = "invoke-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:invoke-test"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    @staticmethod
    def get_remaining_time_in_millis():
        return 15000

result = {"app_file": app.__file__, "sys_path": sys.path}
for name in ("functions", "tests", "devstack"):
    try:
        __import__(name)
        result.setdefault("importable", []).append(name)
    except ImportError:
        pass
try:
    result["response"] = app.lambda_handler(json.load(open(event_file)), Context())
except Exception as exc:
    result["error"] = str(exc)
json.dump(result, open(result_file, "w"))
"""

# Writes the ClickHouse rows in a process of its own (this test process already holds a chDB path).
SEEDER = r"""
import json, sys
from datetime import datetime

root, url, database, rows_file = sys.argv[1:5]
sys.path.insert(0, root)
from devstack import stores

def decode(value):
    return datetime.fromisoformat(value["$datetime"]) if isinstance(value, dict) else value

client = stores.clickhouse_writer(url, database, fresh=True)
for table, columns, rows in json.load(open(rows_file)):
    client.insert(table, [[decode(v) for v in row] for row in rows], column_names=columns)
"""


def _encode(value: Any) -> Any:
    return {"$datetime": value.isoformat()} if isinstance(value, datetime) else value


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_SECONDS, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _base_env() -> dict[str, str]:
    drop = ("DATABASE_", "CLICKHOUSE_", "JWT_", "FRONTEND_", "PYTHON", "POWERTOOLS_")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


@pytest.fixture
def tenant(db: Stores, ids: Iterator[int], now: datetime) -> SampleTenant:
    sample = build(ids, now)
    for table, (columns, rows) in sample.postgres.items():
        db.insert_pg(table, columns, rows)
    return sample


@pytest.fixture
def clickhouse_url(tenant: SampleTenant, tmp_path: Path) -> str:
    """A chDB of this test's own, holding the tenant's ClickHouse rows."""
    url = stores.chdb_url(tmp_path / "chdb", CLICKHOUSE_DATABASE)
    rows_file = tmp_path / "clickhouse_rows.json"
    rows = [
        [table, columns, [[_encode(v) for v in row] for row in data]] for table, (columns, data) in tenant.clickhouse
    ]
    rows_file.write_text(json.dumps(rows))
    _run([sys.executable, "-I", "-c", SEEDER, str(ROOT), url, CLICKHOUSE_DATABASE, str(rows_file)], _base_env())
    return url


def invoke_fresh(
    name: str, event: dict[str, Any], settings: dict[str, str], now: datetime, tmp_path: Path
) -> dict[str, Any]:
    """Run functions/<name>'s handler on `event` in a new Python process; what it returned or raised."""
    event_file, result_file = tmp_path / f"{name}-event.json", tmp_path / f"{name}-result.json"
    event_file.write_text(json.dumps(event))
    env = {**_base_env(), **ENV_JSON[LOGICAL_IDS[name]], **settings}
    function_dir = ROOT / "functions" / name
    args = [str(function_dir), str(LAYER_DIR), str(event_file), str(result_file), now.isoformat()]
    _run([sys.executable, "-I", "-c", RUNNER, *args], env)
    result = json.loads(result_file.read_text())
    assert result["app_file"] == str(function_dir / "app.py")
    assert result["sys_path"][:2] == [str(function_dir), str(LAYER_DIR)]
    assert str(ROOT) not in result["sys_path"] and "" not in result["sys_path"]
    assert "importable" not in result, result["importable"]  # nothing of the repository leaks in
    return result


def test_env_json_sets_only_variables_the_template_declares() -> None:
    resources = transformed()["Resources"]
    assert set(ENV_JSON) == set(FUNCTIONS)
    for logical_id, variables in ENV_JSON.items():
        declared = set(resources[logical_id]["Properties"]["Environment"]["Variables"])
        assert set(variables) <= declared, (logical_id, set(variables) - declared)


@pytest.mark.parametrize("name", NAMES)
def test_endpoint_handler_in_a_fresh_process(
    name: str, tenant: SampleTenant, clickhouse_url: str, db: Stores, now: datetime, tmp_path: Path
) -> None:
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    event["requestContext"]["authorizer"]["org_id"] = str(tenant.org_id)

    result = invoke_fresh(
        name, event, {"DATABASE_URL": db.database_url, "CLICKHOUSE_URL": clickhouse_url}, now, tmp_path
    )

    response = result["response"]
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == tenant.expected[name]


def _authorizer_event(token: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    for field in ("headers", "multiValueHeaders"):
        headers = {k: v for k, v in event.get(field, {}).items() if k.lower() != "authorization"}
        headers["Authorization"] = [f"Bearer {token}"] if field == "multiValueHeaders" else f"Bearer {token}"
        event[field] = headers
    return event


def test_authorizer_handler_in_a_fresh_process(tenant: SampleTenant, db: Stores, now: datetime, tmp_path: Path) -> None:
    settings = ENV_JSON["AuthorizerFunction"]
    stores_env = {"DATABASE_URL": db.database_url}
    claims = {"sub": "analyst-1", "org_id": str(tenant.org_id), "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, settings["JWT_SECRET"], algorithm="HS256")

    cases = {
        "jwt": (token, f"user:{claims['sub']}", settings["FRONTEND_USAGE_KEY"]),
        "api_key": (tenant.api_key, f"api_key:{tenant.api_key_id}", tenant.api_key),
    }
    for auth_type, (credential, principal_id, usage_key) in cases.items():
        answer = invoke_fresh("authorizer", _authorizer_event(credential), stores_env, now, tmp_path)["response"]
        assert answer["principalId"] == principal_id
        assert answer["usageIdentifierKey"] == usage_key
        context = answer["context"]
        assert (context["org_id"], context["principal_id"], context["auth_type"]) == (
            str(tenant.org_id),
            principal_id,
            auth_type,
        )
        statements = answer["policyDocument"]["Statement"]
        assert statements and all(s["Effect"] == "Allow" for s in statements)

    forged = jwt.encode(claims, "not-the-secret-" + settings["JWT_SECRET"], algorithm="HS256")
    refused = invoke_fresh("authorizer", _authorizer_event(forged), stores_env, now, tmp_path)
    assert refused.get("error") == "Unauthorized" and "response" not in refused
