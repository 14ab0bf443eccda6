"""`python -m tools.apikeys`: keys in the real Postgres and in moto's API Gateway, checked end to end.

moto has no FlushStageAuthorizersCache, so the API Gateway client is wrapped:
that one call is recorded, and a chosen call can be made to fail (to prove a
half-made key is rolled back everywhere). Everything else is moto.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from analytics_common.api_keys import generate_api_key
from tests.authorizer_support import authorize, authorizer_event, expected_allow, normalized
from tests.conftest import AWS_REGION, Stores, fake_aws_credentials
from tests.lambda_support import ROOT
from tools import apikeys

STACK = "analytics-test"
REGION = AWS_REGION


class GatewayShim:
    """moto's API Gateway client, plus the cache flush moto lacks (recorded) and an optional injected failure."""

    def __init__(self, client: Any, fail_on: str | None = None) -> None:
        self.client = client
        self.fail_on = fail_on
        self.flushed: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        if name == self.fail_on:

            def fail(**_: Any) -> None:
                raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, name)

            return fail
        return getattr(self.client, name)

    def flush_stage_authorizers_cache(self, restApiId: str, stageName: str) -> dict[str, Any]:
        self.flushed.append((restApiId, stageName))
        return {}


@dataclass
class Aws:
    client: Any
    api_id: str
    plans: dict[str, str] = field(default_factory=dict)  # tier -> usage plan id
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # every API Gateway call's params

    def shim(self, fail_on: str | None = None) -> GatewayShim:
        return GatewayShim(self.client, fail_on)

    def gateway_keys(self) -> list[dict[str, Any]]:
        return self.client.get_api_keys(includeValues=True)["items"]

    def plan_key_ids(self, tier: str) -> set[str]:
        return {item["id"] for item in self.client.get_usage_plan_keys(usagePlanId=self.plans[tier])["items"]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    fake_aws_credentials(monkeypatch)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("ANALYTICS_STACK_NAME", raising=False)
    with mock_aws():
        client = boto3.client("apigateway", region_name=REGION)
        api_id = client.create_rest_api(name=STACK)["id"]
        aws = Aws(client, api_id)
        for tier in ("starter", "pro"):
            plan = client.create_usage_plan(name=f"{STACK}-{tier}", apiStages=[{"apiId": api_id, "stage": "prod"}])
            aws.plans[tier] = plan["id"]
        client.create_usage_plan(name="another-stack-pro", apiStages=[{"apiId": "zzzzzzzzzz", "stage": "prod"}])

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            aws.requests.append((model.name, copy.deepcopy(params)))

        # Before serialization: exactly what the tool hands botocore, for every operation.
        client.meta.events.register("provide-client-params.api-gateway", record)
        yield aws


@pytest.fixture
def authorizer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "cli-test-secret-0123456789abcdef-0123")
    monkeypatch.setenv("FRONTEND_USAGE_KEY", "frontend-usage-key-cli-tests-000000000")


@pytest.fixture
def org(db: Stores, ids: Iterator[int]) -> int:
    org_id = next(ids)
    db.insert_pg("organizations", ["id", "name"], [[org_id, f"customer {org_id}"]])
    return org_id


def run(argv: list[str], capsys: pytest.CaptureFixture[str], apigateway: Any = None) -> tuple[int, str, str]:
    code = apikeys.main(argv, apigateway=apigateway)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows_of(db: Stores, org_id: int) -> list[list[Any]]:
    return db.pg.run(
        "SELECT id, org_id, name, prefix, key_hash, expires_at, revoked_at FROM api_keys"
        " WHERE org_id = :org ORDER BY id",
        org=org_id,
    )


def usage_key_of(db: Stores, prefix: str) -> str:
    [[usage_key]] = db.pg.run("SELECT usage_key FROM api_keys WHERE prefix = :prefix", prefix=prefix)
    assert isinstance(usage_key, str)
    return usage_key


def create(org: int, key_id: int, capsys: pytest.CaptureFixture[str], aws: Aws, tier: str = "pro") -> str:
    code, out, err = run(
        ["create", "--org", str(org), "--tier", tier, "--name", "n", "--stack", STACK, "--id", str(key_id)],
        capsys,
        aws.shim(),
    )
    assert code == 0, err
    return out.strip()


def decision(key: str) -> str | dict[str, Any]:
    try:
        return normalized(authorize(authorizer_event(f"Bearer {key}")))
    except Exception as exc:  # noqa: BLE001 - classified here
        return "401" if str(exc) == "Unauthorized" else "5xx"


@pytest.mark.usefixtures("authorizer_env")
def test_create_stores_only_the_hash_and_puts_the_same_key_in_the_tier_plan(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = next(ids)
    code, out, err = run(
        [
            "create",
            "--org",
            str(org),
            "--tier",
            "pro",
            "--name",
            "nightly export",
            "--stack",
            STACK,
            "--id",
            str(key_id),
        ],
        capsys,
        aws.shim(),
    )
    assert code == 0, err
    key = out.strip()
    assert out.count("\n") == 1 and key.startswith("pa_")
    prefix = key.split("_")[1]
    assert key not in err

    assert rows_of(db, org) == [
        [key_id, org, "nightly export", prefix, hashlib.sha256(key.encode()).hexdigest(), None, None]
    ]
    usage_key = usage_key_of(db, prefix)
    assert len(usage_key) >= 40 and usage_key != key and key.split("_", 2)[2] not in usage_key
    [gateway_key] = aws.gateway_keys()
    assert (gateway_key["value"], gateway_key["name"], gateway_key["enabled"]) == (usage_key, f"pa_{prefix}", True)
    assert gateway_key["customerId"] == str(org)
    assert aws.plan_key_ids("pro") == {gateway_key["id"]}
    assert aws.plan_key_ids("starter") == set()

    # The authorizer accepts the key, and names its usage key as the usage-plan key.
    assert decision(key) == expected_allow(org, f"api_key:{key_id}", "api_key", usage_key)


def test_create_with_an_explicit_usage_plan_and_expiry(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = next(ids)
    expires = "2031-01-15"
    code, _out, err = run(
        [
            *("create", "--org", str(org), "--tier", "starter", "--name", "bi", "--expires", expires),
            *("--usage-plan-id", aws.plans["starter"], "--id", str(key_id)),
        ],
        capsys,
        aws.shim(),
    )
    assert code == 0, err
    [row] = rows_of(db, org)
    assert row[5] == datetime(2031, 1, 15, tzinfo=UTC)
    assert aws.plan_key_ids("starter") == {key["id"] for key in aws.gateway_keys()}


def test_create_without_an_id_takes_the_next_free_one(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # An id far above every `next(ids)` one, even, so the created max + 1 can collide with nothing.
    highest = 2**40 + 2 * next(ids)
    db.insert_pg(
        "api_keys",
        ["id", "org_id", "name", "prefix", "key_hash"],
        [[highest, org, "old", f"o{org:07d}"[-8:], "0" * 64]],
    )
    code, _out, err = run(
        ["create", "--org", str(org), "--tier", "pro", "--name", "n", "--stack", STACK], capsys, aws.shim()
    )
    assert code == 0, err
    assert [row[0] for row in rows_of(db, org)] == [highest, highest + 1]


@pytest.mark.parametrize("failing", ["create_api_key", "create_usage_plan_key"])
def test_an_api_gateway_failure_leaves_nothing_behind(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, capsys: pytest.CaptureFixture[str], failing: str
) -> None:
    code, out, err = run(
        ["create", "--org", str(org), "--tier", "pro", "--name", "x", "--stack", STACK, "--id", str(next(ids))],
        capsys,
        aws.shim(fail_on=failing),
    )
    assert (code, out) == (1, "")
    assert "TooManyRequestsException" in err
    assert rows_of(db, org) == []  # the transaction was rolled back
    assert aws.gateway_keys() == []  # and an API Gateway key already made was deleted
    assert aws.plan_key_ids("pro") == set()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stack", "no-such-stack"], "expected one usage plan named 'no-such-stack-pro', found 0"),
        ([], "give --usage-plan-id, or --stack"),
        (["--usage-plan-id", "nope123456"], "no usage plan with id nope123456"),
        (["--stack", STACK, "--expires", "2001-01-01"], "--expires must be in the future"),
    ],
)
def test_create_refuses_what_it_cannot_do_before_making_anything(
    db: Stores, org: int, aws: Aws, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run(["create", "--org", str(org), "--tier", "pro", "--name", "x", *extra], capsys, aws.shim())
    assert (code, out) == (1, "")
    assert message in err
    assert rows_of(db, org) == []
    assert aws.gateway_keys() == []


def test_create_for_an_unknown_organization_fails_cleanly(
    db: Stores, ids: Iterator[int], aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = next(ids)
    code, out, err = run(
        ["create", "--org", str(missing), "--tier", "pro", "--name", "x", "--stack", STACK], capsys, aws.shim()
    )
    assert (code, out) == (1, "")
    assert f"organization {missing} does not exist" in err
    assert aws.gateway_keys() == []


@pytest.mark.usefixtures("authorizer_env")
def test_revoke_disables_everywhere_and_flushes_the_stage_cache(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = next(ids)
    _code, out, _err = run(
        ["create", "--org", str(org), "--tier", "pro", "--name", "n", "--stack", STACK, "--id", str(key_id)],
        capsys,
        aws.shim(),
    )
    key = out.strip()
    prefix = key.split("_")[1]
    assert isinstance(decision(key), dict)

    shim = aws.shim()
    code, out, err = run(["revoke", f"pa_{prefix}"], capsys, shim)
    assert (code, out) == (0, ""), err
    assert rows_of(db, org)[0][6] == now
    assert [k["enabled"] for k in aws.gateway_keys()] == [False]
    assert shim.flushed == [(aws.api_id, "prod")]
    assert decision(key) == "401"

    # Re-running finishes whatever is left and keeps the first revocation time.
    code, _out, err = run(["revoke", prefix], capsys, aws.shim())
    assert code == 0, err
    assert rows_of(db, org)[0][6] == now


def test_revoke_reports_a_failed_api_gateway_step_after_revoking_the_row(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out, _err = run(
        ["create", "--org", str(org), "--tier", "pro", "--name", "n", "--stack", STACK, "--id", str(next(ids))],
        capsys,
        aws.shim(),
    )
    prefix = out.strip().split("_")[1]
    code, _out, err = run(["revoke", prefix], capsys, aws.shim(fail_on="update_api_key"))
    assert code == 1
    assert "re-run revoke" in err
    assert rows_of(db, org)[0][6] == now  # the part the authorizer relies on is done


def test_revoke_of_an_unknown_prefix_fails(db: Stores, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["revoke", "zz000000"], capsys, aws.shim())
    assert code == 1
    assert "no API key with prefix zz000000" in err


@pytest.mark.parametrize(
    "argv", [["revoke", "pa_ABCDEFGH"], ["revoke", "pa_abcdefgh_" + "s" * 40], ["list", "--org", "0"]]
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        apikeys.main(argv)
    assert exited.value.code == 2
    assert "s" * 40 not in capsys.readouterr().err


def test_list_shows_prefixes_names_and_status_but_no_secret(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    created = {}
    for name in ("active one", "to revoke"):
        _code, out, _err = run(
            ["create", "--org", str(org), "--tier", "pro", "--name", name, "--stack", STACK, "--id", str(next(ids))],
            capsys,
            aws.shim(),
        )
        created[name] = out.strip()
    expired_prefix = f"x{next(ids) % 10**7:07d}"
    db.insert_pg(
        "api_keys",
        ["id", "org_id", "name", "prefix", "key_hash", "created_at", "expires_at"],
        [[next(ids), org, "old one", expired_prefix, "0" * 64, now + timedelta(seconds=1), now]],
    )
    run(["revoke", created["to revoke"].split("_")[1]], capsys, aws.shim())

    code, out, _err = run(["list", "--org", str(org)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["PREFIX", "STATUS", "CREATED", "EXPIRES", "NAME"]
    listed = {line.split()[0]: (line.split()[1], line.split(None, 4)[4]) for line in lines[1:]}
    assert listed == {
        f"pa_{created['active one'].split('_')[1]}": ("active", "active one"),
        f"pa_{created['to revoke'].split('_')[1]}": ("revoked", "to revoke"),
        f"pa_{expired_prefix}": ("expired", "old one"),
    }
    for key in created.values():
        assert key not in out and key.split("_", 2)[2] not in out
        assert hashlib.sha256(key.encode()).hexdigest() not in out


def test_the_module_runs_from_a_checkout(db: Stores, org: int) -> None:
    """`python -m tools.apikeys` works from the repository root with only DATABASE_URL set (list needs no AWS)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": db.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "tools.apikeys", "list", "--org", str(org)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PREFIX", "STATUS", "CREATED", "EXPIRES", "NAME"]
    assert "0 key(s)" in result.stderr


@pytest.mark.usefixtures("authorizer_env")
def test_rotate_issues_a_new_key_and_usage_key_in_the_same_plan_then_revokes_the_old(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    old_id = next(ids)
    old_key = create(org, old_id, capsys, aws, tier="starter")
    old_prefix = old_key.split("_")[1]
    old_usage_key = usage_key_of(db, old_prefix)

    new_id = next(ids)
    shim = aws.shim()
    code, out, err = run(["rotate", f"pa_{old_prefix}", "--id", str(new_id)], capsys, shim)
    assert code == 0, err
    new_key = out.strip()
    assert out.count("\n") == 1 and new_key.startswith("pa_") and new_key != old_key
    new_prefix = new_key.split("_")[1]
    new_usage_key = usage_key_of(db, new_prefix)
    assert new_usage_key != old_usage_key

    assert decision(old_key) == "401"
    assert decision(new_key) == expected_allow(org, f"api_key:{new_id}", "api_key", new_usage_key)
    keys = {k["value"]: k for k in aws.gateway_keys()}
    assert set(keys) == {old_usage_key, new_usage_key}
    assert (keys[old_usage_key]["enabled"], keys[new_usage_key]["enabled"]) == (False, True)
    assert keys[new_usage_key]["name"] == f"pa_{new_prefix}"
    assert aws.plan_key_ids("starter") == {keys[old_usage_key]["id"], keys[new_usage_key]["id"]}
    assert shim.flushed == [(aws.api_id, "prod")]
    rows = {row[3]: row for row in rows_of(db, org)}
    assert (rows[old_prefix][6], rows[new_prefix][6]) == (now, None)
    assert rows[new_prefix][2] == rows[old_prefix][2]  # the same name

    code, _out, err = run(["rotate", old_prefix], capsys, aws.shim())
    assert code == 1 and f"pa_{old_prefix} is revoked" in err


def legacy_key(db: Stores, aws: Aws, org: int, key_id: int, tier: str, *, revoked_at: datetime | None = None) -> str:
    """A key as issued before usage keys: no usage_key, and the whole key string as its API Gateway key's value."""
    key = generate_api_key()
    prefix = key.split("_")[1]
    db.insert_pg(
        "api_keys",
        ["id", "org_id", "name", "prefix", "key_hash", "revoked_at"],
        [[key_id, org, "legacy", prefix, hashlib.sha256(key.encode()).hexdigest(), revoked_at]],
    )
    gateway_id = aws.client.create_api_key(
        name=f"pa_{prefix}", enabled=revoked_at is None, value=key, customerId=str(org)
    )["id"]
    aws.client.create_usage_plan_key(usagePlanId=aws.plans[tier], keyId=gateway_id, keyType="API_KEY")
    return key


@pytest.mark.usefixtures("authorizer_env")
def test_migrate_moves_legacy_keys_to_usage_keys_and_deletes_every_gateway_key_holding_a_secret(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    live_id, revoked_id = next(ids), next(ids)
    live = legacy_key(db, aws, org, live_id, "pro")
    revoked = legacy_key(db, aws, org, revoked_id, "pro", revoked_at=now - timedelta(days=1))
    current = create(org, next(ids), capsys, aws)
    current_usage_key = usage_key_of(db, current.split("_")[1])
    # A legacy key keeps working until migrated: its usage-plan key is its own string.
    assert decision(live) == expected_allow(org, f"api_key:{live_id}", "api_key", live)
    aws.requests.clear()
    capsys.readouterr()  # the authorizer's log lines

    shim = aws.shim()
    code, out, err = run(["migrate"], capsys, shim)
    assert (code, out) == (0, ""), err
    assert "migrated 1 key(s) to usage keys; deleted 2 API Gateway key(s)" in err

    live_usage_key = usage_key_of(db, live.split("_")[1])
    assert decision(live) == expected_allow(org, f"api_key:{live_id}", "api_key", live_usage_key)
    assert decision(revoked) == "401"
    keys = {k["value"]: k for k in aws.gateway_keys()}
    assert set(keys) == {current_usage_key, live_usage_key}  # no value is a customer's key any more
    assert keys[live_usage_key]["name"] == f"pa_{live.split('_')[1]}" and keys[live_usage_key]["enabled"]
    assert aws.plan_key_ids("pro") == {keys[current_usage_key]["id"], keys[live_usage_key]["id"]}
    assert shim.flushed == [(aws.api_id, "prod")]
    assert_no_request_carries(aws, [live, revoked])

    # Re-running changes nothing.
    code, _out, err = run(["migrate"], capsys, aws.shim())
    assert code == 0 and "migrated 0 key(s) to usage keys; deleted 0 API Gateway key(s)" in err
    assert {k["value"] for k in aws.gateway_keys()} == {current_usage_key, live_usage_key}


def assert_no_request_carries(aws: Aws, keys: list[str]) -> None:
    assert aws.requests, "no API Gateway call was recorded"
    for operation, params in aws.requests:
        sent = json.dumps(params, default=str)
        for key in keys:
            assert key not in sent and key.split("_", 2)[2] not in sent, operation


@pytest.mark.usefixtures("authorizer_env")
def test_no_api_gateway_call_ever_receives_a_customer_secret(
    db: Stores, ids: Iterator[int], org: int, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every parameter of every API Gateway request of create, rotate, revoke and migrate, as botocore got it."""
    issued = [create(org, next(ids), capsys, aws) for _ in range(2)]
    code, out, err = run(["rotate", issued[0].split("_")[1]], capsys, aws.shim())
    assert code == 0, err
    issued.append(out.strip())
    for argv in (["revoke", issued[1].split("_")[1]], ["migrate"]):
        code, _out, err = run(argv, capsys, aws.shim())
        assert code == 0, err
    operations = {operation for operation, _params in aws.requests}
    assert {"CreateApiKey", "CreateUsagePlanKey", "UpdateApiKey", "GetApiKeys", "GetUsagePlans"} <= operations
    assert_no_request_carries(aws, issued)
    assert [decision(key) == "401" for key in issued] == [True, True, False]  # rotated, revoked, the new one
