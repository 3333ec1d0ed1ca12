//! `POST /$batch`: JSON batching. The envelope rules and `dependsOn` ordering live in
//! [`crate::batch`]; each item is dispatched through the complete router (same auth, faults,
//! request log and per-item 429s as a direct call), prefixed with the batch's version, with the
//! batch's `Authorization` header.
//!
//! LIMITATIONS (Graph behaviour not emulated): base64 (non-JSON) item bodies; items are not
//! charged separately against throttling budgets (only fault rules apply per item).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tower::ServiceExt;

use crate::batch::{BatchItemRequest, BatchItemResponse, run_batch};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphJson};

pub fn routes() -> Router<AppState> {
    Router::new().route("/$batch", post(batch))
}

/// Response headers worth copying into an item's `headers`.
const ITEM_HEADERS: &[&str] = &[
    "content-type",
    "retry-after",
    "location",
    "request-id",
    "client-request-id",
];

async fn batch(
    State(app): State<AppState>,
    _auth: Auth,
    version: ApiVersion,
    headers: HeaderMap,
    GraphJson(body): GraphJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let router = app
        .router()
        .ok_or_else(|| ApiError::internal("router not installed for $batch"))?;
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    // Items build their links (nextLink, context) from the batch's own host and proxy headers.
    let host_headers: Vec<(header::HeaderName, HeaderValue)> = [
        header::HOST,
        header::FORWARDED,
        header::HeaderName::from_static("x-forwarded-proto"),
        header::HeaderName::from_static("x-forwarded-host"),
    ]
    .into_iter()
    .filter_map(|name| headers.get(&name).cloned().map(|v| (name, v)))
    .collect();
    let dispatch = |item: BatchItemRequest| {
        let router = router.clone();
        let authorization = authorization.clone();
        let host_headers = host_headers.clone();
        async move {
            let uri = format!("/{}{}", version.as_str(), item.url);
            let uri =
                match crate::http::key_syntax::rewrite_path(uri.split('?').next().unwrap_or("")) {
                    Some(path) => match uri.split_once('?') {
                        Some((_, query)) => format!("{path}?{query}"),
                        None => path,
                    },
                    None => uri,
                };
            let mut request = Request::builder()
                .method(item.method.as_str())
                .uri(uri.as_str());
            for (name, value) in &item.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            for (name, value) in host_headers {
                request = request.header(name, value);
            }
            let body = item
                .body
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_default();
            let Ok(mut request) = request.body(Body::from(body)) else {
                return BatchItemResponse::new(
                    400,
                    Some(
                        serde_json::json!({"error": {"code": "BadRequest", "message": "Invalid request URL or headers."}}),
                    ),
                );
            };
            request
                .extensions_mut()
                .insert(crate::http::context::BatchItem);
            let Ok(response) = router.oneshot(request).await;
            let status = response.status().as_u16();
            let mut headers_out = Vec::new();
            for name in ITEM_HEADERS {
                if let Some(value) = response
                    .headers()
                    .get(*name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                {
                    headers_out.push(((*name).to_owned(), value.to_owned()));
                }
            }
            let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let body = if bytes.is_empty() {
                None
            } else {
                Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }))
            };
            let mut out = BatchItemResponse::new(status, body);
            for (name, value) in headers_out {
                let display = match name.as_str() {
                    "content-type" => "Content-Type",
                    "retry-after" => "Retry-After",
                    "location" => "Location",
                    other => other,
                };
                out = out.with_header(display, &value);
            }
            out
        }
    };
    run_batch(body, dispatch)
        .await
        .map(Json)
        .map_err(|e| ApiError::bad_request(e.code(), e.message()))
}
