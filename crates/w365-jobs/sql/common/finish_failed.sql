-- $1 id, $2 token, $3 now, $4 error, $5 result
UPDATE jobs
SET log_seq = log_seq + 1, state = 'failed', finished_at = $3, error = $4, result = $5,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING *
