-- One statement: candidates are locked with FOR UPDATE SKIP LOCKED and updated in place.
-- Runs in a transaction holding the fetch advisory lock, so the per-tenant running counts it reads
-- cannot be raced by another fetcher. $1 now, $2 worker, $3 lease token, $4 lease expiry, $5 max.
WITH running AS (
    SELECT tenant, COUNT(*) AS n FROM jobs WHERE state = 'running' GROUP BY tenant
), candidates AS (
    SELECT id, tenant, scheduled_at,
           ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY scheduled_at, id) AS rn
    FROM jobs WHERE state = 'available'
), picked AS (
    SELECT j.id
    FROM jobs j JOIN candidates c ON c.id = j.id
    WHERE c.rn + COALESCE((SELECT n FROM running r WHERE r.tenant = c.tenant), 0)
          <= COALESCE((SELECT max_running FROM tenant_limits l WHERE l.tenant = c.tenant),
                      (SELECT max_running FROM tenant_limits l WHERE l.tenant = '*'))
    ORDER BY c.scheduled_at, c.id
    LIMIT $5
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE jobs
SET state = 'running', attempt = jobs.attempt + 1, started_at = COALESCE(jobs.started_at, $1),
    lease_owner = $2, lease_token = $3, lease_expires_at = $4
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.*
