-- Newest first, keyset pagination on (created_at, id). Every filter is optional (NULL = any).
SELECT * FROM jobs
WHERE ($1 IS NULL OR state = $1)
  AND ($2 IS NULL OR operation = $2)
  AND ($3 IS NULL OR tenant = $3)
  AND ($4 IS NULL OR target = $4)
  AND ($5 IS NULL OR requested_by_upn = $5)
  AND ($6 IS NULL OR created_at >= $6)
  AND ($7 IS NULL OR created_at < $7)
  AND ($8 IS NULL OR created_at < $8 OR (created_at = $8 AND id < $9))
ORDER BY created_at DESC, id DESC
LIMIT $10
