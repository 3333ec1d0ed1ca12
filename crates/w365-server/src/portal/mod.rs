//! The helpdesk web portal at `/`: server-rendered HTML (minijinja templates embedded in the
//! binary), one CSS and one small JavaScript file served from the binary, no front-end build.
//! Every page and form works without JavaScript; the script only enhances (live job log).
//!
//! Building blocks shared by every page (reuse them in new pages):
//! - [`session`]: [`session::PortalSession`], the extractor of a page handler: the signed-in
//!   operator ([`crate::Principal`]), the current tenant, the CSRF token. Anonymous requests are
//!   redirected to sign-in before the handler runs.
//! - [`forms`]: [`forms::Posted`], the extractor of a form post: the session plus the form's
//!   fields, refused (403) unless the form carries the session's CSRF token; field helpers.
//! - [`layout`]: [`layout::Page`] renders a template inside the layout (header with the tenant
//!   picker and the operator, navigation, footer with the request id); [`layout::PageError`] is
//!   the error page every handler returns.
//! - [`signin`]: OIDC authorization code + PKCE against the configured authority, sign out.
//! - [`assets`]: `/assets/...` with cache headers.
//!
//! Authorization is the API's ([`crate::access`]): every page, post and event stream checks the
//! operator's role, tenant scope and protected users on the server.

pub mod actions;
pub mod assets;
pub mod audit;
pub mod capacity;
pub mod filters;
pub mod forms;
pub mod job;
pub mod jobs;
pub mod layout;
pub mod schedules;
pub mod session;
pub mod signin;
pub mod users;

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;

use crate::state::AppState;

/// How the portal signs operators in. Real tenants: the web app registration's client id, its
/// secret (from an environment variable, never logged) and its registered redirect URI.
#[derive(Clone)]
pub struct PortalConfig {
    /// The application (client) id the portal signs in with.
    pub client_id: String,
    /// The client secret of a confidential web app; `None`: a public client (PKCE only).
    pub client_secret: Option<SecretString>,
    /// `https://HOST/signin/callback` as registered on the app; `None`: derived from the request
    /// when the portal is reached on a loopback address (the sandbox), refused otherwise.
    pub redirect_uri: Option<String>,
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl PortalConfig {
    /// A public client with the given id and a loopback redirect URI (the sandbox).
    pub fn new(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: None,
            redirect_uri: None,
        }
    }
}

/// The portal's routes. Pages of a new area go in their own module and are appended here.
pub fn routes() -> Router<AppState> {
    Router::new()
        // sign-in and the frame of every page
        .route("/signin", get(signin::start))
        .route("/signin/callback", get(signin::callback))
        .route("/signout", post(signin::signout))
        .route("/signed-out", get(signin::signed_out))
        .route("/tenant", post(layout::choose_tenant))
        .route("/assets/{name}", get(assets::serve))
        // users
        .route("/", get(users::home))
        .route("/users", get(users::search))
        .route("/users/{user}", get(users::user_page))
        .route(
            "/users/{user}/actions/{op}",
            get(actions::show_form).post(actions::check),
        )
        .route("/users/{user}/actions/{op}/run", post(actions::run))
        // one job (the jobs list is another area)
        .route("/jobs/{id}", get(job::job_page))
        .route("/jobs/{id}/events", get(job::events))
        .route("/jobs/{id}/cancel", post(job::cancel))
        // jobs, capacity, audit log, schedules
        .route("/jobs", get(jobs::list))
        .route("/capacity", get(capacity::show))
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route("/schedules", get(schedules::list).post(schedules::create))
        .route(
            "/schedules/{name}/delete",
            get(schedules::confirm_delete).post(schedules::delete),
        )
        .layer(axum::middleware::from_fn(layout::page_scope))
}
