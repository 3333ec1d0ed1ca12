-- $1 job id, $2 lease token, $3 at, $4 level, $5 message. Writes only for the lease holder.
INSERT INTO job_log (job_id, seq, at, level, message)
SELECT id, COALESCE((SELECT MAX(seq) FROM job_log WHERE job_id = $1), 0) + 1, $3, $4, $5
FROM jobs
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING seq
