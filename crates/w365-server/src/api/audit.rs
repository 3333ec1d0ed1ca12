//! The audit log: every submission, refusal and cancellation, append-only and hash-chained.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use w365_jobs::{AuditFilter, AuditRecord, Page};

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Filters of the audit log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    pub tenant: Option<String>,
    /// The actor's UPN.
    pub actor: Option<String>,
    pub operation: Option<String>,
    pub job_id: Option<String>,
    /// 1..=500.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn filter(app: &AppState, who: &Principal, q: AuditQuery) -> Result<AuditFilter, ApiError> {
    let scope = app.scopes().of(&who.upn, &who.object_id);
    let tenant = match (q.tenant, scope) {
        (Some(t), Some(scope)) if !scope.contains(&t) => {
            return Err(ApiError::forbidden(
                format!("The tenant '{t}' is outside your tenant scope."),
                "Ask an administrator to add it to your tenant scope.",
            ));
        }
        (None, Some(scope)) if scope.len() == 1 => scope.first().cloned(),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "Your tenant scope has several tenants: name one with ?tenant=.",
                "Add ?tenant=<name>.",
            ));
        }
        (t, _) => t,
    };
    Ok(AuditFilter {
        since: crate::api::parse_time("since", q.since.as_deref())?,
        until: crate::api::parse_time("until", q.until.as_deref())?,
        tenant,
        actor: q.actor,
        operation: q.operation,
        job_id: q
            .job_id
            .map(|j| {
                j.parse().map_err(|_| {
                    ApiError::bad_request(format!("'{j}' is not a job id."), "Job ids are UUIDs.")
                })
            })
            .transpose()?,
        limit: crate::api::page_size(q.limit)?,
        cursor: q.cursor,
    })
}

fn store_error(e: w365_jobs::Error) -> ApiError {
    match e {
        w365_jobs::Error::Invalid(m) => ApiError::bad_request(m, "Use nextCursor unchanged."),
        e => ApiError::internal("Could not read the audit log", &e),
    }
}

/// The audit log, oldest first, paged (Reader and up).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(e.body_text(), "See the OpenAPI document for the filters.")
    })?;
    who.require(Role::Reader, "Reading the audit log")?;
    let f = filter(&app, &who, q)?;
    app.store()
        .audit_list(&f)
        .await
        .map(Json)
        .map_err(store_error)
}

/// Exports the matching audit records as CSV (Admin).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
              (status = 403, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn export(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(e.body_text(), "See the OpenAPI document for the filters.")
    })?;
    who.require(Role::Admin, "Exporting the audit log")?;
    let mut f = filter(&app, &who, q)?;
    let mut out = Vec::new();
    let mut first = true;
    loop {
        let page = app.store().audit_list(&f).await.map_err(store_error)?;
        w365_jobs::audit::write_csv(&mut out, &page.items, first)
            .map_err(|e| ApiError::internal("Could not write the CSV", &e))?;
        first = false;
        match page.next_cursor {
            Some(c) => f.cursor = Some(c),
            None => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"w365-audit.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}
