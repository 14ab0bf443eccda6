-- Platform Analytics API: the Postgres tables it reads (docs/api.md §4.1).
-- Re-runnable: every statement is IF NOT EXISTS. Written by other parts of the platform.

CREATE TABLE IF NOT EXISTS organizations (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_keys (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id),
    name text NOT NULL,
    prefix text NOT NULL UNIQUE,
    key_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NULL,
    revoked_at timestamptz NULL
);
CREATE INDEX IF NOT EXISTS api_keys_org_id_idx ON api_keys (org_id);
-- The value of the key's API Gateway usage-plan key: random, never the customer's secret. NULL for a key
-- issued before it existed (its usage key is the key string itself until `tools.apikeys migrate`).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS usage_key text NULL UNIQUE;

CREATE TABLE IF NOT EXISTS segments (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id),
    name text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    member_count integer NOT NULL DEFAULT 0,
    last_computed_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS segments_org_id_active_idx ON segments (org_id, id) WHERE is_active;

CREATE TABLE IF NOT EXISTS activations (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id),
    segment_id bigint NOT NULL REFERENCES segments (id),
    connector_type text NOT NULL,
    status text NOT NULL,
    last_synced_at timestamptz NULL,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS activations_org_id_idx ON activations (org_id, id);

CREATE TABLE IF NOT EXISTS activation_sync_logs (
    id bigint PRIMARY KEY,
    activation_id bigint NOT NULL REFERENCES activations (id),
    status text NOT NULL CHECK (status IN ('success', 'error')),
    user_count integer NOT NULL DEFAULT 0,
    error_message text NOT NULL DEFAULT '',
    synced_at timestamptz NOT NULL
);
-- Newest logs of one activation first: the 30 for success_rate and the 5 shown.
CREATE INDEX IF NOT EXISTS activation_sync_logs_recent_idx
    ON activation_sync_logs (activation_id, synced_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS copilot_requests (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id),
    status text NOT NULL CHECK (status IN ('success', 'error')),
    credits integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS copilot_requests_org_created_idx
    ON copilot_requests (org_id, created_at) INCLUDE (status, credits);

CREATE TABLE IF NOT EXISTS plans (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    tier text NOT NULL,
    events_limit bigint NOT NULL,
    users_limit bigint NOT NULL,
    segments_limit integer NOT NULL,
    ai_credits_limit integer NOT NULL
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES organizations (id),
    plan_id bigint NOT NULL REFERENCES plans (id),
    status text NOT NULL,
    current_period_start date NOT NULL,
    current_period_end date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscriptions_org_id_idx ON subscriptions (org_id, id DESC);

-- Least privilege: two NOLOGIN group roles, one per kind of caller. The operator creates a login user IN ROLE
-- each (docs/deploy.md); the functions' DATABASE_URL / DATABASE_SECRET_ARN name those users. The endpoints
-- read tenant data and never api_keys; the authorizer reads api_keys and nothing else; neither writes.
-- Re-runnable: an existing role is kept, and its table privileges are reset to exactly these.
DO $$ BEGIN CREATE ROLE analytics_reader NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE analytics_authorizer NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM analytics_reader, analytics_authorizer;
GRANT USAGE ON SCHEMA public TO analytics_reader, analytics_authorizer;
GRANT SELECT ON segments, activations, activation_sync_logs, copilot_requests, plans, subscriptions TO analytics_reader;
GRANT SELECT ON api_keys TO analytics_authorizer;
