//! Custom and gallery images: `/deviceManagement/virtualEndpoint/deviceImages` and
//! `/galleryImages` (v1.0 and beta). The model and the upload lifecycle live in
//! [`crate::state::windows365::images`].
//!
//! - deviceImages list: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-deviceimages?view=graph-rest-1.0>,
//!   get: <https://learn.microsoft.com/en-us/graph/api/cloudpcdeviceimage-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All` or `CloudPC.ReadWrite.All`);
//! - create: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-deviceimages?view=graph-rest-1.0>
//!   (201, `status: pending`), delete: <https://learn.microsoft.com/en-us/graph/api/cloudpcdeviceimage-delete?view=graph-rest-1.0>
//!   (204), both `CloudPC.ReadWrite.All`;
//! - galleryImages list: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-galleryimages?view=graph-rest-1.0>,
//!   get: <https://learn.microsoft.com/en-us/graph/api/cloudpcgalleryimage-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All` or `CloudPC.ReadWrite.All`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{BASE, CLOUD_PC_READ, CLOUD_PC_WRITE, api_error, spec};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::windows365::images;

const DEVICE_IMAGES: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/deviceImages",
    "microsoft.graph.cloudPcDeviceImage",
    false,
);
const GALLERY_IMAGES: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/galleryImages",
    "microsoft.graph.cloudPcGalleryImage",
    false,
);

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/deviceImages"),
            get(list_device_images).post(create_device_image),
        )
        .route(
            &format!("{BASE}/deviceImages/{{id}}"),
            get(get_device_image).delete(delete_device_image),
        )
        .route(&format!("{BASE}/galleryImages"), get(list_gallery_images))
        .route(
            &format!("{BASE}/galleryImages/{{id}}"),
            get(get_gallery_image),
        )
}

fn unknown_enums(ctx: &RequestContext) -> bool {
    ctx.prefers("include-unknown-enum-members")
}

async fn list_device_images(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let unknown = unknown_enums(&ctx);
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .device_images()
            .iter()
            .map(|i| images::render_device_image(i, unknown))
            .collect())
    })?;
    collection::collection(&ctx, &query, &DEVICE_IMAGES, items)
}

async fn get_device_image(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let unknown = unknown_enums(&ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .device_image(&id)
            .map(|i| images::render_device_image(i, unknown))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &DEVICE_IMAGES, &item)
}

async fn create_device_image(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    GraphJson(body): GraphJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    let unknown = unknown_enums(&ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .create_device_image(body, now)
            .map(|i| images::render_device_image(&i, unknown))
            .map_err(api_error)
    })?;
    Ok((
        StatusCode::CREATED,
        collection::entity(&ctx, &query, &DEVICE_IMAGES, &item)?,
    ))
}

async fn delete_device_image(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.delete_device_image(&id).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_gallery_images(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, now| {
        Ok(t.w365
            .gallery_images()
            .iter()
            .map(|g| images::render_gallery_image(g, now))
            .collect())
    })?;
    collection::collection(&ctx, &query, &GALLERY_IMAGES, items)
}

async fn get_gallery_image(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .gallery_image(&id)
            .map(|g| images::render_gallery_image(g, now))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &GALLERY_IMAGES, &item)
}
