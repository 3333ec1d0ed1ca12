-- Runs inside BEGIN IMMEDIATE (one writer at a time), after promote.sql.
-- $1 now, $2 worker, $3 lease token, $4 lease expiry, $5 max jobs.
-- A tenant gets at most max_running running jobs (its own row in tenant_limits, else '*').
UPDATE jobs
SET state = 'running', attempt = attempt + 1, started_at = COALESCE(started_at, $1),
    lease_owner = $2, lease_token = $3, lease_expires_at = $4
WHERE id IN (
    SELECT c.id FROM (
        SELECT id, tenant, scheduled_at,
               ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY scheduled_at, id) AS rn
        FROM jobs WHERE state = 'available'
    ) c
    WHERE c.rn + (SELECT COUNT(*) FROM jobs r WHERE r.tenant = c.tenant AND r.state = 'running')
          <= COALESCE((SELECT max_running FROM tenant_limits l WHERE l.tenant = c.tenant),
                      (SELECT max_running FROM tenant_limits l WHERE l.tenant = '*'))
    ORDER BY c.scheduled_at, c.id
    LIMIT $5
)
RETURNING *
