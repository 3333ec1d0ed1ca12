//! `/assets/{name}`: the portal's CSS and JavaScript, embedded in the binary (the CSP forbids
//! inline scripts and styles). Pages link them as `/assets/NAME?v=DIGEST`: a URL with the current
//! digest is cached for a year (`immutable`), anything else is revalidated (ETag).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::digest;

/// The assets: `(name, content type, content)`. Append new ones here.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "portal.css",
        "text/css; charset=utf-8",
        include_str!("assets/portal.css"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/portal.js"),
    ),
];

/// Each asset's content digest (the first 16 hex digits of its SHA-256).
static DIGESTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(_, _, content)| digest(content)[..16].to_owned())
        .collect()
});

fn find(name: &str) -> Option<(usize, &'static (&'static str, &'static str, &'static str))> {
    ASSETS.iter().enumerate().find(|(_, (n, _, _))| *n == name)
}

/// The URL of an asset, versioned by its digest (templates call `asset("portal.css")`).
pub fn url(name: &str) -> String {
    match find(name) {
        Some((i, _)) => format!("/assets/{name}?v={}", DIGESTS[i]),
        None => format!("/assets/{name}"),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// `GET /assets/{name}` (public: assets hold nothing secret, and the sign-in pages use them).
pub async fn serve(
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Version>,
    headers: HeaderMap,
) -> Response {
    let Some((i, (_, content_type, content))) = find(&name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such asset",
        )
            .into_response();
    };
    let etag = format!("\"{}\"", DIGESTS[i]);
    let cache = if q.v.as_deref() == Some(DIGESTS[i].as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, *content_type)], *content).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}
