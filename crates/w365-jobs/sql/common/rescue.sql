-- The rescuer: running jobs whose lease expired before $1 (now). $2 is the error recorded.
UPDATE jobs
SET log_seq = log_seq + 1, state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                 WHEN attempt >= max_attempts THEN 'failed'
                 ELSE 'retryable' END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL OR attempt >= max_attempts THEN $1 END,
    error = $2, scheduled_at = $1,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE state = 'running' AND lease_expires_at < $1
RETURNING *
