//! The request middleware every route runs inside: it assigns `request-id`, echoes
//! `client-request-id`, records the API version and the advanced-query headers in a
//! [`RequestContext`], renders Graph error bodies with the request's ids, turns axum's bare
//! 404/405/4xx answers into Graph's, and writes the request log.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AppState;
use super::error::{ApiError, GraphErrorParts, error_body, graph_date};

/// The Graph API version a request addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiVersion {
    #[serde(rename = "v1.0")]
    V1,
    #[serde(rename = "beta")]
    Beta,
}

impl ApiVersion {
    /// `v1.0` or `beta`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1.0",
            Self::Beta => "beta",
        }
    }

    /// Parses a path segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "v1.0" => Some(Self::V1),
            "beta" => Some(Self::Beta),
            _ => None,
        }
    }

    /// For beta-only segments: on v1.0, Graph answers 400 `BadRequest` "Resource not found for
    /// the segment '`<segment>`'." like any segment v1.0's metadata lacks (msgraph-beta-sdk-python#764,
    /// microsoft-graph-docs#4900; reference §11), not 405.
    pub fn require_beta(self, segment: &str) -> Result<(), ApiError> {
        match self {
            Self::Beta => Ok(()),
            Self::V1 => Err(ApiError::unknown_segment(segment)),
        }
    }
}

/// Facts about the current request, available to handlers as an extractor.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_request_id: String,
    /// `None` outside the Graph paths (token endpoint, `/_sim`).
    pub version: Option<ApiVersion>,
    /// `http://host:port` as the client addressed us (for absolute `@odata.nextLink`s).
    pub base_url: String,
    /// The full request path (version included), still percent-encoded.
    pub path: String,
    /// The raw query string.
    pub raw_query: Option<String>,
    /// `ConsistencyLevel: eventual` was sent.
    pub consistency_eventual: bool,
    /// Values of the `Prefer` header(s), lowercased, split on commas.
    pub prefer: Vec<String>,
    tenant: Arc<OnceLock<String>>,
}

impl RequestContext {
    /// Whether `Prefer: <value>` was sent (case-insensitive), e.g. `include-unknown-enum-members`.
    pub fn prefers(&self, value: &str) -> bool {
        self.prefer.iter().any(|p| p.eq_ignore_ascii_case(value))
    }

    /// A context for unit tests of helpers that read the query.
    #[cfg(test)]
    pub(crate) fn for_tests(raw_query: &str) -> Self {
        Self {
            request_id: "r".to_owned(),
            client_request_id: "c".to_owned(),
            version: Some(ApiVersion::V1),
            base_url: "http://127.0.0.1".to_owned(),
            path: "/v1.0/users".to_owned(),
            raw_query: Some(raw_query.to_owned()),
            consistency_eventual: false,
            prefer: Vec::new(),
            tenant: Arc::new(OnceLock::new()),
        }
    }

    /// Records the caller's tenant for the request log (set by the auth extractor).
    pub fn set_tenant(&self, tenant_id: &str) {
        let _ = self.tenant.set(tenant_id.to_owned());
    }

    /// The caller's tenant, once authenticated.
    pub fn tenant(&self) -> Option<String> {
        self.tenant.get().cloned()
    }

    /// `{base}/{version}/$metadata#{fragment}`: an `@odata.context` value.
    pub fn context_url(&self, fragment: &str) -> String {
        let version = self.version.map_or("v1.0", ApiVersion::as_str);
        format!("{}/{version}/$metadata#{fragment}", self.base_url)
    }

    /// The absolute URL of this request's path (no query).
    pub fn absolute_path(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| {
                ApiError::internal("request context missing: route mounted outside the middleware")
            })
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestContext>()
            .and_then(|c| c.version)
            .ok_or_else(|| {
                ApiError::internal("API version missing: route mounted outside /v1.0 or /beta")
            })
    }
}

/// One line of the request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// The caller's tenant, when the request carried a valid token.
    pub tenant: Option<String>,
    /// The route template that matched (`/v1.0/users/{id}`), if any.
    pub route: Option<String>,
    pub request_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The request's number on the log's event counter when it arrived, and when it was answered
    /// (simulated latency included): a logical clock, so the log tells which requests were in
    /// flight together without comparing times. See [`round_trips`].
    #[serde(default)]
    pub received: u64,
    #[serde(default)]
    pub answered: u64,
    /// An item of a `$batch` (logged besides the batch), not a request of its own on the wire.
    #[serde(default)]
    pub batch_item: bool,
}

/// Marks a request the `$batch` route dispatches for one of its items (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem;

/// The sequential round trips of the logged requests: the longest chain of requests (batch items
/// left out: they travel inside their batch) in which each one arrived after the one before it
/// was answered. Requests a client sends at once overlap and count once; a request that had to
/// wait for another's answer adds one. Give the requests every round trip is simulated a latency
/// (a latency fault) so that requests sent together are surely in flight together.
pub fn round_trips(records: &[RequestRecord]) -> usize {
    let mut wire: Vec<&RequestRecord> = records.iter().filter(|r| !r.batch_item).collect();
    wire.sort_by_key(|r| r.received);
    // depth[i]: the longest chain that ends with request i.
    let mut depth: Vec<usize> = Vec::with_capacity(wire.len());
    for (i, r) in wire.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| wire[j].answered < r.received)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A host as it may appear in a link: a DNS name or IP literal with an optional port, nothing
/// that could end the authority (`/`, `?`, `#`, `@`, whitespace, quotes).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']' | '_'))
}

/// The first `Forwarded` element's `proto` and `host` (RFC 7239), unquoted.
fn forwarded(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let Some(first) = header_str(headers, "forwarded").and_then(|v| v.split(',').next()) else {
        return (None, None);
    };
    let (mut proto, mut host) = (None, None);
    for pair in first.split(';') {
        if let Some((key, value)) = pair.trim().split_once('=') {
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "proto" => proto = Some(value),
                "host" => host = Some(value),
                _ => {}
            }
        }
    }
    (proto, host)
}

/// `scheme://host` as the client addressed us: the served scheme and the `Host` header, or,
/// when the policy trusts a TLS proxy, what `Forwarded` (first) or `X-Forwarded-Proto` /
/// `X-Forwarded-Host` say. Values that are not a plain scheme or host are ignored.
pub(crate) fn base_url(headers: &HeaderMap, policy: super::LinkPolicy) -> String {
    let first = |name: &str| {
        header_str(headers, name)
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
    };
    let mut scheme = policy.scheme.to_owned();
    let mut host = header_str(headers, "host")
        .filter(|h| valid_host(h))
        .unwrap_or("127.0.0.1")
        .to_owned();
    if policy.trust_forwarded_headers {
        let (proto, fwd_host) = forwarded(headers);
        let proto = proto.or_else(|| first("x-forwarded-proto"));
        let fwd_host = fwd_host.or_else(|| first("x-forwarded-host"));
        if let Some(p) = proto.map(|p| p.to_ascii_lowercase())
            && (p == "http" || p == "https")
        {
            scheme = p;
        }
        if let Some(h) = fwd_host.filter(|h| valid_host(h)) {
            host = h;
        }
    }
    format!("{scheme}://{host}")
}

/// The middleware (installed by `router()` around every route and the fallback).
pub(crate) async fn envelope(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = header_str(request.headers(), "client-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map_or_else(|| request_id.clone(), str::to_owned);
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let path = uri.path().to_owned();
    let raw_query = uri.query().map(str::to_owned);
    let version = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .and_then(ApiVersion::from_segment);
    let base_url = base_url(request.headers(), app.links());
    let consistency_eventual = header_str(request.headers(), "consistencylevel")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
    let prefer = request
        .headers()
        .get_all(header::HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let tenant = Arc::new(OnceLock::new());
    let context = RequestContext {
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
        version,
        base_url,
        path: path.clone(),
        raw_query: raw_query.clone(),
        consistency_eventual,
        prefer,
        tenant: Arc::clone(&tenant),
    };
    let method = request.method().to_string();
    let batch_item = request.extensions().get::<BatchItem>().is_some();
    let received = app.next_event();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    request.extensions_mut().insert(context);

    let writes = !matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        app.after_write();
    }
    let answered = app.next_event();
    let now = app.now();
    // Error bodies' `innerError.date` is on the clock of the response's `Date` header (real
    // time, written by hyper), like the fault layer's and Graph's, not the virtual clock.
    let mut response = graphify(
        response,
        &OffsetDateTime::now_utc(),
        &request_id,
        &client_request_id,
    )
    .await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&client_request_id) {
        headers.insert("client-request-id", value);
    }
    if version.is_some() {
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
    }
    app.record(RequestRecord {
        method,
        path,
        query: raw_query,
        status: response.status().as_u16(),
        tenant: tenant.get().cloned(),
        route,
        request_id,
        at: now,
        received,
        answered,
        batch_item,
    });
    response
}

/// Gives every error answer Graph's body with this request's ids.
async fn graphify(
    response: Response,
    now: &OffsetDateTime,
    request_id: &str,
    client_request_id: &str,
) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let (code, message) = if let Some(err) = parts.extensions.remove::<GraphErrorParts>() {
        (err.code, err.message)
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        let err = ApiError::method_not_allowed();
        (err.code().to_owned(), err.message().to_owned())
    } else {
        // A bare answer from axum or a layer. Bodies that are not plain text or JSON (e.g. the
        // fault layer's dropped connection) are left untouched.
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let json = content_type.starts_with("application/json");
        if !json && !content_type.starts_with("text/plain") {
            return Response::from_parts(parts, body);
        }
        let bytes = axum::body::to_bytes(body, 256 * 1024)
            .await
            .unwrap_or_default();
        if json {
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                // Already a Graph error (e.g. from the fault layer): give it this request's ids.
                Ok(mut value) if value.get("error").is_some_and(serde_json::Value::is_object) => {
                    if let Some(inner) = value
                        .pointer_mut("/error/innerError")
                        .and_then(serde_json::Value::as_object_mut)
                    {
                        inner.insert("request-id".to_owned(), request_id.into());
                        inner.insert("client-request-id".to_owned(), client_request_id.into());
                    }
                    parts.headers.remove(header::CONTENT_LENGTH);
                    return Response::from_parts(parts, Body::from(value.to_string()));
                }
                // Any other JSON error body (e.g. the token endpoint's AADSTS answers) is final.
                _ => return Response::from_parts(parts, Body::from(bytes)),
            }
        }
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        let code = if status.is_server_error() {
            "generalException"
        } else {
            "BadRequest"
        };
        (
            code.to_owned(),
            if text.is_empty() {
                status.canonical_reason().unwrap_or("Error").to_owned()
            } else {
                text
            },
        )
    };
    let body = error_body(
        &code,
        &message,
        &graph_date(*now),
        request_id,
        client_request_id,
    );
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::LinkPolicy;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    const PLAIN: LinkPolicy = LinkPolicy {
        scheme: "http",
        trust_forwarded_headers: false,
    };
    const PROXIED: LinkPolicy = LinkPolicy {
        scheme: "http",
        trust_forwarded_headers: true,
    };

    #[test]
    fn links_use_the_served_scheme_and_the_host_header() {
        let h = headers(&[("host", "127.0.0.1:8443")]);
        assert_eq!(base_url(&h, PLAIN), "http://127.0.0.1:8443");
        let tls = LinkPolicy {
            scheme: "https",
            ..PLAIN
        };
        assert_eq!(base_url(&h, tls), "https://127.0.0.1:8443");
        // A host that would change the link's meaning is not used.
        let evil = headers(&[("host", "evil.example/path?")]);
        assert_eq!(base_url(&evil, PLAIN), "http://127.0.0.1");
    }

    #[test]
    fn proxy_headers_count_only_when_trusted() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "graph.example.test"),
        ]);
        assert_eq!(base_url(&h, PLAIN), "http://127.0.0.1:8080");
        assert_eq!(base_url(&h, PROXIED), "https://graph.example.test");
        let f = headers(&[
            ("host", "127.0.0.1:8080"),
            (
                "forwarded",
                "for=192.0.2.60;proto=https;host=\"sim.example.test:443\", for=10.0.0.1;proto=http",
            ),
            ("x-forwarded-proto", "http"),
        ]);
        assert_eq!(base_url(&f, PROXIED), "https://sim.example.test:443");
        let bad = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "a/b"),
        ]);
        assert_eq!(base_url(&bad, PROXIED), "http://127.0.0.1:8080");
    }
}
