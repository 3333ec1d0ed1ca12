//! Portal sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure unless the server is
//! only reachable on loopback), the id's SHA-256 in the job store (shared by every replica), and
//! [`PortalSession`], the extractor every page handler takes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::layout::PageError;
use crate::auth::{Principal, Role};
use crate::middleware::RequestId;
use crate::state::{AppState, Tenant};

/// How long a portal session lasts after sign-in (a working day); then the operator signs in
/// again, which also picks up changed app roles.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A random URL-safe value of 32 random bytes (256 bits).
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// SHA-256 of `value`, hex: what the store keeps of a browser-held secret.
pub fn digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The cookie names: `__Host-` names (Secure, Path=/, no Domain) when cookies are Secure.
pub(crate) fn cookie_name(app: &AppState, base: &str) -> String {
    if secure_cookies(app) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// Cookies are Secure unless the server listens on loopback only (plain http://127.0.0.1).
pub(crate) fn secure_cookies(app: &AppState) -> bool {
    app.hsts()
}

pub(crate) const SESSION: &str = "w365_session";

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(app: &AppState, base: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if secure_cookies(app) { "; Secure" } else { "" };
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(app, base)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The value of the cookie `name` in the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in operator of a portal request, with the tenant they work on and the CSRF token of
/// their forms. Anonymous (or expired) requests are redirected to sign-in.
#[derive(Clone)]
pub struct PortalSession {
    pub principal: Principal,
    /// The current tenant; `None` when the operator has no tenant in scope.
    pub tenant: Option<Arc<Tenant>>,
    /// The tenants in the operator's scope (for the picker).
    pub tenants: Vec<String>,
    /// The synchronizer token every form of this session carries.
    pub csrf: String,
    /// The request's id (for the footer).
    pub request_id: String,
    /// The path (and query) of the request.
    pub path: String,
    pub(crate) id_hash: String,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("operator", &self.principal.upn)
            .field("tenant", &self.tenant.as_ref().map(|t| t.name.clone()))
            .finish_non_exhaustive()
    }
}

impl PortalSession {
    /// The current tenant, or a page saying that there is none to work on.
    pub fn current_tenant(&self) -> Result<&Arc<Tenant>, PageError> {
        self.tenant.as_ref().ok_or_else(|| {
            PageError::forbidden(
                "You have no tenant to work on.",
                "Ask an administrator to add a tenant to your tenant scope in the server's config.",
            )
        })
    }

    /// Whether the operator holds `role` (or higher).
    pub fn has(&self, role: Role) -> bool {
        self.principal.has(role)
    }
}

/// Why a request has no session: redirected to sign-in (and back here afterwards).
pub struct SignInRequired {
    next: String,
}

impl IntoResponse for SignInRequired {
    fn into_response(self) -> Response {
        let next: String = url::form_urlencoded::byte_serialize(self.next.as_bytes()).collect();
        Redirect::to(&format!("/signin?next={next}")).into_response()
    }
}

/// Rejection of [`PortalSession`].
pub enum NoSession {
    SignIn(SignInRequired),
    Failed(PageError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::SignIn(r) => r.into_response(),
            NoSession::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for PortalSession {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<PortalSession>() {
            return Ok(session.clone());
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let next = if parts.method == http::Method::GET {
            path.clone()
        } else {
            // After signing in again, a form post cannot be replayed: back to the home page.
            "/".to_owned()
        };
        let Some(id) = cookie(&parts.headers, &cookie_name(app, SESSION)) else {
            return Err(NoSession::SignIn(SignInRequired { next }));
        };
        let id_hash = digest(&id);
        let stored = app
            .store()
            .portal_session_get(&id_hash)
            .await
            .map_err(|e| {
                NoSession::Failed(PageError::from(crate::error::ApiError::internal(
                    "Could not read the session",
                    &e,
                )))
            })?;
        let Some(stored) = stored else {
            return Err(NoSession::SignIn(SignInRequired { next }));
        };
        let principal = Principal {
            object_id: stored.operator.object_id,
            tenant_id: stored.sign_in_tenant,
            upn: stored.operator.upn,
            display_name: stored.operator.display_name,
            role: stored.role.as_deref().and_then(Role::from_claim),
        };
        let tenants: Vec<String> = app
            .tenants()
            .filter(|t| app.in_scope(&principal, &t.name))
            .map(|t| t.name.clone())
            .collect();
        let tenant = stored
            .tenant
            .filter(|t| tenants.contains(t))
            .or_else(|| tenants.first().cloned())
            .and_then(|t| app.tenant(&t).cloned());
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let session = PortalSession {
            principal,
            tenant,
            tenants,
            csrf: stored.csrf_token,
            request_id,
            path,
            id_hash,
        };
        parts.extensions.insert(session.clone());
        Ok(session)
    }
}
