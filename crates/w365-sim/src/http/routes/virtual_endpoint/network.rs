//! Azure network connections: `/deviceManagement/virtualEndpoint/onPremisesConnections` (v1.0 and
//! beta). The model and its health check lifecycle live in
//! [`crate::state::windows365::network`].
//!
//! - list: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-onpremisesconnections?view=graph-rest-1.0>
//!   and get: <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All` or `CloudPC.ReadWrite.All`; `inUse` and `healthCheckStatusDetail` only
//!   on `$select`);
//! - create: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-onpremisesconnections?view=graph-rest-1.0>
//!   (201), update: <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-update?view=graph-rest-1.0>
//!   (204), delete: <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-delete?view=graph-rest-1.0>
//!   (204; "You can't delete a connection that's in use"), all `CloudPC.ReadWrite.All`;
//! - runHealthChecks: <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-runhealthcheck?view=graph-rest-1.0>
//!   — delegated `CloudPC.ReadWrite.All` only, application permissions "Not supported". The
//!   simulator issues application tokens only, so it always refuses this action with 403 (the
//!   wording of that refusal is the simulator's: Graph documents no error body for it).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::{BASE, CLOUD_PC_READ, CLOUD_PC_WRITE, api_error};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::windows365::network::{self, DEFAULT_PROPERTIES};

const CONNECTIONS: CollectionSpec<'static> = CollectionSpec {
    entity_set: "deviceManagement/virtualEndpoint/onPremisesConnections",
    type_name: "microsoft.graph.cloudPcOnPremisesConnection",
    default_top: 100,
    max_top: 999,
    sortable: &[],
    properties: &[],
    default_select: Some(DEFAULT_PROPERTIES),
    directory: false,
    expand: false,
};

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    let p = |s: &str| format!("{BASE}/onPremisesConnections{s}");
    Router::new()
        .route(&p(""), get(list).post(create))
        .route(&p("/{id}"), get(show).patch(update).delete(delete))
        .route(&p("/{id}/runHealthChecks"), post(run_health_checks))
}

fn rendered(t: &crate::state::TenantState, c: &network::NetworkConnection) -> Value {
    network::render(c, !t.w365.policies_using_connection(&c.id).is_empty())
}

async fn list(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .network_connections()
            .iter()
            .map(|c| rendered(t, c))
            .collect())
    })?;
    collection::collection(&ctx, &query, &CONNECTIONS, items)
}

async fn show(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .network_connection(&id)
            .map(|c| rendered(t, c))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &CONNECTIONS, &item)
}

async fn create(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    GraphJson(body): GraphJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .create_network_connection(body, now)
            .map(|c| network::render(&c, false))
            .map_err(api_error)
    })?;
    Ok((
        StatusCode::CREATED,
        collection::entity(&ctx, &query, &CONNECTIONS, &item)?,
    ))
}

async fn update(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .update_network_connection(&id, body, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.delete_network_connection(&id).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The refusal of an application token (see the module documentation).
pub const RUN_HEALTH_CHECKS_APP_REFUSAL: &str = "Application is not authorized to perform this operation: runHealthChecks supports only delegated permissions (CloudPC.ReadWrite.All for a signed-in user); application permissions are not supported.";

async fn run_health_checks(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Missing permission first (as for every route), then the connection must exist; then the
    // documented rule: no application permission can run health checks.
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .network_connection(&id)
            .map(|_| ())
            .map_err(api_error)
    })?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        RUN_HEALTH_CHECKS_APP_REFUSAL,
    ))
}
