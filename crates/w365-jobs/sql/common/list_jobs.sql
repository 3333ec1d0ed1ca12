-- The jobs matching a filter; the store appends the ORDER BY (from its fixed list of sort
-- columns), LIMIT $11 and OFFSET $12. Every filter is optional (NULL = any). $8 is a LIKE
-- pattern over operation, target, requester and id, already lowercased and escaped with '\'.
-- $9/$10: keyset cursor (created_at, id) of the newest-first order.
SELECT * FROM jobs
WHERE ($1 IS NULL OR state = $1)
  AND ($2 IS NULL OR operation = $2)
  AND ($3 IS NULL OR tenant = $3)
  AND ($4 IS NULL OR target = $4)
  AND ($5 IS NULL OR requested_by_upn = $5)
  AND ($6 IS NULL OR created_at >= $6)
  AND ($7 IS NULL OR created_at < $7)
  AND ($8 IS NULL OR LOWER(operation) LIKE $8 ESCAPE '\'
       OR LOWER(COALESCE(target, '')) LIKE $8 ESCAPE '\'
       OR LOWER(requested_by_upn) LIKE $8 ESCAPE '\'
       OR LOWER(id) LIKE $8 ESCAPE '\')
  AND ($9 IS NULL OR created_at < $9 OR (created_at = $9 AND id < $10))
