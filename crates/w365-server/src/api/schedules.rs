//! Recurring jobs (Admin): a cron expression in a time zone and a validated job template.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use w365_jobs::{JobTemplate, NewAuditRecord, Schedule, ScheduleSpec};
use w365_ops::spec;

use crate::auth::{Principal, Role};
use crate::error::{ApiError, Problem};
use crate::middleware::RequestId;
use crate::state::AppState;

/// `POST /api/v1/schedules` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSchedule {
    /// Unique name, e.g. `nightly-capacity`.
    pub name: String,
    /// Five fields: minute hour day-of-month month day-of-week, e.g. `0 6 * * 1-5`.
    pub cron: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    pub operation: String,
    pub tenant: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The schedules.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules",
    responses((status = 200, body = Vec<Object>), (status = 403, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    who.require(Role::Reader, "Reading schedules")?;
    let all = app
        .store()
        .schedule_list()
        .await
        .map_err(|e| ApiError::internal("Could not list schedules", &e))?;
    Ok(Json(
        all.into_iter()
            .filter(|s| app.in_scope(&who, &s.job.tenant))
            .collect(),
    ))
}

/// Creates or replaces a schedule (Admin).
#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = Object), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn create(
    State(app): State<AppState>,
    who: Principal,
    RequestId(request_id): RequestId,
    body: Result<Json<NewSchedule>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "Send the schedule as JSON (see the OpenAPI document).",
        )
    })?;
    who.require(Role::Admin, "Managing schedules")?;
    let tenant = app.tenant_for(&who, &body.tenant)?;
    let Some(op) = spec::operation(&body.operation) else {
        return Err(ApiError::invalid(vec![Problem {
            param: "operation".into(),
            message: format!("there is no operation '{}'", body.operation),
            fix: "use a name from GET /api/v1/operations".into(),
        }]));
    };
    let validated = spec::validate(op, &body.params, Some(&tenant.profile)).map_err(|ps| {
        ApiError::invalid(
            ps.into_iter()
                .map(|p| Problem {
                    param: format!("params.{}", p.param),
                    message: p.message,
                    fix: p.fix,
                })
                .collect(),
        )
    })?;
    let spec_ = ScheduleSpec {
        name: body.name.clone(),
        cron: body.cron,
        time_zone: body.time_zone,
        job: JobTemplate {
            operation: op.name.clone(),
            tenant: tenant.name.clone(),
            input: validated.redacted(),
            target: validated.target(),
            requested_by: who.identity(),
            max_attempts: 5,
        },
        enabled: body.enabled,
    };
    let saved = app
        .store()
        .schedule_upsert(spec_)
        .await
        .map_err(|e| match e {
            w365_jobs::Error::Invalid(m) => ApiError::invalid(vec![Problem {
                param: "cron".into(),
                message: m,
                fix: "write five fields (minute hour day month weekday) and an IANA time zone"
                    .into(),
            }]),
            e => ApiError::internal("Could not save the schedule", &e),
        })?;
    app.store()
        .audit_append(NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: tenant.name.clone(),
            operation: "schedule.upsert".into(),
            target: Some(body.name),
            input: serde_json::to_value(&saved).unwrap_or_default(),
            outcome: "saved".into(),
            job_id: None,
            request_id: Some(request_id),
        })
        .await
        .map_err(|e| ApiError::internal("Could not write the audit record", &e))?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Deletes a schedule (Admin).
#[utoipa::path(delete, path = "/api/v1/schedules/{name}", tag = "schedules", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn remove(
    State(app): State<AppState>,
    who: Principal,
    RequestId(request_id): RequestId,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Role::Admin, "Managing schedules")?;
    let existing = app
        .store()
        .schedule_list()
        .await
        .map_err(|e| ApiError::internal("Could not list schedules", &e))?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found(format!("There is no schedule '{name}'.")))?;
    app.tenant_for(&who, &existing.job.tenant)?;
    app.store()
        .schedule_delete(&name)
        .await
        .map_err(|e| ApiError::internal("Could not delete the schedule", &e))?;
    app.store()
        .audit_append(NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: existing.job.tenant,
            operation: "schedule.delete".into(),
            target: Some(name),
            input: Value::Null,
            outcome: "deleted".into(),
            job_id: None,
            request_id: Some(request_id),
        })
        .await
        .map_err(|e| ApiError::internal("Could not write the audit record", &e))?;
    Ok(StatusCode::NO_CONTENT)
}
