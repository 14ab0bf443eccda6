"""The ClickHouse SQL the functions send names only the schema's tables, unqualified (docs/deploy.md,
sharding).

Every ClickHouse statement of every endpoint is recorded while the endpoints answer a sample tenant.
Each table a statement reads is one of `segment_size_history`, `events` and the API's two copies of
`segment_memberships` (schema/clickhouse.sql), with no database in front and no table function
(`cluster`, `remote`, ...): so on a sharded cluster a Distributed table of the same name, in the database
of the DSN, stands in front of the shards and no statement changes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from analytics_common.clickhouse import ClickHouseClient
from analytics_common.endpoints import NAMES
from tests.lambda_support import api_event, invoke_json
from tests.sample_tenant import SampleTenant

MEMBERSHIPS = {"segment_memberships_by_key", "segment_memberships_by_text"}  # the API's copies, not the source
CACHE = "api_result_cache"  # the result cache, when QUERY_CACHE_TTL_SECONDS turns it on
# What follows FROM, JOIN or INSERT INTO: a name (possibly qualified) or a table function call; `(` (a
# subquery) is skipped.
SOURCE = re.compile(r"\b(?P<keyword>FROM|JOIN|INTO)\s+(?!\()(?P<name>[A-Za-z_][\w.]*)(?P<call>\s*\()?", re.IGNORECASE)
# Names a statement defines itself: `WITH name AS (...)` common table expressions and `ARRAY JOIN` aliases.
DEFINED = re.compile(r"(?:\bWITH|,)\s*(?P<name>[A-Za-z_]\w*)\s+AS\s*\(", re.IGNORECASE)


def read_tables(sql: str) -> set[str]:
    """The tables `sql` reads; AssertionError for a qualified name or a table function."""
    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'", "''", sql)
    defined = {match["name"] for match in DEFINED.finditer(without_strings)}
    tables = set()
    for match in SOURCE.finditer(without_strings):
        before = without_strings[: match.start()].rstrip().upper()
        if before.endswith("ARRAY") or before.endswith("LEFT ARRAY"):
            continue  # ARRAY JOIN unfolds an array expression, it reads no table
        name = match["name"]
        into = match["keyword"].upper() == "INTO"  # `INSERT INTO t (columns)`: a column list, not a call
        assert not (match["call"] and not into) and name.upper() != "FUNCTION", f"a table function in {sql}"
        assert "." not in name, f"a qualified table name {name} in {sql}"
        if name not in defined:
            tables.add(name)
    return tables


def test_read_tables_reads_what_a_statement_names() -> None:
    assert read_tables("SELECT 1 FROM events FINAL WHERE org_id = {org_id:UInt64}") == {"events"}
    assert read_tables("WITH d AS (SELECT 1 FROM events) SELECT * FROM d JOIN segment_memberships USING x") == {
        "events",
        "segment_memberships",
    }
    assert read_tables("SELECT x FROM (SELECT 1 AS x FROM events) ARRAY JOIN [1] AS y") == {"events"}
    with pytest.raises(AssertionError, match="qualified"):
        read_tables("SELECT 1 FROM analytics.events")
    with pytest.raises(AssertionError, match="table function"):
        read_tables("SELECT 1 FROM cluster('main', default.events)")
    with pytest.raises(AssertionError, match="table function"):
        read_tables("INSERT INTO FUNCTION remote('h', db.t) VALUES (1)")
    assert read_tables("INSERT INTO api_result_cache (cache_key) SELECT 'k'") == {"api_result_cache"}


@pytest.mark.parametrize("cache_ttl", ["0", "300"])
def test_every_clickhouse_statement_reads_only_the_schemas_tables_unqualified(
    sample_tenant: SampleTenant, monkeypatch: pytest.MonkeyPatch, cache_ttl: str
) -> None:
    monkeypatch.setenv("QUERY_CACHE_TTL_SECONDS", cache_ttl)
    sent: dict[str, list[str]] = {}
    scoped: list[bool] = []
    rows = ClickHouseClient.rows

    def recorded(self: ClickHouseClient, sql: str, **parameters: Any) -> Any:
        sent.setdefault(current, []).append(sql)
        if CACHE in read_tables(sql):  # rows of the organization, and a lookup a sharded cluster can prune
            scoped.append(
                parameters["org_id"] == sample_tenant.org_id and ("INSERT" in sql or "org_id = {org_id" in sql)
            )
        return rows(self, sql, **parameters)

    monkeypatch.setattr(ClickHouseClient, "rows", recorded)
    for current in NAMES:
        status, body = invoke_json(current, api_event(current, sample_tenant.org_id))
        assert (status, body) == (200, sample_tenant.expected[current]), current

    assert set(sent) == {"overview", "segments", "overlap", "usage"}  # activations and copilot: Postgres only
    read = {name: set().union(*(read_tables(sql) for sql in statements)) for name, statements in sent.items()}
    cached = {CACHE} if cache_ttl != "0" else set()
    assert read == {
        "overview": {*MEMBERSHIPS, "events", *cached},
        "segments": {"segment_size_history"},
        "overlap": {*MEMBERSHIPS, *cached},
        "usage": {"events", *cached},
    }
    assert scoped == ([True] * 6 if cached else [])  # a lookup and a store for each of the three
