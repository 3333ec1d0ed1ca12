-- A worker's step boundary as statements of a batch (SQLite's writer runs a whole transaction in
-- one call). For the lease holder only ($1 id, $2 token): takes $11 log seqs and, unless $12 is
-- NULL, saves the checkpoint (returning the last seq taken and the cancel request, read under the
-- write lock), then writes the lines numbered up to that seq ($13, a JSON array of
-- [at, level, message] triples, in order; NULL for none). A lost lease writes nothing.
-- $3 to $10 are the statements that follow in the batch (a finish).
UPDATE jobs SET log_seq = log_seq + $11, checkpoint = COALESCE($12, checkpoint)
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING log_seq, cancel_requested_at;
INSERT INTO job_log (job_id, seq, at, level, message)
SELECT $1, j.log_seq - $11 + 1 + CAST(l.key AS INTEGER),
       json_extract(l.value, '$[0]'), json_extract(l.value, '$[1]'), json_extract(l.value, '$[2]')
FROM jobs AS j, json_each($13) AS l
WHERE j.id = $1 AND j.state = 'running' AND j.lease_token = $2
ORDER BY CAST(l.key AS INTEGER)
