"""Provision API keys for API-key customers: `python -m tools.apikeys create | rotate | revoke | migrate | list`.

An operator's tool (boto3, run from a checkout; not deployed). What is stored where:
Postgres keeps the key's prefix, the SHA-256 of the whole key and its `usage_key`;
API Gateway keeps one API key per customer key, named `pa_<prefix>`, whose value is
that `usage_key`: a random identifier, never the customer's secret. No API Gateway
call this tool makes carries a customer's key or secret.

    create --org ID --tier TIER --name NAME [--expires DATE] [--stack NAME | --usage-plan-id ID] [--id N]
        A new key `pa_<prefix>_<secret>` with a new random usage key: the `api_keys` row,
        and the usage key as an API Gateway API key in the tier's usage plan. The key is
        printed once, alone on stdout; it cannot be shown again.
    rotate PREFIX [--id N]
        A new key (new secret, new usage key) for the same organization, name, expiry and
        usage plan; printed once on stdout; then the old key is revoked as by `revoke`.
    revoke PREFIX
        Sets `revoked_at`, disables the key's API Gateway key, and flushes the authorizer
        cache of every API stage of the key's usage plans. Safe to re-run.
    migrate
        Keys issued before `usage_key` existed have their whole key string as their API
        Gateway key's value. Each live one gets a usage key (a new API Gateway key in the
        same usage plans), the authorizer caches are flushed, and the old API Gateway key
        is deleted; revoked ones just lose their old API Gateway key. Safe to re-run.
    list --org ID
        Prefixes, names, status and dates; never a secret, a hash or a usage key.

The tier's usage plan is `--usage-plan-id`, or else the usage plan named
`<stack>-<tier>`, with the stack from `--stack` or `ANALYTICS_STACK_NAME`.
Postgres is `DATABASE_URL` (or `DATABASE_SECRET_ARN`), with a role that may write
`api_keys`; AWS credentials and region come from the usual boto3 chain.

`create` never leaves half a key behind: the row is inserted in a transaction that
commits only after API Gateway has the usage key in its usage plan; if API Gateway
fails, the transaction is rolled back and an API Gateway key already created is deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, TextIO

import pg8000.native

from analytics_common import clock, config
from analytics_common.api_keys import (
    API_KEY_MARKER,
    PREFIX_REGEX,
    api_key_hash,
    generate_api_key,
    generate_usage_key,
    issued_key_prefix,
)
from analytics_common.postgres import parse_database_url
from tools.connect import connect_or_report

TIER_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PREFIX_PATTERN = re.compile(rf"(?:{API_KEY_MARKER})?({PREFIX_REGEX})")
MAX_NAME_LENGTH = 200
# Marks an API Gateway key whose value is a usage key; a `pa_<prefix>` key without it is a legacy one,
# whose value is the customer's whole key string (see `migrate`).
USAGE_KEY_TAG = ("platform-analytics", "usage-key")

ORGANIZATION_EXISTS = "SELECT 1 FROM organizations WHERE id = :org_id"
LOCK_API_KEYS = "LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"
NEXT_API_KEY_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM api_keys"
INSERT_API_KEY = """
INSERT INTO api_keys (id, org_id, name, prefix, key_hash, created_at, expires_at, usage_key)
VALUES (:id, :org_id, :name, :prefix, :key_hash, :created_at, :expires_at, :usage_key)
"""
API_KEY_BY_PREFIX = "SELECT id, org_id, name, expires_at, revoked_at FROM api_keys WHERE prefix = :prefix"
ALL_API_KEYS = "SELECT prefix, org_id, revoked_at, usage_key FROM api_keys ORDER BY id"
SET_USAGE_KEY = "UPDATE api_keys SET usage_key = :usage_key WHERE prefix = :prefix AND usage_key IS NULL"
REVOKE_API_KEY = "UPDATE api_keys SET revoked_at = :now WHERE prefix = :prefix AND revoked_at IS NULL"
API_KEYS_OF_ORGANIZATION = """
SELECT prefix, name, created_at, expires_at, revoked_at
FROM api_keys
WHERE org_id = :org_id
ORDER BY created_at, id
"""


class ProvisioningError(Exception):
    """A request the tool cannot carry out; the message is for the operator."""


def connect_writer() -> pg8000.native.Connection:
    """A read-write connection to the `DATABASE_URL` database (TLS for non-local hosts, like the API)."""
    return parse_database_url(config.database_url()).connect(application_name="platform-analytics-apikeys", timeout=30)


def api_gateway_client() -> Any:
    import boto3

    return boto3.client("apigateway")


# ---- create ----


def parse_expiry(value: str) -> datetime:
    """An ISO 8601 date (the key expires at 00:00 UTC that day) or date-time (UTC unless an offset is given)."""
    try:
        if len(value) == 10:  # YYYY-MM-DD
            return datetime.combine(datetime.fromisoformat(value).date(), time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def usage_plan_id(apigateway: Any, tier: str, stack: str | None, explicit_id: str | None) -> str:
    """The tier's usage plan: `explicit_id` (checked to exist), else the one plan named `<stack>-<tier>`."""
    if explicit_id:
        try:
            apigateway.get_usage_plan(usagePlanId=explicit_id)
        except apigateway.exceptions.NotFoundException:
            raise ProvisioningError(f"no usage plan with id {explicit_id}") from None
        return explicit_id
    if not stack:
        raise ProvisioningError("give --usage-plan-id, or --stack (or ANALYTICS_STACK_NAME) to find `<stack>-<tier>`")
    name = f"{stack}-{tier}"
    plans = [plan for plan in _usage_plans(apigateway) if plan.get("name") == name]
    if len(plans) != 1:
        raise ProvisioningError(f"expected one usage plan named {name!r}, found {len(plans)}")
    return str(plans[0]["id"])


def _usage_plans(apigateway: Any, **filters: Any) -> Iterator[dict[str, Any]]:
    position = None
    while True:
        page = apigateway.get_usage_plans(**filters, **({"position": position} if position else {}))
        yield from page.get("items", [])
        position = page.get("position")
        if not position:
            return


def create_key(
    db: pg8000.native.Connection,
    apigateway: Any,
    *,
    org_id: int,
    name: str,
    plan_ids: Sequence[str],
    description: str,
    expires_at: datetime | None,
    key_id: int | None,
    now: datetime,
) -> tuple[str, int]:
    """A new key for `org_id`, its usage key in `plan_ids`: (the key, its api_keys.id). All or nothing."""
    if not db.run(ORGANIZATION_EXISTS, org_id=org_id):
        raise ProvisioningError(f"organization {org_id} does not exist")
    key = generate_api_key()
    usage_key = generate_usage_key()
    prefix = issued_key_prefix(key)
    db.run("BEGIN")
    try:
        if key_id is None:
            db.run(LOCK_API_KEYS)  # concurrent creates must not pick the same next id
            key_id = int(db.run(NEXT_API_KEY_ID)[0][0])
        db.run(
            INSERT_API_KEY,
            id=key_id,
            org_id=org_id,
            name=name,
            prefix=prefix,
            key_hash=api_key_hash(key),
            created_at=now,
            expires_at=expires_at,
            usage_key=usage_key,
        )
        create_gateway_key(apigateway, prefix, usage_key, org_id, description, plan_ids)
        db.run("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # the connection may be the thing that failed
            db.run("ROLLBACK")
        raise
    return key, key_id


def create_gateway_key(
    apigateway: Any, prefix: str, usage_key: str, org_id: int, description: str, plan_ids: Sequence[str]
) -> str:
    """The API Gateway key `pa_<prefix>` with the usage key as its value, in every plan; deleted if a step fails."""
    tag, marker = USAGE_KEY_TAG
    gateway_key_id = str(
        apigateway.create_api_key(
            name=f"{API_KEY_MARKER}{prefix}",
            description=description[:1000],
            enabled=True,
            value=usage_key,
            customerId=str(org_id),
            tags={tag: marker},
        )["id"]
    )
    try:
        for plan_id in plan_ids:
            apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=gateway_key_id, keyType="API_KEY")
    except BaseException:
        _delete_gateway_key(apigateway, gateway_key_id)
        raise
    return gateway_key_id


def _delete_gateway_key(apigateway: Any, gateway_key_id: str) -> None:
    try:
        apigateway.delete_api_key(apiKey=gateway_key_id)
    except Exception as exc:  # noqa: BLE001 - the original failure is what gets raised
        print(
            f"warning: could not delete API Gateway key {gateway_key_id} ({type(exc).__name__}); delete it by hand",
            file=sys.stderr,
        )


# ---- revoke and rotate ----


def revoke_key(db: pg8000.native.Connection, apigateway: Any, prefix: str, now: datetime) -> list[tuple[str, str]]:
    """Revoke the key of `prefix` everywhere; the (API id, stage) pairs whose authorizer cache was flushed."""
    if not db.run(API_KEY_BY_PREFIX, prefix=prefix):
        raise ProvisioningError(f"no API key with prefix {prefix}")
    db.run(REVOKE_API_KEY, now=now, prefix=prefix)  # first: the authorizer reads this

    gateway_keys = _gateway_keys(apigateway, f"{API_KEY_MARKER}{prefix}")
    if not gateway_keys:
        print(f"warning: no API Gateway key named {API_KEY_MARKER}{prefix}", file=sys.stderr)
    for gateway_key in gateway_keys:
        apigateway.update_api_key(
            apiKey=gateway_key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
        )
    return flush_authorizer_caches(apigateway, gateway_keys)


def rotate_key(
    db: pg8000.native.Connection, apigateway: Any, prefix: str, key_id: int | None, now: datetime
) -> tuple[str, int, list[str]]:
    """A new key replacing `prefix`'s (same organization, name, expiry, usage plans): (key, id, plan ids).

    The old key is not revoked here: the caller prints the new key first, then revokes.
    """
    rows = db.run(API_KEY_BY_PREFIX, prefix=prefix)
    if not rows:
        raise ProvisioningError(f"no API key with prefix {prefix}")
    _old_id, org_id, name, expires_at, revoked_at = rows[0]
    if revoked_at is not None:
        raise ProvisioningError(f"{API_KEY_MARKER}{prefix} is revoked; create a new key instead")
    if expires_at is not None and expires_at <= now:
        raise ProvisioningError(f"{API_KEY_MARKER}{prefix} has expired; create a new key instead")
    plan_ids = sorted(_plans_of(apigateway, _gateway_keys(apigateway, f"{API_KEY_MARKER}{prefix}")))
    if not plan_ids:
        raise ProvisioningError(f"no usage plan holds {API_KEY_MARKER}{prefix}; create a new key instead")
    key, new_id = create_key(
        db,
        apigateway,
        org_id=int(org_id),
        name=name,
        plan_ids=plan_ids,
        description=f"org {org_id}: {name} (rotated from {API_KEY_MARKER}{prefix})",
        expires_at=expires_at,
        key_id=key_id,
        now=now,
    )
    return key, new_id, plan_ids


def flush_authorizer_caches(apigateway: Any, gateway_keys: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Flush the authorizer cache of every API stage of these keys' usage plans; the (API id, stage) pairs."""
    stages: set[tuple[str, str]] = set()
    for gateway_key in gateway_keys:
        for plan in _usage_plans(apigateway, keyId=gateway_key["id"]):
            stages.update((stage["apiId"], stage["stage"]) for stage in plan.get("apiStages", []))
    for api_id, stage in sorted(stages):
        apigateway.flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
    return sorted(stages)


def _plans_of(apigateway: Any, gateway_keys: Sequence[dict[str, Any]]) -> set[str]:
    return {str(plan["id"]) for key in gateway_keys for plan in _usage_plans(apigateway, keyId=key["id"])}


def _gateway_keys(apigateway: Any, name: str | None = None) -> list[dict[str, Any]]:
    """API Gateway keys (without their values) named `name`, or every key."""
    found: list[dict[str, Any]] = []
    position = None
    query = {"nameQuery": name} if name else {}
    while True:
        page = apigateway.get_api_keys(includeValues=False, **query, **({"position": position} if position else {}))
        found.extend(item for item in page.get("items", []) if name is None or item.get("name") == name)
        position = page.get("position")
        if not position:
            return found


def is_usage_key(gateway_key: dict[str, Any]) -> bool:
    tag, marker = USAGE_KEY_TAG
    return (gateway_key.get("tags") or {}).get(tag) == marker


# ---- migrate ----


@dataclass
class Migration:
    migrated: list[str] = field(default_factory=list)  # prefixes that got a usage key
    deleted: int = 0  # legacy API Gateway keys deleted (their value was a customer's key)
    without_gateway_key: list[str] = field(default_factory=list)  # live legacy keys no API Gateway key holds


def migrate_keys(db: pg8000.native.Connection, apigateway: Any) -> Migration:
    """Give every live legacy key a usage key, and delete every API Gateway key whose value is a customer's key."""
    legacy: dict[str, list[dict[str, Any]]] = {}
    for gateway_key in _gateway_keys(apigateway):
        name = str(gateway_key.get("name") or "")
        if name.startswith(API_KEY_MARKER) and not is_usage_key(gateway_key):
            legacy.setdefault(name.removeprefix(API_KEY_MARKER), []).append(gateway_key)
    result = Migration()
    replaced: list[dict[str, Any]] = []
    for prefix, org_id, revoked_at, usage_key in db.run(ALL_API_KEYS):
        old_keys = legacy.get(prefix, [])
        if usage_key is None and revoked_at is None:
            if not old_keys:
                result.without_gateway_key.append(prefix)
                continue
            new_usage_key = generate_usage_key()
            create_gateway_key(
                apigateway,
                prefix,
                new_usage_key,
                org_id,
                f"org {org_id}: migrated {API_KEY_MARKER}{prefix}",
                sorted(_plans_of(apigateway, old_keys)),
            )
            db.run(SET_USAGE_KEY, usage_key=new_usage_key, prefix=prefix)
            result.migrated.append(prefix)
        replaced.extend(old_keys)
    # Decisions cached with an old usage key must not outlive the API Gateway key they name.
    flush_authorizer_caches(apigateway, replaced)
    for old_key in replaced:
        for plan in _usage_plans(apigateway, keyId=old_key["id"]):
            apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=old_key["id"])
        apigateway.delete_api_key(apiKey=old_key["id"])
        result.deleted += 1
    return result


# ---- list ----


def key_status(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def list_keys(db: pg8000.native.Connection, org_id: int, now: datetime, out: TextIO) -> int:
    rows = db.run(API_KEYS_OF_ORGANIZATION, org_id=org_id)
    table = [("PREFIX", "STATUS", "CREATED", "EXPIRES", "NAME")]
    for prefix, name, created_at, expires_at, revoked_at in rows:
        table.append(
            (
                f"{API_KEY_MARKER}{prefix}",
                key_status(expires_at, revoked_at, now),
                clock.iso_utc(created_at) or "",
                clock.iso_utc(expires_at) or "-",
                name,
            )
        )
    widths = [max(len(row[column]) for row in table) for column in range(4)]
    for row in table:
        print(
            "  ".join(value.ljust(width) for value, width in zip(row[:4], widths, strict=True)) + "  " + row[4],
            file=out,
        )
    return len(rows)


# ---- command line ----


def _tier(value: str) -> str:
    if not TIER_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError("a tier is lowercase letters, digits and hyphens")
    return value


def _name(value: str) -> str:
    if not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise argparse.ArgumentTypeError(f"a name is 1 to {MAX_NAME_LENGTH} characters")
    return value.strip()


def _prefix(value: str) -> str:
    match = PREFIX_PATTERN.fullmatch(value)
    if not match:
        raise argparse.ArgumentTypeError("a prefix is 8 lowercase letters or digits, with or without `pa_`")
    return match.group(1)


def _positive(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return int(value)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.apikeys", description="Provision API keys of the Platform Analytics API."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a key, print it once")
    create.add_argument("--org", type=_positive, required=True, help="organizations.id of the customer")
    create.add_argument("--tier", type=_tier, required=True, help="plan tier: selects the usage plan <stack>-<tier>")
    create.add_argument("--name", type=_name, required=True, help="what the key is for (shown by list)")
    create.add_argument("--expires", type=parse_expiry, help="ISO date (expires 00:00 UTC that day) or date-time")
    create.add_argument("--stack", default=config.env("ANALYTICS_STACK_NAME") or None, help="stack name of the API")
    create.add_argument("--usage-plan-id", help="the usage plan to add the key to (instead of <stack>-<tier>)")
    create.add_argument("--id", type=_positive, help="api_keys.id to use (default: the next free id)")

    rotate = commands.add_parser("rotate", help="replace a key by a new one (printed once), then revoke it")
    rotate.add_argument("prefix", type=_prefix, help="the key's prefix, e.g. pa_k3x9q2mz")
    rotate.add_argument("--id", type=_positive, help="api_keys.id of the new key (default: the next free id)")

    revoke = commands.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix", type=_prefix, help="the key's prefix, e.g. pa_k3x9q2mz")

    commands.add_parser(
        "migrate", help="give keys issued before usage keys one; delete API Gateway keys holding secrets"
    )

    listing = commands.add_parser("list", help="list an organization's keys (never their secrets)")
    listing.add_argument("--org", type=_positive, required=True)
    return parser


def _run_command(args: argparse.Namespace, db: pg8000.native.Connection, gateway: Any, now: datetime) -> int:
    if args.command == "create":
        if args.expires is not None and args.expires <= now:
            raise ProvisioningError("--expires must be in the future")
        plan_id = usage_plan_id(gateway, args.tier, args.stack, args.usage_plan_id)
        key, key_id = create_key(
            db,
            gateway,
            org_id=args.org,
            name=args.name,
            plan_ids=[plan_id],
            description=f"org {args.org}, tier {args.tier}: {args.name}",
            expires_at=args.expires,
            key_id=args.id,
            now=now,
        )
        _print_new_key(key, key_id, args.org, [plan_id])
        return 0
    if args.command == "rotate":
        key, key_id, plan_ids = rotate_key(db, gateway, args.prefix, args.id, now)
        _print_new_key(key, key_id, None, plan_ids)
        sys.stdout.flush()  # the new key is out before anything about the old one can fail
        return revoke_and_report(db, gateway, args.prefix, now)  # then the old key goes, as `revoke` does
    if args.command == "migrate":
        done = migrate_keys(db, gateway)
        for prefix in done.without_gateway_key:
            print(f"warning: no API Gateway key holds {API_KEY_MARKER}{prefix}; rotate it", file=sys.stderr)
        print(
            f"migrated {len(done.migrated)} key(s) to usage keys; deleted {done.deleted} API Gateway key(s) "
            "whose value was a customer's key",
            file=sys.stderr,
        )
        return 0
    return revoke_and_report(db, gateway, args.prefix, now)


def revoke_and_report(db: pg8000.native.Connection, gateway: Any, prefix: str, now: datetime) -> int:
    flushed = revoke_key(db, gateway, prefix, now)
    stages = ", ".join(f"{api_id}/{stage}" for api_id, stage in flushed) or "none"
    print(f"revoked pa_{prefix}; authorizer cache flushed for: {stages}", file=sys.stderr)
    return 0


def _print_new_key(key: str, key_id: int, org_id: int | None, plan_ids: Sequence[str]) -> None:
    owner = f" for organization {org_id}" if org_id is not None else ""
    print(
        f"created {key[:11]} (api_keys.id {key_id}){owner} in usage plan {', '.join(plan_ids)}; "
        "the key follows on stdout and is shown only this once",
        file=sys.stderr,
    )
    print(key)


def main(
    argv: Sequence[str] | None = None,
    *,
    apigateway: Any | None = None,
    connect: Callable[[], pg8000.native.Connection] = connect_writer,
) -> int:
    args = argument_parser().parse_args(argv)
    now = clock.utc_now()
    db = connect_or_report(connect, "the database")
    if db is None:
        return 1
    try:
        if args.command == "list":
            count = list_keys(db, args.org, now, sys.stdout)
            print(f"{count} key(s)", file=sys.stderr)
            return 0
        gateway = apigateway if apigateway is not None else api_gateway_client()
        return _run_command(args, db, gateway, now)
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - boto3 / database errors, reported without a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.command == "revoke":
            print("the database row may already be revoked; re-run revoke to finish", file=sys.stderr)
        elif args.command == "rotate":
            print(f"if a new key was printed, finish with: revoke {args.prefix}", file=sys.stderr)
        elif args.command == "migrate":
            print("keys migrated so far stay migrated; re-run migrate to finish", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            db.close()


if __name__ == "__main__":
    sys.exit(main())
