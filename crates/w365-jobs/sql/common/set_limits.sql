INSERT INTO tenant_limits (tenant, max_running, write_capacity, write_refill_per_hour)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant) DO UPDATE SET max_running = excluded.max_running,
    write_capacity = excluded.write_capacity, write_refill_per_hour = excluded.write_refill_per_hour
