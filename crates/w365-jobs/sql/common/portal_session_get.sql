SELECT * FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2
