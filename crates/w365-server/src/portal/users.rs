//! Users: the home page (search) and the search results with each user's Windows 365 state at a
//! glance.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::{ActionView, action_form};
use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::access::role_for;
use crate::api::reads::{self, UserQuery};
use crate::auth::Role;
use crate::state::{AppState, Tenant};

/// Users per page of search results.
pub const PAGE_SIZE: u32 = 25;

/// `GET /`: the home page is the user search (a helpdesk ticket starts with a user).
pub async fn home(_session: PortalSession) -> Response {
    Redirect::to("/users").into_response()
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

/// A status shown with words and a kind (the colour only repeats it).
#[derive(Debug, Serialize)]
pub struct Badge {
    pub text: String,
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    upn: String,
    w365: Vec<Badge>,
}

/// `GET /users?q=&page=`: search by the start of the name or UPN, paged.
pub async fn search(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let tenant = session.current_tenant()?.clone();
    let page: u32 = match q.page.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            PageError::bad_request(
                format!("'{p}' is not a page number."),
                "Use the Previous and Next links, or page=1.",
            )
        })?,
    };
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let found = reads::users(
        State(app.clone()),
        session.principal.clone(),
        Path(tenant.name.clone()),
        Ok(Query(UserQuery {
            search: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
            limit: Some(PAGE_SIZE),
            cursor: (offset > 0).then(|| offset.to_string()),
        })),
    )
    .await?
    .0;
    let items = found["items"].as_array().cloned().unwrap_or_default();
    // One SKU list for the page; each user's licences and Cloud PCs at once.
    let skus = tenant.client.subscribed_skus().list().await.ok();
    let rows: Vec<Row> = futures::future::join_all(items.iter().map(|u| {
        let upn = text(&u["userPrincipalName"]);
        let name = text(&u["displayName"]);
        let (tenant, skus) = (&tenant, skus.as_deref());
        async move {
            Row {
                name,
                w365: glance(tenant, &upn, skus).await,
                upn,
            }
        }
    }))
    .await;
    let next = found["nextCursor"].is_string().then_some(page + 1);
    let prev = (page > 1).then(|| page - 1);
    Ok(Page::new(&session, "Users").render(
        "users.html",
        context! { q => q.q, users => rows, page => page, next => next, prev => prev },
    ))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A Cloud PC status in words and a kind.
pub fn pc_status(status: &str) -> Badge {
    let kind = match status {
        "provisioned" => "ok",
        "provisioning" | "notProvisioned" | "resizing" | "restoring" | "deprovisioning" => "info",
        "inGracePeriod" | "resizePendingLicense" | "pendingProvision" => "warn",
        "failed" | "provisionedWithWarnings" => "bad",
        _ => "muted",
    };
    let words = match status {
        "provisioned" => "Cloud PC ready".to_owned(),
        "provisioning" => "Cloud PC provisioning".to_owned(),
        "inGracePeriod" => "Cloud PC in grace period".to_owned(),
        "failed" => "Cloud PC failed".to_owned(),
        "provisionedWithWarnings" => "Cloud PC ready, with warnings".to_owned(),
        "notProvisioned" => "Cloud PC not provisioned yet".to_owned(),
        "deprovisioning" => "Cloud PC being removed".to_owned(),
        other => format!("Cloud PC {other}"),
    };
    Badge { text: words, kind }
}

/// A user's Windows 365 state at a glance: licensed or not, each Cloud PC's status.
async fn glance(
    tenant: &Tenant,
    upn: &str,
    skus: Option<&[w365_graph::models::SubscribedSku]>,
) -> Vec<Badge> {
    let client = &tenant.client;
    let unknown = || {
        vec![Badge {
            text: "state unknown".into(),
            kind: "muted",
        }]
    };
    let users = client.users();
    let (Ok(Some(user)), Some(skus)) = (users.get_opt(upn).await, skus) else {
        return unknown();
    };
    let Ok(states) = users.license_assignment_states(&user.id).await else {
        return unknown();
    };
    let w365_licensed = !reads::windows365_licences(&states, skus, &[]).is_empty();
    let mut out = vec![if w365_licensed {
        Badge {
            text: "licensed".into(),
            kind: "ok",
        }
    } else {
        Badge {
            text: "no Windows 365 licence".into(),
            kind: "muted",
        }
    }];
    match w365_ops::cloud_pc::show(client, upn).await {
        Ok(pcs) => out.extend(pcs.iter().map(|pc| {
            let v = serde_json::to_value(pc).unwrap_or_default();
            pc_status(v["status"].as_str().unwrap_or("unknown"))
        })),
        Err(e) if e.kind() == w365_ops::ErrorKind::NotFound => {}
        Err(_) => out.push(Badge {
            text: "Cloud PCs unknown".into(),
            kind: "muted",
        }),
    }
    if out.len() == 1 && w365_licensed {
        out.push(Badge {
            text: "no Cloud PC yet".into(),
            kind: "warn",
        });
    }
    out
}

/// A Cloud PC as the user page shows it, with its actions.
#[derive(Debug, Serialize)]
struct PcView {
    pc: Value,
    status: Badge,
    frontline: bool,
    actions: Vec<ActionView>,
}

/// `GET /users/{user}`: the user's Windows 365 picture and the actions the operator may run.
pub async fn user_page(
    State(app): State<AppState>,
    session: PortalSession,
    Path(user): Path<String>,
) -> Result<Response, PageError> {
    let tenant = session.current_tenant()?.clone();
    let data = reads::user_windows365(
        State(app.clone()),
        session.principal.clone(),
        Path((tenant.name.clone(), user.clone())),
    )
    .await?
    .0;
    let data = serde_json::to_value(data).map_err(|e| {
        crate::error::ApiError::internal("Could not render the user's Windows 365 state", &e)
    })?;
    let upn = text(&data["user"]["userPrincipalName"]);
    let protected = data["protected"].as_bool().unwrap_or(false);
    // Actions: the role allows them, and a protected user only for Admins (the server checks
    // both again on every post).
    let may_act = |role: w365_ops::spec::Role| {
        session.has(role_for(role)) && (!protected || session.has(Role::Admin))
    };
    let mut user_actions = Vec::new();
    for op in ["assign", "unassign", "reprovision", "resize"] {
        if let Some(spec) = w365_ops::spec::operation(op).filter(|s| may_act(s.role)) {
            user_actions.push(action_form(&tenant, spec, &upn, None, None).await);
        }
    }
    let mut pcs = Vec::new();
    for pc in data["cloudPcs"].as_array().cloned().unwrap_or_default() {
        let id = text(&pc["id"]);
        let frontline = pc["provisioningType"]
            .as_str()
            .is_some_and(|t| t.starts_with("shared"));
        let mut actions = Vec::new();
        for spec in w365_ops::spec::operations()
            .iter()
            .filter(|s| s.name.starts_with("cloudpc."))
            .filter(|s| may_act(s.role))
            .filter(|s| frontline || !s.name.starts_with("cloudpc.power-"))
        {
            actions.push(action_form(&tenant, spec, &upn, Some(&id), None).await);
        }
        pcs.push(PcView {
            status: pc_status(pc["status"].as_str().unwrap_or("unknown")),
            frontline,
            pc,
            actions,
        });
    }
    let prefixes = [
        tenant
            .profile
            .assign
            .provisioning_group_prefix
            .clone()
            .unwrap_or_else(|| w365_ops::assign::DEFAULT_PROVISIONING_GROUP_PREFIX.to_owned()),
        tenant
            .profile
            .assign
            .user_settings_group_prefix
            .clone()
            .unwrap_or_else(|| w365_ops::assign::DEFAULT_USER_SETTINGS_GROUP_PREFIX.to_owned()),
    ];
    // The groups a licence of this user comes from.
    let licence_groups: Vec<&str> = data["licences"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["source"]["groupId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let groups: Vec<Value> = data["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|g| {
            let name = text(&g["displayName"]);
            let role = if g["id"]
                .as_str()
                .is_some_and(|id| licence_groups.contains(&id))
            {
                "licence"
            } else if name.starts_with(&prefixes[0]) {
                "provisioning"
            } else if name.starts_with(&prefixes[1]) {
                "user settings"
            } else {
                ""
            };
            serde_json::json!({"name": name, "id": g["id"], "role": role})
        })
        .collect();
    let jobs = app
        .store()
        .list(&w365_jobs::JobFilter {
            tenant: Some(tenant.name.clone()),
            target: Some(upn.clone()),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            serde_json::json!({
                "id": j.id.to_string(),
                "operation": j.operation,
                "state": super::job::state_badge(j.state),
                "created": super::job::when(j.created_at),
                "by": j.requested_by.display_name,
            })
        })
        .collect();
    let title = text(&data["user"]["displayName"]);
    Ok(Page::new(&session, title.clone()).render(
        "user.html",
        context! {
            user => data["user"],
            upn => upn,
            name => title,
            protected => protected,
            licences => data["licences"],
            groups => groups,
            frontline => data["frontline"],
            pcs => pcs,
            actions => user_actions,
            jobs => jobs,
            reader => !session.has(Role::Helpdesk),
            blocked_by_protection => protected && session.has(Role::Helpdesk) && !session.has(Role::Admin),
        },
    ))
}
