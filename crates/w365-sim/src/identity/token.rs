//! Graph access tokens: issuing them (signed with the simulator's [`SigningKey`]) and checking
//! the bearer token of every Graph request against the virtual clock.
//!
//! Tokens carry the claims observed on real app-only Graph tokens (reference §1.3): `aud`
//! `https://graph.microsoft.com`, `iss` `https://sts.windows.net/{tid}/`, `tid`, `appid`, `oid`,
//! `idtyp: "app"`, `roles`, `ver: "1.0"`, `iat`, `nbf`, `exp`. They are HS256 JWTs: clients must
//! treat them as opaque anyway.
//!
//! Lifetime checks use no clock skew: a token is expired from its `exp` second on, so a test
//! that advances the virtual clock by the token lifetime sees the 401 immediately.

use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::AuthFailure;
use crate::state::apps::AppRegistration;

/// The `aud` of Graph tokens.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Graph's application id, the alternative `aud` form.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The simulator's token-signing key (HMAC-SHA256). Random per simulator process and never
/// written anywhere (it has no serialization, and the state file does not hold it): after a
/// restart, tokens of the earlier run are refused and clients sign in again. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    bytes: Vec<u8>,
}

impl SigningKey {
    /// A fresh random 256-bit key.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        SigningKey {
            bytes: bytes.to_vec(),
        }
    }

    /// The raw key (tests sign their own tokens with it).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_secret(&self.bytes)
    }

    fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_secret(&self.bytes)
    }
}

impl Default for SigningKey {
    fn default() -> Self {
        SigningKey::generate()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// How the client proved its identity (the `appidacr` claim: 1 secret, 2 certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuthMethod {
    Secret,
    Certificate,
}

/// The claims of the access tokens the simulator issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    pub appid: String,
    #[serde(default)]
    pub appidacr: String,
    #[serde(default)]
    pub idp: String,
    pub idtyp: String,
    pub oid: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub sub: String,
    pub tid: String,
    #[serde(default)]
    pub uti: String,
    pub ver: String,
}

pub(crate) fn issue_access_token(
    key: &SigningKey,
    tenant_id: &str,
    app: &AppRegistration,
    method: ClientAuthMethod,
    now: OffsetDateTime,
    lifetime_secs: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let iat = now.unix_timestamp();
    let iss = format!("https://sts.windows.net/{tenant_id}/");
    let claims = AccessTokenClaims {
        aud: GRAPH_AUDIENCE.to_owned(),
        iss: iss.clone(),
        iat,
        nbf: iat,
        exp: iat + lifetime_secs,
        app_displayname: Some(app.display_name.clone()),
        appid: app.client_id.clone(),
        appidacr: match method {
            ClientAuthMethod::Secret => "1",
            ClientAuthMethod::Certificate => "2",
        }
        .to_owned(),
        idp: iss,
        idtyp: "app".to_owned(),
        oid: app.service_principal_id.clone(),
        roles: app.roles.clone(),
        sub: app.service_principal_id.clone(),
        tid: tenant_id.to_owned(),
        uti: uuid::Uuid::new_v4().simple().to_string(),
        ver: "1.0".to_owned(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, &claims, &key.encoding_key())
}

/// The authenticated caller of a Graph request: an app in a tenant with its granted roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// Succeeds when the caller holds at least one of `roles` (compared case-insensitively, as
    /// permission names are). An empty `roles` slice requires nothing.
    ///
    /// Fails with 403 `Authorization_RequestDenied` "Insufficient privileges to complete the
    /// operation." otherwise.
    pub fn require_any(&self, roles: &[&str]) -> Result<(), AuthFailure> {
        if roles.is_empty()
            || roles.iter().any(|wanted| {
                self.roles
                    .iter()
                    .any(|held| held.eq_ignore_ascii_case(wanted))
            })
        {
            Ok(())
        } else {
            Err(AuthFailure::InsufficientPrivileges)
        }
    }
}

/// Checks the `Authorization` header of a Graph request: `Bearer <jwt>`, signed by `key`, for
/// Graph, and inside its lifetime at virtual time `now`.
pub fn authenticate(
    authorization_header: Option<&str>,
    key: &SigningKey,
    now: OffsetDateTime,
) -> Result<Caller, AuthFailure> {
    let header = authorization_header.map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(AuthFailure::MissingToken);
    }
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::MalformedToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::MissingToken);
    }
    let jose = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::MalformedToken)?;
    if jose.alg != Algorithm::HS256 {
        return Err(AuthFailure::InvalidSignature);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding_key(), &validation)
        .map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthFailure::InvalidSignature,
        _ => AuthFailure::MalformedToken,
    })?;
    let claims = data.claims;
    if claims.aud != GRAPH_AUDIENCE && !claims.aud.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return Err(AuthFailure::InvalidAudience);
    }
    let now = now.unix_timestamp();
    if now < claims.nbf {
        return Err(AuthFailure::NotYetValid);
    }
    if now >= claims.exp {
        return Err(AuthFailure::Expired);
    }
    Ok(Caller {
        tenant_id: claims.tid,
        app_id: claims.appid,
        roles: claims.roles,
    })
}

/// The `tid` claim of a bearer token, read WITHOUT verifying it: for routing decisions that
/// precede authentication (e.g. matching fault rules by tenant), never for authorization.
pub fn unverified_tenant(authorization_header: Option<&str>) -> Option<String> {
    let header = authorization_header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    #[derive(Deserialize)]
    struct Tid {
        tid: String,
    }
    jsonwebtoken::dangerous::insecure_decode::<Tid>(token.trim())
        .ok()
        .map(|d| d.claims.tid)
}
