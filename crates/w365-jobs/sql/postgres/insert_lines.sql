-- A batch of log lines in one statement. $1 job id, $2 the seq of the first line,
-- $3 a JSON array of [at, level, message] triples, in order.
INSERT INTO job_log (job_id, seq, at, level, message)
SELECT $1, $2 + l.n - 1, (l.e ->> 0)::BIGINT, l.e ->> 1, l.e ->> 2
FROM jsonb_array_elements($3::JSONB) WITH ORDINALITY AS l (e, n)
