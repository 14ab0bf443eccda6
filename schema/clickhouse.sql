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
