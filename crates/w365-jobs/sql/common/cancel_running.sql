-- A running job is asked to stop: its handler sees the request at its next step boundary.
UPDATE jobs
SET log_seq = log_seq + 1, cancel_requested_at = COALESCE(cancel_requested_at, $2)
WHERE id = $1 AND state = 'running'
RETURNING *
