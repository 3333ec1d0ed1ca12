//! `/deviceManagement/virtualEndpoint/auditEvents` (v1.0 and beta) and the one place where the
//! simulator records them: [`record`], a middleware around every Graph route that writes one
//! event for each successful change under `/deviceManagement/virtualEndpoint/` (policies, user
//! settings, Cloud PC actions, bulk actions, and whatever routes are added there later).
//!
//! Graph:
//! - `GET auditEvents` (`$filter`, `$top`, `$skiptoken`; paged with `@odata.nextLink`),
//!   `GET auditEvents/{id}`, `GET auditEvents/getAuditActivityTypes`; application permission
//!   `CloudPC.Read.All` (least privileged) or `CloudPC.ReadWrite.All`:
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-auditevents?view=graph-rest-1.0>,
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcauditevent-get?view=graph-rest-1.0>,
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcauditevent-getauditactivitytypes?view=graph-rest-1.0>.
//! - The event's shape and LIMITATIONS: [`crate::state::windows365::audit`].

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Router, body::to_bytes};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{BASE, CLOUD_PC_READ};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, AppState, Auth, GraphQuery, RequestContext};
use crate::state::windows365::audit::{self, AuditActor, Recording};

/// Largest request or answer body the recorder reads (bodies of Windows 365 changes are small).
const MAX_RECORDED_BODY: usize = 1 << 20;

const AUDIT_EVENTS: CollectionSpec<'static> = CollectionSpec {
    default_top: 100,
    max_top: 999,
    ..CollectionSpec::plain(
        "deviceManagement/virtualEndpoint/auditEvents",
        "microsoft.graph.cloudPcAuditEvent",
    )
};

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/auditEvents"), get(list))
        .route(
            &format!("{BASE}/auditEvents/getAuditActivityTypes"),
            get(activity_types),
        )
        .route(&format!("{BASE}/auditEvents/{{id}}"), get(get_one))
}

async fn list(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365.audit().events().iter().map(audit::render).collect())
    })?;
    collection::collection(&ctx, &query, &AUDIT_EVENTS, items)
}

async fn get_one(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365.audit().event(&id).map(audit::render).ok_or_else(|| {
            ApiError::not_found(
                "ResourceNotFound",
                format!("cloudPcAuditEvent '{id}' was not found"),
            )
        })
    })?;
    collection::entity(&ctx, &query, &AUDIT_EVENTS, &item)
}

async fn activity_types(
    State(app): State<AppState>,
    auth: Auth,
    ctx: RequestContext,
) -> Result<Json<Value>, ApiError> {
    auth.require_any(CLOUD_PC_READ)?;
    let types = app.with_tenant(auth.tenant_id(), |t, _| Ok(t.w365.audit().activity_types()))?;
    Ok(Json(json!({
        "@odata.context": ctx.context_url("Collection(Edm.String)"),
        "value": types,
    })))
}

/// The path segments below `/{version}/deviceManagement/virtualEndpoint/`, percent-decoded.
fn segments_below_base(path: &str) -> Option<Vec<String>> {
    let mut parts = path.trim_matches('/').split('/');
    let _version = parts.next()?;
    let (a, b) = (parts.next()?, parts.next()?);
    if !a.eq_ignore_ascii_case("deviceManagement") || !b.eq_ignore_ascii_case("virtualEndpoint") {
        return None;
    }
    let rest: Vec<String> = parts
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    (!rest.is_empty()).then_some(rest)
}

/// `(property, new value)` of a PATCH body's top-level properties (`@odata.*` left out).
fn modified_properties(body: &Value) -> Vec<(String, String)> {
    let Some(map) = body.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter(|(k, _)| !k.starts_with('@'))
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// The middleware: lets the request through, and after a successful change under
/// `/deviceManagement/virtualEndpoint/` appends one audit event for the caller's tenant.
pub async fn record(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return next.run(request).await;
    }
    let path = request.extensions().get::<OriginalUri>().map_or_else(
        || request.uri().path().to_owned(),
        |o| o.0.path().to_owned(),
    );
    let Some(classified) =
        segments_below_base(&path).and_then(|segments| audit::classify(&method, &segments))
    else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let correlation_id = request
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.client_request_id.clone())
        .unwrap_or_default();
    // The caller, as the route will authenticate it (a request without a valid token is refused
    // by the route and recorded by no one).
    let caller =
        crate::identity::authenticate(authorization.as_deref(), &app.signing_key(), app.now()).ok();
    // The name before the change (a deleted object has none after it).
    let name_before = caller.as_ref().and_then(|c| {
        let id = classified.resource_id.as_deref()?;
        app.with_tenant(&c.tenant_id, |t, _| {
            Ok(t.w365.display_name_of(&classified.component, id))
        })
        .ok()
        .flatten()
    });
    let (parts, body) = request.into_parts();
    let Ok(body_bytes) = to_bytes(body, MAX_RECORDED_BODY).await else {
        // Too large to be a Windows 365 change: let the route refuse it.
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let sent: Value = serde_json::from_slice(&body_bytes).unwrap_or(Value::Null);
    let response = next
        .run(Request::from_parts(parts, Body::from(body_bytes)))
        .await;
    if !response.status().is_success() {
        return response;
    }
    let Some(caller) = caller else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let answer_bytes = to_bytes(body, MAX_RECORDED_BODY).await.unwrap_or_default();
    let answer: Value = serde_json::from_slice(&answer_bytes).unwrap_or(Value::Null);
    let created_id = answer.get("id").and_then(Value::as_str).map(str::to_owned);
    let named = |v: &Value| {
        v.get("displayName")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let modified = if classified.operation == audit::OperationType::Patch {
        modified_properties(&sent)
    } else {
        Vec::new()
    };
    let _ = app.with_tenant(&caller.tenant_id, |t, now| {
        let resource_display_name = named(&answer)
            .or_else(|| {
                classified
                    .resource_id
                    .as_deref()
                    .and_then(|id| t.w365.display_name_of(&classified.component, id))
            })
            .or_else(|| name_before.clone())
            .or_else(|| named(&sent));
        let actor = AuditActor {
            application_id: caller.app_id.clone(),
            application_display_name: t.apps.get(&caller.app_id).map(|a| a.display_name.clone()),
            user_principal_name: None,
            user_permissions: caller.roles.clone(),
        };
        t.w365.audit_mut().record(
            Recording {
                classified: classified.clone(),
                actor,
                correlation_id: correlation_id.clone(),
                resource_display_name,
                created_id: created_id.clone(),
                modified_properties: modified.clone(),
            },
            now,
        );
        Ok(())
    });
    Response::from_parts(parts, Body::from(answer_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_below_virtual_endpoint_are_classified() {
        assert_eq!(
            segments_below_base("/v1.0/deviceManagement/virtualEndpoint/cloudPCs/a%20b/reboot"),
            Some(vec!["cloudPCs".into(), "a b".into(), "reboot".into()])
        );
        assert_eq!(segments_below_base("/v1.0/users/x"), None);
        assert_eq!(
            segments_below_base("/beta/deviceManagement/virtualEndpoint"),
            None
        );
    }

    #[test]
    fn patch_bodies_become_modified_properties() {
        let body = json!({"@odata.type": "#x", "displayName": "New", "enableSingleSignOn": true});
        assert_eq!(
            modified_properties(&body),
            vec![
                ("displayName".to_owned(), "New".to_owned()),
                ("enableSingleSignOn".to_owned(), "true".to_owned())
            ]
        );
    }
}
