//! w365-server: `w365 serve`'s HTTP side (axum).
//!
//! - [`router`] builds the whole application in one place: the API routes, then the layers
//!   (outermost first) request id + error bodies, security headers.
//! - [`auth`]: Entra ID access tokens → [`auth::Principal`] (an extractor; 401 before any
//!   handler code runs).
//! - [`access`]: roles, tenant scopes, protected users — checked in every handler.
//! - [`api`]: REST under `/api/v1`, its OpenAPI 3.1 document, health and metrics.
//! - [`portal`]: the helpdesk web portal at `/` (server-rendered HTML, OIDC sign-in, sessions).
//!
//! Changes to a tenant only ever happen through jobs (the workers run them); the server reads
//! through w365-graph and w365-ops.

pub mod access;
pub mod api;
pub mod auth;
pub mod error;
pub mod middleware;
pub mod portal;
pub mod state;

use axum::Router;

pub use auth::{AuthConfig, Principal, Role};
pub use error::ApiError;
pub use portal::PortalConfig;
pub use state::{AppState, ServerConfig, Tenant, TenantScopes};

/// The application.
pub fn router(state: AppState) -> Router {
    let security = middleware::SecurityHeaders { hsts: state.hsts() };
    Router::new()
        .merge(api::routes())
        .merge(portal::routes())
        // Layers run outermost-last: security headers wrap every answer (errors included),
        // the request id wraps everything (so error bodies carry it).
        .layer(axum::middleware::from_fn_with_state(
            security,
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}
