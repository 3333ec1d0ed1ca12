//! Cloud PC restore points (beta only): `GET cloudPCs/{id}/retrieveSnapshots` and
//! `POST cloudPCs/{id}/createSnapshot`. The model lives in
//! [`crate::state::windows365::snapshots`]; `restore` stays with the other Cloud PC actions.
//!
//! - retrieveSnapshots: <https://learn.microsoft.com/en-us/graph/api/cloudpc-retrievesnapshots?view=graph-rest-beta>
//!   (application permission `CloudPC.ReadWrite.All`: the documentation names no read-only
//!   permission for this function, so `CloudPC.Read.All` is refused like Graph does);
//! - createSnapshot: <https://learn.microsoft.com/en-us/graph/api/cloudpc-createsnapshot?view=graph-rest-beta>
//!   (`CloudPC.ReadWrite.All`, 204 No Content).
//!
//! Under v1.0 both answer 400 "Resource not found for the segment" as Graph does for beta-only
//! segments (reference §11).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;

use super::virtual_endpoint::{CLOUD_PC_WRITE, api_error};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphQuery, RequestContext};
use crate::state::windows365::snapshots;

const SNAPSHOTS: CollectionSpec<'static> = CollectionSpec::plain(
    "Collection(microsoft.graph.cloudPcSnapshot)",
    "microsoft.graph.cloudPcSnapshot",
);

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    const BASE: &str = "/deviceManagement/virtualEndpoint/cloudPCs/{id}";
    Router::new()
        .route(
            &format!("{BASE}/retrieveSnapshots"),
            get(retrieve_snapshots),
        )
        .route(&format!("{BASE}/createSnapshot"), post(create_snapshot))
}

fn beta_only(version: ApiVersion, segment: &str) -> Result<(), ApiError> {
    match version {
        ApiVersion::Beta => Ok(()),
        ApiVersion::V1 => Err(ApiError::unknown_segment(segment)),
    }
}

async fn retrieve_snapshots(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    beta_only(version, "retrieveSnapshots")?;
    auth.require_any(CLOUD_PC_WRITE)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .snapshots_of(&id)
            .map(|list| list.into_iter().map(snapshots::render).collect())
            .map_err(api_error)
    })?;
    collection::collection(&ctx, &query, &SNAPSHOTS, items)
}

async fn create_snapshot(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    beta_only(version, "createSnapshot")?;
    auth.require_any(CLOUD_PC_WRITE)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice::<Value>(&body).map_err(ApiError::invalid_body)?)
    };
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365.create_snapshot(&id, body, now).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}
