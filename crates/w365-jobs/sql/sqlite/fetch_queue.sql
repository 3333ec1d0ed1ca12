-- A tenant's oldest available jobs, read in the order of index jobs_tenant_state (only $2 of
-- them, however many are queued). $1 tenant, $2 how many.
SELECT id, scheduled_at FROM jobs
WHERE state = 'available' AND tenant = $1
ORDER BY scheduled_at, id
LIMIT $2
