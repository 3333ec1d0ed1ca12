//! `/groups`: list, get, update (`members@odata.bind`, displayName, description), members with
//! paging and the `microsoft.graph.user`/`microsoft.graph.group` casts, `transitiveMembers`,
//! `$count`, one member, add
//! (`members/$ref`), remove (`members/{id}/$ref`), `membersWithLicenseErrors`.
//!
//! Permissions: reads `GroupMember.Read.All`, `Group.Read.All` or `Directory.Read.All` (and their
//! ReadWrite forms); member writes `GroupMember.ReadWrite.All`, `Group.ReadWrite.All` or
//! `Directory.ReadWrite.All`; property updates `Group.ReadWrite.All` or `Directory.ReadWrite.All`.
//!
//! LIMITATIONS (Graph behaviour not emulated):
//! - no group creation or deletion, no `assignLicense` (seed license groups instead);
//! - `DELETE /groups/{id}/members/{id}` without `/$ref` (which would delete the object) answers 405;
//! - owners and `$expand=members` are not supported;
//! - mail-enabled security groups and distribution lists accept member writes (Graph: 403);
//! - role-assignable groups are not modelled;
//! - nested groups never receive group-based licenses (as in Entra ID), but are listed as members.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::perms;
use super::users::{DIRECTORY_OBJECTS, directory_object_json, group_json, wants};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::TenantState;
use crate::state::directory::{Group, ObjectKind};

const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "membershipRule",
    "visibility",
    "createdDateTime",
    "assignedLicenses",
    "licenseProcessingState",
    "hasMembersWithLicenseErrors",
    "classification",
    "isAssignableToRole",
    "proxyAddresses",
    "onPremisesSyncEnabled",
];

/// Graph's default property set for groups (the licensing properties need `$select`).
pub(crate) const GROUP_DEFAULT: &[&str] = &[
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "securityEnabled",
    "visibility",
];

const GROUPS: CollectionSpec<'static> = CollectionSpec {
    entity_set: "groups",
    type_name: "microsoft.graph.group",
    default_top: 100,
    max_top: 999,
    sortable: &["displayName"],
    properties: GROUP_PROPERTIES,
    default_select: Some(GROUP_DEFAULT),
    directory: true,
    expand: false,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list_groups))
        .route("/groups/$count", get(count_groups))
        .route("/groups/{id}", get(get_group).patch(update_group))
        .route("/groups/{id}/members/$count", get(count_members))
        .route("/groups/{id}/members", get(list_members))
        .route(
            "/groups/{id}/members/microsoft.graph.user",
            get(list_user_members),
        )
        // The `graph.` namespace alias Microsoft's SDKs use for casts (see users.rs).
        .route("/groups/{id}/members/graph.user", get(list_user_members))
        .route(
            "/groups/{id}/members/microsoft.graph.group",
            get(list_group_members),
        )
        // The `graph.` namespace alias Microsoft's SDKs use for casts (see users.rs).
        .route("/groups/{id}/members/graph.group", get(list_group_members))
        .route(
            "/groups/{id}/transitiveMembers",
            get(list_transitive_members),
        )
        .route(
            "/groups/{id}/transitiveMembers/microsoft.graph.user",
            get(list_transitive_user_members),
        )
        // The `graph.` namespace alias Microsoft's SDKs use for casts (see users.rs).
        .route(
            "/groups/{id}/transitiveMembers/graph.user",
            get(list_transitive_user_members),
        )
        .route("/groups/{id}/members/$ref", post(add_member))
        .route("/groups/{id}/members/{member}", get(get_member))
        .route(
            "/groups/{id}/members/{member}/$ref",
            axum::routing::delete(remove_member),
        )
        .route(
            "/groups/{id}/membersWithLicenseErrors",
            get(members_with_license_errors),
        )
}

fn find_group<'a>(tenant: &'a TenantState, id: &str) -> Result<&'a Group, ApiError> {
    tenant
        .directory
        .group(id)
        .ok_or_else(|| ApiError::resource_not_found(id))
}

async fn list_groups(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    let with_errors = wants(&query, "hasMembersWithLicenseErrors");
    let by_name = collection::simple_eq_literal(&ctx, "displayName");
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        // `displayName eq '...'` goes through the name index (the filter still runs).
        let groups: Vec<&Group> = match &by_name {
            Some(name) => tenant
                .directory
                .groups_named(name)
                .iter()
                .filter_map(|id| tenant.directory.group(id))
                .collect(),
            None => tenant.directory.groups().collect(),
        };
        collection::collection_of(&ctx, &query, &GROUPS, groups, |g| {
            group_json(tenant, g, with_errors)
        })
    })
}

/// `text/plain` count answers need `ConsistencyLevel: eventual`, like Graph.
fn count_answer(
    ctx: &RequestContext,
    count: impl FnOnce() -> Result<usize, ApiError>,
) -> Result<Response, ApiError> {
    if !ctx.consistency_eventual {
        return Err(ApiError::bad_request(
            "Request_BadRequest",
            "$count is not currently supported.",
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain")], count()?.to_string()).into_response())
}

async fn count_groups(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Response, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    let with_errors = wants(&query, "hasMembersWithLicenseErrors");
    count_answer(&ctx, || {
        app.with_tenant(auth.tenant_id(), |tenant, _| {
            let filter = query.options.filter.as_ref();
            Ok(tenant
                .directory
                .groups()
                .filter(|g| filter.is_none_or(|f| f.matches(&group_json(tenant, g, with_errors))))
                .count())
        })
    })
}

async fn count_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    count_answer(&ctx, || {
        app.with_tenant(auth.tenant_id(), |tenant, _| {
            let group = find_group(tenant, &id)?;
            Ok(tenant.directory.members(&group.id).map_or(0, |m| m.len()))
        })
    })
}

async fn get_group(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    let with_errors = wants(&query, "hasMembersWithLicenseErrors");
    let item = app.with_tenant(auth.tenant_id(), |tenant, _| {
        Ok(group_json(tenant, find_group(tenant, &id)?, with_errors))
    })?;
    collection::entity(&ctx, &query, &GROUPS, &item)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cast {
    All,
    Users,
    Groups,
}

fn members_page(
    app: &AppState,
    auth: &Auth,
    ctx: &RequestContext,
    query: &GraphQuery,
    id: &str,
    cast: Cast,
) -> Result<Json<Value>, ApiError> {
    members_page_of(app, auth, ctx, query, id, cast, false)
}

fn members_page_of(
    app: &AppState,
    auth: &Auth,
    ctx: &RequestContext,
    query: &GraphQuery,
    id: &str,
    cast: Cast,
    transitive: bool,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    let basic_users = !auth.has_any(perms::USER_READ)
        && !auth.has_any(&[
            "GroupMember.Read.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
        ]);
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        let group = find_group(tenant, id)?;
        let nested;
        let all: Box<dyn Iterator<Item = &String>> = if transitive {
            nested = tenant.directory.transitive_members(&group.id);
            Box::new(nested.iter())
        } else {
            Box::new(tenant.directory.members(&group.id).into_iter().flatten())
        };
        let members: Vec<&String> = all
            .filter(|m| match cast {
                Cast::All => true,
                Cast::Users => tenant.directory.object_kind(m) == Some(ObjectKind::User),
                Cast::Groups => tenant.directory.object_kind(m) == Some(ObjectKind::Group),
            })
            .collect();
        let spec = match cast {
            Cast::All => DIRECTORY_OBJECTS,
            Cast::Users => CollectionSpec {
                entity_set: "users",
                type_name: "microsoft.graph.user",
                sortable: &["displayName", "userPrincipalName"],
                ..DIRECTORY_OBJECTS
            },
            Cast::Groups => CollectionSpec {
                entity_set: "groups",
                type_name: "microsoft.graph.group",
                ..DIRECTORY_OBJECTS
            },
        };
        collection::collection_of(ctx, query, &spec, members, |m| {
            directory_object_json(tenant, m, query, basic_users).unwrap_or(Value::Null)
        })
    })
}

async fn list_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    members_page(&app, &auth, &ctx, &query, &id, Cast::All)
}

async fn list_transitive_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    members_page_of(&app, &auth, &ctx, &query, &id, Cast::All, true)
}

async fn list_transitive_user_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    members_page_of(&app, &auth, &ctx, &query, &id, Cast::Users, true)
}

async fn list_user_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    members_page(&app, &auth, &ctx, &query, &id, Cast::Users)
}

async fn list_group_members(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    members_page(&app, &auth, &ctx, &query, &id, Cast::Groups)
}

async fn get_member(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    if member.starts_with("microsoft.graph.") {
        return Err(ApiError::bad_request(
            "Request_UnsupportedQuery",
            format!("The cast '{member}' is not supported on the members of a group."),
        ));
    }
    let item = app.with_tenant(auth.tenant_id(), |tenant, _| {
        let group = find_group(tenant, &id)?;
        let member_id = tenant
            .directory
            .canonical_object_id(&member)
            .filter(|m| tenant.directory.is_member(&group.id, m))
            .ok_or_else(|| ApiError::resource_not_found(&member))?;
        directory_object_json(tenant, &member_id, &query, false)
            .ok_or_else(|| ApiError::resource_not_found(&member))
    })?;
    collection::entity(&ctx, &query, &DIRECTORY_OBJECTS, &item)
}

/// The object id at the end of an `@odata.id` / `members@odata.bind` URL
/// (`https://graph.microsoft.com/v1.0/directoryObjects/{id}`, `.../users/{id}`, or a bare id).
fn referenced_id(reference: &str) -> Result<String, ApiError> {
    let trimmed = reference.trim().trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let last = last
        .strip_prefix("directoryObjects('")
        .or_else(|| last.strip_prefix("users('"))
        .or_else(|| last.strip_prefix("groups('"))
        .and_then(|s| s.strip_suffix("')"))
        .unwrap_or(last);
    let decoded = percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .into_owned();
    if decoded.is_empty() || reference.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Request_BadRequest",
            format!("Invalid object identifier '{reference}'."),
        ));
    }
    Ok(decoded)
}

fn write_error(err: crate::state::StateError) -> ApiError {
    match err {
        crate::state::StateError::ObjectNotFound { id } => ApiError::resource_not_found(&id),
        other => other.into(),
    }
}

async fn add_member(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Value>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(perms::MEMBER_WRITE)?;
    let reference = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(
                "Request_BadRequest",
                "The request body must contain '@odata.id'.",
            )
        })?;
    let member = referenced_id(reference)?;
    app.with_tenant(auth.tenant_id(), |tenant, now| {
        find_group(tenant, &id)?;
        tenant.add_member(&id, &member, now).map_err(write_error)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(app): State<AppState>,
    auth: Auth,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    auth.require_any(perms::MEMBER_WRITE)?;
    app.with_tenant(auth.tenant_id(), |tenant, now| {
        find_group(tenant, &id)?;
        tenant
            .remove_member(&id, &member, now)
            .map_err(ApiError::from)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /groups/{id}`: `members@odata.bind` (at most 20, all or nothing), `displayName`,
/// `description`.
async fn update_group(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    GraphJson(body): GraphJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let mut binds = None;
    let mut display_name = None;
    let mut description = None;
    for (key, value) in &body {
        match key.as_str() {
            "members@odata.bind" => {
                let refs = value.as_array().ok_or_else(|| {
                    ApiError::bad_request(
                        "Request_BadRequest",
                        "'members@odata.bind' must be an array of URLs.",
                    )
                })?;
                let ids = refs
                    .iter()
                    .map(|r| {
                        r.as_str()
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    "Request_BadRequest",
                                    "'members@odata.bind' must be an array of URLs.",
                                )
                            })
                            .and_then(referenced_id)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                binds = Some(ids);
            }
            "displayName" => {
                display_name = Some(value.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::bad_request("Request_BadRequest", "Invalid value specified for property 'displayName' of resource 'Group'."))?.to_owned());
            }
            "description" => description = Some(value.as_str().map(str::to_owned)),
            // Microsoft's SDKs serialize their `Group` model with its type annotation; Graph
            // accepts it when it names the entity's own type.
            "@odata.type"
                if value.as_str().is_some_and(|t| {
                    t.trim_start_matches('#')
                        .eq_ignore_ascii_case("microsoft.graph.group")
                }) => {}
            other => {
                return Err(ApiError::bad_request(
                    "Request_BadRequest",
                    format!("Property '{other}' cannot be updated by this simulator."),
                ));
            }
        }
    }
    if binds.is_some() {
        auth.require_any(perms::MEMBER_WRITE)?;
    }
    if display_name.is_some() || description.is_some() {
        auth.require_any(perms::GROUP_WRITE)?;
    }
    if binds.is_none() && display_name.is_none() && description.is_none() {
        auth.require_any(perms::MEMBER_WRITE)?;
    }
    app.with_tenant(auth.tenant_id(), |tenant, now| {
        let group_id = find_group(tenant, &id)?.id.clone();
        if let Some(ids) = &binds {
            tenant
                .add_members(&group_id, ids, now)
                .map_err(write_error)?;
        }
        if display_name.is_some() || description.is_some() {
            tenant
                .rename_group(
                    &group_id,
                    display_name.as_deref(),
                    description.as_ref().map(Option::as_deref),
                )
                .map_err(ApiError::from)?;
        }
        Ok(())
    })?;
    Ok((StatusCode::NO_CONTENT, [(header::CONTENT_LENGTH, "0")]).into_response())
}

async fn members_with_license_errors(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(perms::GROUP_READ)?;
    app.with_tenant(auth.tenant_id(), |tenant, _| {
        let group = find_group(tenant, &id)?;
        let items = tenant
            .directory
            .members(&group.id)
            .into_iter()
            .flatten()
            .filter(|m| {
                tenant.directory.user(m).is_some_and(|u| {
                    u.license_assignment_states.iter().any(|s| {
                        s.assigned_by_group.as_deref() == Some(group.id.as_str())
                            && s.state == "Error"
                    })
                })
            })
            .filter_map(|m| directory_object_json(tenant, m, &query, false))
            .collect();
        collection::collection(&ctx, &query, &DIRECTORY_OBJECTS, items)
    })
}
