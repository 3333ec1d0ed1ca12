//! Helpdesk reads (through w365-graph and w365-ops; nothing here changes a tenant).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use w365_graph::odata::{Filter, Query as ODataQuery};
use w365_ops::spec;

use crate::access::role_for;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

fn graph_error(what: &str, e: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "{what}");
    ApiError::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "graph_failed",
        format!("{what}: Microsoft Graph answered: {e}"),
    )
    .with_fix("Try again; if it persists, check the tenant's app registration and permissions.")
}

/// The signed-in operator and what they may do.
#[utoipa::path(get, path = "/api/v1/me", tag = "reads",
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn me(State(app): State<AppState>, who: Principal) -> Json<Value> {
    let tenants: Vec<&str> = app
        .tenants()
        .filter(|t| app.in_scope(&who, &t.name))
        .map(|t| t.name.as_str())
        .collect();
    Json(json!({ "operator": who, "tenants": tenants }))
}

/// How to sign in (public: no token needed): the authority, the client id and the scope of w365's
/// API, for the device-code flow of `w365 --server` and for the portal.
#[utoipa::path(get, path = "/api/v1/signin", tag = "reads", responses((status = 200, body = Object)))]
pub async fn signin(State(app): State<AppState>) -> Json<Value> {
    let cfg = app.validator().config();
    Json(json!({
        "authority": cfg.authority,
        "clientId": cfg.audience,
        "scope": format!("api://{}/access_as_user openid profile", cfg.audience),
    }))
}

/// A tenant the caller may work on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub name: String,
    /// Whether protected (VIP) groups are configured.
    pub has_protected_groups: bool,
}

/// The tenants in the caller's scope.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "reads",
    responses((status = 200, body = Vec<TenantInfo>), (status = 401, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn tenants(
    State(app): State<AppState>,
    who: Principal,
) -> Result<Json<Vec<TenantInfo>>, ApiError> {
    who.require(Role::Reader, "Reading tenants")?;
    Ok(Json(
        app.tenants()
            .filter(|t| app.in_scope(&who, &t.name))
            .map(|t| TenantInfo {
                name: t.name.clone(),
                has_protected_groups: !t.protected_groups.is_empty(),
            })
            .collect(),
    ))
}

/// The operation declarations, each with its JSON Schema per tenant in scope (the tenant's
/// defaults and allowed choices applied), and whether the caller's role may run it.
#[utoipa::path(get, path = "/api/v1/operations", tag = "reads",
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn operations(
    State(app): State<AppState>,
    who: Principal,
) -> Result<Json<Value>, ApiError> {
    who.require(Role::Reader, "Reading operations")?;
    let ops: Vec<Value> = spec::operations()
        .iter()
        .map(|s| {
            let per_tenant: serde_json::Map<String, Value> = app
                .tenants()
                .filter(|t| app.in_scope(&who, &t.name))
                .map(|t| (t.name.clone(), spec::json_schema_for(s, Some(&t.profile))))
                .collect();
            json!({
                "name": s.name,
                "summary": s.summary,
                "role": role_for(s.role),
                "destructive": s.destructive,
                "allowed": who.has(role_for(s.role)),
                "params": s.params,
                "schema": spec::json_schema(s),
                "tenants": per_tenant,
            })
        })
        .collect();
    Ok(Json(json!({ "operations": ops })))
}

/// User search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Start of the display name, given name, surname or UPN.
    pub search: Option<String>,
    /// 1..=100 (default 25).
    pub limit: Option<u32>,
    /// nextCursor of the previous page (an opaque Graph link).
    pub cursor: Option<String>,
}

/// Searches a tenant's users by the start of their name or UPN, paged.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users", tag = "reads",
    params(("tenant" = String, Path), UserQuery),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn users(
    State(app): State<AppState>,
    who: Principal,
    Path(tenant): Path<String>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::bad_request(e.body_text(), "Use ?search=&limit=&cursor=."))?;
    let tenant = app.tenant_for(&who, &tenant)?;
    let limit = match q.limit {
        None => 25,
        Some(n @ 1..=100) => n as usize,
        Some(_) => {
            return Err(ApiError::bad_request(
                "limit must be between 1 and 100.",
                "Ask for at most 100 users and follow nextCursor.",
            ));
        }
    };
    let offset: usize = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            ApiError::bad_request(
                "The cursor is not one this API returned.",
                "Use nextCursor unchanged.",
            )
        })?,
    };
    let mut query = ODataQuery::new()
        .select([
            "id",
            "userPrincipalName",
            "displayName",
            "mail",
            "accountEnabled",
            "usageLocation",
        ])
        .top(999);
    if let Some(text) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(
            Filter::starts_with("displayName", text)
                .or(Filter::starts_with("givenName", text))
                .or(Filter::starts_with("surname", text))
                .or(Filter::starts_with("userPrincipalName", text)),
        );
    }
    let mut all = tenant
        .client
        .users()
        .list(query)
        .collect_all()
        .await
        .map_err(|e| graph_error("Could not search users", &e))?;
    all.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let page: Vec<_> = all.iter().skip(offset).take(limit).collect();
    let next = (offset + limit < all.len()).then(|| (offset + limit).to_string());
    Ok(Json(json!({ "items": page, "nextCursor": next })))
}

/// A user's Windows 365 picture: Cloud PCs, Windows 365 licences and where they come from (group
/// or direct), groups (provisioning and user-settings groups among them).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user}/windows365", tag = "reads",
    params(("tenant" = String, Path), ("user" = String, Path, description = "UPN or object id")),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn user_windows365(
    State(app): State<AppState>,
    who: Principal,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant = app.tenant_for(&who, &tenant)?;
    let client = &tenant.client;
    let found = client
        .users()
        .get_opt(&user)
        .await
        .map_err(|e| graph_error("Could not read the user", &e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("There is no user '{user}' in '{}'.", tenant.name))
        })?;
    let (users, sku_handler) = (client.users(), client.subscribed_skus());
    let (states, groups, skus) = futures::try_join!(
        users.license_assignment_states(&found.id),
        users.member_of_groups(&found.id),
        sku_handler.list(),
    )
    .map_err(|e| graph_error("Could not read the user's Windows 365 state", &e))?;
    let pcs = match w365_ops::cloud_pc::show(client, &found.user_principal_name).await {
        Ok(pcs) => pcs,
        // "has no Cloud PC at all" is an answer, not a failure.
        Err(e) if e.kind() == w365_ops::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(graph_error("Could not read the user's Cloud PCs", &e)),
    };
    let licences: Vec<Value> = states
        .iter()
        .map(|s| {
            let sku = skus.iter().find(|k| k.sku_id == s.sku_id);
            let group = s
                .assigned_by_group
                .as_ref()
                .and_then(|g| groups.iter().find(|x| &x.id == g).map(|x| (g, x.display_name.clone())));
            json!({
                "skuId": s.sku_id,
                "skuPartNumber": sku.map(|k| k.sku_part_number.clone()),
                "state": s.state,
                "error": s.error,
                "source": match (&s.assigned_by_group, group) {
                    (None, _) => json!({"kind": "direct"}),
                    (Some(id), Some((_, name))) => json!({"kind": "group", "groupId": id, "groupName": name}),
                    (Some(id), None) => json!({"kind": "group", "groupId": id}),
                },
            })
        })
        .collect();
    let protected = if tenant.protected_groups.is_empty() {
        false
    } else {
        let ids = tenant
            .protected_group_ids()
            .await
            .map_err(ApiError::unavailable)?;
        !client
            .users()
            .check_member_groups(&found.id, ids)
            .await
            .map_err(|e| graph_error("Could not check protected groups", &e))?
            .is_empty()
    };
    Ok(Json(json!({
        "user": found,
        "protected": protected,
        "cloudPcs": pcs,
        "licences": licences,
        "groups": groups,
    })))
}

/// Licences per SKU, Frontline seats, Cloud PCs by status, users waiting, grace periods.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/capacity", tag = "reads",
    params(("tenant" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn capacity(
    State(app): State<AppState>,
    who: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = app.tenant_for(&who, &tenant)?;
    let report = w365_ops::capacity::capacity(&tenant.client, &Default::default())
        .await
        .map_err(|e| graph_error("Could not read the capacity", &e))?;
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ApiError::internal("Could not render the capacity", &e))
}
