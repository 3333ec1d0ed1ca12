-- $1 id, $2 token, $3 now, $4 retry at, $5 error.
-- A requested cancel wins; with no attempts left the job fails.
UPDATE jobs
SET log_seq = log_seq + 1, state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                 WHEN attempt >= max_attempts THEN 'failed'
                 ELSE 'retryable' END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL OR attempt >= max_attempts THEN $3 END,
    scheduled_at = $4, error = $5,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING *
