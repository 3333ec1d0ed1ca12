-- common/write_progress.sql and postgres/insert_lines.sql in one statement (one round trip, and
-- on its own its own transaction): for the lease holder only ($1 id, $2 lease token), takes $3 log
-- seqs and, unless $4 is NULL, saves the checkpoint; writes the lines ($5, a JSON array of
-- [at, level, message] triples in order, NULL for none) numbered up to the last seq taken. With
-- $6 true its commit does not wait for the WAL flush (set_config(…, true) is SET LOCAL: it holds
-- for the transaction the statement runs in). Returns that seq and the cancel request, read under
-- the row lock; no row (and nothing written) when the lease is lost.
WITH soon AS (
    SELECT CASE WHEN $6 THEN set_config('synchronous_commit', 'off', true) END AS setting
), step AS (
    UPDATE jobs SET log_seq = log_seq + $3, checkpoint = COALESCE($4, checkpoint)
    WHERE id = $1 AND state = 'running' AND lease_token = $2
    RETURNING log_seq, cancel_requested_at
), lines AS (
    INSERT INTO job_log (job_id, seq, at, level, message)
    SELECT $1, step.log_seq - $3 + l.n, (l.e ->> 0)::BIGINT, l.e ->> 1, l.e ->> 2
    FROM step, jsonb_array_elements($5::JSONB) WITH ORDINALITY AS l (e, n)
)
SELECT step.log_seq, step.cancel_requested_at, soon.setting FROM step, soon
