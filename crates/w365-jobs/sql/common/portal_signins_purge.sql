DELETE FROM portal_signins WHERE expires_at <= $1
