DELETE FROM portal_sessions WHERE id_hash = $1
