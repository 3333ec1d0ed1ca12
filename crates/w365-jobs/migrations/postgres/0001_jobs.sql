-- w365-jobs schema, PostgreSQL. Times are microseconds since the Unix epoch (UTC); JSON is stored as text.
-- The SQLite schema (../sqlite/0001_jobs.sql) has the same tables, columns and rules.

-- The legal state transitions, the single source the trigger below checks (documented on JobState).
CREATE TABLE job_transitions (
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO job_transitions (from_state, to_state) VALUES
    ('scheduled', 'available'), ('scheduled', 'cancelled'),
    ('available', 'running'),   ('available', 'cancelled'),
    ('running', 'succeeded'),   ('running', 'failed'),      ('running', 'cancelled'),
    ('running', 'retryable'),   ('running', 'parked'),      ('running', 'available'),
    ('retryable', 'available'), ('retryable', 'cancelled'),
    ('parked', 'available'),    ('parked', 'cancelled');

CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    operation           TEXT NOT NULL,
    tenant              TEXT NOT NULL,
    input               TEXT NOT NULL,
    target              TEXT,
    requested_by        TEXT NOT NULL,
    requested_by_upn    TEXT NOT NULL,
    idempotency_key     TEXT,
    state               TEXT NOT NULL CHECK (state IN
                          ('scheduled', 'available', 'running', 'retryable', 'parked',
                           'succeeded', 'failed', 'cancelled')),
    attempt             BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL,
    parks               BIGINT NOT NULL DEFAULT 0,
    -- seq of the job's last log line; taking the next one locks the job row, so seqs never collide
    log_seq             BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    scheduled_at        BIGINT NOT NULL,
    started_at          BIGINT,
    finished_at         BIGINT,
    checkpoint          TEXT NOT NULL DEFAULT 'null',
    parked_reason       TEXT,
    result              TEXT,
    error               TEXT,
    cancel_requested_at BIGINT,
    request_id          TEXT,
    lease_owner         TEXT,
    lease_token         TEXT,
    lease_expires_at    BIGINT,
    schedule_id         TEXT,
    schedule_fire_at    BIGINT,
    CHECK (max_attempts >= 1 AND attempt >= 0 AND attempt <= max_attempts),
    -- finished_at iff terminal
    CHECK ((finished_at IS NOT NULL) = (state IN ('succeeded', 'failed', 'cancelled'))),
    -- a lease iff running
    CHECK ((state = 'running') = (lease_token IS NOT NULL)),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL)),
    CHECK ((state = 'running') = (lease_expires_at IS NOT NULL)),
    CHECK (state <> 'running' OR started_at IS NOT NULL),
    CHECK (parked_reason IS NULL OR state = 'parked'),
    CHECK (cancel_requested_at IS NULL OR state IN ('running', 'cancelled', 'succeeded', 'failed'))
);

-- Idempotency: one live job per key; once it is finished the key may be used again.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL AND state NOT IN ('succeeded', 'failed', 'cancelled');
-- A schedule fires once per fire time, whatever the number of schedulers.
CREATE UNIQUE INDEX jobs_schedule_fire ON jobs (schedule_id, schedule_fire_at)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_fetch ON jobs (state, scheduled_at);
-- Fetch ranks available jobs per tenant (a bulk run of one tenant must not starve the others).
CREATE INDEX jobs_tenant_state ON jobs (state, tenant, scheduled_at, id);
CREATE INDEX jobs_created ON jobs (created_at, id);
CREATE INDEX jobs_lease ON jobs (state, lease_expires_at);

CREATE FUNCTION w365_jobs_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state IN ('succeeded', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'illegal job state transition: a finished job is immutable';
    END IF;
    IF OLD.state <> NEW.state AND NOT EXISTS
        (SELECT 1 FROM job_transitions WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION 'illegal job state transition';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER jobs_state_transition BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION w365_jobs_check_transition();

CREATE TABLE job_log (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE schedules (
    name         TEXT PRIMARY KEY,
    cron         TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    template     TEXT NOT NULL,
    enabled      BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_fire_at BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Per-tenant limits shared by every worker process; the row '*' holds the defaults.
CREATE TABLE tenant_limits (
    tenant                TEXT PRIMARY KEY,
    max_running           BIGINT NOT NULL CHECK (max_running >= 1),
    write_capacity        BIGINT NOT NULL CHECK (write_capacity >= 1),
    write_refill_per_hour BIGINT NOT NULL CHECK (write_refill_per_hour >= 1)
);
-- Defaults: see TenantLimits::GRAPH_DEFAULT for the published Graph figures these stay under.
INSERT INTO tenant_limits VALUES ('*', 10, 300, 57600);

-- Token buckets (one per tenant); tokens are in thousandths so the arithmetic stays in integers.
CREATE TABLE write_buckets (
    tenant        TEXT PRIMARY KEY,
    milli_tokens  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- One record per change requested, refused or finished. hash = SHA-256 of the record (see
-- audit::record_hash) including prev_hash, the previous record's hash: the chain audit_verify checks.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_object_id    TEXT NOT NULL,
    actor_upn          TEXT NOT NULL,
    actor_display_name TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    target     TEXT,
    input      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    job_id     TEXT,
    request_id TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- The audit log is append-only: UPDATE, DELETE and TRUNCATE are refused.
CREATE FUNCTION w365_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION w365_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION w365_audit_append_only();
