//! `/users`: list, get by id or userPrincipalName, `$count`, `memberOf` (+ the
//! `microsoft.graph.group` cast), `transitiveMemberOf`, `GET /directoryObjects/{id}`,
//! `checkMemberGroups`/`checkMemberObjects`
//! (also under `/directoryObjects/{id}` and `/groups/{id}`), `assignLicense` (direct licences).
//!
//! Permissions: `User.Read.All` (or `User.ReadWrite.All`, `Directory.Read.All`,
//! `Directory.ReadWrite.All`); `User.ReadBasic.All` alone sees only basic properties. Membership
//! reads additionally need a group permission (`GroupMember.Read.All`, `Group.Read.All`, ...).
//!
//! LIMITATIONS (Graph behaviour not emulated):
//! - no user creation, update or deletion (`POST/PATCH/DELETE /users`); seed them instead;
//! - `/users/{id}/$value` (photos) is not supported;
//! - properties outside the modelled set (e.g. `otherMails`, `proxyAddresses`, `identities`) are
//!   never returned; `$select` of them is accepted and yields nothing;
//! - `$expand` is refused; `$search` matches word prefixes of the named property only;
//! - memberOf lists groups only (no directory roles or administrative units);
//! - advanced-query index lag (reads through `ConsistencyLevel: eventual` lagging further than
//!   plain reads) is not modelled: both see the replicated state.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::perms;
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::TenantState;
use crate::state::directory::{Directory, Group, ObjectKind, User};

/// Every user property the simulator models (and a few more accepted in `$select`).
const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "accountEnabled",
    "usageLocation",
    "jobTitle",
    "department",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "preferredLanguage",
    "userType",
    "createdDateTime",
    "assignedLicenses",
    "licenseAssignmentStates",
    "otherMails",
    "proxyAddresses",
    "employeeId",
    "companyName",
    "city",
    "country",
    "onPremisesSyncEnabled",
    "identities",
    "assignedPlans",
];

/// Graph's default property set for users (without `$select`).
pub(crate) const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

const USER_BASIC: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
];

pub(crate) const USERS: CollectionSpec<'static> = CollectionSpec {
    entity_set: "users",
    type_name: "microsoft.graph.user",
    default_top: 100,
    max_top: 999,
    sortable: &["displayName", "userPrincipalName"],
    properties: USER_PROPERTIES,
    default_select: Some(USER_DEFAULT),
    directory: true,
    expand: false,
};

/// Members/memberOf collections: mixed directory objects, no property validation.
pub(crate) const DIRECTORY_OBJECTS: CollectionSpec<'static> = CollectionSpec {
    entity_set: "directoryObjects",
    type_name: "microsoft.graph.directoryObject",
    default_top: 100,
    max_top: 999,
    sortable: &["displayName"],
    properties: &[],
    default_select: None,
    directory: true,
    expand: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/$count", get(count_users))
        .route("/users/{key}", get(get_user))
        .route("/users/{key}/memberOf", get(member_of))
        .route(
            "/users/{key}/memberOf/microsoft.graph.group",
            get(member_of_groups),
        )
        // `graph` is the namespace alias of `microsoft.graph` in Graph's $metadata; Microsoft's
        // SDKs send casts with it (`memberOf/graph.group`).
        .route("/users/{key}/memberOf/graph.group", get(member_of_groups))
        .route("/users/{key}/transitiveMemberOf", get(transitive_member_of))
        .route(
            "/users/{key}/transitiveMemberOf/microsoft.graph.group",
            get(transitive_member_of_groups),
        )
        .route("/users/{key}/assignLicense", post(assign_license))
        .route(
            "/users/{key}/transitiveMemberOf/graph.group",
            get(transitive_member_of_groups),
        )
        .route("/users/{key}/checkMemberGroups", post(check_member_groups))
        .route(
            "/users/{key}/checkMemberObjects",
            post(check_member_objects),
        )
        .route("/directoryObjects/{id}", get(get_directory_object))
        .route(
            "/directoryObjects/{id}/checkMemberGroups",
            post(check_member_groups),
        )
        .route(
            "/directoryObjects/{id}/checkMemberObjects",
            post(check_member_objects),
        )
        .route("/groups/{id}/checkMemberGroups", post(check_member_groups))
        .route(
            "/groups/{id}/checkMemberObjects",
            post(check_member_objects),
        )
}

/// The full JSON of a user (every modelled property), as `$filter` sees it.
pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "surname": user.surname,
        "mail": user.mail,
        "accountEnabled": user.account_enabled,
        "usageLocation": user.usage_location,
        "jobTitle": user.job_title,
        "department": user.department,
        "officeLocation": user.office_location,
        "mobilePhone": user.mobile_phone,
        "businessPhones": user.business_phones,
        "preferredLanguage": user.preferred_language,
        "userType": user.user_type,
        "createdDateTime": user.created_date_time.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "assignedLicenses": user.assigned_licenses(),
        "licenseAssignmentStates": user.license_assignment_states,
    })
}

/// A user as a caller with only `User.ReadBasic.All` sees it.
fn basic_json(user: &User) -> Value {
    collection::pick(&user_json(user), USER_BASIC)
}

/// The JSON of a group as `$filter` sees it (`hasMembersWithLicenseErrors` computed on demand).
pub(crate) fn group_json(tenant: &TenantState, group: &Group, with_license_errors: bool) -> Value {
    let mut value = json!({
        "id": group.id,
        "displayName": group.display_name,
        "description": group.description,
        "mail": group.mail,
        "mailEnabled": group.mail_enabled,
        "mailNickname": group.mail_nickname,
        "securityEnabled": group.security_enabled,
        "groupTypes": group.group_types,
        "membershipRule": null,
        "visibility": null,
        "createdDateTime": group.created_date_time.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "assignedLicenses": group.assigned_licenses,
        "licenseProcessingState": group.license_processing_state,
    });
    if with_license_errors && let Value::Object(map) = &mut value {
        map.insert(
            "hasMembersWithLicenseErrors".to_owned(),
            Value::Bool(tenant.has_members_with_license_errors(&group.id)),
        );
    }
    value
}

/// Adds `@odata.type`.
pub(crate) fn typed(mut value: Value, odata_type: &str) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(
            "@odata.type".to_owned(),
            Value::String(odata_type.to_owned()),
        );
    }
    value
}

/// A directory object (user or group) as listed in members/memberOf: `@odata.type` plus the
/// type's default properties (or everything, for `$filter`/`$select`).
pub(crate) fn directory_object_json(
    tenant: &TenantState,
    id: &str,
    query: &GraphQuery,
    basic_users: bool,
) -> Option<Value> {
    match tenant.directory.object_kind(id)? {
        ObjectKind::User => {
            let user = tenant.directory.user(id)?;
            let full = if basic_users {
                basic_json(user)
            } else {
                user_json(user)
            };
            let shaped = if query.options.select.is_some() || query.options.filter.is_some() {
                full
            } else {
                collection::pick(&full, USER_DEFAULT)
            };
            Some(typed(shaped, "#microsoft.graph.user"))
        }
        ObjectKind::Group => {
            let group = tenant.directory.group(id)?;
            let wants_errors = wants(query, "hasMembersWithLicenseErrors");
            let full = group_json(tenant, group, wants_errors);
            let shaped = if query.options.select.is_some() || query.options.filter.is_some() {
                full
            } else {
                collection::pick(&full, super::groups::GROUP_DEFAULT)
            };
            Some(typed(shaped, "#microsoft.graph.group"))
        }
    }
}

/// Whether the query selects or filters on `property`.
pub(crate) fn wants(query: &GraphQuery, property: &str) -> bool {
    let selected = query
        .options
        .select
        .as_ref()
        .is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case(property)));
    let filtered = query.options.filter.as_ref().is_some_and(|f| {
        f.referenced_properties()
            .iter()
            .any(|p| p.eq_ignore_ascii_case(property))
    });
    selected || filtered
}

/// `true` when the caller can read only basic user properties; 403 when it cannot read users.
fn user_access(auth: &Auth) -> Result<bool, ApiError> {
    if auth.has_any(perms::USER_READ) {
        return Ok(false);
    }
    auth.require_any(perms::USER_READ_BASIC)?;
    Ok(true)
}

fn find_user<'a>(tenant: &'a TenantState, key: &str) -> Result<&'a User, ApiError> {
    tenant
        .directory
        .user_by_key(key)
        .ok_or_else(|| ApiError::resource_not_found(key))
}

/// The users with these ids, each once, in the directory's order (by id).
fn indexed<'a>(ids: impl Iterator<Item = &'a str>, d: &'a Directory) -> Vec<&'a User> {
    let ids: std::collections::BTreeSet<&str> = ids.collect();
    ids.into_iter().filter_map(|id| d.user(id)).collect()
}

async fn list_users(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    let basic = user_access(&auth)?;
    let eq_or_in = |property: &str| {
        collection::simple_eq_literal(&ctx, property)
            .map(|v| vec![v])
            .or_else(|| collection::simple_in_literals(&ctx, property))
    };
    let by_upn = eq_or_in("userPrincipalName");
    let by_id = eq_or_in("id");
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        // `userPrincipalName eq|in …` / `id eq|in …` take their candidates from the index, in
        // the directory's order (the filter still runs over them): a bulk file's `in` lists
        // would otherwise each render every user of a large tenant.
        let d = &tenant.directory;
        let users: Vec<&User> = match (&by_upn, &by_id) {
            (Some(upns), _) => indexed(upns.iter().filter_map(|upn| d.user_id_by_upn(upn)), d),
            (None, Some(ids)) => indexed(
                ids.iter().filter_map(|id| {
                    d.user(id)
                        .or_else(|| d.user(&id.to_lowercase()))
                        .map(|u| u.id.as_str())
                }),
                d,
            ),
            (None, None) => d.users().collect(),
        };
        if basic {
            collection::collection_of(&ctx, &query, &USERS, users, |u| basic_json(u))
        } else {
            collection::collection_of(&ctx, &query, &USERS, users, |u| user_json(u))
        }
    })
}

/// `GET /users/$count` (needs `ConsistencyLevel: eventual`), `text/plain`.
async fn count_users(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Response, ApiError> {
    user_access(&auth)?;
    if !ctx.consistency_eventual {
        return Err(ApiError::bad_request(
            "Request_BadRequest",
            "$count is not currently supported.",
        ));
    }
    let count = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let filter = query.options.filter.as_ref();
        Ok(tenant
            .directory
            .users()
            .filter(|u| filter.is_none_or(|f| f.matches(&user_json(u))))
            .count())
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], count.to_string()).into_response())
}

async fn get_user(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let basic = user_access(&auth)?;
    let item = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let user = find_user(tenant, &key)?;
        Ok(if basic {
            basic_json(user)
        } else {
            user_json(user)
        })
    })?;
    collection::entity(&ctx, &query, &USERS, &item)
}

/// `GET /directoryObjects/{id}`: a user or group with its `@odata.type`.
async fn get_directory_object(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let readers: Vec<&str> = perms::USER_READ_BASIC
        .iter()
        .chain(perms::GROUP_READ)
        .copied()
        .collect();
    auth.require_any(&readers)?;
    let basic = !auth.has_any(perms::USER_READ);
    let item = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let canonical = tenant
            .directory
            .canonical_object_id(&id)
            .ok_or_else(|| ApiError::resource_not_found(&id))?;
        let kind = tenant.directory.object_kind(&canonical);
        let allowed = match kind {
            Some(ObjectKind::User) => auth.has_any(perms::USER_READ_BASIC),
            Some(ObjectKind::Group) => auth.has_any(perms::GROUP_READ),
            None => false,
        };
        if !allowed {
            return Err(ApiError::insufficient_privileges());
        }
        directory_object_json(tenant, &canonical, &query, basic)
            .ok_or_else(|| ApiError::resource_not_found(&id))
    })?;
    collection::entity(&ctx, &query, &DIRECTORY_OBJECTS, &item)
}

#[derive(Clone, Copy)]
enum MemberOfKind {
    Direct,
    Transitive,
}

fn member_of_page(
    app: &AppState,
    auth: &Auth,
    ctx: &RequestContext,
    query: &GraphQuery,
    key: &str,
    kind: MemberOfKind,
    cast: bool,
) -> Result<Json<Value>, ApiError> {
    user_access(auth)?;
    auth.require_any(perms::GROUP_READ)?;
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        let user = find_user(tenant, key)?;
        let groups: Vec<String> = match kind {
            MemberOfKind::Direct => tenant.directory.member_of(&user.id).cloned().collect(),
            MemberOfKind::Transitive => tenant
                .directory
                .transitive_member_of(&user.id)
                .into_iter()
                .collect(),
        };
        let items = groups
            .iter()
            .filter_map(|g| directory_object_json(tenant, g, query, false))
            .collect();
        let spec = if cast {
            CollectionSpec {
                entity_set: "groups",
                type_name: "microsoft.graph.group",
                ..DIRECTORY_OBJECTS
            }
        } else {
            DIRECTORY_OBJECTS
        };
        collection::collection(ctx, query, &spec, items)
    })
}

async fn member_of(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    member_of_page(&app, &auth, &ctx, &query, &key, MemberOfKind::Direct, false)
}

async fn member_of_groups(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    member_of_page(&app, &auth, &ctx, &query, &key, MemberOfKind::Direct, true)
}

async fn transitive_member_of(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    member_of_page(
        &app,
        &auth,
        &ctx,
        &query,
        &key,
        MemberOfKind::Transitive,
        false,
    )
}

async fn transitive_member_of_groups(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    member_of_page(
        &app,
        &auth,
        &ctx,
        &query,
        &key,
        MemberOfKind::Transitive,
        true,
    )
}

/// Most ids `checkMemberGroups`/`checkMemberObjects` accept.
const MAX_CHECK_IDS: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckGroupsBody {
    group_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckObjectsBody {
    ids: Vec<String>,
}

fn check_membership(
    app: &AppState,
    auth: &Auth,
    ctx: &RequestContext,
    key: &str,
    ids: &[String],
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::USER_READ_BASIC)?;
    auth.require_any(perms::GROUP_READ)?;
    if ids.len() > MAX_CHECK_IDS {
        return Err(ApiError::bad_request(
            "Request_BadRequest",
            format!(
                "The number of ids ({}) exceeds the limit of {MAX_CHECK_IDS}.",
                ids.len()
            ),
        ));
    }
    if let Some(bad) = ids.iter().find(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(ApiError::bad_request(
            "Request_BadRequest",
            format!("Invalid GUID:'{bad}'."),
        ));
    }
    let matched = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let object_id = match tenant.directory.user_by_key(key) {
            Some(user) => user.id.clone(),
            None => tenant
                .directory
                .canonical_object_id(key)
                .ok_or_else(|| ApiError::resource_not_found(key))?,
        };
        let groups = tenant.directory.transitive_member_of(&object_id);
        Ok(ids
            .iter()
            .filter(|id| groups.contains(&id.to_lowercase()))
            .cloned()
            .collect::<Vec<_>>())
    })?;
    Ok(Json(json!({
        "@odata.context": ctx.context_url("Collection(Edm.String)"),
        "value": matched,
    })))
}

async fn check_member_groups(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    Path(key): Path<String>,
    GraphJson(body): GraphJson<CheckGroupsBody>,
) -> Result<Json<Value>, ApiError> {
    check_membership(&app, &auth, &ctx, &key, &body.group_ids)
}

async fn check_member_objects(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    Path(key): Path<String>,
    GraphJson(body): GraphJson<CheckObjectsBody>,
) -> Result<Json<Value>, ApiError> {
    check_membership(&app, &auth, &ctx, &key, &body.ids)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignLicenseBody {
    #[serde(default)]
    add_licenses: Vec<AssignedLicenseBody>,
    #[serde(default)]
    remove_licenses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignedLicenseBody {
    sku_id: String,
}

/// `POST /users/{id | userPrincipalName}/assignLicense`: direct licences (no `assignedByGroup`),
/// the alternative to group-based licensing. 200 with the user
/// (<https://learn.microsoft.com/en-us/graph/api/user-assignlicense>). LIMITATIONS: `disabledPlans`
/// are ignored; a failure part-way leaves the earlier licences applied (Graph applies the request
/// as a whole).
async fn assign_license(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    Path(key): Path<String>,
    GraphJson(body): GraphJson<AssignLicenseBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::LICENSE_WRITE)?;
    let user = app.with_tenant(auth.tenant_id(), |tenant, now| {
        if tenant.directory.user_by_key(&key).is_none() {
            return Err(ApiError::resource_not_found(&key));
        }
        for sku in &body.remove_licenses {
            tenant
                .remove_direct_license(&key, sku)
                .map_err(ApiError::from)?;
        }
        for license in &body.add_licenses {
            tenant
                .assign_direct_license(&key, &license.sku_id, now)
                .map_err(ApiError::from)?;
        }
        let user = tenant
            .directory
            .user_by_key(&key)
            .ok_or_else(|| ApiError::resource_not_found(&key))?;
        Ok(user_json(user))
    })?;
    let mut user = user;
    if let Value::Object(map) = &mut user {
        map.insert(
            "@odata.context".to_owned(),
            Value::String(ctx.context_url("users/$entity")),
        );
    }
    Ok(Json(user))
}
