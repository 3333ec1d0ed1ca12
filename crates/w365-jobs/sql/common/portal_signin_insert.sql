INSERT INTO portal_signins (key_hash, state, nonce, verifier, return_to, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
