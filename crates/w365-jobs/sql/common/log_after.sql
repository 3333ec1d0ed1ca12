SELECT seq, at, level, message FROM job_log WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT 10000
