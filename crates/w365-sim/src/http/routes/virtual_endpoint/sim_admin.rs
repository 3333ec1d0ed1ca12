//! Windows 365 admin routes under `/_sim/windows365` (never under a Graph path). The tenant is the
//! `x-sim-tenant` header's (id or domain), else the default tenant.
//!
//! - `GET /_sim/windows365`: timings, Frontline seats (with the users waiting for one), pending
//!   detections, queued provisioning faults.
//! - `POST /_sim/windows365/provisioning-outcomes` `{"user"?: upn|id, "outcome": "failed"|
//!   "provisionedWithWarnings"|"provisioned", "code"?, "message"?}`: the next provisioning of that
//!   user (or of anyone) ends that way.
//! - `PUT /_sim/windows365/provisioning-rates` `{"failureRate", "warningRate", "seed"}`.
//! - `DELETE /_sim/windows365/faults`: forget queued outcomes and rates.
//! - `GET|PUT /_sim/windows365/timings`: the lifecycle durations (seconds; `gracePeriodHours`).
//! - `PUT /_sim/windows365/frontline-plans/{servicePlanId}` `{"totalCount": n}`: Frontline seats the
//!   tenant bought (a Frontline plan of the catalog).
//! - `PUT /_sim/windows365/shared-use-service-plans` `{"value": [{id, displayName, totalCount, usedCount}]}`:
//!   what the legacy `sharedUseServicePlans` answers (empty by default, as Graph today).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::TENANT_HEADER;
use crate::http::{ApiError, AppState, GraphJson};
use crate::lifecycle::NO_SEAT_CODE;
use crate::state::windows365::{ForcedOutcome, OutcomeKind, SharedUseServicePlan, Timings};
use crate::state::{Store, TenantState};

/// The `/_sim/windows365` routes.
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/windows365", get(summary))
        .route(
            "/_sim/windows365/provisioning-outcomes",
            post(force_outcome),
        )
        .route("/_sim/windows365/provisioning-rates", put(set_rates))
        .route("/_sim/windows365/faults", delete(clear_faults))
        .route(
            "/_sim/windows365/timings",
            get(get_timings).put(set_timings),
        )
        .route(
            "/_sim/windows365/frontline-plans/{id}",
            put(set_frontline_plan),
        )
        .route(
            "/_sim/windows365/shared-use-service-plans",
            put(set_shared_use_plans),
        )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FrontlineBody {
    total_count: u32,
}

async fn set_frontline_plan(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    GraphJson(body): GraphJson<FrontlineBody>,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        let t = tenant_mut(store, &headers)?;
        t.w365
            .set_frontline_plan(&id, body.total_count)
            .map_err(super::api_error)?;
        t.touch();
        Ok(StatusCode::NO_CONTENT)
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SharedUseBody {
    value: Vec<SharedUseServicePlan>,
}

async fn set_shared_use_plans(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphJson(body): GraphJson<SharedUseBody>,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        tenant_mut(store, &headers)?
            .w365
            .set_shared_use_service_plans(body.value);
        Ok(StatusCode::NO_CONTENT)
    })
}

fn tenant_mut<'a>(
    store: &'a mut Store,
    headers: &HeaderMap,
) -> Result<&'a mut TenantState, ApiError> {
    let id = match headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok()) {
        Some(wanted) => store
            .resolve_tenant(wanted)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::not_found("TenantNotFound", format!("No tenant {wanted}.")))?,
        None => store.default_tenant_id().to_owned(),
    };
    store
        .tenant_mut(&id)
        .ok_or_else(|| ApiError::not_found("TenantNotFound", format!("No tenant {id}.")))
}

async fn summary(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    app.with_store(|store, now| {
        let t = tenant_mut(store, &headers)?;
        let w = &t.w365;
        let waiting: Vec<Value> = w
            .cloud_pcs()
            .iter()
            .filter(|c| c.status_detail.as_ref().is_some_and(|d| d.code == NO_SEAT_CODE))
            .map(|c| json!({ "userPrincipalName": c.user_principal_name, "servicePlanId": c.service_plan_id, "reason": c.status_detail.as_ref().map(|d| d.message.clone()) }))
            .collect();
        Ok(Json(json!({
            "now": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "timings": w.timings,
            "nextDue": crate::lifecycle::next_due(w).and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok()),
            "cloudPcs": w.cloud_pcs().len(),
            "frontlinePlans": w.frontline_plans(),
            "waitingForFrontlineSeat": waiting,
            "pendingDetections": w.pending_detections(),
            "faults": w.faults,
        })))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OutcomeBody {
    #[serde(default)]
    user: Option<String>,
    outcome: OutcomeKind,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

async fn force_outcome(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphJson(body): GraphJson<OutcomeBody>,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        let t = tenant_mut(store, &headers)?;
        let outcome = ForcedOutcome {
            outcome: body.outcome,
            code: body.code,
            message: body.message,
        };
        match body.user {
            Some(user) => {
                let known = t.directory.user_by_key(&user).is_some();
                if !known {
                    return Err(ApiError::not_found("NotFound", format!("No user {user}.")));
                }
                t.w365.faults.force_for_user(&user, outcome);
            }
            None => t.w365.faults.force_next(outcome),
        }
        Ok(StatusCode::NO_CONTENT)
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RatesBody {
    #[serde(default)]
    failure_rate: f64,
    #[serde(default)]
    warning_rate: f64,
    #[serde(default)]
    seed: u64,
}

async fn set_rates(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphJson(body): GraphJson<RatesBody>,
) -> Result<StatusCode, ApiError> {
    let valid = |r: f64| r.is_finite() && (0.0..=1.0).contains(&r);
    if !valid(body.failure_rate)
        || !valid(body.warning_rate)
        || body.failure_rate + body.warning_rate > 1.0
    {
        return Err(ApiError::bad_request(
            "BadRequest",
            "failureRate and warningRate are between 0 and 1 and add up to at most 1.",
        ));
    }
    app.with_store(|store, _| {
        let t = tenant_mut(store, &headers)?;
        t.w365
            .faults
            .set_rates(body.failure_rate, body.warning_rate, body.seed);
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn clear_faults(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        tenant_mut(store, &headers)?.w365.faults.clear();
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn get_timings(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Timings>, ApiError> {
    app.with_store(|store, _| Ok(Json(tenant_mut(store, &headers)?.w365.timings)))
}

async fn set_timings(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphJson(timings): GraphJson<Timings>,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        tenant_mut(store, &headers)?.w365.timings = timings;
        Ok(StatusCode::NO_CONTENT)
    })
}
