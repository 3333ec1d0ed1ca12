//! Verification of a `client_assertion` (private_key_jwt, reference §1.2): the JWS must be
//! signed by a certificate registered on the app (named by `x5t#S256` or `x5t`), `aud` must be
//! this tenant's token endpoint, `iss == sub == client_id`, `nbf <= now < exp` within five
//! minutes of skew, and its `jti` must not have been seen before.

use std::collections::HashMap;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::error::AadError;
use crate::state::apps::AppRegistration;

/// Allowed clock skew between the client and the token endpoint.
pub const ASSERTION_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Remembers the `jti` of accepted client assertions so a replayed assertion is refused.
pub trait JtiCache {
    /// Records `jti` of `client_id` until `expires_at`. Returns `false` when it is already
    /// recorded (a replay). Entries whose `expires_at` is before `now` may be forgotten.
    fn insert_if_new(
        &mut self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool;
}

/// An in-memory [`JtiCache`] (per simulator; not persisted: assertions live minutes).
#[derive(Debug, Default, Clone)]
pub struct MemoryJtiCache {
    seen: HashMap<(String, String), OffsetDateTime>,
}

impl MemoryJtiCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl JtiCache for MemoryJtiCache {
    fn insert_if_new(
        &mut self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        self.seen.retain(|_, until| *until >= now);
        let key = (client_id.to_ascii_lowercase(), jti.to_owned());
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key, expires_at);
        true
    }
}

/// `aud` may be one string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct AssertionClaims {
    aud: Option<Audience>,
    iss: Option<String>,
    sub: Option<String>,
    jti: Option<String>,
    nbf: Option<i64>,
    exp: Option<i64>,
    iat: Option<i64>,
}

/// Where the assertion was presented: decides which `aud` values are accepted.
pub(crate) struct Endpoint<'a> {
    /// The URL the token request was made to.
    pub url: &'a str,
    /// The tenant segment of that URL (GUID or domain).
    pub requested_tenant: &'a str,
    /// The tenant's id.
    pub tenant_id: &'a str,
}

impl Endpoint<'_> {
    /// The URL itself, plus the same endpoint named by tenant id instead of domain (or the
    /// reverse) and the v1 `/oauth2/token` form older libraries use.
    fn accepted_audiences(&self) -> Vec<String> {
        let url = self.url.trim_end_matches('/');
        let mut out = vec![url.to_owned()];
        for suffix in ["oauth2/v2.0/token", "oauth2/token"] {
            let tail = format!("/{}/{}", self.requested_tenant, suffix);
            if url.len() >= tail.len() && url[url.len() - tail.len()..].eq_ignore_ascii_case(&tail)
            {
                let base = &url[..url.len() - tail.len()];
                for tenant in [self.requested_tenant, self.tenant_id] {
                    for path in ["oauth2/v2.0/token", "oauth2/token"] {
                        out.push(format!("{base}/{tenant}/{path}"));
                    }
                }
            }
        }
        out
    }

    fn accepts(&self, aud: &str) -> bool {
        let aud = aud.trim_end_matches('/');
        self.accepted_audiences()
            .iter()
            .any(|a| a.eq_ignore_ascii_case(aud))
    }
}

fn timestamp(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Verifies `assertion` for `app`; on success the `jti` has been recorded in `jti_cache`.
pub(crate) fn verify<'a>(
    app: &AppRegistration,
    assertion: &'a str,
    endpoint: &Endpoint<'_>,
    now: OffsetDateTime,
    jti_cache: &mut impl JtiCache,
) -> Result<(), AadError> {
    // Compact JWS segments are unpadded base64url, but azure-identity signs and sends them
    // padded (`base64.urlsafe_b64encode` in azure/identity/_internal/aad_client_base.py,
    // `_get_client_certificate_assertion`) and Entra ID accepts that (observed: the library works
    // against it). The signature covers the segments exactly as sent.
    let segments: Vec<&str> = assertion.split('.').collect();
    let [head, body, signature] = segments[..] else {
        return Err(AadError::malformed_assertion());
    };
    let unpad = |s: &'a str| s.trim_end_matches('=');
    let header = jsonwebtoken::decode_header(format!(
        "{}.{}.{}",
        unpad(head),
        unpad(body),
        unpad(signature)
    ))
    .map_err(|_| AadError::malformed_assertion())?;
    let presented = header
        .x5t_s256
        .as_deref()
        .or(header.x5t.as_deref())
        .unwrap_or("(none)")
        .to_owned();
    let signature_error =
        |reason: &str| AadError::invalid_assertion_signature(reason, &presented, &app.client_id);

    let cert = app
        .certificate_by_thumbprint(header.x5t_s256.as_deref(), header.x5t.as_deref())
        .ok_or_else(|| signature_error("The key was not found."))?;
    if !cert.is_valid_at(now) {
        return Err(signature_error("The key used is expired."));
    }
    if !cert.key_kind.algorithms().contains(&header.alg) {
        return Err(signature_error(
            "The provided signature value did not match the expected signature value.",
        ));
    }
    let key = cert
        .decoding_key()
        .ok_or_else(|| signature_error("The key was not found."))?;
    let mismatch = || {
        signature_error("The provided signature value did not match the expected signature value.")
    };
    let signed = format!("{head}.{body}");
    let verified =
        jsonwebtoken::crypto::verify(unpad(signature), signed.as_bytes(), &key, header.alg)
            .map_err(|e| match e.kind() {
                ErrorKind::Base64(_) => AadError::malformed_assertion(),
                _ => mismatch(),
            })?;
    if !verified {
        return Err(mismatch());
    }
    let claims: AssertionClaims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(unpad(body))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(AadError::malformed_assertion)?;

    let is_client = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(&app.client_id))
    };
    if !is_client(&claims.iss) || !is_client(&claims.sub) {
        return Err(AadError::assertion_subject());
    }

    let aud_ok = match &claims.aud {
        Some(Audience::One(a)) => endpoint.accepts(a),
        Some(Audience::Many(list)) => list.iter().any(|a| endpoint.accepts(a)),
        None => false,
    };
    if !aud_ok {
        return Err(AadError::assertion_audience());
    }

    let exp = claims.exp.ok_or_else(AadError::malformed_assertion)?;
    let exp = timestamp(exp);
    let nbf = claims.nbf.or(claims.iat).map(timestamp);
    let too_early = nbf.is_some_and(|nbf| now + ASSERTION_CLOCK_SKEW < nbf);
    let too_late = now - ASSERTION_CLOCK_SKEW >= exp;
    if too_early || too_late {
        return Err(AadError::assertion_time_range(now, nbf.unwrap_or(now), exp));
    }

    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(AadError::assertion_missing_jti)?;
    if !jti_cache.insert_if_new(&app.client_id, &jti, exp + ASSERTION_CLOCK_SKEW, now) {
        return Err(AadError::replayed_assertion(&jti));
    }
    Ok(())
}
