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

/// A user's Windows 365 picture.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserWindows365 {
    /// The user (Graph `user`).
    #[schema(value_type = Object)]
    pub user: w365_graph::models::User,
    /// Whether the user is a member of one of the tenant's protected (VIP) groups.
    pub protected: bool,
    /// The user's Cloud PCs (Graph `cloudPC`), Frontline ones included.
    #[schema(value_type = Vec<Object>)]
    pub cloud_pcs: Vec<w365_graph::models::CloudPc>,
    /// The user's Windows 365 licences (other licences, e.g. Microsoft 365 E3, are left out).
    pub licences: Vec<Windows365Licence>,
    /// The groups the user is a member of (Graph `group`), provisioning and user-settings groups
    /// among them.
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<w365_graph::models::Group>,
    /// The Frontline assignments reaching the user through one of their groups; `null` when the
    /// provisioning policies could not be read.
    pub frontline: Option<Vec<FrontlineAssignmentView>>,
}

/// A Windows 365 licence a user holds and where it comes from.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Windows365Licence {
    pub sku_id: String,
    /// e.g. `CPC_E_2C_4GB_128GB`.
    pub sku_part_number: String,
    /// `Active`, `ActiveWithError`, `Disabled`, `Error`, or a processing state.
    pub state: String,
    /// `None` when fine, else e.g. `CountViolation`; absent when Graph gave none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub source: LicenceSource,
}

/// Where a licence comes from.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenceSource {
    /// `direct` or `group`.
    pub kind: String,
    /// The assigning group (group-based licensing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Its display name, when the group is among the user's groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

/// A Frontline assignment reaching a user: a Frontline provisioning policy assigned to one of the
/// user's groups, with its allotment of licences.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrontlineAssignmentView {
    /// The provisioning policy's id.
    pub policy_id: String,
    /// The provisioning policy's display name.
    pub policy: String,
    /// `dedicated` (up to three personal Cloud PCs per licence) or `shared` (one Cloud PC shared by
    /// the group per licence).
    pub mode: String,
    pub group_id: String,
    /// The group's display name.
    pub group: String,
    /// The Frontline service plan.
    pub service_plan_id: String,
    /// The allotment's display name.
    pub allotment: Option<String>,
    /// Licences allotted to the assignment.
    pub licences: i64,
}

/// The user's Windows 365 licences (by the SKUs' service plans or part numbers; other licences are
/// left out) and where each comes from. `groups` names the assigning groups. The API's user
/// picture and the portal's user list both use this.
pub fn windows365_licences(
    states: &[w365_graph::models::LicenseAssignmentState],
    skus: &[w365_graph::models::SubscribedSku],
    groups: &[w365_graph::models::Group],
) -> Vec<Windows365Licence> {
    let catalog = w365_ops::licensing::Windows365Catalog::default();
    states
        .iter()
        .filter_map(|s| {
            let sku = skus
                .iter()
                .find(|k| k.sku_id == s.sku_id)
                .filter(|k| catalog.is_windows365_subscription(k))?;
            let source = match &s.assigned_by_group {
                None => LicenceSource {
                    kind: "direct".into(),
                    group_id: None,
                    group_name: None,
                },
                Some(id) => LicenceSource {
                    kind: "group".into(),
                    group_id: Some(id.clone()),
                    group_name: groups
                        .iter()
                        .find(|g| g.id.eq_ignore_ascii_case(id))
                        .map(|g| g.display_name.clone()),
                },
            };
            Some(Windows365Licence {
                sku_id: s.sku_id.to_string(),
                sku_part_number: sku.sku_part_number.clone(),
                state: s.state.as_str().to_owned(),
                error: s.error.as_ref().map(|e| e.as_str().to_owned()),
                source,
            })
        })
        .collect()
}

/// The Frontline assignments reaching a user: Frontline provisioning policies (dedicated or
/// shared) assigned to one of the user's `groups`, with the allotment of licences. `None` when the
/// policies could not be read.
pub async fn frontline_of(
    client: &w365_graph::Client,
    groups: &[w365_graph::models::Group],
) -> Option<Vec<FrontlineAssignmentView>> {
    use w365_ops::licensing::{FrontlineMode, frontline_assignments};
    let policies = match client
        .provisioning_policies()
        .list(ODataQuery::new().expand("assignments"))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the provisioning policies for Frontline assignments");
            return None;
        }
    };
    let mut out = Vec::new();
    for policy in &policies {
        let Some(mode) = FrontlineMode::of(policy.provisioning_type.as_ref()) else {
            continue;
        };
        for a in frontline_assignments(policy) {
            let Some(group) = groups
                .iter()
                .find(|g| g.id.eq_ignore_ascii_case(&a.group_id))
            else {
                continue;
            };
            out.push(FrontlineAssignmentView {
                policy_id: policy.id.clone().unwrap_or_default(),
                policy: policy.display_name.clone(),
                mode: mode.as_str().to_owned(),
                group_id: group.id.clone(),
                group: group.display_name.clone(),
                service_plan_id: a.service_plan_id,
                allotment: a.allotment_display_name,
                licences: a.allotted_licenses,
            });
        }
    }
    Some(out)
}

/// A user's Windows 365 picture: Cloud PCs, Windows 365 licences and where they come from (group
/// or direct), groups (provisioning and user-settings groups among them), Frontline assignments.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user}/windows365", tag = "reads",
    params(("tenant" = String, Path), ("user" = String, Path, description = "UPN or object id")),
    responses((status = 200, body = UserWindows365), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn user_windows365(
    State(app): State<AppState>,
    who: Principal,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Json<UserWindows365>, ApiError> {
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
    let (pcs, frontline) = futures::join!(
        w365_ops::cloud_pc::show(client, &found.user_principal_name),
        frontline_of(client, &groups),
    );
    let pcs = match pcs {
        Ok(pcs) => pcs,
        // "has no Cloud PC at all" is an answer, not a failure.
        Err(e) if e.kind() == w365_ops::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(graph_error("Could not read the user's Cloud PCs", &e)),
    };
    let licences = windows365_licences(&states, &skus, &groups);
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
    Ok(Json(UserWindows365 {
        user: found,
        protected,
        cloud_pcs: pcs,
        licences,
        groups,
        frontline,
    }))
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

/// A tenant's provisioning and user settings policies, each with its assignments.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicies {
    /// Every provisioning policy, sorted by name: `object`, `id`, `displayName`, `properties`
    /// (the writable ones, as in a policy file), `readOnly` (Graph's names) and `assignments`
    /// (group name and id, and for Frontline the service plan and allotment), as
    /// `w365 policy show -o json` prints them.
    #[schema(value_type = Vec<Object>)]
    pub provisioning_policies: Vec<w365_ops::policy::tenant::Details>,
    /// Every user settings policy, sorted by name, in the same shape.
    #[schema(value_type = Vec<Object>)]
    pub user_settings_policies: Vec<w365_ops::policy::tenant::Details>,
}

/// The tenant's provisioning and user settings policies with their assignments, complete (a
/// tenant has tens of policies, not thousands). Changing them is the Admin's `policy.*` and
/// `user-settings.*` jobs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/policies", tag = "reads",
    params(("tenant" = String, Path)),
    responses((status = 200, body = TenantPolicies), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn policies(
    State(app): State<AppState>,
    who: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<TenantPolicies>, ApiError> {
    use w365_ops::policy::ObjectKind;
    use w365_ops::policy::ops::{ListFilter, list};
    let tenant = app.tenant_for(&who, &tenant)?;
    let all = ListFilter::default();
    let (provisioning_policies, user_settings_policies) = futures::try_join!(
        list(&tenant.client, ObjectKind::ProvisioningPolicy, &all),
        list(&tenant.client, ObjectKind::UserSettings, &all),
    )
    .map_err(|e| graph_error("Could not read the policies", &e))?;
    Ok(Json(TenantPolicies {
        provisioning_policies,
        user_settings_policies,
    }))
}
