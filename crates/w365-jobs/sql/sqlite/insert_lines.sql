-- A batch of log lines in one statement. $1 job id, $2 the seq of the first line,
-- $3 a JSON array of [at, level, message] triples, in order.
INSERT INTO job_log (job_id, seq, at, level, message)
SELECT $1, $2 + CAST(l.key AS INTEGER),
       json_extract(l.value, '$[0]'), json_extract(l.value, '$[1]'), json_extract(l.value, '$[2]')
FROM json_each($3) AS l
ORDER BY CAST(l.key AS INTEGER)
