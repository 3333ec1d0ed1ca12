-- Takes the next log seq of a job, for its lease holder only ($1 id, $2 lease token).
-- The update locks the job row until the transaction ends, so concurrent writers take turns.
UPDATE jobs SET log_seq = log_seq + 1
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING log_seq
