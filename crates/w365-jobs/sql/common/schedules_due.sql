SELECT * FROM schedules WHERE enabled = 1 AND next_fire_at <= $1 ORDER BY next_fire_at
