-- Oldest first, keyset on seq. $1 after seq, $2 since, $3 until, $4 tenant, $5 actor upn, $6 job id,
-- $7 operation, $8 limit
SELECT * FROM audit_log
WHERE seq > $1
  AND ($2 IS NULL OR at >= $2)
  AND ($3 IS NULL OR at < $3)
  AND ($4 IS NULL OR tenant = $4)
  AND ($5 IS NULL OR actor_upn = $5)
  AND ($6 IS NULL OR job_id = $6)
  AND ($7 IS NULL OR operation = $7)
ORDER BY seq
LIMIT $8
