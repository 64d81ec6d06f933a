-- 0005_postgres_runs.sql — which domains ran in the `postgres` stage since
-- their JSON documents were last brought up to date.
--
-- In the `postgres` stage the JSON documents are no longer written, so going
-- back to a stage where json is authoritative (json, dualwrite, shadow)
-- would serve stale data. Opening a domain in `postgres` upserts its row
-- here (one cheap statement per open); `cutover export DOMAIN --apply`
-- stamps exported_at when it has written every document of the domain.
-- While a row's last_open_at is later than its exported_at (or exported_at
-- is NULL), the json-authoritative stages refuse to open the domain and
-- `cutover status` says "ran in postgres since ..., not exported"
-- (flags/flags.c, adapters/postgres/pg_runs.c).
--
-- Applied once, inside a transaction, by `cutover migrate`; never edit this
-- file after it has shipped: add a new numbered migration instead.

CREATE SCHEMA IF NOT EXISTS cutover;

CREATE TABLE cutover.postgres_runs (
    domain       text NOT NULL,
    -- the first open in the postgres stage that no export has covered yet
    since        timestamptz NOT NULL,
    -- the latest open in the postgres stage
    last_open_at timestamptz NOT NULL,
    -- the snapshot time of the last `cutover export --apply` that finished
    -- (its transaction's start, never later than its snapshot); NULL: none
    -- since `since`
    exported_at  timestamptz,
    -- the state root that export wrote (credentials redacted)
    export_root  text,
    CONSTRAINT postgres_runs_pkey PRIMARY KEY (domain),
    CONSTRAINT postgres_runs_domain_check CHECK (domain IN ('identity', 'profile', 'reports', 'telemetry'))
);

ALTER TABLE cutover.postgres_runs ENABLE ROW LEVEL SECURITY;
