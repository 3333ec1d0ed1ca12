-- Follows common/fetch_free.sql (the free slots per tenant, `free`). One statement: candidates
-- are locked with FOR UPDATE SKIP LOCKED and updated in place. Runs in a transaction holding the
-- fetch advisory lock, so the per-tenant running counts it reads cannot be raced by another
-- fetcher. $1 now, $2 worker, $3 lease token, $4 lease expiry, $5 max.
-- Each tenant with room gives at most that many of its oldest jobs (LATERAL, from the index
-- jobs_tenant_state), so a fetch reads a few rows however many jobs are queued.
, candidates AS (
    SELECT c.id, c.scheduled_at
    FROM free f
    CROSS JOIN LATERAL (
        SELECT j.id, j.scheduled_at FROM jobs j
        WHERE j.state = 'available' AND j.tenant = f.tenant
        ORDER BY j.scheduled_at, j.id
        LIMIT GREATEST(f.n, 0)
    ) c
    ORDER BY c.scheduled_at, c.id
    LIMIT $5
), picked AS (
    SELECT j.id FROM jobs j
    WHERE j.id IN (SELECT id FROM candidates) AND j.state = 'available'
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE jobs
SET state = 'running', attempt = jobs.attempt + 1, started_at = COALESCE(jobs.started_at, $1),
    lease_owner = $2, lease_token = $3, lease_expires_at = $4
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.*
