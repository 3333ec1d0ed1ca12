SELECT * FROM jobs
WHERE idempotency_key = $1 AND state NOT IN ('succeeded', 'failed', 'cancelled')
