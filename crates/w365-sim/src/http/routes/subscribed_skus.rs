//! `/subscribedSkus` and `/subscribedSkus/{id}` (`{tenantId}_{skuId}`), with `consumedUnits`
//! maintained by the group-licensing engine.
//!
//! Permissions: `LicenseAssignment.Read.All`, `Organization.Read.All` or `Directory.Read.All`
//! (and their ReadWrite forms).
//!
//! LIMITATIONS (Graph behaviour not emulated):
//! - `$filter`, `$orderby` and `$search` are refused (Graph does not support them here either,
//!   but its exact error text is not reproduced);
//! - SKUs are read-only (no trials, expiry, suspension over time); `capabilityStatus` stays as seeded.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::perms;
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphQuery, RequestContext};
use crate::state::TenantState;
use crate::state::licensing::SubscribedSku;

const SKUS: CollectionSpec<'static> = CollectionSpec {
    entity_set: "subscribedSkus",
    type_name: "microsoft.graph.subscribedSku",
    default_top: 100,
    max_top: 999,
    sortable: &[],
    properties: &[
        "id",
        "accountId",
        "accountName",
        "appliesTo",
        "capabilityStatus",
        "consumedUnits",
        "prepaidUnits",
        "skuId",
        "skuPartNumber",
        "subscriptionIds",
        "servicePlans",
    ],
    default_select: None,
    directory: false,
    expand: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subscribedSkus", get(list_skus))
        .route("/subscribedSkus/{id}", get(get_sku))
}

fn sku_json(tenant: &TenantState, sku: &SubscribedSku) -> Value {
    json!({
        "id": format!("{}_{}", tenant.tenant_id, sku.sku_id),
        "accountId": tenant.tenant_id,
        "accountName": tenant.display_name,
        "appliesTo": sku.applies_to,
        "capabilityStatus": sku.capability_status,
        "consumedUnits": sku.consumed_units,
        "prepaidUnits": sku.prepaid_units,
        "skuId": sku.sku_id,
        "skuPartNumber": sku.sku_part_number,
        "subscriptionIds": sku.subscription_ids,
        "servicePlans": sku.service_plans,
    })
}

fn refuse_unsupported(query: &GraphQuery) -> Result<(), ApiError> {
    let opts = &query.options;
    if opts.filter.is_some() || !opts.orderby.is_empty() || opts.search.is_some() {
        return Err(ApiError::bad_request(
            "Request_UnsupportedQuery",
            "subscribedSkus supports only $select (no $filter, $orderby or $search).",
        ));
    }
    Ok(())
}

async fn list_skus(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::SKU_READ)?;
    refuse_unsupported(&query)?;
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        let items = tenant
            .licensing
            .skus
            .iter()
            .map(|s| sku_json(tenant, s))
            .collect();
        collection::collection(&ctx, &query, &SKUS, items)
    })
}

async fn get_sku(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::SKU_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let sku_id = id
            .split_once('_')
            .filter(|(tenant_part, _)| tenant_part.eq_ignore_ascii_case(&tenant.tenant_id))
            .map(|(_, sku)| sku)
            .ok_or_else(|| ApiError::resource_not_found(&id))?;
        let sku = tenant
            .licensing
            .sku(sku_id)
            .ok_or_else(|| ApiError::resource_not_found(&id))?;
        Ok(sku_json(tenant, sku))
    })?;
    collection::entity(&ctx, &query, &SKUS, &item)
}
