//! The layers every request passes, in order (outermost first):
//! 1. request id: `x-request-id` taken from the request when well-formed, else a new UUID; in a
//!    tracing span around the request, in the response header, in every error body; one
//!    "answered" line per request (method, path without the query, status, duration; never a
//!    header, so no token or cookie) under the target [`REQUEST_LOG_TARGET`], which `w365 serve`
//!    logs at info by default while everything else stays at warn;
//! 2. error bodies: [`ApiError`]s and axum's own bare rejections get the one JSON shape;
//! 3. security headers: CSP, `X-Content-Type-Options: nosniff`, `Referrer-Policy`,
//!    `X-Frame-Options`, and HSTS only when the server is reachable off loopback.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::error::ApiError;

/// The tracing target of the request span and its "answered" line.
pub const REQUEST_LOG_TARGET: &str = "w365_server::request";

/// The request id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request (in the request's extensions; an extractor).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string())))
    }
}

fn acceptable_incoming(value: &str) -> bool {
    (8..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Layer 1 + 2: request id, logging, error bodies.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_incoming(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(target: REQUEST_LOG_TARGET, "request", request_id = %id, %method, %path);
    let started = std::time::Instant::now();
    async move {
        let response = next.run(request).await;
        let mut response = error_body(response, &id).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        let status = response.status().as_u16();
        let duration_ms = started.elapsed().as_millis() as u64;
        if status >= 500 {
            tracing::error!(target: REQUEST_LOG_TARGET, status, duration_ms, "answered");
        } else {
            tracing::info!(target: REQUEST_LOG_TARGET, status, duration_ms, "answered");
        }
        response
    }
    .instrument(span)
    .await
}

async fn error_body(response: Response, request_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match parts.extensions.remove::<ApiError>() {
        Some(e) => e,
        None => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // Bodies this server wrote on purpose (HTML pages, SSE) stay as they are.
            if !content_type.is_empty() && !content_type.starts_with("text/plain") {
                return Response::from_parts(parts, body);
            }
            let bytes = axum::body::to_bytes(body, 64 * 1024)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            bare(status, text)
        }
    };
    let json = serde_json::to_vec(&error.detail(request_id)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json))
}

/// axum's own rejections in the API's words.
fn bare(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found("There is no such route.")
            .with_fix("See /api/v1/openapi.json for the routes of this API."),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "This route does not accept this method.",
        )
        .with_fix("See /api/v1/openapi.json for the methods of each route."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            if text.is_empty() {
                "Unsupported content type.".to_owned()
            } else {
                text
            },
        )
        .with_fix("Send the body as JSON with `Content-Type: application/json`."),
        s if s.is_client_error() => ApiError::new(
            s,
            "bad_request",
            if text.is_empty() {
                "The request is not valid.".to_owned()
            } else {
                text
            },
        )
        .with_fix("Check the request against /api/v1/openapi.json."),
        s => {
            tracing::error!(status = s.as_u16(), body = %text, "unhandled error answer");
            ApiError::new(s, "internal", "The server failed to answer this request.")
                .with_fix("The server log has the details under this request id.")
        }
    }
}

/// What the security-header layer adds.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Add `Strict-Transport-Security` (only when the server is reachable off loopback).
    pub hsts: bool,
}

/// The Content-Security-Policy of every answer: same-origin only, no framing, no inline script.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Layer 3.
pub async fn security_headers(
    State(cfg): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if cfg.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
