-- A worker's step boundary, for its lease holder only ($1 id, $2 lease token): takes $3 log
-- seqs for the lines written in the same transaction and, unless $4 is NULL, saves the
-- checkpoint. Returns the last seq taken and the cancel request, read under the row lock.
UPDATE jobs SET log_seq = log_seq + $3, checkpoint = COALESCE($4, checkpoint)
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING log_seq, cancel_requested_at
