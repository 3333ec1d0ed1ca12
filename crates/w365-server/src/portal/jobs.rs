//! Jobs: the list with search and filters (state, operation, user, operator, tenant, time range),
//! sortable columns and pages. The query goes through the REST list's scope checks
//! (`GET /api/v1/jobs`) to the store, which searches, sorts and pages over every match.

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use w365_jobs::{JobSort, JobState};
use w365_ops::spec;

use super::filters::{day_bound, page_number, query, when};
use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::api::jobs::{self as api, JobQuery};
use crate::state::AppState;

/// Jobs per page.
pub const PAGE_SIZE: u32 = 25;

/// `GET /jobs` query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JobsQuery {
    q: String,
    state: String,
    operation: String,
    user: String,
    operator: String,
    tenant: String,
    from: String,
    to: String,
    sort: String,
    dir: String,
    page: Option<String>,
}

/// The sortable columns: `(key, label, store column)`.
const COLUMNS: &[(&str, &str, JobSort)] = &[
    ("created", "Created", JobSort::Created),
    ("operation", "Operation", JobSort::Operation),
    ("user", "User or Cloud PC", JobSort::Target),
    ("state", "State", JobSort::State),
    ("operator", "Requested by", JobSort::Requester),
];

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    short_id: String,
    operation: String,
    user: String,
    state: String,
    state_kind: &'static str,
    operator: String,
    tenant: String,
    created: String,
    finished: String,
}

#[derive(Debug, Serialize)]
struct Column {
    label: &'static str,
    href: String,
    /// `ascending` / `descending` on the sorted column (aria-sort), else `none`.
    sorted: &'static str,
}

/// How a state is shown: its words and a kind (the colour only repeats the words).
pub fn state_kind(state: JobState) -> &'static str {
    match state {
        JobState::Succeeded => "ok",
        JobState::Failed => "bad",
        JobState::Cancelled => "muted",
        JobState::Parked | JobState::Retryable => "warn",
        JobState::Scheduled | JobState::Available | JobState::Running => "info",
    }
}

/// `GET /jobs`: the jobs of a tenant in the operator's scope (the current one unless picked).
pub async fn list(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<JobsQuery>,
) -> Result<Response, PageError> {
    let current = session.current_tenant()?.name.clone();
    let tenant = Some(q.tenant.trim())
        .filter(|t| !t.is_empty())
        .unwrap_or(&current)
        .to_owned();
    let page = page_number(q.page.as_deref())?;
    let state = q.state.trim();
    if !state.is_empty() && state.parse::<JobState>().is_err() {
        return Err(PageError::bad_request(
            format!("'{state}' is not a job state."),
            "Pick a state in the list, or 'Any state'.",
        ));
    }
    let (sort, _, by) = COLUMNS
        .iter()
        .find(|(k, _, _)| *k == q.sort)
        .copied()
        .unwrap_or(COLUMNS[0]);
    let descending = match q.dir.as_str() {
        "asc" => false,
        "desc" => true,
        _ => by.descending_by_default(),
    };
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut filter = api::scoped_filter(
        &app,
        &session.principal,
        JobQuery {
            state: some(state),
            operation: some(&q.operation),
            tenant: Some(tenant.clone()),
            user: some(&q.user),
            requester: some(&q.operator),
            created_after: day_bound("From", Some(&q.from), false)?,
            created_before: day_bound("To", Some(&q.to), true)?,
            search: some(&q.q),
            limit: Some(PAGE_SIZE),
            ..JobQuery::default()
        },
    )?;
    filter.sort = by;
    filter.descending = Some(descending);
    filter.offset = Some((page - 1).saturating_mul(PAGE_SIZE));
    let store = app.store();
    let total = store.count(&filter).await.map_err(api::list_error)?;
    let found = store.list(&filter).await.map_err(api::list_error)?;
    let rows: Vec<Row> = found
        .items
        .iter()
        .map(|j| Row {
            id: j.id.to_string(),
            short_id: j.id.to_string().chars().take(8).collect(),
            operation: j.operation.clone(),
            user: j.target.clone().unwrap_or_default(),
            state: j.state.as_str().to_owned(),
            state_kind: state_kind(j.state),
            operator: j.requested_by.upn.clone(),
            tenant: j.tenant.clone(),
            created: when(j.created_at),
            finished: j.finished_at.map(when).unwrap_or_default(),
        })
        .collect();
    let filters = [
        ("q", q.q.as_str()),
        ("state", state),
        ("operation", q.operation.as_str()),
        ("user", q.user.as_str()),
        ("operator", q.operator.as_str()),
        ("tenant", q.tenant.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
    ];
    let link = |sort: &str, dir: &str, page: u32| {
        let page = page.to_string();
        let mut pairs = filters.to_vec();
        pairs.extend([("sort", sort), ("dir", dir), ("page", page.as_str())]);
        format!("/jobs{}", query(&pairs))
    };
    let dir = if descending { "desc" } else { "asc" };
    let columns: Vec<Column> = COLUMNS
        .iter()
        .map(|(key, label, _)| {
            let on = *key == sort;
            // A click on the sorted column flips it; another column starts in its natural order.
            let next_dir = match (on, descending, *key) {
                (true, true, _) => "asc",
                (true, false, _) => "desc",
                (false, _, "created") => "desc",
                _ => "asc",
            };
            Column {
                label,
                href: link(key, next_dir, 1),
                sorted: match (on, descending) {
                    (false, _) => "none",
                    (true, true) => "descending",
                    (true, false) => "ascending",
                },
            }
        })
        .collect();
    let next = (u64::from(page) * u64::from(PAGE_SIZE) < total).then(|| link(sort, dir, page + 1));
    let prev = (page > 1).then(|| link(sort, dir, page - 1));
    let operations: Vec<&str> = spec::operations().iter().map(|s| s.name.as_str()).collect();
    let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    Ok(Page::new(&session, "Jobs").render(
        "jobs.html",
        context! {
            f => context! {
                q => q.q, state => state, operation => q.operation, user => q.user,
                operator => q.operator, tenant => tenant, from => q.from, to => q.to,
            },
            sort => sort, dir => dir, columns => columns, jobs => rows, total => total,
            page => page, pages => pages, next => next, prev => prev,
            operations => operations, states => states,
        },
    ))
}
