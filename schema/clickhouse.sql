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

-- The API's own copies of segment_memberships, written by the two views below on every insert into it
-- (docs/deploy.md, "Memberships by profile key"): the same rows, split by how the profile id is spelled.
-- An id that is one of two canonical spellings of 128 bits (class 1: a lowercase UUID as toString writes
-- it; class 2: 32 lowercase hex digits) goes to segment_memberships_by_key as those 128 bits and its
-- class; every other id goes to segment_memberships_by_text as it is. (profile_key, profile_class) is a
-- one-to-one function of the id, so grouping by it groups by the id exactly, as 16-byte integers instead
-- of 32-36 byte strings. Same engine and the same key (in another spelling) as the source, so FINAL
-- keeps the same row of each membership.
CREATE TABLE IF NOT EXISTS segment_memberships_by_key (
    org_id UInt64,
    segment_id UInt64,
    profile_key UInt128,
    profile_class UInt8,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (org_id, segment_id, profile_key, profile_class);

CREATE TABLE IF NOT EXISTS segment_memberships_by_text AS segment_memberships;

CREATE MATERIALIZED VIEW IF NOT EXISTS segment_memberships_by_key_mv TO segment_memberships_by_key AS
SELECT
    org_id,
    segment_id,
    multiIf(profile_class = 1, reinterpretAsUInt128(toUUIDOrZero(profile_id)),
            reinterpretAsUInt128(unhex(profile_id))) AS profile_key,
    multiIf(toString(toUUIDOrZero(profile_id)) = profile_id, 1,
            length(profile_id) = 32 AND lower(hex(unhex(profile_id))) = profile_id, 2,
            0) AS profile_class,
    version,
    is_deleted
FROM segment_memberships
WHERE profile_class != 0;

-- The complement of the view above: its class test, negated (tests/test_membership_copies.py checks
-- that every row lands in exactly one of the two).
CREATE MATERIALIZED VIEW IF NOT EXISTS segment_memberships_by_text_mv TO segment_memberships_by_text AS
SELECT org_id, segment_id, profile_id, version, is_deleted
FROM segment_memberships
WHERE toString(toUUIDOrZero(profile_id)) != profile_id
  AND NOT (length(profile_id) = 32 AND lower(hex(unhex(profile_id))) = profile_id);

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
