INSERT INTO audit_log (seq, at, actor_object_id, actor_upn, actor_display_name, tenant, operation, target, input, outcome, job_id,
                       request_id, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
