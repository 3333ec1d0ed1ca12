-- Runs inside BEGIN IMMEDIATE (one writer at a time), after promote.sql; follows
-- common/fetch_free.sql (the free slots per tenant, `free`).
-- $1 now, $2 worker, $3 lease token, $4 lease expiry, $5 max jobs.
-- A fetch with every tenant at its limit reads no queued job; one with room numbers only the
-- jobs of the tenants that have room.
, candidates AS (
    SELECT j.id, j.scheduled_at, f.n,
           ROW_NUMBER() OVER (PARTITION BY j.tenant ORDER BY j.scheduled_at, j.id) AS rn
    FROM free f JOIN jobs j ON j.state = 'available' AND j.tenant = f.tenant
    WHERE f.n > 0
)
UPDATE jobs
SET state = 'running', attempt = attempt + 1, started_at = COALESCE(started_at, $1),
    lease_owner = $2, lease_token = $3, lease_expires_at = $4
WHERE id IN (
    SELECT id FROM candidates WHERE rn <= n
    ORDER BY scheduled_at, id
    LIMIT $5
)
RETURNING *
