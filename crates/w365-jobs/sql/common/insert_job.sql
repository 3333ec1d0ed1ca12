-- $1 id, $2 operation, $3 tenant, $4 input, $5 target, $6 requested_by (json), $7 requested_by_upn,
-- $8 idempotency_key, $9 state, $10 max_attempts, $11 created_at, $12 scheduled_at, $13 request_id,
-- $14 schedule_id, $15 schedule_fire_at
INSERT INTO jobs (id, operation, tenant, input, target, requested_by, requested_by_upn,
                  idempotency_key, state, attempt, max_attempts, created_at, scheduled_at,
                  request_id, schedule_id, schedule_fire_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15)
ON CONFLICT DO NOTHING
RETURNING *
