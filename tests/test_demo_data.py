"""The demo dataset of `make run`: deterministic, consistent with the platform's rules, loaded once."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from analytics_common.api_keys import api_key_hash, api_key_prefix, format_api_key, generate_api_key
from devstack import demo_data
from devstack.demo_data import CH_COLUMNS, PG_COLUMNS, DemoDataset
from tests.conftest import Stores

NOW = datetime(2026, 5, 2, 14, 32, 7, tzinfo=UTC)
DEMO_KEY = format_api_key("demo0key", "k" * 40)
SMALL = 0.02
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small() -> DemoDataset:
    return demo_data.generate(NOW, scale=SMALL, demo_api_key=DEMO_KEY)


def rows_as_dicts(dataset: DemoDataset, table: str) -> list[dict[str, Any]]:
    columns = PG_COLUMNS.get(table) or CH_COLUMNS[table]
    rows = dataset.postgres[table] if table in PG_COLUMNS else dataset.ch_rows(table)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def current_members(dataset: DemoDataset) -> dict[int, set[str]]:
    """Per segment: profiles whose newest membership version is not deleted (what FINAL keeps)."""
    newest: dict[tuple[int, str], tuple[int, int]] = {}
    for row in rows_as_dicts(dataset, "segment_memberships"):
        key = (row["segment_id"], row["profile_id"])
        if key not in newest or row["version"] > newest[key][0]:
            newest[key] = (row["version"], row["is_deleted"])
    members: dict[int, set[str]] = defaultdict(set)
    for (segment_id, profile), (_, deleted) in newest.items():
        if not deleted:
            members[segment_id].add(profile)
    return members


def test_the_same_inputs_give_the_same_rows(small: DemoDataset) -> None:
    again = demo_data.generate(NOW, scale=SMALL, demo_api_key=DEMO_KEY)
    assert again.postgres == small.postgres
    assert again.clickhouse == small.clickhouse
    other_seed = demo_data.generate(NOW, scale=SMALL, seed=demo_data.SEED + 1, demo_api_key=DEMO_KEY)
    assert other_seed.clickhouse["events"] != small.clickhouse["events"]


def test_full_size_is_a_realistic_workload(small: DemoDataset) -> None:
    """The full size (scale 1) from the specs, and the generator making exactly what they ask at any scale."""
    orgs = demo_data.DEMO_ORGS
    assert len(orgs) >= 3
    assert 300_000 <= sum(org.events for org in orgs) <= 1_000_000
    assert sum(org.profiles for org in orgs) >= 20_000
    events_per_org = Counter(row["org_id"] for row in rows_as_dicts(small, "events"))
    assert events_per_org == {org.id: max(200, round(org.events * SMALL)) for org in orgs}
    profiles = Counter(org_id for org_id, _ in {(r[0], r[2]) for r in small.ch_rows("segment_memberships")})
    for org in orgs:
        assert profiles[org.id] <= max(40, round(org.profiles * SMALL))
    assert small.count("segment_size_history") > 500
    assert small.count("activation_sync_logs") > 500
    assert small.count("copilot_requests") > 500


def test_every_row_is_in_its_time_range(small: DemoDataset) -> None:
    today = NOW.date()
    first_event_instant = datetime.combine(today - timedelta(days=89), datetime.min.time(), UTC)
    timestamps = [row["timestamp"] for row in rows_as_dicts(small, "events")]
    assert min(timestamps) >= first_event_instant
    assert max(timestamps) <= NOW
    assert {ts.date() for ts in timestamps} == {today - timedelta(days=n) for n in range(90)}
    history_instants = [row["computed_at"] for row in rows_as_dicts(small, "segment_size_history")]
    assert max(history_instants) <= NOW
    copilot = [row["created_at"] for row in rows_as_dicts(small, "copilot_requests")]
    assert first_event_instant <= min(copilot) and max(copilot) <= NOW
    logs = [row["synced_at"] for row in rows_as_dicts(small, "activation_sync_logs")]
    assert max(logs) <= NOW


def test_segments_match_their_memberships_and_history(small: DemoDataset) -> None:
    members = current_members(small)
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows_as_dicts(small, "segment_size_history"):
        history[row["segment_id"]].append(row)
    segments = rows_as_dicts(small, "segments")
    for segment in segments:
        points = sorted(history[segment["id"]], key=lambda row: row["computed_at"])
        assert segment["member_count"] == len(members[segment["id"]]), segment["name"]
        if segment["last_computed_at"] is None:
            assert points == [] and segment["member_count"] == 0
            continue
        last = points[-1]
        assert (last["computed_at"], last["member_count"]) == (segment["last_computed_at"], segment["member_count"])
        assert points[0]["computed_at"] >= segment["created_at"]
    # Several versions per segment, with deletions, written as several inserts.
    assert len(small.clickhouse["segment_memberships"]) >= 3
    versions = Counter((row["version"], row["is_deleted"]) for row in rows_as_dicts(small, "segment_memberships"))
    assert versions[(1, 0)] and versions[(2, 1)] and versions[(2, 0)] and versions[(3, 0)]
    # The edge cases the endpoints must handle: inactive, never computed, created today.
    assert any(not s["is_active"] for s in segments)
    assert any(s["last_computed_at"] is None for s in segments)
    assert any(s["created_at"].date() == NOW.date() and s["last_computed_at"] for s in segments)
    # A day without any computation inside some segment's history (the trend carries values forward).
    gaps = 0
    for points in history.values():
        days = sorted({row["computed_at"].date() for row in points})
        gaps += sum(1 for a, b in itertools.pairwise(days) if (b - a).days > 1)
    assert gaps > 0


def test_activations_agree_with_their_newest_sync_log(small: DemoDataset) -> None:
    logs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows_as_dicts(small, "activation_sync_logs"):
        logs[row["activation_id"]].append(row)
    activations = rows_as_dicts(small, "activations")
    segment_org = {row["id"]: row["org_id"] for row in rows_as_dicts(small, "segments")}
    for activation in activations:
        assert segment_org[activation["segment_id"]] == activation["org_id"]
        history = sorted(logs[activation["id"]], key=lambda row: row["synced_at"])
        if not history:
            assert activation["last_synced_at"] is None and activation["last_error"] == ""
            continue
        newest = history[-1]
        assert activation["last_synced_at"] == newest["synced_at"]
        assert activation["last_error"] == (newest["error_message"] if newest["status"] == "error" else "")
    connectors = {a["connector_type"] for a in activations}
    assert {"klaviyo", "braze", "hubspot", "google_ads", "meta_ads"} <= connectors
    statuses = Counter(row["status"] for row in rows_as_dicts(small, "activation_sync_logs"))
    assert statuses["success"] > statuses["error"] > 0
    assert any(not logs[a["id"]] for a in activations)


def test_plans_subscriptions_and_api_keys(small: DemoDataset) -> None:
    today = NOW.date()
    plans = {row["id"]: row for row in rows_as_dicts(small, "plans")}
    assert {p["tier"] for p in plans.values()} == {"free", "starter", "growth", "enterprise"}
    assert any(-1 in (p["events_limit"], p["users_limit"], p["ai_credits_limit"]) for p in plans.values())
    current: dict[int, dict[str, Any]] = {}
    for sub in rows_as_dicts(small, "subscriptions"):
        in_period = sub["current_period_start"] <= today <= sub["current_period_end"]
        if sub["status"] in ("active", "trialing", "past_due") and in_period:
            current[sub["org_id"]] = sub
    org_ids = {row["id"] for row in rows_as_dicts(small, "organizations")}
    assert len(org_ids - set(current)) == 1  # exactly one organization without a current subscription
    tiers = [plans[sub["plan_id"]]["tier"] for sub in current.values()]
    assert sorted(tiers) == sorted(set(tiers)) and len(tiers) >= 3
    assert all(isinstance(sub["current_period_start"], date) for sub in current.values())

    keys = rows_as_dicts(small, "api_keys")
    demo = next(k for k in keys if k["prefix"] == "demo0key")
    assert demo["org_id"] == demo_data.DEMO_ORG_ID and demo["key_hash"] == api_key_hash(DEMO_KEY)
    assert demo["revoked_at"] is None and demo["expires_at"] is None
    assert len({k["prefix"] for k in keys}) == len(keys)
    assert all(re.fullmatch(r"[0-9a-f]{64}", k["key_hash"]) for k in keys)
    assert any(k["revoked_at"] for k in keys) and any(k["expires_at"] for k in keys)


def test_new_api_keys_have_the_contract_format() -> None:
    key = generate_api_key()
    assert re.fullmatch(r"pa_[a-z0-9]{8}_[A-Za-z0-9_-]{32,}", key)
    assert api_key_prefix(key) == key[3:11]
    assert generate_api_key() != key


# ---------------------------------------------------------------------------- loading into the stores


@pytest.fixture
def target(session_stores: Stores, ids: Iterator[int], tmp_path: Path) -> dict[str, Any]:
    """Arguments of `ensure_loaded` for a database of this test, on the session's servers."""
    database = f"demo_test_{next(ids)}"
    chdb_dir = Path(urlsplit(session_stores.clickhouse_url).path)  # one chDB path per process
    return {
        "admin_url": session_stores.database_url,
        "clickhouse_url": f"chdb://{chdb_dir}?database={database}",
        "database": database,
        "marker": tmp_path / "demo-data.json",
        "now": NOW,
        "demo_api_key": DEMO_KEY,
        "scale": SMALL,
    }


def store_counts(result: demo_data.LoadResult) -> dict[str, int]:
    import clickhouse_connect

    from devstack import stores

    conn = stores.connect(result.database_url)
    ch = clickhouse_connect.get_client(dsn=result.clickhouse_url)
    try:
        counts = {table: conn.run(f"SELECT count(*) FROM {table}")[0][0] for table in PG_COLUMNS}
        counts.update({table: ch.query(f"SELECT count() FROM {table}").result_rows[0][0] for table in CH_COLUMNS})
        # Background merges collapse versions: count the current members instead of the rows.
        counts["segment_memberships"] = ch.query(
            "SELECT count() FROM segment_memberships FINAL WHERE is_deleted = 0"
        ).result_rows[0][0]
    finally:
        conn.close()
        ch.close()
    return counts


def test_loads_once_then_reuses_the_data(target: dict[str, Any], small: DemoDataset) -> None:
    first = demo_data.ensure_loaded(**target)
    assert first.loaded
    expected = {table: small.count(table) for table in [*PG_COLUMNS, *CH_COLUMNS]}
    expected["segment_memberships"] = sum(len(members) for members in current_members(small).values())
    assert store_counts(first) == expected

    again = demo_data.ensure_loaded(**target)
    assert not again.loaded
    assert (again.database_url, again.clickhouse_url) == (first.database_url, first.clickhouse_url)
    assert store_counts(again) == expected  # nothing added twice

    assert demo_data.ensure_loaded(**target, force=True).loaded
    assert store_counts(first) == expected
    next_day = {**target, "now": NOW + timedelta(days=1)}
    assert demo_data.ensure_loaded(**next_day).loaded  # the data is relative to its day
    assert not demo_data.ensure_loaded(**next_day).loaded


def test_stores_hold_what_the_generator_made(target: dict[str, Any], small: DemoDataset) -> None:
    import clickhouse_connect

    from devstack import stores

    result = demo_data.ensure_loaded(**target)
    conn = stores.connect(result.database_url)
    ch = clickhouse_connect.get_client(dsn=result.clickhouse_url)
    try:
        segments = conn.run("SELECT id, member_count, last_computed_at FROM segments ORDER BY id")
        finals = {
            segment_id: count
            for segment_id, count in ch.query(
                "SELECT segment_id, count() FROM segment_memberships FINAL WHERE is_deleted = 0 GROUP BY segment_id"
            ).result_rows
        }
        keys = conn.run("SELECT prefix, key_hash, revoked_at FROM api_keys WHERE org_id = 1 ORDER BY id")
        last_log = conn.run("SELECT max(synced_at) FROM activation_sync_logs")[0][0]
    finally:
        conn.close()
        ch.close()
    assert segments == [[row[0], row[4], row[5]] for row in small.postgres["segments"]]
    assert {seg_id: count for seg_id, count, _ in segments if count} == finals
    assert keys[0] == ["demo0key", api_key_hash(DEMO_KEY), None]
    assert last_log == max(row[5] for row in small.postgres["activation_sync_logs"])


def test_the_sample_authorizer_event_is_allowed_against_the_demo_data(
    target: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_common.postgres import postgres_client
    from tests.authorizer_support import authorize

    loaded = demo_data.ensure_loaded(**target)
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    assert event["headers"]["Authorization"] == f"Bearer {demo_data.SAMPLE_EVENT_API_KEY}"
    monkeypatch.setenv("DATABASE_URL", loaded.database_url)
    monkeypatch.setenv("FRONTEND_USAGE_KEY", "sample-usage-key")
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    postgres_client.cache_clear()
    try:
        decision = authorize(event)
    finally:
        postgres_client.cache_clear()
    assert decision["context"]["org_id"] == str(demo_data.DEMO_ORG_ID)
    assert decision["context"]["auth_type"] == "api_key"
    assert decision["usageIdentifierKey"] == demo_data.demo_usage_key(demo_data.SAMPLE_EVENT_API_KEY)
    assert decision["policyDocument"]["Statement"][0]["Effect"] == "Allow"
