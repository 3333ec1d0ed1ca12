UPDATE jobs SET checkpoint = $3
WHERE id = $1 AND state = 'running' AND lease_token = $2
RETURNING id
