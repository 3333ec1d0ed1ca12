//! `/deviceManagement/virtualEndpoint`: provisioning policies (+ `assign`, beta `apply`,
//! `applyConfig`), user settings (+ `assign`), the service-plan catalog, Frontline plans, the
//! legacy shared-use plans, Cloud PCs and their actions, and `/users/{id}/cloudPCs`. The model and
//! its validation live in [`crate::state::windows365`]; this module parses, calls it and renders.
//!
//! Permissions: reads `CloudPC.Read.All` or `CloudPC.ReadWrite.All`; writes and actions
//! `CloudPC.ReadWrite.All`.
//!
//! Versions: v1.0 and beta, with beta-only operations (`apply`, `applyConfig`, `powerOn`,
//! `powerOff`, `frontLineServicePlans`, `sharedUseServicePlans`) answering 400 "Resource not
//! found for the segment" on v1.0 like Graph.
//! v1.0 objects carry only v1.0 properties (a v1.0 `cloudPC` has no `status`).
//! `Prefer: include-unknown-enum-members` unmasks enum members declared after `unknownFutureValue`.
//!
//! LIMITATIONS (Graph behaviour not emulated):
//! - `assignments` only through `$expand=assignments` (as Graph); nested `$expand=assignments($expand=assignedUsers)`
//!   is refused;
//! - the error codes of the Cloud PC API are not documented: 404 `ResourceNotFound`, 400 `BadRequest`
//!   (`parameterValidationFailed` for naming templates), 409 `Conflict` while another operation runs;
//! - audit events, bulk actions, supported regions, images, Azure network connections and
//!   organization settings: the submodules of this one; restore points: [`super::snapshots`].

mod audit_events;
mod bulk_actions;
pub mod images;
pub mod network;
pub mod org_settings;
mod regions;
mod sim_admin;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;

use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::view::TenantDirectoryView;
use crate::state::windows365::{self as w365, Render, Windows365Error, render};

pub use audit_events::record as record_audit_event;
pub use sim_admin::admin_routes;

/// Reading Windows 365 objects.
pub const CLOUD_PC_READ: &[&str] = &["CloudPC.Read.All", "CloudPC.ReadWrite.All"];
/// Changing Windows 365 objects and running actions.
pub const CLOUD_PC_WRITE: &[&str] = &["CloudPC.ReadWrite.All"];

pub(crate) const BASE: &str = "/deviceManagement/virtualEndpoint";

pub(crate) const fn spec(
    entity_set: &'static str,
    type_name: &'static str,
    expand: bool,
) -> CollectionSpec<'static> {
    CollectionSpec {
        entity_set,
        type_name,
        default_top: 100,
        max_top: 999,
        sortable: &[],
        properties: &[],
        default_select: None,
        directory: false,
        expand,
    }
}

const POLICIES: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/provisioningPolicies",
    "microsoft.graph.cloudPcProvisioningPolicy",
    true,
);
const USER_SETTINGS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/userSettings",
    "microsoft.graph.cloudPcUserSetting",
    true,
);
const SERVICE_PLANS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/servicePlans",
    "microsoft.graph.cloudPcServicePlan",
    false,
);
const FRONTLINE_PLANS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/frontLineServicePlans",
    "microsoft.graph.cloudPcFrontLineServicePlan",
    false,
);
const SHARED_USE_PLANS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/sharedUseServicePlans",
    "microsoft.graph.cloudPcSharedUseServicePlan",
    false,
);
const CLOUD_PCS: CollectionSpec<'static> = spec(
    "deviceManagement/virtualEndpoint/cloudPCs",
    "microsoft.graph.cloudPC",
    false,
);
const USER_CLOUD_PCS: CollectionSpec<'static> = spec("cloudPCs", "microsoft.graph.cloudPC", false);

/// Every route of the area, relative to the version.
pub fn routes() -> Router<AppState> {
    let p = |s: &str| format!("{BASE}{s}");
    Router::new()
        .route(
            &p("/provisioningPolicies"),
            get(list_policies).post(create_policy),
        )
        .route(&p("/provisioningPolicies/applyConfig"), post(apply_config))
        .route(
            &p("/provisioningPolicies/{id}"),
            get(get_policy).patch(update_policy).delete(delete_policy),
        )
        .route(&p("/provisioningPolicies/{id}/assign"), post(assign_policy))
        .route(&p("/provisioningPolicies/{id}/apply"), post(apply_policy))
        .route(&p("/userSettings"), get(list_settings).post(create_setting))
        .route(
            &p("/userSettings/{id}"),
            get(get_setting)
                .patch(update_setting)
                .delete(delete_setting),
        )
        .route(&p("/userSettings/{id}/assign"), post(assign_setting))
        .route(&p("/servicePlans"), get(list_service_plans))
        .route(&p("/frontLineServicePlans"), get(list_frontline_plans))
        .route(&p("/frontLineServicePlans/{id}"), get(get_frontline_plan))
        .route(&p("/sharedUseServicePlans"), get(list_shared_use_plans))
        .route(&p("/sharedUseServicePlans/{id}"), get(get_shared_use_plan))
        .route(&p("/cloudPCs"), get(list_cloud_pcs))
        .route(&p("/cloudPCs/{id}"), get(get_cloud_pc))
        .route(&p("/cloudPCs/{id}/{action}"), post(cloud_pc_action))
        .route("/users/{key}/cloudPCs", get(list_user_cloud_pcs))
        .merge(audit_events::routes())
        .merge(bulk_actions::routes())
        .merge(regions::routes())
}

/// The Graph answer for a model error.
pub fn api_error(e: Windows365Error) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, e.code(), e.to_string())
}

fn render_for(version: ApiVersion, ctx: &RequestContext) -> Render {
    Render {
        version: match version {
            ApiVersion::V1 => w365::ApiVersion::V1,
            ApiVersion::Beta => w365::ApiVersion::Beta,
        },
        include_unknown_enum_members: ctx.prefers("include-unknown-enum-members"),
    }
}

/// `$expand=assignments` (the only navigation Graph returns here). With `$select`, the expanded
/// property is kept in the projection.
fn expand_assignments(query: &mut GraphQuery) -> Result<bool, ApiError> {
    let opts = &mut query.options;
    if opts.expand.is_empty() {
        return Ok(false);
    }
    if let Some(bad) = opts.expand.iter().find(|e| {
        !(e.property.eq_ignore_ascii_case("assignments") || e.property == "*")
            || !e.expand.is_empty()
    }) {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "Could not find a navigation property named '{}' that can be expanded here.",
                bad.property
            ),
        ));
    }
    if let Some(select) = &mut opts.select
        && !select.iter().any(|s| s.eq_ignore_ascii_case("assignments"))
    {
        select.push("assignments".to_owned());
    }
    Ok(true)
}

/// An optional JSON body: empty means none.
fn optional_json(body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(ApiError::invalid_body)
}

// ---- provisioning policies -----------------------------------------------------------------

async fn list_policies(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    mut query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let expand = expand_assignments(&mut query)?;
    let r = render_for(version, &ctx);
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .provisioning_policies()
            .iter()
            .map(|p| render::provisioning_policy(p, r, expand))
            .collect())
    })?;
    collection::collection(&ctx, &query, &POLICIES, items)
}

async fn get_policy(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    mut query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let expand = expand_assignments(&mut query)?;
    let r = render_for(version, &ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .provisioning_policy(&id)
            .map(|p| render::provisioning_policy(p, r, expand))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &POLICIES, &item)
}

async fn create_policy(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    GraphJson(body): GraphJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    let r = render_for(version, &ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .create_provisioning_policy(body, now)
            .map(|p| render::provisioning_policy(p, r, false))
            .map_err(api_error)
    })?;
    Ok((
        StatusCode::CREATED,
        collection::entity(&ctx, &query, &POLICIES, &item)?,
    ))
}

async fn update_policy(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .update_provisioning_policy(&id, body, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_policy(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.delete_provisioning_policy(&id).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn assign_policy(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        let view = tenant_view_parts(&t.directory, &t.licensing);
        t.w365
            .assign_provisioning_policy(&id, body, &view, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

fn tenant_view_parts<'a>(
    directory: &'a crate::state::directory::Directory,
    licensing: &'a crate::state::licensing::Licensing,
) -> TenantDirectoryView<'a> {
    TenantDirectoryView::new(directory, licensing)
}

async fn apply_policy(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    version.require_beta("apply")?;
    auth.require_any(CLOUD_PC_WRITE)?;
    let body = optional_json(&body)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .apply_provisioning_policy(&id, body, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn apply_config(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    // The version decides before the body is read: v1.0 has no such segment.
    version.require_beta("applyConfig")?;
    auth.require_any(CLOUD_PC_WRITE)?;
    let body = optional_json(&body)?.ok_or_else(|| {
        ApiError::bad_request("BadRequest", "Empty Payload. JSON content expected.")
    })?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365.apply_config(body, now).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- user settings -------------------------------------------------------------------------

async fn list_settings(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    mut query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let expand = expand_assignments(&mut query)?;
    let r = render_for(version, &ctx);
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .user_settings()
            .iter()
            .map(|s| render::user_setting(s, r, expand))
            .collect())
    })?;
    collection::collection(&ctx, &query, &USER_SETTINGS, items)
}

async fn get_setting(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    mut query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let expand = expand_assignments(&mut query)?;
    let r = render_for(version, &ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .user_setting(&id)
            .map(|s| render::user_setting(s, r, expand))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &USER_SETTINGS, &item)
}

async fn create_setting(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    GraphJson(body): GraphJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    let r = render_for(version, &ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .create_user_setting(body, now)
            .map(|s| render::user_setting(s, r, false))
            .map_err(api_error)
    })?;
    Ok((
        StatusCode::CREATED,
        collection::entity(&ctx, &query, &USER_SETTINGS, &item)?,
    ))
}

async fn update_setting(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        t.w365
            .update_user_setting(&id, body, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_setting(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.delete_user_setting(&id).map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn assign_setting(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(CLOUD_PC_WRITE)?;
    app.with_tenant(auth.tenant_id(), |t, now| {
        let view = tenant_view_parts(&t.directory, &t.licensing);
        t.w365
            .assign_user_setting(&id, body, &view, now)
            .map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- service plans -------------------------------------------------------------------------

async fn list_service_plans(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let r = render_for(version, &ctx);
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .service_plans()
            .iter()
            .map(|p| render::service_plan(p, r))
            .collect())
    })?;
    collection::collection(&ctx, &query, &SERVICE_PLANS, items)
}

async fn list_frontline_plans(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("frontLineServicePlans")?;
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .frontline_plans()
            .iter()
            .map(render::frontline_plan)
            .collect())
    })?;
    collection::collection(&ctx, &query, &FRONTLINE_PLANS, items)
}

async fn get_frontline_plan(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("frontLineServicePlans")?;
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .frontline_plan_counts(&id)
            .map(|p| render::frontline_plan(&p))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &FRONTLINE_PLANS, &item)
}

async fn list_shared_use_plans(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("sharedUseServicePlans")?;
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .shared_use_service_plans()
            .iter()
            .map(render::shared_use_service_plan)
            .collect())
    })?;
    collection::collection(&ctx, &query, &SHARED_USE_PLANS, items)
}

async fn get_shared_use_plan(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("sharedUseServicePlans")?;
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .shared_use_service_plans()
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(&id))
            .map(render::shared_use_service_plan)
            .ok_or_else(|| {
                api_error(Windows365Error::NotFound {
                    kind: "cloudPcSharedUseServicePlan",
                    id: id.clone(),
                })
            })
    })?;
    collection::entity(&ctx, &query, &SHARED_USE_PLANS, &item)
}

// ---- Cloud PCs -----------------------------------------------------------------------------

async fn list_cloud_pcs(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let r = render_for(version, &ctx);
    // `userPrincipalName eq '…'` (how a client asks for one user's Cloud PCs) takes only that
    // user's as candidates, compared case-insensitively like the filter (which still runs over
    // them): every other Cloud PC of a large tenant would otherwise be copied and rendered.
    let by_upn = collection::simple_eq_literal(&ctx, "userPrincipalName");
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        let all = t.w365.cloud_pcs();
        Ok(match &by_upn {
            Some(upn) => all
                .iter()
                .filter(|pc| pc.user_principal_name.eq_ignore_ascii_case(upn))
                .cloned()
                .collect(),
            None => all.to_vec(),
        })
    })?;
    collection::collection_of(&ctx, &query, &CLOUD_PCS, items, |pc| {
        render::cloud_pc(pc, r)
    })
}

async fn list_user_cloud_pcs(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let r = render_for(version, &ctx);
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        let user = t
            .directory
            .user_by_key(&key)
            .ok_or_else(|| ApiError::resource_not_found(&key))?;
        Ok(t.w365
            .cloud_pcs_of_user(&user.id)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>())
    })?;
    collection::collection_of(&ctx, &query, &USER_CLOUD_PCS, items, |pc| {
        render::cloud_pc(pc, r)
    })
}

async fn get_cloud_pc(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let r = render_for(version, &ctx);
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .cloud_pc(&id)
            .map(|pc| render::cloud_pc(pc, r))
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &CLOUD_PCS, &item)
}

/// The Cloud PC actions: `POST cloudPCs/{id}/{action}`, 204 No Content.
async fn cloud_pc_action(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let segment = action;
    let action = segment.to_ascii_lowercase();
    let beta_only = matches!(action.as_str(), "poweron" | "poweroff");
    let known = beta_only
        || matches!(
            action.as_str(),
            "endgraceperiod"
                | "reprovision"
                | "resize"
                | "restore"
                | "reboot"
                | "rename"
                | "troubleshoot"
        );
    if !known {
        return Err(ApiError::unknown_segment(&segment));
    }
    if beta_only {
        version.require_beta(&segment)?;
    }
    auth.require_any(CLOUD_PC_WRITE)?;
    let body = optional_json(&body)?;
    let required = |body: Option<Value>| {
        body.ok_or_else(|| {
            ApiError::bad_request("BadRequest", "Empty Payload. JSON content expected.")
        })
    };
    app.with_tenant(auth.tenant_id(), |t, now| {
        let w = &mut t.w365;
        let result = match action.as_str() {
            "endgraceperiod" => w.end_grace_period(&id, now),
            "reprovision" => w.reprovision_cloud_pc(&id, body, now),
            "resize" => {
                let view = tenant_view_parts(&t.directory, &t.licensing);
                w.resize_cloud_pc(&id, required(body)?, &view, now)
            }
            "restore" => w.restore_cloud_pc(&id, required(body)?, now),
            "reboot" => w.reboot_cloud_pc(&id, now),
            "rename" => w.rename_cloud_pc(&id, required(body)?, now),
            "troubleshoot" => w.troubleshoot_cloud_pc(&id, now),
            "poweron" => w.power_on_cloud_pc(&id, now),
            _ => w.power_off_cloud_pc(&id, now),
        };
        result.map_err(api_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}
