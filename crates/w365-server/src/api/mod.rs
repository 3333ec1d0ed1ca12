//! REST under `/api/v1` (+ `/healthz`, `/readyz`, `/metrics`). Every handler takes the
//! [`Principal`](crate::auth::Principal) extractor (401 without a valid token) and checks roles,
//! tenant scopes and protected users itself, through [`crate::access`].

pub mod audit;
pub mod docs;
pub mod health;
pub mod jobs;
pub mod reads;
pub mod schedules;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::state::AppState;

/// The largest job submission accepted, in bytes: a bulk file (`assign.bulk`, `unassign.bulk`)
/// travels in the body as one JSON string, and 100,000 rows of a user and a few group columns
/// (up to ~600 bytes a row, escaped) fit. axum's default of 2 MB would refuse about 60,000
/// short rows; every other route keeps that default.
pub const JOB_SUBMISSION_LIMIT: usize = 64 * 1024 * 1024;

/// The API's routes (paths as documented in the OpenAPI document).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/jobs",
            post(jobs::submit)
                .layer(DefaultBodyLimit::max(JOB_SUBMISSION_LIMIT))
                .get(jobs::list),
        )
        .route("/api/v1/jobs/{id}", get(jobs::get_job))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/v1/jobs/{id}/events", get(jobs::events))
        .route("/api/v1/operations", get(reads::operations))
        .route("/api/v1/tenants", get(reads::tenants))
        .route("/api/v1/tenants/{tenant}/users", get(reads::users))
        .route(
            "/api/v1/tenants/{tenant}/users/{user}/windows365",
            get(reads::user_windows365),
        )
        .route("/api/v1/tenants/{tenant}/capacity", get(reads::capacity))
        .route("/api/v1/tenants/{tenant}/policies", get(reads::policies))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/export", get(audit::export))
        .route(
            "/api/v1/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route("/api/v1/schedules/{name}", delete(schedules::remove))
        .route("/api/v1/me", get(reads::me))
        .route("/api/v1/signin", get(reads::signin))
        .route("/api/v1/openapi.json", get(docs::openapi_json))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
}

/// Parses an RFC 3339 query value.
pub(crate) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<time::OffsetDateTime>, crate::error::ApiError> {
    value
        .map(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    crate::error::ApiError::bad_request(
                        format!("'{name}' is not an RFC 3339 time: '{v}'."),
                        format!("Write it like {name}=2026-01-31T08:00:00Z."),
                    )
                },
            )
        })
        .transpose()
}

/// Checks a page size.
pub(crate) fn page_size(limit: Option<u32>) -> Result<Option<u32>, crate::error::ApiError> {
    match limit {
        Some(0) | Some(501..) => Err(crate::error::ApiError::bad_request(
            "limit must be between 1 and 500.",
            "Ask for at most 500 items and follow nextCursor for more.",
        )),
        other => Ok(other),
    }
}
