//! The simulator's own API under `/_sim/` (moto's `/moto-api`), never under a Graph path.
//!
//! Guarded by [`guard`], because "loopback only" does not stop a web page the developer visits
//! from sending requests to 127.0.0.1 (a form post or a DNS-rebinding page):
//! - the admin key ([`crate::AdminKey`], random per simulator, printed by `w365 sim serve`) must be
//!   sent in the [`ADMIN_KEY_HEADER`] header (401 otherwise) — a browser cannot add a custom header
//!   to a cross-site request without a CORS preflight, which the simulator never grants;
//! - the `Host` must be a loopback name or address and an `Origin`, when sent, a loopback origin
//!   (403 otherwise: DNS rebinding sends a foreign `Host`);
//! - writes carry JSON or no body: another `Content-Type` is 415 (a form or `text/plain` post is
//!   what a page can send without a preflight).
//!
//! Routes:
//!
//! | route | |
//! |---|---|
//! | `POST /_sim/reset` | back to the configured seed (state, outbox; the request log is cleared) |
//! | `POST /_sim/seed` | `{"seed":"contoso"\|"empty"}`, `{"large":{users,groups,membersPerGroup,idSeed}}` or `{"tenant": <seed file>}`; `"add": true` adds the tenant instead of replacing the store |
//! | `GET /_sim/state` | the whole store as JSON (no secrets) |
//! | `GET /_sim/outbox`, `DELETE /_sim/outbox` | accepted mail of the tenant |
//! | `GET /_sim/requests`, `DELETE /_sim/requests` | request log and counts per route |
//! | `GET/PUT/POST/DELETE /_sim/faults` | list, replace, add, clear fault rules |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance` | virtual time; `{"seconds": n}` (or minutes/hours) |
//! | `GET /_sim/apps`, `POST /_sim/apps` | list apps; create `{"displayName","roles":[...]}` → `{clientId, clientSecret}` |
//! | `POST /_sim/apps/{clientId}/certificates` | `{"certificatePem": "..."}` → thumbprints |
//! | `POST /_sim/groups/{id}/reprocess` | the portal's "Reprocess" of group-based licensing |
//! | `/_sim/windows365/...` | Windows 365 controls (forced outcomes, seats): `routes::virtual_endpoint` |
//!
//! The tenant is the `x-sim-tenant` header (id or domain), else the default (seeded) tenant.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, GraphJson};
use crate::ADMIN_KEY_HEADER;
use crate::faults::{FaultRule, TENANT_HEADER};
use crate::seed::{LargeTenantSpec, SeedFile};
use crate::state::{StateError, Store};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", post(seed))
        .route("/_sim/state", get(export_state))
        .route("/_sim/outbox", get(outbox).delete(clear_outbox))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route(
            "/_sim/faults",
            get(list_faults)
                .put(set_faults)
                .post(add_fault)
                .delete(clear_faults),
        )
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance))
        .route("/_sim/apps", get(list_apps).post(create_app))
        .route("/_sim/apps/{client_id}/certificates", post(add_certificate))
        .route("/_sim/groups/{id}/reprocess", post(reprocess))
        .merge(super::routes::virtual_endpoint::admin_routes())
}

/// Whether `host` (a `Host` header value or a URL host, with or without a port) is loopback.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    // "[::1]:8080", "[::1]", "127.0.0.1:8080", "localhost"
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether an `Origin` header value is a loopback origin (`http://127.0.0.1:PORT`, ...).
fn is_loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| is_loopback_host(&h))
}

/// Compares without stopping at the first differing byte.
fn same_key(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The checks every `/_sim` request passes (see the module documentation).
pub async fn guard(
    State(app): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let forbidden =
        |message: &str| ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message).into_response();
    let host = header(http::header::HOST.as_str())
        .map(str::to_owned)
        .or_else(|| request.uri().host().map(str::to_owned));
    if !host.as_deref().is_some_and(is_loopback_host) {
        return forbidden(
            "The simulator's admin API answers only requests addressed to a loopback host (127.0.0.1, ::1 or localhost).",
        );
    }
    if let Some(origin) = header(http::header::ORIGIN.as_str())
        && !is_loopback_origin(origin)
    {
        return forbidden(
            "The simulator's admin API refuses requests from web pages of other origins.",
        );
    }
    let key_ok = header(ADMIN_KEY_HEADER)
        .is_some_and(|given| same_key(given.as_bytes(), app.admin_key().expose().as_bytes()));
    if !key_ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!(
                "The simulator's admin API needs the admin key in the {ADMIN_KEY_HEADER} header: `w365 sim serve` prints it (\"adminKey\" with -o json)."
            ),
        )
        .into_response();
    }
    let is_write = !matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    if is_write && let Some(content_type) = header(http::header::CONTENT_TYPE.as_str()) {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "The simulator's admin API takes JSON bodies (Content-Type: application/json), not {essence:?}."
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The tenant an admin request is about.
fn tenant_of(store: &Store, headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok()) {
        Some(wanted) => store
            .resolve_tenant(wanted)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::not_found("TenantNotFound", format!("No tenant {wanted}."))),
        None => Ok(store.default_tenant_id().to_owned()),
    }
}

async fn reset(State(app): State<AppState>) -> Result<StatusCode, ApiError> {
    let settings = app.settings();
    let store = crate::build_store(&settings.seed, &settings.timings, app.now())
        .map_err(|e| ApiError::bad_request("BadRequest", e.to_string()))?;
    app.replace_store(store);
    app.clear_request_log();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedBody {
    #[serde(default)]
    seed: Option<String>,
    #[serde(default)]
    large: Option<LargeTenantSpec>,
    #[serde(default)]
    tenant: Option<Value>,
    /// Add the tenant next to the existing ones (an MSP's second customer) instead of replacing
    /// the whole store; the default tenant stays.
    #[serde(default)]
    add: bool,
}

async fn seed(
    State(app): State<AppState>,
    GraphJson(body): GraphJson<SeedBody>,
) -> Result<Json<Value>, ApiError> {
    let timings = app.settings().timings;
    let now = app.now();
    let seed = match (body.seed.as_deref(), body.large, body.tenant) {
        (Some("contoso"), None, None) => crate::Seed::Contoso,
        (Some("empty"), None, None) => crate::Seed::Empty,
        (None, Some(spec), None) => crate::Seed::Large(spec),
        (None, None, Some(file)) => {
            let parsed = SeedFile::parse(&file.to_string(), "request body").map_err(|e| {
                ApiError::bad_request(
                    "BadRequest",
                    format!(
                        "{e}: {}",
                        std::error::Error::source(&e)
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                )
            })?;
            crate::Seed::Data(Box::new(parsed))
        }
        _ => {
            return Err(ApiError::bad_request(
                "BadRequest",
                "Give exactly one of \"seed\" (contoso|empty), \"large\" or \"tenant\".",
            ));
        }
    };
    let store = crate::build_store(&seed, &timings, now)
        .map_err(|e| ApiError::bad_request("BadRequest", e.to_string()))?;
    let tenant_id = store.default_tenant_id().to_owned();
    if body.add {
        let tenant = store
            .tenant(&tenant_id)
            .cloned()
            .ok_or_else(|| ApiError::internal("seeded store without its tenant"))?;
        app.with_store(|existing, _| {
            if existing.tenant(&tenant_id).is_some() {
                return Err(ApiError::conflict(
                    "Conflict",
                    format!("Tenant {tenant_id} already exists."),
                ));
            }
            existing.insert_tenant(tenant);
            Ok(())
        })?;
    } else {
        app.replace_store(store);
    }
    Ok(Json(json!({ "tenantId": tenant_id })))
}

async fn export_state(State(app): State<AppState>) -> Result<Response, ApiError> {
    let body = app
        .with_store(|store, _| serde_json::to_vec(store))
        .map_err(ApiError::internal)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn outbox(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    app.with_store(|store, _| {
        let tenant = tenant_of(store, &headers)?;
        let messages = store
            .tenant(&tenant)
            .map(|t| t.outbox.messages.clone())
            .unwrap_or_default();
        Ok(Json(json!({ "value": messages })))
    })
}

async fn clear_outbox(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, _| {
        let tenant = tenant_of(store, &headers)?;
        if let Some(t) = store.tenant_mut(&tenant) {
            t.outbox.messages.clear();
        }
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn requests(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "value": app.request_log(), "counts": app.request_counts() }))
}

async fn clear_requests(State(app): State<AppState>) -> StatusCode {
    app.clear_request_log();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "value": app.faults().list() }))
}

async fn set_faults(
    State(app): State<AppState>,
    GraphJson(rules): GraphJson<Vec<FaultRule>>,
) -> StatusCode {
    app.faults().set(rules);
    StatusCode::NO_CONTENT
}

async fn add_fault(
    State(app): State<AppState>,
    GraphJson(rule): GraphJson<FaultRule>,
) -> StatusCode {
    app.faults().add(rule);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(app): State<AppState>) -> StatusCode {
    app.faults().clear();
    StatusCode::NO_CONTENT
}

fn clock_json(app: &AppState) -> Value {
    let now = app.now();
    let mode = match app.clock().mode() {
        crate::ClockMode::Manual => json!("manual"),
        crate::ClockMode::Speed(factor) => json!({ "speed": factor }),
    };
    json!({
        "now": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "mode": mode,
    })
}

async fn clock(State(app): State<AppState>) -> Json<Value> {
    Json(clock_json(&app))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    minutes: f64,
    #[serde(default)]
    hours: f64,
}

async fn advance(
    State(app): State<AppState>,
    GraphJson(body): GraphJson<AdvanceBody>,
) -> Result<Json<Value>, ApiError> {
    let seconds = body.seconds + body.minutes * 60.0 + body.hours * 3600.0;
    if !seconds.is_finite() || !(0.0..=1e10).contains(&seconds) {
        return Err(ApiError::bad_request(
            "BadRequest",
            "The clock only moves forward by a finite amount.",
        ));
    }
    app.advance(Duration::from_secs_f64(seconds));
    Ok(Json(clock_json(&app)))
}

async fn list_apps(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    app.with_store(|store, _| {
        let tenant = tenant_of(store, &headers)?;
        let apps: Vec<crate::state::apps::AppSummary> = store
            .tenant(&tenant)
            .map(|t| t.apps.iter().map(|a| a.summary()).collect())
            .unwrap_or_default();
        Ok(Json(json!({ "value": apps })))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateAppBody {
    display_name: String,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create_app(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphJson(body): GraphJson<CreateAppBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let roles: Vec<&str> = body.roles.iter().map(String::as_str).collect();
    let credentials = app.with_store(|store, _| {
        let tenant = tenant_of(store, &headers)?;
        let t = store
            .tenant_mut(&tenant)
            .ok_or_else(|| ApiError::from(StateError::TenantNotFound { id: tenant.clone() }))?;
        crate::register_app(t, &body.display_name, &roles)
            .map_err(|e| ApiError::bad_request("BadRequest", e.to_string()))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "clientId": credentials.client_id, "clientSecret": credentials.client_secret, "tenantId": app.with_store(|s, _| tenant_of(s, &headers))? }),
        ),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateBody {
    certificate_pem: String,
}

async fn add_certificate(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    GraphJson(body): GraphJson<CertificateBody>,
) -> Result<Json<Value>, ApiError> {
    app.with_store(|store, _| {
        let tenant = tenant_of(store, &headers)?;
        let t = store
            .tenant_mut(&tenant)
            .ok_or_else(|| ApiError::from(StateError::TenantNotFound { id: tenant.clone() }))?;
        if t.apps.get(&client_id).is_none() {
            return Err(ApiError::from(StateError::AppNotFound {
                client_id: client_id.clone(),
            }));
        }
        let thumbprints = t
            .apps
            .add_certificate(&client_id, &body.certificate_pem)
            .map_err(|e| ApiError::bad_request("BadRequest", e.to_string()))?;
        Ok(Json(
            json!({ "x5t": thumbprints.x5t, "x5t#S256": thumbprints.x5t_s256 }),
        ))
    })
}

async fn reprocess(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.with_store(|store, now| {
        let tenant = tenant_of(store, &headers)?;
        let t = store
            .tenant_mut(&tenant)
            .ok_or_else(|| ApiError::from(StateError::TenantNotFound { id: tenant.clone() }))?;
        t.reprocess_group(&id, now)?;
        Ok(StatusCode::NO_CONTENT)
    })
}
