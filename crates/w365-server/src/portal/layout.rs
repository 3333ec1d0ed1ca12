//! The frame of every page: the templates (embedded), the header (current tenant and picker,
//! operator and role, sign out), the navigation, the footer with the request id, and the error
//! page.
//!
//! A page handler builds its context and calls [`Page::render`]:
//! ```ignore
//! Page::new(&session, "Users").render("users.html", context! { users => found })
//! ```
//! Templates extend `layout.html` and fill `{% block main %}`; values are HTML-escaped.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::assets;
use super::forms::Posted;
use super::session::PortalSession;
use crate::auth::Role;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// One entry of the navigation: `(path, label, least role)`. Append new areas here.
pub const NAV: &[(&str, &str, Role)] = &[
    ("/users", "Users", Role::Reader),
    ("/jobs", "Jobs", Role::Reader),
    ("/capacity", "Capacity", Role::Reader),
    ("/audit", "Audit log", Role::Reader),
    ("/schedules", "Schedules", Role::Admin),
];

/// The templates, embedded in the binary. Append new templates here.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
    ("signed_out.html", include_str!("templates/signed_out.html")),
    ("users.html", include_str!("templates/users.html")),
    ("user.html", include_str!("templates/user.html")),
    ("action.html", include_str!("templates/action.html")),
    ("job.html", include_str!("templates/job.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("capacity.html", include_str!("templates/capacity.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    (
        "schedule_delete.html",
        include_str!("templates/schedule_delete.html"),
    ),
];

static TEMPLATE_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // A broken template is a build defect; the page using it reports it when rendered.
            tracing::error!(template = name, error = %e, "portal template does not parse");
        }
    }
    // Asset URLs are made here from fixed names and hex digests: nothing to escape.
    env.add_function("asset", |name: &str| {
        Value::from_safe_string(assets::url(name))
    });
    env.add_filter("urlencode", |text: &str| -> String {
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
    });
    env
});

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Layer of the portal's routes: makes the request id known to every page rendered for it
/// (error pages included), and keeps pages out of caches (they carry the CSRF token).
pub async fn page_scope(request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut response = REQUEST_ID.scope(id, next.run(request)).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A navigation entry as templates see it.
#[derive(Debug, Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

/// The header and footer of a page.
#[derive(Debug, Serialize)]
struct Chrome {
    title: String,
    signed_in: bool,
    operator: Option<String>,
    upn: Option<String>,
    role: Option<&'static str>,
    tenant: Option<String>,
    tenants: Vec<String>,
    csrf: Option<String>,
    nav: Vec<NavItem>,
    request_id: String,
    path: String,
}

/// Who sees what a role is, in words.
pub fn role_label(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Admin) => "Admin",
        Some(Role::Helpdesk) => "Helpdesk",
        Some(Role::Reader) => "Reader",
        None => "no w365 role",
    }
}

/// A page being rendered for a signed-in operator.
pub struct Page {
    chrome: Chrome,
    status: StatusCode,
}

impl Page {
    pub fn new(session: &PortalSession, title: impl Into<String>) -> Self {
        let path = session.path.split('?').next().unwrap_or("/").to_owned();
        let nav = NAV
            .iter()
            .filter(|(_, _, role)| session.has(*role))
            .map(|(href, label, _)| NavItem {
                href,
                label,
                current: path == *href || path.starts_with(&format!("{href}/")),
            })
            .collect();
        Self {
            chrome: Chrome {
                title: title.into(),
                signed_in: true,
                operator: Some(session.principal.display_name.clone()),
                upn: Some(session.principal.upn.clone()),
                role: Some(role_label(session.principal.role)),
                tenant: session.tenant.as_ref().map(|t| t.name.clone()),
                tenants: session.tenants.clone(),
                csrf: Some(session.csrf.clone()),
                nav,
                request_id: session.request_id.clone(),
                path: session.path.clone(),
            },
            status: StatusCode::OK,
        }
    }

    /// A page for someone not signed in (sign-in errors, signed out).
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            chrome: Chrome {
                title: title.into(),
                signed_in: false,
                operator: None,
                upn: None,
                role: None,
                tenant: None,
                tenants: Vec::new(),
                csrf: None,
                nav: Vec::new(),
                request_id: request_id(),
                path: String::new(),
            },
            status: StatusCode::OK,
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Renders `template` with `ctx` (a minijinja `context!`) and the frame.
    pub fn render(self, template: &str, ctx: Value) -> Response {
        let full = context! { chrome => Value::from_serialize(&self.chrome), ..ctx };
        let html = TEMPLATE_ENV
            .get_template(template)
            .and_then(|t| t.render(full));
        match html {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "could not render a portal page");
                let message = "This page could not be shown (a template failed). The server log has the details under this request id.";
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html(format!(
                        "<!doctype html><html lang=\"en\"><head><title>w365: error</title></head><body><main><h1>Error</h1><p>{message}</p></main><footer>Request id: {}</footer></body></html>",
                        minijinja::HtmlEscape(&self.chrome.request_id)
                    )),
                )
                    .into_response()
            }
        }
    }
}

/// The error page: what went wrong, what to do, the request id. Every portal handler returns it.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    pub fix: Option<String>,
    pub problems: Vec<crate::error::Problem>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            fix: Some(fix.into()),
            problems: Vec::new(),
        }
    }

    pub fn forbidden(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, fix)
    }

    pub fn bad_request(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, fix)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status,
            message: e.message,
            fix: e.fix,
            problems: e.problems,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let problems: Vec<_> = self
            .problems
            .iter()
            .map(|p| context! { param => p.param, message => p.message, fix => p.fix })
            .collect();
        Page::anonymous(title).status(self.status).render(
            "error.html",
            context! {
                status => self.status.as_u16(),
                message => self.message,
                fix => self.fix,
                problems => problems,
            },
        )
    }
}

/// `POST /tenant`: the tenant picker (the tenant must be in the operator's scope).
pub async fn choose_tenant(
    axum::extract::State(app): axum::extract::State<AppState>,
    posted: Posted,
) -> Result<Response, PageError> {
    let session = &posted.session;
    let wanted = posted.required("tenant")?;
    let tenant = app.tenant_for(&session.principal, wanted)?;
    let updated = app
        .store()
        .portal_session_set_tenant(&session.id_hash, &tenant.name)
        .await
        .map_err(|e| ApiError::internal("Could not save the tenant choice", &e))?;
    if !updated {
        return Ok(Redirect::to("/signin").into_response());
    }
    // Pages of the previous tenant (a user, a job) mean nothing in the new one: start over.
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            TEMPLATE_ENV
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn the_error_page_escapes_and_shows_the_fix() {
        let page = PageError::bad_request("<b>bad</b> input", "Do this instead.").into_response();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        let html = futures::executor::block_on(axum::body::to_bytes(page.into_body(), 1 << 20))
            .expect("body");
        let html = String::from_utf8_lossy(&html);
        assert!(html.contains("&lt;b&gt;bad&lt;&#x2f;b&gt; input"), "{html}");
        assert!(html.contains("Do this instead."));
        assert!(html.contains("Request id:"));
    }
}
