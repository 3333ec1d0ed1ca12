DELETE FROM portal_signins WHERE key_hash = $1
RETURNING key_hash, state, nonce, verifier, return_to, expires_at
