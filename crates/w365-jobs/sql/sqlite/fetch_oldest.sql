-- The $2 oldest available jobs of any tenant, from index jobs_fetch (a fetch's first guess: when
-- every one of them belongs to a tenant with room, they are the jobs to take).
SELECT id, tenant, scheduled_at FROM jobs
WHERE state = 'available'
ORDER BY scheduled_at, id
LIMIT $2
