-- A final outcome's last call on SQLite's writer (after the batch that recorded the outcome and
-- read the last audit record): its audit record (common/audit_insert.sql, $1 to $14), its state
-- line (common/insert_log.sql numbered after them: $15 job id, $16 seq, $17 at, $18 level,
-- $19 message), then the commit.
INSERT INTO job_log (job_id, seq, at, level, message) VALUES ($15, $16, $17, $18, $19)
