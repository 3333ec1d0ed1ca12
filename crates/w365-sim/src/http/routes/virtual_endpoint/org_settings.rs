//! The tenant's Cloud PC organization settings: `/deviceManagement/virtualEndpoint/organizationSettings`
//! (v1.0 and beta). The model lives in [`crate::state::windows365::org_settings`].
//!
//! - get: <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All` or `CloudPC.ReadWrite.All`);
//! - update: <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-update?view=graph-rest-1.0>
//!   (`CloudPC.ReadWrite.All`, 204 No Content).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{BASE, CLOUD_PC_READ, CLOUD_PC_WRITE, api_error, spec};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::windows365::org_settings;

const SETTINGS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/organizationSettings",
    "microsoft.graph.cloudPcOrganizationSettings",
    false,
);

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        &format!("{BASE}/organizationSettings"),
        get(show).patch(update),
    )
}

async fn show(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(org_settings::render(t.w365.organization_settings()))
    })?;
    collection::entity(&ctx, &query, &SETTINGS, &item)
}

async fn update(
    State(app): State<AppState>,
    auth: Auth,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.update_organization_settings(body).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}
