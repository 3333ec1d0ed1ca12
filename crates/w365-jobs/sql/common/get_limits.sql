SELECT max_running, write_capacity, write_refill_per_hour FROM tenant_limits
WHERE tenant = $1 OR tenant = '*'
ORDER BY CASE WHEN tenant = '*' THEN 1 ELSE 0 END
LIMIT 1
