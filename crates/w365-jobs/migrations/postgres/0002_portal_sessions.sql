-- The web portal of w365 serve: sign-ins in progress and signed-in sessions, in the job database
-- so that every server replica sees them. Times are microseconds since the Unix epoch (UTC).
-- Browser-held secrets are stored only as SHA-256 digests (hex); no token of the identity
-- provider is stored at all (the session holds who signed in, not their tokens).

-- An authorization-code sign-in between the redirect to the identity provider and its answer.
CREATE TABLE portal_signins (
    -- SHA-256 of the random value in the browser's sign-in cookie (binds the answer to the browser)
    key_hash   TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    -- the PKCE code verifier, used once within minutes
    verifier   TEXT NOT NULL,
    -- the portal path to show after signing in
    return_to  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_signins_expiry ON portal_signins (expires_at);

CREATE TABLE portal_sessions (
    -- SHA-256 of the random session id in the browser's session cookie
    id_hash            TEXT PRIMARY KEY,
    operator_object_id TEXT NOT NULL,
    operator_upn       TEXT NOT NULL,
    operator_name      TEXT NOT NULL,
    -- the operator's own Entra tenant (tid)
    sign_in_tenant     TEXT NOT NULL,
    -- the highest w365 app role at sign-in (W365.Reader, W365.Helpdesk, W365.Admin) or none
    role               TEXT,
    -- the tenant the operator is working on (a server tenant name), chosen in the portal
    tenant             TEXT,
    -- the synchronizer token every form of this session carries
    csrf_token         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
