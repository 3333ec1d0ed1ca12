-- $1 job id, $2 seq (from log_seq), $3 at, $4 level, $5 message
INSERT INTO job_log (job_id, seq, at, level, message) VALUES ($1, $2, $3, $4, $5)
