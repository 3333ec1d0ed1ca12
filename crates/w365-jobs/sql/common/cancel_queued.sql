-- Queued or parked jobs are cancelled at once.
UPDATE jobs
SET log_seq = log_seq + 1, state = 'cancelled', finished_at = $2, parked_reason = NULL
WHERE id = $1 AND state IN ('scheduled', 'available', 'retryable', 'parked')
RETURNING *
