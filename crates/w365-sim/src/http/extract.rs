//! Extractors shared by every Graph route: the authenticated caller ([`Auth`]), the parsed OData
//! query ([`GraphQuery`]) and a JSON body whose rejection is a Graph 400 ([`GraphJson`]).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use super::context::RequestContext;
use super::error::ApiError;
use crate::identity::{AuthFailure, Caller};
use crate::odata::QueryOptions;

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        let status = StatusCode::from_u16(failure.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        ApiError::new(status, failure.code(), failure.message())
    }
}

/// The calling app, authenticated from its bearer token (401 `InvalidAuthenticationToken` when
/// the token is missing, malformed, badly signed or expired).
#[derive(Debug, Clone)]
pub struct Auth {
    caller: Caller,
}

impl Auth {
    /// 403 `Authorization_RequestDenied` unless the token carries at least one of `roles`
    /// (application permissions, e.g. `["User.Read.All", "Directory.Read.All"]`).
    pub fn require_any(&self, roles: &[&str]) -> Result<(), ApiError> {
        self.caller.require_any(roles).map_err(ApiError::from)
    }

    /// Whether the token carries at least one of `roles`.
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.caller.require_any(roles).is_ok()
    }

    /// The caller's tenant (the token's `tid`).
    pub fn tenant_id(&self) -> &str {
        &self.caller.tenant_id
    }

    /// The caller's application (client) id.
    pub fn app_id(&self) -> &str {
        &self.caller.app_id
    }

    /// The identity module's view of the caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        app: &AppState,
    ) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let key = app.signing_key();
        // Token lifetimes are on the virtual clock, like everything else in the simulator.
        let caller = crate::identity::authenticate(header, &key, app.now())?;
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            context.set_tenant(&caller.tenant_id);
        }
        Ok(Self { caller })
    }
}

/// The request's OData system query options (`$filter`, `$select`, `$top`, ...), parsed; a
/// malformed query is a Graph 400.
#[derive(Debug)]
pub struct GraphQuery {
    pub options: QueryOptions,
}

impl<S: Send + Sync> FromRequestParts<S> for GraphQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            options: QueryOptions::parse(parts.uri.query())?,
        })
    }
}

/// A JSON request body; an unreadable or mistyped body is Graph's 400 `BadRequest`.
#[derive(Debug, Clone)]
pub struct GraphJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for GraphJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(ApiError::invalid_body)?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "BadRequest",
                "Empty Payload. JSON content expected.",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(GraphJson)
            .map_err(ApiError::invalid_body)
    }
}
