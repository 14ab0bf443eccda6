-- Platform Analytics API: the ClickHouse tables it reads (docs/api.md §4.2).
-- Re-runnable; table names are unqualified so the client's database applies.

CREATE TABLE IF NOT EXISTS segment_memberships (
    org_id UInt64,
    segment_id UInt64,
    profile_id String,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (org_id, segment_id, profile_id);

CREATE TABLE IF NOT EXISTS segment_size_history (
    org_id UInt64,
    segment_id UInt64,
    computed_at DateTime64(3, 'UTC'),
    member_count UInt64
) ENGINE = MergeTree
ORDER BY (org_id, segment_id, computed_at);

CREATE TABLE IF NOT EXISTS events (
    org_id UInt64,
    profile_id String,
    event_name LowCardinality(String),
    timestamp DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (org_id, timestamp);

-- The API's own table: answers of the statements that depend only on memberships, keyed by the
-- statement, its parameters and the data version (analytics_common.clickhouse.cached_rows). Rows
-- expire by QUERY_CACHE_TTL_SECONDS when read; the table TTL only drops them from disk.
CREATE TABLE IF NOT EXISTS api_result_cache (
    cache_key String,
    org_id UInt64,
    stored_at DateTime64(3, 'UTC'),
    result String
) ENGINE = MergeTree
ORDER BY (cache_key, stored_at)
TTL toDateTime(stored_at) + INTERVAL 1 DAY;
