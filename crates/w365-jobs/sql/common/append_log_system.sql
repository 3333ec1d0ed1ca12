-- A line written by the store itself (parked, retried, cancelled, rescued...). $1 job id, $2 at, $3 level, $4 message.
INSERT INTO job_log (job_id, seq, at, level, message)
SELECT id, COALESCE((SELECT MAX(seq) FROM job_log WHERE job_id = $1), 0) + 1, $2, $3, $4
FROM jobs
WHERE id = $1
RETURNING seq
