-- Guarded: only the scheduler that saw next_fire_at = $2 moves it.
UPDATE schedules SET next_fire_at = $3, updated_at = $4 WHERE name = $1 AND next_fire_at = $2
