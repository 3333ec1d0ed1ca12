-- $1 id, $2 token, $3 now, $4 until, $5 reason. The attempt is given back; the checkpoint stays.
-- A requested cancel wins.
UPDATE jobs
SET log_seq = log_seq + 1, state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'parked' END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL THEN $3 END,
    parked_reason = CASE WHEN cancel_requested_at IS NOT NULL THEN NULL ELSE $5 END,
    attempt = attempt - 1, parks = parks + 1, scheduled_at = $4,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING *
