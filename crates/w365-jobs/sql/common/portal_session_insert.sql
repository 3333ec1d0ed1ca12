INSERT INTO portal_sessions (id_hash, operator_object_id, operator_upn, operator_name,
    sign_in_tenant, role, tenant, csrf_token, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
