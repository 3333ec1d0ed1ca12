//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The job as the API returns it (`w365_jobs::Job`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct JobDoc {
    /// UUID.
    id: String,
    operation: String,
    tenant: String,
    /// Validated parameters, secrets redacted.
    #[schema(value_type = Object)]
    input: serde_json::Value,
    target: Option<String>,
    #[schema(value_type = Object)]
    requested_by: serde_json::Value,
    idempotency_key: Option<String>,
    /// scheduled, available, running, retryable, parked, succeeded, failed, cancelled
    state: String,
    attempt: u32,
    max_attempts: u32,
    parks: u32,
    created_at: String,
    scheduled_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    #[schema(value_type = Object)]
    checkpoint: serde_json::Value,
    parked_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    error: Option<serde_json::Value>,
    cancel_requested_at: Option<String>,
    request_id: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<String>,
    schedule: Option<String>,
}

/// A page of jobs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct JobPageDoc {
    items: Vec<JobDoc>,
    next_cursor: Option<String>,
}

struct BearerAuth;

/// Every operation can answer 400 (bad parameters or body) and 404 (an unknown tenant, job or
/// route); every secured one 401 and 403. All with the one error shape.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let error = || {
            RefOr::T(
                ResponseBuilder::new()
                    .description("The error, with its fix and the request id")
                    .content(
                        "application/json",
                        Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody")))),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut codes = vec!["400", "404"];
                if secured {
                    codes.extend(["401", "403"]);
                }
                for code in codes {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(error);
                }
            }
        }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some(
            "An Entra ID access token for w365's API (app roles W365.Reader, W365.Helpdesk, W365.Admin)."
                .to_owned(),
        );
        components.add_security_scheme("entra", SecurityScheme::Http(http));
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "w365", description = "Windows 365 provisioning as durable jobs: submit, follow, audit."),
    paths(
        crate::api::jobs::submit, crate::api::jobs::list, crate::api::jobs::get_job,
        crate::api::jobs::cancel, crate::api::jobs::events,
        crate::api::reads::operations, crate::api::reads::tenants, crate::api::reads::users,
        crate::api::reads::user_windows365, crate::api::reads::capacity, crate::api::reads::policies, crate::api::reads::me, crate::api::reads::signin,
        crate::api::audit::list, crate::api::audit::export,
        crate::api::schedules::list, crate::api::schedules::create, crate::api::schedules::remove,
        crate::api::health::healthz, crate::api::health::readyz, crate::api::health::metrics,
        openapi_json,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::error::Problem,
                       JobDoc, JobPageDoc, crate::api::jobs::SubmitJob, crate::api::schedules::NewSchedule,
                       crate::api::reads::TenantInfo, crate::api::reads::UserWindows365,
                       crate::api::reads::Windows365Licence, crate::api::reads::LicenceSource,
                       crate::api::reads::FrontlineAssignmentView, crate::api::reads::TenantPolicies)),
    modifiers(&BearerAuth, &CommonErrors),
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "docs", responses((status = 200, body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
