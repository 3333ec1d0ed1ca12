-- $1 id, $2 token, $3 now. Back to available (worker shutdown); the attempt is given back.
UPDATE jobs
SET log_seq = log_seq + 1, state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'available' END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL THEN $3 END,
    attempt = attempt - 1, scheduled_at = $3,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING *
