//! Sign-in for the API: Microsoft Entra ID access tokens issued for w365's own app registration.
//!
//! - [`validator::TokenValidator`] checks a bearer token: algorithm pinned to RS256 (anything
//!   else, `none` included, is refused before any key is looked at), signature against the
//!   tenant's JWKS (found through OIDC discovery, cached, refetched when a token names an unknown
//!   key id), issuer (exactly the discovery document's), audience (the API's app id or its
//!   `api://` URI), expiry and not-before.
//! - [`Principal`] is the extractor handlers take: it rejects with 401 before the handler runs.
//!   Roles come from the token's `roles` claim (app roles `W365.Reader`, `W365.Helpdesk`,
//!   `W365.Admin`); what they allow is decided in [`crate::access`].
//!
//! Claims: <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>;
//! validation rules: <https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-tokens>.

pub mod validator;

use axum::extract::FromRequestParts;
use axum::http::header;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use validator::{AuthConfig, TokenValidator};

use crate::error::ApiError;
use crate::state::AppState;

/// w365's app roles, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Role {
    /// `W365.Reader`: sees users, Cloud PCs, jobs and the audit log.
    #[serde(rename = "W365.Reader")]
    Reader,
    /// `W365.Helpdesk`: runs user operations (not on protected users).
    #[serde(rename = "W365.Helpdesk")]
    Helpdesk,
    /// `W365.Admin`: everything.
    #[serde(rename = "W365.Admin")]
    Admin,
}

impl Role {
    /// The app role value in tokens.
    pub fn claim(self) -> &'static str {
        match self {
            Role::Reader => "W365.Reader",
            Role::Helpdesk => "W365.Helpdesk",
            Role::Admin => "W365.Admin",
        }
    }

    pub fn from_claim(value: &str) -> Option<Self> {
        match value {
            "W365.Reader" => Some(Role::Reader),
            "W365.Helpdesk" => Some(Role::Helpdesk),
            "W365.Admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The signed-in operator of a request (from a validated access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// `oid`: the user's object id in the sign-in tenant.
    pub object_id: String,
    /// `tid`: the sign-in tenant.
    pub tenant_id: String,
    /// `preferred_username` (the UPN).
    pub upn: String,
    /// `name`.
    pub display_name: String,
    /// The highest w365 app role the token carries; `None` with no w365 role.
    pub role: Option<Role>,
}

impl Principal {
    /// Whether the operator holds `role` or a higher one.
    pub fn has(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }

    /// 403 unless the operator holds `role` (or higher).
    pub fn require(&self, role: Role, to: &str) -> Result<(), ApiError> {
        if self.has(role) {
            return Ok(());
        }
        let held = self.role.map_or("no w365 app role", Role::claim);
        Err(ApiError::forbidden(
            format!("{to} needs the app role {}; you have {held}.", role.claim()),
            format!(
                "Ask an administrator to assign you the {} app role of w365's enterprise application.",
                role.claim()
            ),
        ))
    }
}

fn bearer(parts: &http::request::Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("No access token was sent."))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("The Authorization header is not text."))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::unauthenticated("The Authorization header is not `Bearer <token>`.")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            "The Authorization header is not `Bearer <token>`.",
        ));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let token = bearer(parts)?;
        let principal = state.validator().validate(token).await.map_err(|e| {
            tracing::info!(reason = %e, "access token refused");
            ApiError::unauthenticated(e.to_string())
        })?;
        tracing::info!(operator = %principal.upn, role = ?principal.role, "signed in");
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}
