//! The audit log (Reader and up): filters (time range, operator, operation, tenant, result),
//! pages, and an export (CSV or JSON lines, Admin like the REST export) written by the audit
//! module's writers. Records are read through the REST list (`GET /api/v1/audit`: its role and
//! tenant-scope checks); the result filter is applied to the pages it returns.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use w365_jobs::AuditRecord;

use super::filters::{day_bound, query, when};
use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::api::audit::{self as api, AuditQuery};
use crate::auth::Role;
use crate::state::AppState;

/// Records read per store page (and, roughly, shown per page).
pub const PAGE_SIZE: u32 = 50;
/// Store pages read for one page of a result-filtered view before showing what was found.
const MAX_READS: usize = 20;

/// `GET /audit` and `GET /audit/export` query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditPageQuery {
    from: String,
    to: String,
    operator: String,
    operation: String,
    tenant: String,
    result: String,
    cursor: String,
    format: String,
}

#[derive(Debug, Serialize)]
struct Row {
    seq: i64,
    at: String,
    operator: String,
    tenant: String,
    operation: String,
    target: String,
    result: String,
    kind: &'static str,
    job: Option<String>,
    request_id: String,
}

fn outcome_kind(outcome: &str) -> &'static str {
    match outcome {
        "refused" | "failed" | "denied" => "bad",
        "cancel_requested" | "deleted" => "muted",
        _ => "ok",
    }
}

impl AuditPageQuery {
    fn api_query(&self, tenant: &str, cursor: Option<String>) -> Result<AuditQuery, PageError> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditQuery {
            since: day_bound("From", Some(&self.from), false)?,
            until: day_bound("To", Some(&self.to), true)?,
            tenant: Some(tenant.to_owned()),
            actor: some(&self.operator),
            operation: some(&self.operation),
            job_id: None,
            limit: Some(PAGE_SIZE),
            cursor,
        })
    }

    fn keeps(&self, r: &AuditRecord) -> bool {
        let want = self.result.trim();
        want.is_empty() || r.outcome.eq_ignore_ascii_case(want)
    }

    fn filters(&self, tenant: &str) -> Vec<(&'static str, String)> {
        vec![
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("operator", self.operator.clone()),
            ("operation", self.operation.clone()),
            ("tenant", tenant.to_owned()),
            ("result", self.result.clone()),
        ]
    }
}

fn tenant_of(session: &PortalSession, q: &AuditPageQuery) -> Result<String, PageError> {
    let current = session.current_tenant()?.name.clone();
    Ok(Some(q.tenant.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or(current))
}

/// One page of the log from `cursor` on: at least one store page, more while a result filter
/// leaves fewer than a page; the records and the cursor of what follows.
async fn read_page(
    app: &AppState,
    session: &PortalSession,
    q: &AuditPageQuery,
    tenant: &str,
    mut cursor: Option<String>,
) -> Result<(Vec<AuditRecord>, Option<String>), PageError> {
    let mut kept = Vec::new();
    for _ in 0..MAX_READS {
        let page = api::list(
            State(app.clone()),
            session.principal.clone(),
            Ok(Query(q.api_query(tenant, cursor.take())?)),
        )
        .await?
        .0;
        kept.extend(page.items.into_iter().filter(|r| q.keeps(r)));
        cursor = page.next_cursor;
        if cursor.is_none() || kept.len() >= PAGE_SIZE as usize {
            break;
        }
    }
    Ok((kept, cursor))
}

/// `GET /audit`: the log of a tenant, oldest first, a page at a time.
pub async fn list(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<AuditPageQuery>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&session, &q)?;
    let start = Some(q.cursor.trim().to_owned()).filter(|c| !c.is_empty());
    let first = start.is_none();
    let (records, next) = read_page(&app, &session, &q, &tenant, start).await?;
    let rows: Vec<Row> = records
        .iter()
        .map(|r| Row {
            seq: r.seq,
            at: when(r.at),
            operator: r.actor.upn.clone(),
            tenant: r.tenant.clone(),
            operation: r.operation.clone(),
            target: r.target.clone().unwrap_or_default(),
            result: r.outcome.clone(),
            kind: outcome_kind(&r.outcome),
            job: r.job_id.map(|j| j.to_string()),
            request_id: r.request_id.clone().unwrap_or_default(),
        })
        .collect();
    let filters = q.filters(&tenant);
    let pairs = |extra: &[(&'static str, String)]| {
        let mut all = filters.clone();
        all.extend_from_slice(extra);
        let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query(&borrowed)
    };
    let next = next.map(|c| format!("/audit{}", pairs(&[("cursor", c)])));
    let export = |format: &str| format!("/audit/export{}", pairs(&[("format", format.to_owned())]));
    Ok(Page::new(&session, "Audit log").render(
        "audit.html",
        context! {
            f => context! {
                from => q.from, to => q.to, operator => q.operator, operation => q.operation,
                tenant => tenant, result => q.result,
            },
            records => rows, next => next, first => first, first_href => format!("/audit{}", pairs(&[])),
            can_export => session.has(Role::Admin),
            export_csv => export("csv"), export_jsonl => export("jsonl"),
        },
    ))
}

/// `GET /audit/export?format=csv|jsonl&...`: every record the filters match, as a download
/// (Admin, as the REST export).
pub async fn export(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<AuditPageQuery>,
) -> Result<Response, PageError> {
    if !session.has(Role::Admin) {
        return Err(PageError::forbidden(
            "Exporting the audit log needs the Admin role.",
            "Read the log on this page, or ask an administrator for an export.",
        ));
    }
    let (content_type, file) = match q.format.trim() {
        "" | "csv" => ("text/csv; charset=utf-8", "w365-audit.csv"),
        "jsonl" => ("application/jsonl; charset=utf-8", "w365-audit.jsonl"),
        other => {
            return Err(PageError::bad_request(
                format!("'{other}' is not an export format."),
                "Use format=csv or format=jsonl (the links on the audit page).",
            ));
        }
    };
    let tenant = tenant_of(&session, &q)?;
    let mut out = Vec::new();
    let mut cursor = None;
    let mut first = true;
    loop {
        let (records, next) = read_page(&app, &session, &q, &tenant, cursor).await?;
        let written = if content_type.starts_with("text/csv") {
            w365_jobs::audit::write_csv(&mut out, &records, first)
        } else {
            w365_jobs::audit::write_jsonl(&mut out, &records)
        };
        written.map_err(|e| {
            PageError::from(crate::error::ApiError::internal(
                "Could not write the export",
                &e,
            ))
        })?;
        first = false;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        out,
    )
        .into_response())
}
