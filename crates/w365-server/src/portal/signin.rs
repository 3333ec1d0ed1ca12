//! Sign-in to the portal: OpenID Connect authorization code flow with PKCE (S256) against the
//! configured authority (Entra ID; the sandbox: the simulator), `state` and `nonce` checked.
//! Tokens stay on the server: they are checked, turned into a session, and dropped.
//!
//! - `GET /signin?next=PATH`: remembers a sign-in (state, nonce, PKCE verifier) in the store,
//!   keyed by the digest of a random value in a short-lived cookie, and redirects to the
//!   authorization endpoint.
//! - `GET /signin/callback?code&state`: takes the sign-in (once), checks `state` and the browser
//!   cookie, redeems the code with the verifier (and the client secret of a confidential web
//!   app), validates the id token (issuer, audience = the client, signature, expiry, `nonce`) and
//!   the access token for w365's API (which carries the app roles), and starts a session.
//! - `POST /signout`: ends the session and signs out at the identity provider.
//!
//! Flow: <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow>;
//! id token validation: <https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens#validate-tokens>;
//! sign-out: <https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request>.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::context;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use w365_jobs::{Identity, PortalSession as StoredSession, PortalSignIn};

use super::forms::Posted;
use super::layout::{Page, PageError};
use super::session::{
    SESSION, SESSION_LIFETIME, cookie, digest, random_token, same_secret, set_cookie,
};
use crate::auth::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// The short-lived cookie binding a sign-in's answer to the browser that started it.
const SIGNIN: &str = "w365_signin";
/// How long a sign-in may take at the identity provider.
const SIGNIN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// The identity provider's endpoints (from its OIDC discovery document).
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoints {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

async fn endpoints(app: &AppState) -> Result<&Endpoints, PageError> {
    app.portal_endpoints()
        .get_or_try_init(|| async {
            let url = app.validator().config().discovery_url();
            let answer = app
                .http()
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            match answer {
                Ok(r) => r.json::<Endpoints>().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the identity provider's discovery document could not be read");
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The sign-in service (Microsoft Entra ID) could not be reached.",
                "Try again in a minute; if it persists, the server's [auth] settings or its network are wrong.",
            )
        })
}

/// A portal path to go to after signing in: local paths only (no `//host`, no scheme).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 1024
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && !next.starts_with("/signin")
        && !next.starts_with("/signout");
    if ok { next.to_owned() } else { "/".to_owned() }
}

/// Whether `host` (a Host header: name or address, maybe with a port) is a loopback address.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The portal's address as the browser reached it, when that is loopback (the sandbox).
fn loopback_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    (loopback_host(host)
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "[]:.-".contains(c)))
    .then(|| format!("http://{host}"))
}

/// The redirect URI of the sign-in: the configured one, or the loopback address of the request.
fn redirect_uri(app: &AppState, headers: &HeaderMap) -> Result<String, PageError> {
    if let Some(uri) = &app.portal_config().redirect_uri {
        return Ok(uri.clone());
    }
    loopback_origin(headers)
        .map(|origin| format!("{origin}/signin/callback"))
        .ok_or_else(|| {
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The portal has no sign-in redirect URI for this address.",
                "Set [portal] redirect_uri in the server config to https://YOUR-HOST/signin/callback \
                 (registered on the web app in Entra ID), or open the portal on 127.0.0.1.",
            )
        })
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /signin`: to the identity provider.
pub async fn start(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Result<Response, PageError> {
    let endpoints = endpoints(&app).await?;
    let redirect = redirect_uri(&app, &headers)?;
    let key = random_token();
    let signin = PortalSignIn {
        key_hash: digest(&key),
        state: random_token(),
        nonce: random_token(),
        verifier: random_token(),
        return_to: safe_next(q.next.as_deref().unwrap_or("/")),
        expires_at: app.store().clock().now() + SIGNIN_LIFETIME,
    };
    app.store()
        .portal_signin_put(&signin)
        .await
        .map_err(|e| ApiError::internal("Could not start the sign-in", &e))?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(signin.verifier.as_bytes()));
    let config = app.portal_config();
    let scope = format!(
        "openid profile api://{}/access_as_user",
        app.validator().config().audience
    );
    let mut url = url::Url::parse(&endpoints.authorization_endpoint).map_err(|_| {
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider published an authorization endpoint that is not a URL.",
            "Check the [auth] settings of the server config.",
        )
    })?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_mode", "query")
        .append_pair("scope", &scope)
        .append_pair("state", &signin.state)
        .append_pair("nonce", &signin.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, SIGNIN, &key, SIGNIN_LIFETIME.as_secs()),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The token endpoint's answer (never logged: it holds tokens).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn signin_failed(message: impl Into<String>) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        message,
        "Sign in again from the start: open the portal's address.",
    )
}

/// `GET /signin/callback`: the identity provider's answer.
pub async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let store = app.store();
    let Some(key) = cookie(&headers, &super::session::cookie_name(&app, SIGNIN)) else {
        return Err(signin_failed(
            "This sign-in was not started in this browser, or took longer than 10 minutes.",
        ));
    };
    let pending = store
        .portal_signin_take(&digest(&key))
        .await
        .map_err(|e| ApiError::internal("Could not read the sign-in", &e))?
        .ok_or_else(|| signin_failed("This sign-in has expired or was already used."))?;
    if !q
        .state
        .as_deref()
        .is_some_and(|s| same_secret(s, &pending.state))
    {
        tracing::warn!("sign-in answer refused: state does not match");
        return Err(signin_failed(
            "The sign-in answer does not belong to the sign-in this browser started (state mismatch).",
        ));
    }
    if let Some(error) = q.error.as_deref() {
        let described = q.error_description.as_deref().unwrap_or(error);
        tracing::info!(error, "the identity provider refused the sign-in");
        return Err(signin_failed(format!(
            "Microsoft Entra ID refused the sign-in: {described}"
        )));
    }
    let code = q
        .code
        .as_deref()
        .ok_or_else(|| signin_failed("The sign-in answer has no authorization code."))?;
    let endpoints = endpoints(&app).await?;
    let redirect = redirect_uri(&app, &headers)?;
    let config = app.portal_config();
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("client_id", config.client_id.as_str()),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    if let Some(secret) = &config.client_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    let answer = app
        .http()
        .post(&endpoints.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the token endpoint could not be reached");
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The sign-in service could not be reached to finish the sign-in.",
                "Try again in a minute.",
            )
        })?;
    let tokens: TokenAnswer = answer.json().await.map_err(|_| {
        signin_failed("The sign-in service answered something that is not a token response.")
    })?;
    if let Some(error) = tokens.error {
        let described = tokens.error_description.unwrap_or_else(|| error.clone());
        tracing::info!(%error, "the token endpoint refused the code");
        return Err(signin_failed(format!(
            "Microsoft Entra ID refused to finish the sign-in: {described}"
        )));
    }
    let (Some(id_token), Some(access_token)) = (tokens.id_token, tokens.access_token) else {
        return Err(signin_failed(
            "The sign-in service sent no id token or no access token.",
        ));
    };
    let (who, nonce) = app
        .validator()
        .validate_id_token(&id_token, &config.client_id)
        .await
        .map_err(|e| signin_failed(format!("The id token was refused: {e}")))?;
    if !nonce
        .as_deref()
        .is_some_and(|n| same_secret(n, &pending.nonce))
    {
        tracing::warn!("sign-in refused: id token nonce does not match");
        return Err(signin_failed(
            "The id token was not issued for this sign-in (nonce mismatch).",
        ));
    }
    let operator = app
        .validator()
        .validate(&access_token)
        .await
        .map_err(|e| signin_failed(format!("The access token was refused: {e}")))?;
    if operator.object_id != who.object_id || operator.tenant_id != who.tenant_id {
        return Err(signin_failed(
            "The id token and the access token name different users.",
        ));
    }
    let id = random_token();
    let now = store.clock().now();
    let session = StoredSession {
        id_hash: digest(&id),
        operator: Identity {
            object_id: operator.object_id.clone(),
            upn: operator.upn.clone(),
            display_name: operator.display_name.clone(),
        },
        sign_in_tenant: operator.tenant_id.clone(),
        role: operator.role.map(|r| Role::claim(r).to_owned()),
        tenant: None,
        csrf_token: random_token(),
        created_at: now,
        expires_at: now + SESSION_LIFETIME,
    };
    store
        .portal_session_put(&session)
        .await
        .map_err(|e| ApiError::internal("Could not start the session", &e))?;
    tracing::info!(operator = %operator.upn, role = ?operator.role, "signed in to the portal");
    let mut response = Redirect::to(&pending.return_to).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&app, SESSION, &id, SESSION_LIFETIME.as_secs()),
    );
    headers.append(header::SET_COOKIE, set_cookie(&app, SIGNIN, "", 0));
    Ok(response)
}

/// `POST /signout`: ends the session, then the signed-out page (same origin: the CSP's
/// `form-action 'self'` also governs where a form post may redirect, so the identity provider's
/// sign-out is a link on that page).
pub async fn signout(State(app): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    app.store()
        .portal_session_delete(&posted.session.id_hash)
        .await
        .map_err(|e| ApiError::internal("Could not end the session", &e))?;
    tracing::info!(operator = %posted.session.principal.upn, "signed out of the portal");
    let mut response = Redirect::to("/signed-out").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&app, SESSION, "", 0));
    Ok(response)
}

/// The identity provider's sign-out URL, coming back to the signed-out page.
async fn end_session_url(app: &AppState, headers: &HeaderMap) -> Option<String> {
    let back = app
        .portal_config()
        .redirect_uri
        .as_deref()
        .and_then(|r| r.strip_suffix("/signin/callback").map(str::to_owned))
        .or_else(|| loopback_origin(headers))
        .map(|origin| format!("{origin}/signed-out?idp=1"))?;
    let end = endpoints(app).await.ok()?.end_session_endpoint.as_deref()?;
    let mut url = url::Url::parse(end).ok()?;
    url.query_pairs_mut()
        .append_pair("post_logout_redirect_uri", &back);
    Some(url.to_string())
}

#[derive(Debug, Deserialize)]
pub struct SignedOutQuery {
    idp: Option<String>,
}

/// `GET /signed-out`: signed out here; a link to sign out at the identity provider too.
pub async fn signed_out(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignedOutQuery>,
) -> Response {
    let idp_done = q.idp.is_some();
    let end_session = if idp_done {
        None
    } else {
        end_session_url(&app, &headers).await
    };
    Page::anonymous("Signed out").render(
        "signed_out.html",
        context! { end_session => end_session, idp_done => idp_done },
    )
}
