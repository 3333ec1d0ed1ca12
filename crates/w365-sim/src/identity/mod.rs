//! Identity: the Entra ID token endpoint (client-credentials grant with a client secret or a
//! certificate assertion), the Graph access tokens it issues, and the bearer/role checks every
//! Graph route makes. Framework-free: sim-core's axum handlers call these functions.
//!
//! Wiring (sim-core):
//! ```text
//! POST /{tenant}/oauth2/v2.0/token
//!   let form = TokenForm::parse(content_type, &body, authorization_header);
//!   match issue_token(resolved_tenant_id /* Option */, tenant_segment, &apps, &form, &key, now,
//!                     lifetime, &request_url, &mut jti_cache) {
//!       Ok(tokens) => 200 + JSON(tokens),
//!       Err(e) => e.status() + JSON(e.body(now)),
//!   }
//! Graph routes: authenticate(auth_header, &key, now)? then caller.require_any(&["User.Read.All", ...])?
//!   AuthFailure -> status()/code()/message() in a Graph error body.
//! ```
//!
//! Deviations from contract §4:
//! - `issue_token` takes `tenant_id: Option<&str>`: the id of the tenant the `{tenant}` URL
//!   segment resolved to (by GUID or domain), `None` when no such tenant exists (AADSTS90002).
//! - `lifetime` is a `std::time::Duration`.
//! - `TokenForm` fields are `Option<String>` (a missing field is an AADSTS900144 answer, not a
//!   parse failure); HTTP Basic credentials are captured by [`TokenForm::parse`].

mod assertion;
mod error;
mod token;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use assertion::{ASSERTION_CLOCK_SKEW, JtiCache, MemoryJtiCache};
pub use error::{AadError, AuthFailure};
pub use token::{
    Caller, GRAPH_APP_ID, GRAPH_AUDIENCE, SigningKey, authenticate, unverified_tenant,
};

use crate::state::apps::{AppRegistrations, SecretCheck};
use token::ClientAuthMethod;

/// The only grant the simulator implements.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The fixed `client_assertion_type` of private_key_jwt.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Default token lifetime (real tokens live 60–90 minutes; `expires_in` 3599 is typical).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// The token request: the form fields of `POST /{tenant}/oauth2/v2.0/token`, plus HTTP Basic
/// credentials if the client sent them. Build it with [`TokenForm::parse`] (which treats empty
/// fields as missing and reads the Basic header); `Deserialize` exists for tests and tools.
#[derive(Clone, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    #[serde(skip)]
    pub basic: Option<BasicCredentials>,
}

impl fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_assertion_type", &self.client_assertion_type)
            .field("client_assertion", &redacted(&self.client_assertion))
            .field("basic", &self.basic)
            .finish()
    }
}

impl TokenForm {
    /// Reads the request: the body is parsed only when `content_type` is
    /// `application/x-www-form-urlencoded` (like Entra ID, a JSON body therefore lacks every
    /// field); the first occurrence of a field wins. `authorization` is the raw
    /// `Authorization` header; a well-formed `Basic` value fills [`TokenForm::basic`].
    pub fn parse(
        content_type: Option<&str>,
        body: &[u8],
        authorization: Option<&str>,
    ) -> TokenForm {
        let mut form = TokenForm::default();
        let is_form = content_type.is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if is_form {
            for (name, value) in url::form_urlencoded::parse(body) {
                if value.is_empty() {
                    continue;
                }
                let slot = match name.as_ref() {
                    "grant_type" => &mut form.grant_type,
                    "client_id" => &mut form.client_id,
                    "scope" => &mut form.scope,
                    "client_secret" => &mut form.client_secret,
                    "client_assertion_type" => &mut form.client_assertion_type,
                    "client_assertion" => &mut form.client_assertion,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(value.into_owned());
                }
            }
        }
        form.basic = authorization.and_then(parse_basic);
        form
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Option<BasicCredentials> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let credentials = BasicCredentials {
        client_id: unescape(id),
        client_secret: unescape(secret),
    };
    (!credentials.client_id.is_empty()).then_some(credentials)
}

/// The 200 answer of the token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: u64,
    pub ext_expires_in: u64,
    pub access_token: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ext_expires_in", &self.ext_expires_in)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// Whether `scope` asks for Graph's `.default` scope (by URL or by Graph's app id).
fn is_graph_default_scope(scope: &str) -> bool {
    let scope = scope.trim();
    scope.eq_ignore_ascii_case("https://graph.microsoft.com/.default")
        || scope.eq_ignore_ascii_case(&format!("{GRAPH_APP_ID}/.default"))
}

/// The client-credentials grant (reference §1): validates the request and the client's
/// credential and issues a Graph access token signed by `key`, valid for `lifetime` from `now`.
///
/// - `tenant_id`: the tenant the URL's `{tenant}` segment resolved to, `None` if none did;
/// - `requested_tenant`: that segment as sent (GUID or domain), used in messages and `aud`;
/// - `apps`: the tenant's app registrations;
/// - `token_endpoint_url`: the URL the request was made to (a client assertion's `aud`);
/// - `replayed_jti`: the cache of assertion ids already used.
#[allow(clippy::too_many_arguments)]
pub fn issue_token(
    tenant_id: Option<&str>,
    requested_tenant: &str,
    apps: &AppRegistrations,
    form: &TokenForm,
    key: &SigningKey,
    now: OffsetDateTime,
    lifetime: Duration,
    token_endpoint_url: &str,
    replayed_jti: &mut impl JtiCache,
) -> Result<TokenResponse, AadError> {
    let tenant_id = tenant_id.ok_or_else(|| AadError::tenant_not_found(requested_tenant))?;

    let grant_type = form
        .grant_type
        .as_deref()
        .ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    if grant_type != GRANT_CLIENT_CREDENTIALS {
        return Err(AadError::unsupported_grant_type(grant_type));
    }

    // Client authentication: form fields or HTTP Basic, never both for the secret.
    let (client_id, secret) = match &form.basic {
        Some(basic) => {
            if form.client_secret.is_some() {
                return Err(AadError::malformed_request(
                    "The client secret was sent both in the Authorization header and in the request body.",
                ));
            }
            if form
                .client_id
                .as_deref()
                .is_some_and(|id| !id.eq_ignore_ascii_case(&basic.client_id))
            {
                return Err(AadError::malformed_request(
                    "The client_id in the request body differs from the one in the Authorization header.",
                ));
            }
            (basic.client_id.as_str(), Some(basic.client_secret.as_str()))
        }
        None => (
            form.client_id
                .as_deref()
                .ok_or_else(|| AadError::missing_parameter("client_id"))?,
            form.client_secret.as_deref(),
        ),
    };

    match form.scope.as_deref() {
        None => return Err(AadError::invalid_scope(None)),
        Some(scope) if !is_graph_default_scope(scope) => {
            return Err(AadError::invalid_scope(Some(scope)));
        }
        Some(_) => {}
    }

    let app = apps
        .get(client_id)
        .ok_or_else(|| AadError::unknown_client(client_id, requested_tenant))?;

    let method = match (secret, form.client_assertion.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(AadError::malformed_request(
                "Only one client credential may be presented: client_secret or client_assertion.",
            ));
        }
        (Some(secret), None) => match app.check_secret(secret, now) {
            SecretCheck::Valid => ClientAuthMethod::Secret,
            SecretCheck::Expired => return Err(AadError::expired_secret(&app.client_id)),
            SecretCheck::Invalid => return Err(AadError::invalid_secret(&app.client_id)),
        },
        (None, Some(assertion)) => {
            if form.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION_TYPE) {
                return Err(AadError::invalid_assertion_type());
            }
            let endpoint = assertion::Endpoint {
                url: token_endpoint_url,
                requested_tenant,
                tenant_id,
            };
            assertion::verify(app, assertion, &endpoint, now, replayed_jti)?;
            ClientAuthMethod::Certificate
        }
        (None, None) => return Err(AadError::missing_credential()),
    };

    let lifetime_secs = i64::try_from(lifetime.as_secs())
        .unwrap_or(i64::MAX / 4)
        .max(1);
    let access_token = token::issue_access_token(key, tenant_id, app, method, now, lifetime_secs)
        // HS256 signing of plain claims does not fail; answer like an STS outage if it ever does.
        .map_err(|_| AadError::service_error())?;
    let expires_in = lifetime_secs.unsigned_abs();
    Ok(TokenResponse {
        token_type: "Bearer".to_owned(),
        expires_in,
        ext_expires_in: expires_in,
        access_token,
    })
}

#[cfg(test)]
mod tests;
