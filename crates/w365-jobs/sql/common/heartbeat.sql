-- $1 id, $2 token, $3 new lease expiry. Returns the cancel request, if any.
UPDATE jobs SET lease_expires_at = $3
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING cancel_requested_at
