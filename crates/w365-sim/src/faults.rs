//! Fault injection: rules that add latency, answer 429/503/504 like Graph, or drop the
//! connection, applied by a tower layer in front of the Graph routes.
//!
//! A [`FaultRule`] matches a request by method, path glob and tenant, and fires according to
//! its [`Trigger`] (always, the first N matches, every Nth match, or with a seeded probability).
//! Rules are evaluated in order for every request: each firing latency rule adds its delay;
//! the first firing status or drop rule ends the evaluation and answers instead of the routes.
//!
//! Path globs are matched segment by segment, case-insensitively, on the URL path without the
//! query: `*` matches any characters inside one segment, a `**` segment matches any number of
//! segments (`/v1.0/groups/*` matches `/v1.0/groups/abc` but not `/v1.0/groups/abc/members`;
//! `/v1.0/groups/**` matches both).
//!
//! JSON form (the `/_sim/faults` API), camelCase:
//! ```json
//! {"method":"GET","path":"/v1.0/users/**","tenant":null,
//!  "action":{"status":{"status":429,"retryAfterSecs":3,"httpDate":false}},
//!  "trigger":{"firstN":2}}
//! ```
//! `action` is `{"latency": ms}`, `{"roundTripLatency": ms}` (not added again to the items of a
//! `$batch`), `{"status": {...}}`, `"dropConnection"`,
//! `{"statusAfterProcessing": {...}}` or `"dropAfterProcessing"`; `trigger` is
//! `"always"` (the default), `{"firstN": n}`, `{"everyNth": n}` or
//! `{"probability": {"p": 0.25, "seed": 7}}`.
//!
//! The `...AfterProcessing` actions let the request reach the routes first (its effects happen:
//! the mail is in the outbox, the member is added) and only then replace the answer: the case a
//! client cannot tell apart from a failure before processing, which is why it must not resend
//! what is not safe to repeat.
//!
//! A dropped connection is produced by a response whose body fails on its first poll: hyper
//! then closes the connection without writing the response, so the client sees a connection
//! error (proved by a test below over a real socket).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;
use tower::{Layer, Service};

/// The header that names the tenant of a request for fault matching (see [`default_tenant`];
/// the wiring may provide its own resolver with [`FaultLayer::with_tenant_resolver`]).
pub const TENANT_HEADER: &str = "x-sim-tenant";

/// What a firing rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FaultAction {
    /// Delay the request by this many milliseconds, then handle it normally.
    Latency(u64),
    /// A network round trip of this many milliseconds: like `latency`, but only for requests
    /// on the wire; the items of a `$batch` travel inside their batch and are not delayed again.
    RoundTripLatency(u64),
    /// Answer with this status and a Graph error body instead of handling the request.
    Status {
        /// 429, 503 or 504 (any 4xx/5xx is accepted).
        status: u16,
        /// Adds `Retry-After`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
        /// Send `Retry-After` as an HTTP-date instead of seconds.
        #[serde(default)]
        http_date: bool,
    },
    /// Close the connection without an answer.
    DropConnection,
    /// Handle the request normally (its effects happen), then answer with this status and a
    /// Graph error body instead of the real answer.
    StatusAfterProcessing {
        /// 503 or 504 typically (any 4xx/5xx is accepted).
        status: u16,
        /// Adds `Retry-After`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
        /// Send `Retry-After` as an HTTP-date instead of seconds.
        #[serde(default)]
        http_date: bool,
    },
    /// Handle the request normally (its effects happen), then close the connection without the
    /// answer.
    DropAfterProcessing,
}

/// When a matching rule fires.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// Every matching request.
    #[default]
    Always,
    /// The first `n` matching requests.
    FirstN(u64),
    /// The `n`th, `2n`th, ... matching request.
    EveryNth(u64),
    /// Each matching request with probability `p`, from a random sequence seeded by `seed`
    /// (the same rules and the same requests give the same faults).
    Probability { p: f64, seed: u64 },
}

/// One fault injection rule. `None` matchers match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "FaultRuleWire")]
pub struct FaultRule {
    /// HTTP method, case-insensitive.
    pub method: Option<String>,
    /// Path glob (see the module documentation).
    pub path: Option<String>,
    /// Tenant id or domain, case-insensitive.
    pub tenant: Option<String>,
    pub action: FaultAction,
    pub trigger: Trigger,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultRuleWire {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    action: FaultAction,
    #[serde(default)]
    trigger: Trigger,
}

impl TryFrom<FaultRuleWire> for FaultRule {
    type Error = InvalidFaultRule;

    fn try_from(w: FaultRuleWire) -> Result<Self, Self::Error> {
        let rule = FaultRule {
            method: w.method,
            path: w.path,
            tenant: w.tenant,
            action: w.action,
            trigger: w.trigger,
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// Why a fault rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidFaultRule {
    #[error("fault status must be between 400 and 599, got {0}")]
    Status(u16),
    #[error("probability must be between 0 and 1")]
    Probability,
    #[error("firstN and everyNth need n >= 1")]
    ZeroCount,
    #[error("path pattern must start with '/'")]
    Path,
}

impl FaultRule {
    /// A rule that always applies `action` to every request.
    pub fn always(action: FaultAction) -> Self {
        FaultRule {
            method: None,
            path: None,
            tenant: None,
            action,
            trigger: Trigger::Always,
        }
    }

    /// Checks the values a rule cannot sensibly have (deserialization already does this).
    pub fn validate(&self) -> Result<(), InvalidFaultRule> {
        if let FaultAction::Status { status, .. }
        | FaultAction::StatusAfterProcessing { status, .. } = self.action
            && !(400..=599).contains(&status)
        {
            return Err(InvalidFaultRule::Status(status));
        }
        match self.trigger {
            Trigger::FirstN(0) | Trigger::EveryNth(0) => return Err(InvalidFaultRule::ZeroCount),
            Trigger::Probability { p, .. } if !(0.0..=1.0).contains(&p) => {
                return Err(InvalidFaultRule::Probability);
            }
            _ => {}
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(InvalidFaultRule::Path);
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str, tenant: Option<&str>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| glob_match(p, path))
            && self
                .tenant
                .as_deref()
                .is_none_or(|t| tenant.is_some_and(|rt| rt.eq_ignore_ascii_case(t)))
    }
}

/// Segment glob: `*` inside a segment, `**` for any number of segments; case-insensitive.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|skip| match_segments(rest, &segs[skip..])),
        Some((p, rest)) => match segs.split_first() {
            Some((s, srest)) => match_segment(p, s) && match_segments(rest, srest),
            None => false,
        },
    }
}

fn match_segment(pattern: &str, seg: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let s: Vec<char> = seg.to_lowercase().chars().collect();
    // Classic wildcard matching with backtracking on the last '*'.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What the layer does to one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// Total delay from firing latency rules.
    pub latency: Duration,
    /// Total delay from firing round-trip latency rules (not for `$batch` items).
    pub round_trip_latency: Duration,
    /// The answer that replaces the routes, if a status or drop rule fired.
    pub outcome: Option<FaultOutcome>,
    /// The routes handle the request first; `outcome` then replaces their answer.
    pub after_processing: bool,
}

/// A terminal fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultOutcome {
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
        http_date: bool,
    },
    DropConnection,
}

struct RuleState {
    rule: FaultRule,
    matched: u64,
    rng: Option<StdRng>,
}

impl RuleState {
    fn new(rule: FaultRule) -> Self {
        let rng = match rule.trigger {
            Trigger::Probability { seed, .. } => Some(StdRng::seed_from_u64(seed)),
            _ => None,
        };
        RuleState {
            rule,
            matched: 0,
            rng,
        }
    }

    /// Counts a matching request and says whether the rule fires for it.
    fn fires(&mut self) -> bool {
        self.matched += 1;
        match self.rule.trigger {
            Trigger::Always => true,
            Trigger::FirstN(n) => self.matched <= n,
            Trigger::EveryNth(n) => n > 0 && self.matched.is_multiple_of(n),
            Trigger::Probability { p, .. } => {
                let draw: f64 = self.rng.as_mut().map_or(1.0, |r| r.random::<f64>());
                draw < p
            }
        }
    }
}

/// The runtime-updatable set of fault rules (cheap to clone; clones share the rules and their
/// counters). Replacing the rules resets the counters and random sequences.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Vec<RuleState>>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.list())
            .finish()
    }
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        let faults = Faults::default();
        faults.set(rules);
        faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RuleState>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces all rules.
    pub fn set(&self, rules: Vec<FaultRule>) {
        *self.lock() = rules.into_iter().map(RuleState::new).collect();
    }

    /// Appends a rule (evaluated after the existing ones).
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(RuleState::new(rule));
    }

    /// Removes all rules.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The current rules, in evaluation order.
    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().iter().map(|s| s.rule.clone()).collect()
    }

    /// Evaluates the rules for one request (and advances their counters).
    pub fn evaluate(&self, method: &str, path: &str, tenant: Option<&str>) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for state in self.lock().iter_mut() {
            if !state.rule.matches(method, path, tenant) || !state.fires() {
                continue;
            }
            match state.rule.action {
                FaultAction::Latency(ms) => decision.latency += Duration::from_millis(ms),
                FaultAction::RoundTripLatency(ms) => {
                    decision.round_trip_latency += Duration::from_millis(ms);
                }
                FaultAction::Status {
                    status,
                    retry_after_secs,
                    http_date,
                }
                | FaultAction::StatusAfterProcessing {
                    status,
                    retry_after_secs,
                    http_date,
                } => {
                    decision.outcome = Some(FaultOutcome::Status {
                        status,
                        retry_after_secs,
                        http_date,
                    });
                    decision.after_processing =
                        matches!(state.rule.action, FaultAction::StatusAfterProcessing { .. });
                    break;
                }
                FaultAction::DropConnection | FaultAction::DropAfterProcessing => {
                    decision.outcome = Some(FaultOutcome::DropConnection);
                    decision.after_processing =
                        matches!(state.rule.action, FaultAction::DropAfterProcessing);
                    break;
                }
            }
        }
        decision
    }
}

/// The Graph error `code` and `message` the layer answers a status with.
fn graph_error_for(status: u16) -> (&'static str, &'static str) {
    match status {
        429 => ("TooManyRequests", "Please retry again later."),
        503 => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => (
            "GatewayTimeout",
            "The gateway did not receive a timely response from the service.",
        ),
        500 => ("generalException", "General exception while processing."),
        502 => ("BadGateway", "The service encountered a bad gateway error."),
        _ => (
            "UnknownError",
            "The fault injection rule answered this request.",
        ),
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, RFC 9110 §5.6.7).
pub fn http_date(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t).to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The Graph-shaped answer for a status fault.
pub fn status_response(
    status: u16,
    retry_after_secs: Option<u64>,
    use_http_date: bool,
    client_request_id: Option<&str>,
) -> Response<Body> {
    let (code, message) = graph_error_for(status);
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = client_request_id.map_or_else(|| request_id.clone(), str::to_owned);
    let date = OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": date, "request-id": request_id, "client-request-id": client_request_id}}});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("request-id", header_value(&request_id));
    headers.insert("client-request-id", header_value(&client_request_id));
    if let Some(secs) = retry_after_secs {
        let value = if use_http_date {
            // Round up so the client never retries before the advertised delay.
            http_date(SystemTime::now() + Duration::from_secs(secs + 1))
        } else {
            secs.to_string()
        };
        headers.insert(http::header::RETRY_AFTER, header_value(&value));
    }
    response
}

/// A response whose body fails immediately: hyper aborts the connection instead of answering.
pub fn dropped_connection_response() -> Response<Body> {
    let stream = futures::stream::iter(VecDeque::from([Err::<Bytes, std::io::Error>(
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault injection: connection dropped",
        ),
    )]));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// Derives the tenant of a request for rule matching.
pub type TenantResolver = Arc<dyn Fn(&Uri, &HeaderMap) -> Option<String> + Send + Sync>;

/// The default tenant of a request: the `x-sim-tenant` header; else the `tid` of the bearer
/// token (read without verification: this only selects fault rules); else the `{tenant}`
/// segment of a token endpoint path (`/{tenant}/oauth2/v2.0/token`).
pub fn default_tenant(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(t.to_owned());
    }
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(tid) = crate::identity::unverified_tenant(auth) {
        return Some(tid);
    }
    let mut segments = uri.path().trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some(tenant), Some(next)) if !tenant.is_empty() && next.eq_ignore_ascii_case("oauth2") => {
            Some(tenant.to_owned())
        }
        _ => None,
    }
}

/// The tower layer applying [`Faults`].
#[derive(Clone)]
pub struct FaultLayer {
    faults: Faults,
    tenant_of: TenantResolver,
}

impl fmt::Debug for FaultLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultLayer")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl FaultLayer {
    /// Tenants are found by [`default_tenant`].
    pub fn new(faults: Faults) -> Self {
        FaultLayer {
            faults,
            tenant_of: Arc::new(default_tenant),
        }
    }

    /// Uses `resolver` to find a request's tenant (e.g. from the bearer token's `tid`).
    pub fn with_tenant_resolver(
        mut self,
        resolver: impl Fn(&Uri, &HeaderMap) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.tenant_of = Arc::new(resolver);
        self
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            faults: self.faults.clone(),
            tenant_of: self.tenant_of.clone(),
        }
    }
}

/// The service produced by [`FaultLayer`].
#[derive(Clone)]
pub struct FaultService<S> {
    inner: S,
    faults: Faults,
    tenant_of: TenantResolver,
}

impl<S> fmt::Debug for FaultService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultService")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for FaultService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let tenant = (self.tenant_of)(req.uri(), req.headers());
        let decision =
            self.faults
                .evaluate(req.method().as_str(), req.uri().path(), tenant.as_deref());
        let client_request_id = req
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut latency = decision.latency;
        if req
            .extensions()
            .get::<crate::http::context::BatchItem>()
            .is_none()
        {
            latency += decision.round_trip_latency;
        }
        // The inner service was made ready by poll_ready; keep that one and leave a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let Some(outcome) = decision.outcome else {
                return inner.call(req).await;
            };
            if decision.after_processing {
                // The routes do the work; their answer is thrown away.
                let _processed = inner.call(req).await?;
            }
            match outcome {
                FaultOutcome::Status {
                    status,
                    retry_after_secs,
                    http_date,
                } => Ok(status_response(
                    status,
                    retry_after_secs,
                    http_date,
                    client_request_id.as_deref(),
                )),
                FaultOutcome::DropConnection => Ok(dropped_connection_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::Router;
    use axum::routing::get;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    use super::*;

    fn rule(action: FaultAction, trigger: Trigger) -> FaultRule {
        FaultRule {
            trigger,
            ..FaultRule::always(action)
        }
    }

    fn status(status: u16, retry_after_secs: Option<u64>) -> FaultAction {
        FaultAction::Status {
            status,
            retry_after_secs,
            http_date: false,
        }
    }

    // ------------------------------------------------------------ rules, matching, triggers

    #[test]
    fn rules_have_a_camel_case_json_form_and_invalid_ones_are_refused() {
        let json = serde_json::json!([
            {"method": "GET", "path": "/v1.0/users/**", "action": {"status": {"status": 429, "retryAfterSecs": 3}}, "trigger": {"firstN": 2}},
            {"action": {"latency": 250}},
            {"tenant": "contoso", "action": "dropConnection", "trigger": {"probability": {"p": 0.5, "seed": 7}}},
            {"action": {"status": {"status": 503, "retryAfterSecs": 1, "httpDate": true}}, "trigger": {"everyNth": 3}}
        ]);
        let rules: Vec<FaultRule> = serde_json::from_value(json).expect("valid rules");
        assert_eq!(
            rules[0],
            FaultRule {
                method: Some("GET".to_owned()),
                path: Some("/v1.0/users/**".to_owned()),
                tenant: None,
                action: status(429, Some(3)),
                trigger: Trigger::FirstN(2),
            }
        );
        assert_eq!(rules[1], FaultRule::always(FaultAction::Latency(250)));
        assert_eq!(rules[2].trigger, Trigger::Probability { p: 0.5, seed: 7 });
        assert_eq!(
            rules[3].action,
            FaultAction::Status {
                status: 503,
                retry_after_secs: Some(1),
                http_date: true
            }
        );
        let back: Vec<FaultRule> =
            serde_json::from_value(serde_json::to_value(&rules).expect("serializable"))
                .expect("round trip");
        assert_eq!(back, rules);

        for bad in [
            serde_json::json!({"action": {"status": {"status": 200}}}),
            serde_json::json!({"action": "dropConnection", "trigger": {"probability": {"p": 1.5, "seed": 1}}}),
            serde_json::json!({"action": "dropConnection", "trigger": {"firstN": 0}}),
            serde_json::json!({"path": "v1.0/users", "action": "dropConnection"}),
            serde_json::json!({"action": "dropConnection", "paths": "/x"}),
            serde_json::json!({"action": "explode"}),
        ] {
            assert!(
                serde_json::from_value::<FaultRule>(bad.clone()).is_err(),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn path_globs_match_by_segment() {
        assert!(glob_match("/v1.0/groups/*", "/v1.0/groups/abc"));
        assert!(glob_match("/v1.0/groups/*", "/V1.0/Groups/ABC/"));
        assert!(!glob_match("/v1.0/groups/*", "/v1.0/groups/abc/members"));
        assert!(!glob_match("/v1.0/groups/*", "/v1.0/groups"));
        assert!(glob_match("/v1.0/groups/**", "/v1.0/groups"));
        assert!(glob_match(
            "/v1.0/groups/**",
            "/v1.0/groups/abc/members/$ref"
        ));
        assert!(glob_match(
            "/**/cloudPCs/*",
            "/beta/deviceManagement/virtualEndpoint/cloudPCs/1"
        ));
        assert!(glob_match("/*/users", "/beta/users"));
        assert!(glob_match(
            "/v1.0/users/*@contoso.com",
            "/v1.0/users/alice@contoso.com"
        ));
        assert!(!glob_match(
            "/v1.0/users/*@contoso.com",
            "/v1.0/users/alice@fabrikam.com"
        ));
        assert!(!glob_match("/v1.0/users", "/v1.0/users/x"));
    }

    #[test]
    fn rules_match_method_and_tenant() {
        let faults = Faults::new(vec![FaultRule {
            method: Some("post".to_owned()),
            tenant: Some("Contoso".to_owned()),
            ..FaultRule::always(status(503, None))
        }]);
        assert_eq!(
            faults
                .evaluate("GET", "/v1.0/users", Some("contoso"))
                .outcome,
            None
        );
        assert_eq!(
            faults
                .evaluate("POST", "/v1.0/users", Some("fabrikam"))
                .outcome,
            None
        );
        assert_eq!(faults.evaluate("POST", "/v1.0/users", None).outcome, None);
        assert!(
            faults
                .evaluate("POST", "/v1.0/users", Some("contoso"))
                .outcome
                .is_some()
        );
    }

    #[test]
    fn first_n_and_every_nth_count_matching_requests() {
        let faults = Faults::new(vec![rule(status(429, Some(1)), Trigger::FirstN(2))]);
        let fired: Vec<bool> = (0..4)
            .map(|_| {
                faults
                    .evaluate("GET", "/v1.0/users", None)
                    .outcome
                    .is_some()
            })
            .collect();
        assert_eq!(fired, [true, true, false, false]);

        let faults = Faults::new(vec![FaultRule {
            path: Some("/v1.0/groups".to_owned()),
            ..rule(FaultAction::DropConnection, Trigger::EveryNth(3))
        }]);
        let mut fired = Vec::new();
        for _ in 0..7 {
            // Requests to other paths do not count.
            assert!(
                faults
                    .evaluate("GET", "/v1.0/users", None)
                    .outcome
                    .is_none()
            );
            fired.push(
                faults
                    .evaluate("GET", "/v1.0/groups", None)
                    .outcome
                    .is_some(),
            );
        }
        assert_eq!(fired, [false, false, true, false, false, true, false]);
    }

    #[test]
    fn probability_is_deterministic_for_a_seed() {
        let run = |seed: u64| -> Vec<bool> {
            let faults = Faults::new(vec![rule(
                status(503, None),
                Trigger::Probability { p: 0.3, seed },
            )]);
            (0..1000)
                .map(|_| {
                    faults
                        .evaluate("GET", "/v1.0/users", None)
                        .outcome
                        .is_some()
                })
                .collect()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let hits = a.iter().filter(|f| **f).count();
        assert!((220..=380).contains(&hits), "{hits} of 1000 at p=0.3");
        // Replacing the rules restarts the sequence.
        let faults = Faults::new(vec![rule(
            status(503, None),
            Trigger::Probability { p: 0.3, seed: 42 },
        )]);
        let first: Vec<bool> = (0..20)
            .map(|_| faults.evaluate("GET", "/", None).outcome.is_some())
            .collect();
        faults.set(faults.list());
        let again: Vec<bool> = (0..20)
            .map(|_| faults.evaluate("GET", "/", None).outcome.is_some())
            .collect();
        assert_eq!(first, again);
    }

    #[test]
    fn latency_adds_up_and_the_first_terminal_rule_wins() {
        let faults = Faults::new(vec![
            FaultRule::always(FaultAction::Latency(100)),
            FaultRule::always(FaultAction::Latency(50)),
            rule(status(429, None), Trigger::FirstN(1)),
            FaultRule::always(status(503, None)),
        ]);
        let first = faults.evaluate("GET", "/x", None);
        assert_eq!(first.latency, Duration::from_millis(150));
        assert_eq!(
            first.outcome,
            Some(FaultOutcome::Status {
                status: 429,
                retry_after_secs: None,
                http_date: false
            })
        );
        let second = faults.evaluate("GET", "/x", None);
        assert_eq!(
            second.outcome,
            Some(FaultOutcome::Status {
                status: 503,
                retry_after_secs: None,
                http_date: false
            })
        );
        faults.clear();
        assert_eq!(faults.evaluate("GET", "/x", None), FaultDecision::default());
    }

    // ------------------------------------------------------------ over real HTTP

    struct Server {
        addr: SocketAddr,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(faults: Faults) -> Server {
        let app = Router::new()
            .route(
                "/v1.0/users",
                get(|| async { axum::Json(serde_json::json!({"value": []})) }),
            )
            .route("/v1.0/groups/{id}", get(|| async { "group" }))
            .layer(FaultLayer::new(faults));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("server runs");
        });
        Server { addr, task }
    }

    /// No pooled connections: a dropped connection must surface as an error, not be retried
    /// transparently on a fresh connection by the client's pool.
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }

    #[tokio::test]
    async fn throttling_answers_429_with_retry_after_and_a_graph_body() {
        let faults = Faults::default();
        let server = serve(faults.clone()).await;
        let url = format!("http://{}/v1.0/users", server.addr);
        // Rules can change while the server runs.
        faults.set(vec![FaultRule {
            path: Some("/v1.0/users".to_owned()),
            ..rule(status(429, Some(7)), Trigger::FirstN(1))
        }]);
        let response = client()
            .get(&url)
            .header("client-request-id", "11111111-2222-3333-4444-555555555555")
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(
            response.headers()["client-request-id"],
            "11111111-2222-3333-4444-555555555555"
        );
        assert!(response.headers().contains_key("request-id"));
        let body: Value = response.json().await.expect("json body");
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["message"], "Please retry again later.");
        assert_eq!(
            body["error"]["innerError"]["client-request-id"],
            "11111111-2222-3333-4444-555555555555"
        );
        assert!(body["error"]["innerError"]["date"].is_string());

        let second = client().get(&url).send().await.expect("an answer");
        assert_eq!(second.status(), 200);
        assert_eq!(
            second.json::<Value>().await.expect("json"),
            serde_json::json!({"value": []})
        );
    }

    #[tokio::test]
    async fn retry_after_can_be_an_http_date() {
        let faults = Faults::new(vec![FaultRule::always(FaultAction::Status {
            status: 503,
            retry_after_secs: Some(120),
            http_date: true,
        })]);
        let server = serve(faults).await;
        let response = client()
            .get(format!("http://{}/v1.0/users", server.addr))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 503);
        let value = response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let parsed = time::PrimitiveDateTime::parse(
            value.trim_end_matches(" GMT"),
            format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second]"
            ),
        )
        .unwrap_or_else(|e| panic!("'{value}' is not an IMF-fixdate: {e}"))
        .assume_utc();
        let ahead = parsed - OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::seconds(100) && ahead < time::Duration::seconds(140),
            "{ahead}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "serviceNotAvailable");
    }

    #[tokio::test]
    async fn gateway_timeout_and_path_matching() {
        let faults = Faults::new(vec![FaultRule {
            path: Some("/v1.0/groups/*".to_owned()),
            ..FaultRule::always(status(504, None))
        }]);
        let server = serve(faults).await;
        let groups = client()
            .get(format!("http://{}/v1.0/groups/abc", server.addr))
            .send()
            .await
            .expect("an answer");
        assert_eq!(groups.status(), 504);
        assert!(!groups.headers().contains_key("retry-after"));
        let body: Value = groups.json().await.expect("json");
        assert_eq!(body["error"]["code"], "GatewayTimeout");
        let users = client()
            .get(format!("http://{}/v1.0/users", server.addr))
            .send()
            .await
            .expect("an answer");
        assert_eq!(users.status(), 200);
    }

    #[tokio::test]
    async fn tenant_header_selects_the_rules() {
        let faults = Faults::new(vec![FaultRule {
            tenant: Some("contoso.onmicrosoft.com".to_owned()),
            ..FaultRule::always(status(503, None))
        }]);
        let server = serve(faults).await;
        let url = format!("http://{}/v1.0/users", server.addr);
        let fabrikam = client()
            .get(&url)
            .header(TENANT_HEADER, "fabrikam.onmicrosoft.com")
            .send()
            .await
            .expect("answer");
        assert_eq!(fabrikam.status(), 200);
        let contoso = client()
            .get(&url)
            .header(TENANT_HEADER, "contoso.onmicrosoft.com")
            .send()
            .await
            .expect("answer");
        assert_eq!(contoso.status(), 503);
    }

    #[test]
    fn default_tenant_reads_header_then_token_then_token_path() {
        let uri: Uri = "/contoso.onmicrosoft.com/oauth2/v2.0/token"
            .parse()
            .expect("uri");
        assert_eq!(
            default_tenant(&uri, &HeaderMap::new()).as_deref(),
            Some("contoso.onmicrosoft.com")
        );
        let users: Uri = "/v1.0/users".parse().expect("uri");
        assert_eq!(default_tenant(&users, &HeaderMap::new()), None);

        // An (unsigned, unverified) token naming tenant t-1.
        let claims = URL_SAFE_NO_PAD.encode(br#"{"tid":"t-1"}"#);
        let token = format!(
            "{}.{claims}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#)
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            header_value(&format!("Bearer {token}")),
        );
        assert_eq!(default_tenant(&users, &headers).as_deref(), Some("t-1"));
        headers.insert(TENANT_HEADER, HeaderValue::from_static("t-2"));
        assert_eq!(default_tenant(&users, &headers).as_deref(), Some("t-2"));
    }

    #[tokio::test]
    async fn latency_delays_the_answer() {
        let faults = Faults::new(vec![rule(FaultAction::Latency(400), Trigger::FirstN(1))]);
        let server = serve(faults).await;
        let url = format!("http://{}/v1.0/users", server.addr);
        let started = Instant::now();
        let slow = client().get(&url).send().await.expect("answer");
        let slow_elapsed = started.elapsed();
        assert_eq!(slow.status(), 200);
        assert!(
            slow_elapsed >= Duration::from_millis(400),
            "{slow_elapsed:?}"
        );
        let started = Instant::now();
        let fast = client().get(&url).send().await.expect("answer");
        assert_eq!(fast.status(), 200);
        assert!(
            started.elapsed() < slow_elapsed,
            "the delay applies to the first request only"
        );
    }

    #[tokio::test]
    async fn round_trip_latency_delays_requests_on_the_wire_but_not_batch_items() {
        use tower::ServiceExt as _;
        let faults = Faults::new(vec![FaultRule::always(FaultAction::RoundTripLatency(
            1_500,
        ))]);
        let app = Router::new()
            .route("/v1.0/users", get(|| async { "users" }))
            .layer(FaultLayer::new(faults));
        let request = |item: bool| {
            let mut r = Request::builder()
                .uri("/v1.0/users")
                .body(Body::empty())
                .expect("request");
            if item {
                r.extensions_mut().insert(crate::http::context::BatchItem);
            }
            r
        };
        let started = Instant::now();
        let item = app.clone().oneshot(request(true)).await.expect("answer");
        let item_elapsed = started.elapsed();
        assert_eq!(item.status(), 200);
        let started = Instant::now();
        let wire = app.oneshot(request(false)).await.expect("answer");
        assert_eq!(wire.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(1_500));
        assert!(
            item_elapsed < Duration::from_millis(1_500),
            "{item_elapsed:?}"
        );
    }

    #[tokio::test]
    async fn after_processing_faults_let_the_routes_do_the_work_first() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let handled = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&handled);
        let faults = Faults::new(vec![
            FaultRule {
                method: Some("POST".to_owned()),
                ..rule(
                    FaultAction::StatusAfterProcessing {
                        status: 503,
                        retry_after_secs: None,
                        http_date: false,
                    },
                    Trigger::FirstN(1),
                )
            },
            FaultRule {
                method: Some("PUT".to_owned()),
                ..rule(FaultAction::DropAfterProcessing, Trigger::FirstN(1))
            },
        ]);
        let app = Router::new()
            .route(
                "/v1.0/work",
                axum::routing::post({
                    let counter = Arc::clone(&counter);
                    move || async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        "done"
                    }
                })
                .put(move || async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    "done"
                }),
            )
            .layer(FaultLayer::new(faults));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let server = Server {
            addr,
            task: tokio::spawn(async move {
                axum::serve(listener, app).await.expect("server runs");
            }),
        };
        let url = format!("http://{}/v1.0/work", server.addr);

        let answer = client().post(&url).send().await.expect("an answer");
        assert_eq!(answer.status(), 503);
        let body: Value = answer.json().await.expect("Graph error body");
        assert_eq!(body["error"]["code"], "serviceNotAvailable");
        assert_eq!(handled.load(Ordering::SeqCst), 1, "the work was done");

        let err = client()
            .put(&url)
            .send()
            .await
            .expect_err("the connection is dropped after the work");
        assert!(err.status().is_none(), "{err:?}");
        assert_eq!(handled.load(Ordering::SeqCst), 2, "the work was done");

        // The rules fired once each: the next requests are answered normally.
        assert_eq!(client().post(&url).send().await.expect("ok").status(), 200);
        assert_eq!(handled.load(Ordering::SeqCst), 3);

        let json: FaultRule =
            serde_json::from_value(serde_json::json!({"action": "dropAfterProcessing"}))
                .expect("JSON form");
        assert_eq!(json.action, FaultAction::DropAfterProcessing);
        let json: FaultRule = serde_json::from_value(
            serde_json::json!({"action": {"statusAfterProcessing": {"status": 504}}}),
        )
        .expect("JSON form");
        assert!(matches!(
            json.action,
            FaultAction::StatusAfterProcessing { status: 504, .. }
        ));
    }

    #[tokio::test]
    async fn dropped_connection_is_a_connection_error_for_the_client() {
        let faults = Faults::new(vec![rule(FaultAction::DropConnection, Trigger::FirstN(1))]);
        let server = serve(faults).await;
        let url = format!("http://{}/v1.0/users", server.addr);
        let err = client()
            .get(&url)
            .send()
            .await
            .expect_err("the connection is dropped");
        assert!(
            err.status().is_none(),
            "no HTTP status was received: {err:?}"
        );
        assert!(
            err.is_request() || err.is_connect() || err.is_body(),
            "{err:?}"
        );

        // Also at the socket level: no byte of a response is written before the close.
        let faults = Faults::new(vec![FaultRule::always(FaultAction::DropConnection)]);
        let raw = serve(faults).await;
        let mut stream = tokio::net::TcpStream::connect(raw.addr)
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(
            &mut stream,
            b"GET /v1.0/users HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .await
        .expect("write");
        let mut received = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received),
        )
        .await
        .expect("the server closes the connection");
        // Either a clean EOF or a reset; in both cases nothing was answered.
        if let Err(e) = read {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ),
                "{e:?}"
            );
        }
        assert!(
            received.is_empty(),
            "got {:?}",
            String::from_utf8_lossy(&received)
        );

        // The rule fired once: the next request is answered.
        let ok = client().get(&url).send().await.expect("answered");
        assert_eq!(ok.status(), 200);
    }

    #[tokio::test]
    async fn dropped_connection_on_a_reused_connection_is_not_retried_by_the_client() {
        let faults = Faults::default();
        let server = serve(faults.clone()).await;
        let url = format!("http://{}/v1.0/users", server.addr);
        let pooled = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let first = pooled.get(&url).send().await.expect("answered");
        assert_eq!(first.status(), 200);
        first
            .bytes()
            .await
            .expect("body read, connection back in the pool");
        faults.set(vec![rule(FaultAction::DropConnection, Trigger::FirstN(1))]);
        let err = pooled
            .get(&url)
            .send()
            .await
            .expect_err("the connection is dropped");
        assert!(err.status().is_none(), "{err:?}");
        assert_eq!(
            pooled.get(&url).send().await.expect("answered").status(),
            200
        );
    }
}
