-- Runs inside BEGIN IMMEDIATE (one writer at a time), after promote.sql, fetch_room.sql and
-- fetch_queue.sql chose the jobs. $1 now, $2 worker, $3 lease token, $4 lease expiry,
-- $5 the chosen ids (a JSON array).
UPDATE jobs
SET state = 'running', attempt = attempt + 1, started_at = COALESCE(started_at, $1),
    lease_owner = $2, lease_token = $3, lease_expires_at = $4
WHERE state = 'available' AND id IN (SELECT value FROM json_each($5))
RETURNING *
