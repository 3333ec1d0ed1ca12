//! Users: the home page (search) and the search results with each user's Windows 365 state at a
//! glance.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::api::reads::{self, UserQuery};
use crate::state::AppState;

/// Users per page of search results.
pub const PAGE_SIZE: u32 = 25;

/// `GET /`: the home page is the user search (a helpdesk ticket starts with a user).
pub async fn home(_session: PortalSession) -> Response {
    Redirect::to("/users").into_response()
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

/// A status shown with words and a kind (the colour only repeats it).
#[derive(Debug, Serialize)]
pub struct Badge {
    pub text: String,
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    upn: String,
    w365: Vec<Badge>,
}

/// `GET /users?q=&page=`: search by the start of the name or UPN, paged.
pub async fn search(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let tenant = session.current_tenant()?.clone();
    let page: u32 = match q.page.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            PageError::bad_request(
                format!("'{p}' is not a page number."),
                "Use the Previous and Next links, or page=1.",
            )
        })?,
    };
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let found = reads::users(
        State(app.clone()),
        session.principal.clone(),
        Path(tenant.name.clone()),
        Ok(Query(UserQuery {
            search: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
            limit: Some(PAGE_SIZE),
            cursor: (offset > 0).then(|| offset.to_string()),
        })),
    )
    .await?
    .0;
    let items = found["items"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Row> = items
        .iter()
        .map(|u| Row {
            name: text(&u["displayName"]),
            upn: text(&u["userPrincipalName"]),
            w365: Vec::new(),
        })
        .collect();
    let next = found["nextCursor"].is_string().then_some(page + 1);
    let prev = (page > 1).then(|| page - 1);
    Ok(Page::new(&session, "Users").render(
        "users.html",
        context! { q => q.q, users => rows, page => page, next => next, prev => prev },
    ))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}
