//! The HTTP side of the simulated identity provider (see the module docs of [`super`]).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::{
    API_SCOPE_NAME, AuthCode, CODE_LIFETIME, DEMO_OPERATORS, DEVICE_CODE_LIFETIME,
    DEVICE_POLL_INTERVAL_SECS, OperatorIdentity, OperatorTokens, W365_APP_ID, issuer,
    pkce_challenge, requests_api,
};
use crate::http::{AppState, RequestContext};

/// The grant type of the device-code flow (RFC 8628 §3.4).
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The identity provider's routes (merged by [`crate::http::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/{tenant}/oauth2/v2.0/logout", get(logout))
        .route("/devicelogin", get(device_page).post(device_submit))
}

// ---------------------------------------------------------------- errors

/// An error of the identity provider in Entra's JSON shape
/// (<https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>).
#[derive(Debug)]
struct OidcError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OidcError {
    fn new(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant}' not found. Check the tenant id or domain in the URL."),
        )
    }

    fn missing(name: &str) -> Self {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn unknown_client(client_id: &str) -> Self {
        Self::new(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory. \
                 The simulator knows one client, w365's app registration {W365_APP_ID}."
            ),
        )
    }

    fn invalid_scope(scope: &str) -> Self {
        Self::new(
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' isn't valid: '{scope}'. \
                 Request w365's API: api://{W365_APP_ID}/{API_SCOPE_NAME}."
            ),
        )
    }
}

impl IntoResponse for OidcError {
    fn into_response(self) -> Response {
        let timestamp = OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            timestamp.year(),
            u8::from(timestamp.month()),
            timestamp.day(),
            timestamp.hour(),
            timestamp.minute(),
            timestamp.second()
        );
        let trace = uuid::Uuid::new_v4();
        let correlation = uuid::Uuid::new_v4();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace.to_string(),
            "correlation_id": correlation.to_string(),
        });
        (self.status, Json(body)).into_response()
    }
}

fn resolve_tenant(app: &AppState, ctx: &RequestContext, tenant: &str) -> Option<String> {
    let id = app.with_store(|store, _| store.resolve_tenant(tenant).map(str::to_owned))?;
    ctx.set_tenant(&id);
    Some(id)
}

fn base(ctx: &RequestContext) -> &str {
    ctx.base_url.trim_end_matches('/')
}

// ---------------------------------------------------------------- discovery

async fn discovery(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
) -> Response {
    let Some(tenant_id) = resolve_tenant(&app, &ctx, &tenant) else {
        return OidcError::tenant_not_found(&tenant).into_response();
    };
    let base = base(&ctx);
    // The fields of Entra's v2.0 metadata document
    // (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc), pointing at
    // the simulator.
    Json(json!({
        "issuer": issuer(base, &tenant_id),
        "authorization_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/{tenant_id}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/{tenant_id}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic", "none"],
        "response_modes_supported": ["query"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", DEVICE_CODE_GRANT, "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "nonce", "oid",
                             "preferred_username", "roles", "tid", "ver"],
        "request_uri_parameter_supported": false,
        "http_logout_supported": true,
        "tenant_region_scope": "NA",
        "cloud_instance_name": "w365-sim",
    }))
    .into_response()
}

async fn keys(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
) -> Response {
    if resolve_tenant(&app, &ctx, &tenant).is_none() {
        return OidcError::tenant_not_found(&tenant).into_response();
    }
    Json(app.oidc().jwks()).into_response()
}

// ---------------------------------------------------------------- authorize

/// Whether `uri` is a loopback redirect URI (Entra ignores the port of loopback redirect URIs:
/// https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions).
fn loopback_uri(uri: &str) -> Option<Url> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
        return None;
    }
    let loopback = match url.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    loopback.then_some(url)
}

/// A checked authorization request.
struct AuthorizeRequest {
    tenant_id: String,
    client_id: String,
    redirect: Url,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

/// Why an authorization request is refused: errors about the client or the redirect URI are shown
/// on a page (never redirected to an unchecked URI); the others go back to the client.
enum AuthorizeError {
    Page(StatusCode, String),
    Redirect {
        redirect: Box<Url>,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            AuthorizeError::Page(status, message) => (
                status,
                Html(page(
                    "Sign-in error",
                    &format!("<p role=\"alert\">{}</p>", escape(&message)),
                )),
            )
                .into_response(),
            AuthorizeError::Redirect {
                mut redirect,
                error,
                description,
                state,
            } => {
                {
                    let mut q = redirect.query_pairs_mut();
                    q.append_pair("error", error);
                    q.append_pair("error_description", &description);
                    if let Some(state) = &state {
                        q.append_pair("state", state);
                    }
                }
                found(redirect.as_str())
            }
        }
    }
}

fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn check_authorize(
    app: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let Some(tenant_id) = resolve_tenant(app, ctx, tenant) else {
        return Err(AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            format!("AADSTS90002: Tenant '{tenant}' not found."),
        ));
    };
    let client_id = param(params, "client_id").ok_or_else(|| {
        AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request must contain the parameter 'client_id'.".to_owned(),
        )
    })?;
    if !client_id.eq_ignore_ascii_case(W365_APP_ID) {
        return Err(AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the \
                 directory. Use w365's app registration {W365_APP_ID}."
            ),
        ));
    }
    let redirect_uri = param(params, "redirect_uri").ok_or_else(|| {
        AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request must contain the parameter 'redirect_uri'.".to_owned(),
        )
    })?;
    let redirect = loopback_uri(redirect_uri).ok_or_else(|| {
        AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            format!(
                "AADSTS50011: The redirect URI '{redirect_uri}' does not match the redirect URIs \
                 configured for the application. The simulator accepts loopback addresses \
                 (http://127.0.0.1:PORT/..., http://localhost:PORT/...)."
            ),
        )
    })?;
    let state = param(params, "state").map(str::to_owned);
    let back = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect: Box::new(redirect.clone()),
        error,
        description,
        state: state.clone(),
    };
    match param(params, "response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(back(
                "unsupported_response_type",
                format!("AADSTS700054: response_type '{other}' is not supported; use 'code'."),
            ));
        }
        None => {
            return Err(back(
                "invalid_request",
                "AADSTS900144: The request must contain the parameter 'response_type'.".to_owned(),
            ));
        }
    }
    if let Some(mode) = param(params, "response_mode").filter(|m| *m != "query") {
        return Err(back(
            "invalid_request",
            format!("AADSTS900144: response_mode '{mode}' is not supported; use 'query'."),
        ));
    }
    let scope = param(params, "scope").unwrap_or("");
    if !requests_api(scope) {
        return Err(back(
            "invalid_scope",
            format!(
                "AADSTS70011: The scope '{scope}' does not request w365's API; add \
                 api://{W365_APP_ID}/{API_SCOPE_NAME}."
            ),
        ));
    }
    let code_challenge = param(params, "code_challenge").ok_or_else(|| {
        back(
            "invalid_request",
            "AADSTS9002325: Proof Key for Code Exchange is required: send code_challenge and \
             code_challenge_method=S256."
                .to_owned(),
        )
    })?;
    if param(params, "code_challenge_method") != Some("S256") {
        return Err(back(
            "invalid_request",
            "AADSTS501491: code_challenge_method must be S256 (plain is not accepted here)."
                .to_owned(),
        ));
    }
    if code_challenge.len() != 43 {
        return Err(back(
            "invalid_request",
            "AADSTS501491: code_challenge must be BASE64URL(SHA256(code_verifier)), 43 characters."
                .to_owned(),
        ));
    }
    Ok(AuthorizeRequest {
        tenant_id,
        client_id: client_id.to_owned(),
        redirect,
        scope: scope.to_owned(),
        state,
        nonce: param(params, "nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
    })
}

/// A user of the tenant with their w365 app roles.
fn identify(app: &AppState, tenant_id: &str, upn: &str) -> Option<OperatorIdentity> {
    let (object_id, upn, display_name) = app.with_store(|store, _| {
        let user = store.tenant(tenant_id)?.directory.user_by_key(upn)?;
        Some((
            user.id.clone(),
            user.user_principal_name.clone(),
            user.display_name.clone(),
        ))
    })?;
    let roles = app.oidc().roles_of(&upn);
    Some(OperatorIdentity {
        tenant_id: tenant_id.to_owned(),
        object_id,
        upn,
        display_name,
        roles,
    })
}

/// Operators listed on the sign-in pages: users of the tenant holding a w365 app role.
fn operators(app: &AppState, tenant_id: Option<&str>) -> Vec<OperatorIdentity> {
    let tenant_id = tenant_id.map_or_else(
        || app.with_store(|store, _| store.default_tenant_id().to_owned()),
        str::to_owned,
    );
    app.oidc()
        .assigned_upns()
        .iter()
        .filter_map(|upn| identify(app, &tenant_id, upn))
        .collect()
}

fn summary_of(upn: &str) -> &'static str {
    DEMO_OPERATORS
        .iter()
        .find(|o| o.upn.eq_ignore_ascii_case(upn))
        .map_or("", |o| o.summary)
}

const FORWARDED: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
];

async fn authorize_page(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let request = match check_authorize(&app, &ctx, &tenant, &params) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let hidden: String = FORWARDED
        .iter()
        .filter_map(|name| {
            param(&params, name).map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    escape(v)
                )
            })
        })
        .collect();
    let mut list = String::new();
    for op in operators(&app, Some(&request.tenant_id)) {
        let roles = if op.roles.is_empty() {
            "no w365 role".to_owned()
        } else {
            op.roles.join(", ")
        };
        list.push_str(&format!(
            "<li><form method=\"post\">{hidden}\
             <input type=\"hidden\" name=\"login_hint\" value=\"{upn}\">\
             <button type=\"submit\">Sign in as {name}</button>\
             <p><span class=\"upn\">{upn}</span> · <strong>{roles}</strong><br>{summary}</p>\
             </form></li>",
            upn = escape(&op.upn),
            name = escape(&op.display_name),
            roles = escape(&roles),
            summary = escape(summary_of(&op.upn)),
        ));
    }
    Html(page(
        "Sign in to w365",
        &format!(
            "<p>This is the sandbox's simulated Microsoft Entra ID. Pick a demo operator; each \
             holds one of w365's app roles.</p><ul class=\"operators\">{list}</ul>"
        ),
    ))
    .into_response()
}

async fn authorize_submit(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    let request = match check_authorize(&app, &ctx, &tenant, &params) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(upn) = param(&params, "login_hint") else {
        return AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            "Pick an operator to sign in as (the form sends login_hint).".to_owned(),
        )
        .into_response();
    };
    let Some(user) = identify(&app, &request.tenant_id, upn) else {
        return AuthorizeError::Page(
            StatusCode::BAD_REQUEST,
            format!("AADSTS50034: The user account {upn} does not exist in this tenant."),
        )
        .into_response();
    };
    let code = app.oidc().store_code(AuthCode {
        tenant_id: request.tenant_id,
        client_id: request.client_id,
        redirect_uri: request.redirect.as_str().to_owned(),
        scope: request.scope,
        nonce: request.nonce,
        code_challenge: request.code_challenge,
        user_upn: user.upn,
        expires: std::time::Instant::now() + CODE_LIFETIME,
    });
    let mut redirect = request.redirect;
    {
        let mut q = redirect.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = &request.state {
            q.append_pair("state", state);
        }
    }
    found(redirect.as_str())
}

// ---------------------------------------------------------------- device code

async fn device_code(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    let Some(tenant_id) = resolve_tenant(&app, &ctx, &tenant) else {
        return OidcError::tenant_not_found(&tenant).into_response();
    };
    let Some(client_id) = param(&params, "client_id") else {
        return OidcError::missing("client_id").into_response();
    };
    if !client_id.eq_ignore_ascii_case(W365_APP_ID) {
        return OidcError::unknown_client(client_id).into_response();
    }
    let scope = param(&params, "scope").unwrap_or("");
    if !requests_api(scope) {
        return OidcError::invalid_scope(scope).into_response();
    }
    let (device_code, user_code) = app.oidc().start_device(&tenant_id, client_id, scope);
    let verification_uri = format!("{}/devicelogin", base(&ctx));
    // The answer's fields: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
    Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
        "interval": DEVICE_POLL_INTERVAL_SECS,
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
    }))
    .into_response()
}

async fn device_page(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    Html(device_form(
        &app,
        param(&params, "user_code").unwrap_or(""),
        None,
    ))
    .into_response()
}

fn device_form(app: &AppState, user_code: &str, error: Option<&str>) -> String {
    let mut choices = String::new();
    for (i, op) in operators(app, None).iter().enumerate() {
        choices.push_str(&format!(
            "<div><input type=\"radio\" id=\"op{i}\" name=\"login_hint\" value=\"{upn}\"{checked}>\
             <label for=\"op{i}\">{name} ({upn}) · <strong>{roles}</strong></label></div>",
            upn = escape(&op.upn),
            name = escape(&op.display_name),
            roles = escape(&op.roles.join(", ")),
            checked = if i == 0 { " checked" } else { "" },
        ));
    }
    let alert = error.map_or_else(String::new, |e| {
        format!("<p role=\"alert\" class=\"error\">{}</p>", escape(e))
    });
    page(
        "Enter code",
        &format!(
            "{alert}<p>Enter the code shown by the program that asks you to sign in, then pick \
             the operator to sign in as.</p>\
             <form method=\"post\"><label for=\"user_code\">Code</label> \
             <input id=\"user_code\" name=\"user_code\" value=\"{}\" autocomplete=\"off\" required>\
             <fieldset><legend>Operator</legend>{choices}</fieldset>\
             <button type=\"submit\">Sign in</button></form>",
            escape(user_code)
        ),
    )
}

async fn device_submit(
    State(app): State<AppState>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    let user_code = param(&params, "user_code").unwrap_or("");
    let Some(upn) = param(&params, "login_hint") else {
        return (
            StatusCode::BAD_REQUEST,
            Html(device_form(&app, user_code, Some("Pick an operator."))),
        )
            .into_response();
    };
    let Some(tenant_id) = app.oidc().device_tenant(user_code) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(device_form(
                &app,
                user_code,
                Some("This code is unknown or expired. Check it, or start the sign-in again."),
            )),
        )
            .into_response();
    };
    let Some(user) = identify(&app, &tenant_id, upn) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(device_form(
                &app,
                user_code,
                Some("That user does not exist in the tenant the sign-in was started for."),
            )),
        )
            .into_response();
    };
    if !app.oidc().approve_device(user_code, &user.upn) {
        return (
            StatusCode::BAD_REQUEST,
            Html(device_form(
                &app,
                user_code,
                Some("This code expired. Start the sign-in again."),
            )),
        )
            .into_response();
    }
    Html(page(
        "Signed in",
        &format!(
            "<p>You have signed in to w365 as {} ({}). You may close this window.</p>",
            escape(&user.display_name),
            escape(&user.upn)
        ),
    ))
    .into_response()
}

// ---------------------------------------------------------------- logout

async fn logout(Query(params): Query<HashMap<String, String>>) -> Response {
    if let Some(target) = param(&params, "post_logout_redirect_uri").and_then(loopback_uri) {
        return found(target.as_str());
    }
    Html(page(
        "Signed out",
        "<p>You have been signed out. You may close this window.</p>",
    ))
    .into_response()
}

// ---------------------------------------------------------------- token grants

/// Handles the `authorization_code` and `device_code` grants of `POST /{tenant}/oauth2/v2.0/token`;
/// `None` for any other grant (the caller handles client credentials).
pub fn token_grant(
    app: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<Response> {
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return None;
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    let grant = param(&params, "grant_type")?;
    if grant != "authorization_code" && grant != DEVICE_CODE_GRANT {
        return None;
    }
    let result = if grant == "authorization_code" {
        redeem_code(app, ctx, tenant, &params)
    } else {
        redeem_device(app, ctx, tenant, &params)
    };
    Some(match result {
        Ok(tokens) => {
            let mut response = Json(json!({
                "token_type": "Bearer",
                "scope": tokens.scope,
                "expires_in": tokens.expires_in,
                "ext_expires_in": tokens.expires_in,
                "access_token": tokens.access_token,
                "id_token": tokens.id_token,
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    })
}

fn client_of(params: &HashMap<String, String>) -> Result<&str, OidcError> {
    let client_id = param(params, "client_id").ok_or_else(|| OidcError::missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(W365_APP_ID) {
        return Err(OidcError::unknown_client(client_id));
    }
    Ok(client_id)
}

fn redeem_code(
    app: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<OperatorTokens, OidcError> {
    let tenant_id =
        resolve_tenant(app, ctx, tenant).ok_or_else(|| OidcError::tenant_not_found(tenant))?;
    let client_id = client_of(params)?;
    let code = param(params, "code").ok_or_else(|| OidcError::missing("code"))?;
    let redirect_uri =
        param(params, "redirect_uri").ok_or_else(|| OidcError::missing("redirect_uri"))?;
    let verifier =
        param(params, "code_verifier").ok_or_else(|| OidcError::missing("code_verifier"))?;
    let pending = app.oidc().take_code(code).ok_or_else(|| {
        OidcError::new(
            "invalid_grant",
            70008,
            "The provided authorization code is unknown, already redeemed or expired. Sign in again.",
        )
    })?;
    if pending.tenant_id != tenant_id || !pending.client_id.eq_ignore_ascii_case(client_id) {
        return Err(OidcError::new(
            "invalid_grant",
            700005,
            "The authorization code was issued to another client or tenant.",
        ));
    }
    let same_redirect = Url::parse(redirect_uri)
        .map(|u| u.as_str() == pending.redirect_uri)
        .unwrap_or(false);
    if !same_redirect {
        return Err(OidcError::new(
            "invalid_grant",
            50011,
            "redirect_uri differs from the one of the authorization request.",
        ));
    }
    if pkce_challenge(verifier) != pending.code_challenge {
        return Err(OidcError::new(
            "invalid_grant",
            501481,
            "The code_verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    let who = identify(app, &tenant_id, &pending.user_upn).ok_or_else(|| {
        OidcError::new(
            "invalid_grant",
            50034,
            "The signed-in user no longer exists in the tenant.",
        )
    })?;
    debug_assert!(requests_api(&pending.scope));
    Ok(app.oidc().issue(
        &issuer(base(ctx), &tenant_id),
        &who,
        client_id,
        pending.nonce.as_deref(),
        OffsetDateTime::now_utc(),
    ))
}

fn redeem_device(
    app: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<OperatorTokens, OidcError> {
    let tenant_id =
        resolve_tenant(app, ctx, tenant).ok_or_else(|| OidcError::tenant_not_found(tenant))?;
    let client_id = client_of(params)?;
    let device_code =
        param(params, "device_code").ok_or_else(|| OidcError::missing("device_code"))?;
    let grant = app.oidc().device(device_code).ok_or_else(|| {
        OidcError::new(
            "invalid_grant",
            70000,
            "The device code is unknown. Start the sign-in again.",
        )
    })?;
    if grant.expires <= std::time::Instant::now() {
        app.oidc().finish_device(device_code);
        return Err(OidcError::new(
            "expired_token",
            70020,
            "The device code expired before anyone signed in. Start the sign-in again.",
        ));
    }
    if grant.tenant_id != tenant_id || !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(OidcError::new(
            "invalid_grant",
            700005,
            "The device code was issued to another client or tenant.",
        ));
    }
    let Some(upn) = grant.approved_upn else {
        return Err(OidcError::new(
            "authorization_pending",
            70016,
            "The provided request has not yet been authorized by the user. The user must input their code.",
        ));
    };
    app.oidc().finish_device(device_code);
    let who = identify(app, &tenant_id, &upn).ok_or_else(|| {
        OidcError::new(
            "invalid_grant",
            50034,
            "The signed-in user no longer exists in the tenant.",
        )
    })?;
    debug_assert!(requests_api(&grant.scope));
    Ok(app.oidc().issue(
        &issuer(base(ctx), &tenant_id),
        &who,
        client_id,
        None,
        OffsetDateTime::now_utc(),
    ))
}

// ---------------------------------------------------------------- pages

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · w365 sandbox identity</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}}\
         ul.operators{{list-style:none;padding:0}} ul.operators li{{border:1px solid #ccc;border-radius:6px;padding:.75rem;margin:.5rem 0}}\
         button{{font-size:1rem;padding:.4rem .9rem}} button:focus,input:focus{{outline:3px solid #1a5fb4;outline-offset:2px}}\
         .upn{{font-family:monospace}} .error{{color:#a51d2d;font-weight:bold}}\
         </style></head><body><header><p>w365 sandbox · simulated Microsoft Entra ID</p></header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    )
}
