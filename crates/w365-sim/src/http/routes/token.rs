//! `POST /{tenant}/oauth2/v2.0/token`: the Entra ID client-credentials endpoint (client secret,
//! HTTP Basic, or certificate assertion), answering like login.microsoftonline.com (AADSTS errors).
//! The logic lives in [`crate::identity`]; this is the axum wiring.
//!
//! LIMITATIONS (Entra ID behaviour not emulated): only the client-credentials grant; no
//! `/common` or `/organizations` tenants; no v1 (`/oauth2/token`) endpoint; no OpenID metadata.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::http::{AppState, RequestContext};
use crate::identity::{TokenForm, issue_token};
use crate::state::apps::AppRegistrations;

pub fn routes() -> Router<AppState> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

async fn token(
    State(app): State<AppState>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // The operator sign-in grants (authorization code, device code) belong to `crate::oidc`.
    if let Some(response) = crate::oidc::token_grant(&app, &ctx, &tenant, content_type, &body) {
        return response;
    }
    let form = TokenForm::parse(content_type, &body, authorization);
    // Tokens live on the virtual clock (see `clock`): a test expires one by advancing it.
    let now = app.now();
    let url = ctx.absolute_path();
    let key = app.signing_key();
    let lifetime = app.token_lifetime();
    let result = app.with_store(|store, _| {
        let tenant_id = store.resolve_tenant(&tenant).map(str::to_owned);
        if let Some(id) = &tenant_id {
            ctx.set_tenant(id);
        }
        let empty = AppRegistrations::default();
        let apps = tenant_id
            .as_deref()
            .and_then(|id| store.tenant(id))
            .map_or(&empty, |t| &t.apps);
        issue_token(
            tenant_id.as_deref(),
            &tenant,
            apps,
            &form,
            &key,
            now,
            lifetime,
            &url,
            &mut *app.jti(),
        )
    });
    match result {
        Ok(mut tokens) => {
            // `expires_in` tells the client when to refresh, in its (real) seconds: on a clock
            // running N× real time the token's virtual lifetime passes N times faster.
            if let crate::clock::ClockMode::Speed(factor) = app.clock().mode() {
                let real = (tokens.expires_in as f64 / factor).floor();
                tokens.expires_in = if real.is_finite() && real >= 1.0 {
                    real as u64
                } else {
                    1
                };
                tokens.ext_expires_in = tokens.expires_in;
            }
            Json(tokens).into_response()
        }
        Err(err) => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(err.body(now))).into_response()
        }
    }
}
