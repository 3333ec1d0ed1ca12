INSERT INTO schedules (name, cron, time_zone, template, enabled, next_fire_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, time_zone = excluded.time_zone,
    template = excluded.template, enabled = excluded.enabled,
    next_fire_at = excluded.next_fire_at, updated_at = excluded.updated_at
RETURNING *
