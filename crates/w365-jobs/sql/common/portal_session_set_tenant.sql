UPDATE portal_sessions SET tenant = $2 WHERE id_hash = $1 AND expires_at > $3
