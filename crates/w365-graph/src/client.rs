//! The Graph client: configuration, the request loop (auth, retries, tracing, statistics) and
//! the generic JSON methods the resource handlers are built on.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::auth::{self, AuthContext, Credential, TokenCredential};
use crate::error::{Error, GraphError, Result};
use crate::odata::{GraphPath, Query};
use crate::paging::Pager;
use crate::retry::{
    Decision, Failure, Idempotency, Resend, RetryPolicy, RetryState, parse_retry_after, resend,
};

/// A Microsoft cloud: where Graph and the token authority live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cloud {
    /// `https://graph.microsoft.com`, `https://login.microsoftonline.com`.
    #[default]
    Global,
    /// `https://graph.microsoft.us`, `https://login.microsoftonline.us`.
    UsGovernment,
    /// `https://microsoftgraph.chinacloudapi.cn`, `https://login.chinacloudapi.cn`.
    China,
    /// Any https URLs, or http on a loopback host (the simulator).
    Custom {
        /// Graph root, e.g. `http://127.0.0.1:8080` (without `/v1.0`).
        graph: Url,
        /// Authority host, e.g. `http://127.0.0.1:8080` (tokens come from `{authority}/{tenant}/oauth2/v2.0/token`).
        authority: Url,
    },
}

fn fixed(url: &str) -> Url {
    Url::parse(url).expect("built-in cloud URLs are valid")
}

impl Cloud {
    /// A custom cloud from two URL strings.
    pub fn custom(graph: &str, authority: &str) -> Result<Self> {
        let parse = |what: &str, s: &str| {
            Url::parse(s)
                .map_err(|e| Error::config(format!("the {what} URL {s:?} is invalid: {e}")))
        };
        let cloud = Cloud::Custom {
            graph: parse("Graph", graph)?,
            authority: parse("authority", authority)?,
        };
        cloud.validate()?;
        Ok(cloud)
    }

    /// The cloud of an `AZURE_AUTHORITY_HOST` value (the Azure Identity variable naming the
    /// Entra ID authority of a national cloud). The authority hosts of the national clouds are
    /// those of <https://learn.microsoft.com/graph/deployments>: `login.microsoftonline.com`
    /// (global), `login.microsoftonline.us` (US Government L4 and L5/DoD; w365 uses the L4 Graph
    /// root `graph.microsoft.us`), `login.chinacloudapi.cn` (21Vianet). A loopback URL is the
    /// simulator, which serves Graph and its token endpoint on one origin. Anything else is
    /// refused with what to do instead.
    pub fn from_authority_host(value: &str) -> Result<Self> {
        let text = value.trim();
        let url = Url::parse(text)
            .or_else(|_| Url::parse(&format!("https://{text}")))
            .map_err(|e| {
                Error::config(format!(
                    "AZURE_AUTHORITY_HOST {text:?} is not a URL ({e}); use e.g. https://login.microsoftonline.us"
                ))
            })?;
        if is_loopback(&url) {
            let cloud = Cloud::Custom {
                graph: url.clone(),
                authority: url,
            };
            cloud.validate()?;
            return Ok(cloud);
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match host.as_str() {
            "login.microsoftonline.com" => Ok(Cloud::Global),
            "login.microsoftonline.us" => Ok(Cloud::UsGovernment),
            "login.chinacloudapi.cn" => Ok(Cloud::China),
            _ => Err(Error::config(format!(
                "AZURE_AUTHORITY_HOST {text:?} is not the authority of a Microsoft cloud w365 knows \
                 (login.microsoftonline.com, login.microsoftonline.us, login.chinacloudapi.cn); for \
                 another cloud use a config profile with cloud = {{ graph = \"...\", authority = \"...\" }}"
            ))),
        }
    }

    /// Refuses the clouds where Windows 365's Graph APIs are not offered: every Cloud PC API
    /// page lists "China operated by 21Vianet" as not available, e.g.
    /// <https://learn.microsoft.com/graph/api/virtualendpoint-list-serviceplans?view=graph-rest-beta>
    /// and <https://learn.microsoft.com/graph/api/cloudpc-start?view=graph-rest-beta>.
    pub fn check_windows365(&self) -> Result<()> {
        if *self == Cloud::China {
            return Err(Error::config(
                "Windows 365's Microsoft Graph APIs (deviceManagement/virtualEndpoint: Cloud PCs, \
                 provisioning policies, service plans) are not offered in the China cloud operated by \
                 21Vianet (https://learn.microsoft.com/graph/api/virtualendpoint-list-serviceplans), so \
                 w365 cannot manage Cloud PCs there; use a tenant in the global or US Government cloud",
            ));
        }
        Ok(())
    }

    /// Graph root URL (no version segment).
    pub fn graph_url(&self) -> Url {
        match self {
            Cloud::Global => fixed("https://graph.microsoft.com"),
            Cloud::UsGovernment => fixed("https://graph.microsoft.us"),
            Cloud::China => fixed("https://microsoftgraph.chinacloudapi.cn"),
            Cloud::Custom { graph, .. } => graph.clone(),
        }
    }

    /// Authority host URL.
    pub fn authority_url(&self) -> Url {
        match self {
            Cloud::Global => fixed("https://login.microsoftonline.com"),
            Cloud::UsGovernment => fixed("https://login.microsoftonline.us"),
            Cloud::China => fixed("https://login.chinacloudapi.cn"),
            Cloud::Custom { authority, .. } => authority.clone(),
        }
    }

    /// The token scope for Graph in this cloud: `{graph resource}/.default`. A loopback
    /// custom cloud is the simulator, which emulates global Graph and (like Entra ID) expects
    /// `https://graph.microsoft.com/.default`; other custom clouds use their Graph origin.
    pub fn graph_scope(&self) -> String {
        match self {
            Cloud::Custom { graph, .. } if !is_loopback(graph) => {
                format!("{}/.default", graph.origin().ascii_serialization())
            }
            Cloud::Custom { .. } => "https://graph.microsoft.com/.default".to_owned(),
            other => format!(
                "{}/.default",
                other.graph_url().origin().ascii_serialization()
            ),
        }
    }

    /// Refuses URLs that are not https, unless their host is loopback.
    pub fn validate(&self) -> Result<()> {
        check_url("Graph", &self.graph_url())?;
        check_url("authority", &self.authority_url())
    }
}

/// Whether `url`'s host is 127.0.0.0/8, `::1` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn check_url(what: &str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => {
            return Err(Error::config(format!(
                "the {what} URL {url} is not https; plain http is only allowed for loopback hosts"
            )));
        }
        other => {
            return Err(Error::config(format!(
                "the {what} URL {url} has unsupported scheme {other:?}"
            )));
        }
    }
    if url.host().is_none() {
        return Err(Error::config(format!("the {what} URL {url} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(format!(
            "the {what} URL must not contain credentials"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "the {what} URL must not have a query or fragment"
        )));
    }
    Ok(())
}

/// Graph API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `v1.0`.
    V1,
    /// `beta`.
    Beta,
}

impl ApiVersion {
    /// The URL segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of HTTP traffic since the client was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent to Graph, retries included.
    pub requests: u64,
    /// Requests that were repeats of an earlier attempt.
    pub retries: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// The sum of the waits the client chose before its retries (`Retry-After` or backoff):
    /// what it decided, not a measurement.
    pub retry_wait: Duration,
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    retry_wait_micros: AtomicU64,
}

impl Stats {
    fn snapshot(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retry_wait: Duration::from_micros(self.retry_wait_micros.load(Ordering::Relaxed)),
        }
    }
}

/// Request counters that outlive a client and add up the traffic of several: every client built
/// with [`ClientBuilder::count_into`], and every [`Client::scoped`] client made from one, counts
/// into them as well as into its own [`Client::stats`]. A job worker keeps one per tenant, so a
/// tenant's total (for `/metrics`) covers every job run and survives the client being rebuilt.
/// Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct SharedStats(Arc<Stats>);

impl SharedStats {
    /// The counters now.
    pub fn snapshot(&self) -> RequestStats {
        self.0.snapshot()
    }
}

/// [`SharedStats`] per tenant name, created on first use: what a job worker's runs sent to each
/// tenant, readable by whoever holds a clone (the server's `/metrics`). Cheap to clone; clones
/// share the counters.
#[derive(Debug, Clone, Default)]
pub struct TenantStats(Arc<std::sync::Mutex<std::collections::BTreeMap<String, SharedStats>>>);

impl TenantStats {
    /// The tenant's counters (new ones, at zero, the first time).
    pub fn tenant(&self, name: &str) -> SharedStats {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Every tenant's counters now, by name.
    pub fn snapshot(&self) -> Vec<(String, RequestStats)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, s)| (name.clone(), s.snapshot()))
            .collect()
    }
}

/// What the builder turns into a token credential.
pub enum CredentialSource {
    /// A credential description, built for the configured cloud.
    Credential(Credential),
    /// A ready token credential.
    Dyn(Arc<dyn TokenCredential>),
}

impl From<Credential> for CredentialSource {
    fn from(c: Credential) -> Self {
        CredentialSource::Credential(c)
    }
}

impl From<Arc<dyn TokenCredential>> for CredentialSource {
    fn from(c: Arc<dyn TokenCredential>) -> Self {
        CredentialSource::Dyn(c)
    }
}

/// Configures a [`Client`].
pub struct ClientBuilder {
    cloud: Cloud,
    credential: Option<CredentialSource>,
    retry: RetryPolicy,
    timeout: Duration,
    user_agent: String,
    scope: Option<String>,
    shared_stats: Option<SharedStats>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("cloud", &self.cloud)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            cloud: Cloud::Global,
            credential: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            user_agent: format!("w365/{}", env!("CARGO_PKG_VERSION")),
            scope: None,
            shared_stats: None,
        }
    }
}

impl ClientBuilder {
    /// Which cloud to talk to (default: global).
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// How to authenticate (required).
    pub fn credential(mut self, credential: impl Into<CredentialSource>) -> Self {
        self.credential = Some(credential.into());
        self
    }

    /// Retry policy for transient failures.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Timeout of one HTTP request (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `User-Agent` header.
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_owned();
        self
    }

    /// Token scope (default: [`Cloud::graph_scope`], e.g. `https://graph.microsoft.com/.default`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Counts this client's requests (and those of its [`Client::scoped`] clients) into `stats`
    /// too, besides its own [`Client::stats`].
    pub fn count_into(mut self, stats: SharedStats) -> Self {
        self.shared_stats = Some(stats);
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<Client> {
        self.cloud.validate()?;
        if self.retry.max_attempts == 0 {
            return Err(Error::config("retry max_attempts must be at least 1"));
        }
        let graph = self.cloud.graph_url();
        let scope = self.scope.unwrap_or_else(|| self.cloud.graph_scope());
        let credential = match self.credential {
            None => return Err(Error::config("no credential configured")),
            Some(CredentialSource::Dyn(c)) => c,
            Some(CredentialSource::Credential(c)) => auth::build(
                c,
                &AuthContext {
                    authority: self.cloud.authority_url(),
                    scope,
                },
            )?,
        };
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        let base = graph.as_str().trim_end_matches('/').to_owned();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                graph,
                base,
                credential,
                retry: self.retry,
                cloud: self.cloud,
                stats: Stats::default(),
                shared_stats: self.shared_stats,
                user_agent: None,
                write_gate: None,
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    graph: Url,
    base: String,
    credential: Arc<dyn TokenCredential>,
    retry: RetryPolicy,
    cloud: Cloud,
    stats: Stats,
    /// Counted into as well (see [`ClientBuilder::count_into`]); inherited by scoped clients.
    shared_stats: Option<SharedStats>,
    /// Replaces the builder's `User-Agent` on every request (see [`Client::scoped`]).
    user_agent: Option<String>,
    /// Asked before every write (see [`Client::scoped`]).
    write_gate: Option<Arc<dyn crate::limits::WriteGate>>,
}

impl Inner {
    /// Adds `n` to one counter of this client's and of its shared counters.
    fn count(&self, counter: impl Fn(&Stats) -> &AtomicU64, n: u64) {
        counter(&self.stats).fetch_add(n, Ordering::Relaxed);
        if let Some(shared) = &self.shared_stats {
            counter(&shared.0).fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A Microsoft Graph client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("graph", &self.inner.graph.as_str())
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Response {
    #[allow(dead_code)]
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One request to send (possibly several times).
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    pub operation: &'a str,
    /// Whether the request may be resent after Graph may have processed it (see [`crate::retry`]).
    pub idempotency: Idempotency,
}

/// `Prefer: include-unknown-enum-members`, sent on Cloud PC calls.
pub(crate) const PREFER_UNKNOWN_ENUMS: (&str, &str) = ("Prefer", "include-unknown-enum-members");

/// How a transport failure counts for resending: `None` when it is not transient at all (a
/// request that cannot be built, a redirect, a body that cannot be decoded); `NotConnected` when
/// the request never reached the server (connection refused, DNS, TLS handshake); otherwise
/// (timeouts, connections dropped while waiting for the answer) the server may have processed it.
fn transport_failure(e: &reqwest::Error) -> Option<Failure> {
    if e.is_builder() || e.is_redirect() || e.is_status() || e.is_decode() {
        return None;
    }
    Some(if e.is_connect() {
        Failure::NotConnected
    } else {
        Failure::AfterSending
    })
}

impl Client {
    /// A builder with defaults (global cloud, default retry policy).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The configured cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    /// Graph root URL.
    pub fn graph_url(&self) -> &Url {
        &self.inner.graph
    }

    /// A client for one unit of work, such as a job run: it shares this client's connection
    /// pool and token cache (no new connections, no token request while the token is valid),
    /// counts its own requests from zero, and sends `user_agent` on each of them. Microsoft Graph
    /// activity logs record the User-Agent of every request (the `UserAgent` column of
    /// <https://learn.microsoft.com/azure/azure-monitor/reference/tables/microsoftgraphactivitylogs>),
    /// so naming the job in it lets an admin match a tenant's Graph activity to the job that
    /// caused it.
    ///
    /// With a `write_gate`, every directory write it sends ([`crate::is_directory_write`]) is
    /// first taken from the gate, resends included, and for a `$batch` the directory writes inside
    /// it. The job worker passes the tenant's write budget kept in the job store, shared by every
    /// worker process.
    pub fn scoped(
        &self,
        user_agent: impl Into<String>,
        write_gate: Option<Arc<dyn crate::limits::WriteGate>>,
    ) -> Client {
        let i = &self.inner;
        Client {
            inner: Arc::new(Inner {
                http: i.http.clone(),
                graph: i.graph.clone(),
                base: i.base.clone(),
                credential: i.credential.clone(),
                retry: i.retry.clone(),
                cloud: i.cloud.clone(),
                stats: Stats::default(),
                shared_stats: i.shared_stats.clone(),
                user_agent: Some(user_agent.into()),
                write_gate,
            }),
        }
    }

    /// The write gate, if any (a `$batch` asks it for the writes inside).
    pub(crate) fn write_gate(&self) -> Option<&Arc<dyn crate::limits::WriteGate>> {
        self.inner.write_gate.as_ref()
    }

    /// Request counters.
    pub fn stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    pub(crate) fn note_retry_wait(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.inner.count(|s| &s.retry_wait_micros, micros);
    }

    pub(crate) fn note_throttled(&self) {
        self.inner.count(|s| &s.throttled, 1);
    }

    pub(crate) fn note_retry(&self) {
        self.inner.count(|s| &s.retries, 1);
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// `{graph}/{version}{path}?{query}`.
    pub(crate) fn url(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: Option<&Query>,
    ) -> Result<Url> {
        path.validate()?;
        if path
            .as_str()
            .starts_with("/deviceManagement/virtualEndpoint")
        {
            self.inner.cloud.check_windows365()?;
        }
        if let Some(filter) = query.and_then(Query::filter_expr)
            && filter.has_empty_in()
        {
            return Err(Error::invalid_input(format!(
                "refusing to send the filter `{filter}`: an `in` with an empty list is invalid OData and matches nothing; skip the request when there is nothing to look for"
            )));
        }
        let mut s = format!("{}/{}{}", self.inner.base, version.as_str(), path.as_str());
        if let Some(q) = query {
            let q = q.to_query_string();
            if !q.is_empty() {
                s.push('?');
                s.push_str(&q);
            }
        }
        Url::parse(&s).map_err(|e| Error::invalid_input(format!("the request URL is invalid: {e}")))
    }

    /// Whether `url` may receive our bearer token (same origin as the Graph root).
    pub(crate) fn check_same_origin(&self, url: &Url) -> Result<()> {
        if url.origin() == self.inner.graph.origin() {
            Ok(())
        } else {
            Err(Error::invalid_input(format!(
                "refusing to follow a link to another host ({}); the access token is only sent to {}",
                url.origin().ascii_serialization(),
                self.inner.graph.origin().ascii_serialization()
            )))
        }
    }

    /// Sends a request with authentication, retries (429/503/504/connection errors), one token
    /// refresh on `401 InvalidAuthenticationToken`, a tracing span and statistics.
    /// Returns only 2xx responses; everything else becomes an [`Error`].
    pub(crate) async fn execute(&self, req: Request<'_>) -> Result<Response> {
        self.check_same_origin(&req.url)?;
        let inner = &self.inner;
        let mut retry = RetryState::new(&inner.retry);
        let mut refreshed = false;
        let mut first = true;
        loop {
            if !first {
                inner.count(|s| &s.retries, 1);
            }
            first = false;
            // A `$batch` envelope is not a directory write: the batch asked for its items.
            if let Some(gate) = &inner.write_gate
                && crate::limits::is_directory_write(req.method.as_str(), req.url.path())
            {
                gate.acquire(1).await;
            }
            let token = inner.credential.token(false).await?;
            let attempt = retry.attempt();
            let span = tracing::info_span!(
                "graph_request",
                method = %req.method,
                path = req.url.path(),
                attempt,
                status = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
                request_id = tracing::field::Empty,
            );
            let mut builder = inner
                .http
                .request(req.method.clone(), req.url.clone())
                .bearer_auth(token.token.expose_secret())
                .header("Accept", "application/json")
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some(agent) = &inner.user_agent {
                builder = builder.header(reqwest::header::USER_AGENT, agent);
            }
            for (name, value) in &req.headers {
                builder = builder.header(*name, value);
            }
            if let Some(body) = &req.body {
                builder = builder
                    .header("Content-Type", "application/json")
                    .body(body.clone());
            } else if req.method == Method::POST || req.method == Method::PATCH {
                builder = builder.header("Content-Length", "0");
            }
            inner.count(|s| &s.requests, 1);
            let started = Instant::now();
            let outcome = async {
                let resp = builder.send().await?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .instrument(span.clone())
            .await;
            let elapsed = started.elapsed().as_millis() as u64;
            span.record("duration_ms", elapsed);
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(source) => {
                    // The URL (with query values) stays out of logs and errors.
                    let source = source.without_url();
                    let operation = format!("{} {}", req.operation, req.url.path());
                    let verdict = transport_failure(&source)
                        .map_or(Resend::No, |f| resend(f, req.idempotency));
                    if verdict == Resend::OutcomeUnknown {
                        tracing::warn!(parent: &span, error = %source, "connection lost after sending a request that is not safe to repeat; not resending");
                        return Err(Error::OutcomeUnknown {
                            operation,
                            status: None,
                            error: None,
                            source: Some(source),
                        });
                    }
                    if verdict == Resend::Retry
                        && let Decision::RetryAfter(delay) = retry.next(None)
                    {
                        tracing::warn!(parent: &span, error = %source, delay_ms = delay.as_millis() as u64, "transport error, retrying");
                        self.note_retry_wait(delay);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(Error::Transport { operation, source });
                }
            };
            span.record("status", status);
            if let Some(id) = headers.get("request-id").and_then(|v| v.to_str().ok()) {
                span.record("request_id", id);
            }
            tracing::debug!(parent: &span, status, duration_ms = elapsed, "graph response");
            if (200..300).contains(&status) {
                return Ok(Response { headers, body });
            }
            let error = GraphError::from_response(status, &headers, &body);
            if status == 401
                && !refreshed
                && error
                    .code
                    .eq_ignore_ascii_case("InvalidAuthenticationToken")
            {
                refreshed = true;
                tracing::info!(parent: &span, "access token rejected, refreshing once");
                inner.credential.refresh_rejected(&token).await?;
                continue;
            }
            if status == 429 {
                inner.count(|s| &s.throttled, 1);
            }
            let verdict = resend(Failure::Status(status), req.idempotency);
            if verdict == Resend::OutcomeUnknown {
                tracing::warn!(parent: &span, status, "transient failure of a request that is not safe to repeat; not resending");
                return Err(Error::OutcomeUnknown {
                    operation: format!("{} {}", req.operation, req.url.path()),
                    status: Some(status),
                    error: Some(error),
                    source: None,
                });
            }
            if verdict == Resend::Retry {
                let retry_after = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                match retry.next(retry_after) {
                    Decision::RetryAfter(delay) => {
                        tracing::warn!(parent: &span, status, delay_ms = delay.as_millis() as u64, "transient Graph failure, retrying");
                        self.note_retry_wait(delay);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    Decision::GiveUp => {
                        return Err(Error::Throttled {
                            status,
                            retry_after,
                            error,
                        });
                    }
                }
            }
            return Err(Error::Api { status, error });
        }
    }

    /// Sends with the method's default [`Idempotency`] (POST and PATCH are not resent after
    /// Graph may have processed them).
    pub(crate) async fn send(
        &self,
        method: Method,
        version: ApiVersion,
        path: &GraphPath,
        query: Option<&Query>,
        headers: Vec<(&'static str, String)>,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let idempotency = Idempotency::of_method(&method);
        self.send_declared(method, version, path, query, headers, body, idempotency)
            .await
    }

    /// Sends a request whose handler declared whether it is safe to repeat.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn send_declared(
        &self,
        method: Method,
        version: ApiVersion,
        path: &GraphPath,
        query: Option<&Query>,
        mut headers: Vec<(&'static str, String)>,
        body: Option<Bytes>,
        idempotency: Idempotency,
    ) -> Result<Response> {
        let url = self.url(version, path, query)?;
        if let Some(q) = query {
            headers.extend(q.headers().into_iter().map(|(k, v)| (k, v.to_owned())));
        }
        let operation = method.to_string();
        self.execute(Request {
            method,
            url,
            headers,
            body,
            operation: &operation,
            idempotency,
        })
        .await
    }

    pub(crate) fn encode_body<B: Serialize + ?Sized>(body: &B) -> Result<Bytes> {
        serde_json::to_vec(body).map(Bytes::from).map_err(|e| {
            Error::invalid_input(format!("the request body cannot be serialized: {e}"))
        })
    }

    pub(crate) async fn get_with<T: DeserializeOwned>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: &Query,
        headers: Vec<(&'static str, String)>,
    ) -> Result<T> {
        let resp = self
            .send(Method::GET, version, path, Some(query), headers, None)
            .await?;
        decode(&format!("GET {}", path), &resp.body)
    }

    /// GET and decode.
    pub async fn get<T: DeserializeOwned>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: &Query,
    ) -> Result<T> {
        self.get_with(version, path, query, Vec::new()).await
    }

    /// GET; a 404 becomes `None`.
    pub async fn get_opt<T: DeserializeOwned>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: &Query,
    ) -> Result<Option<T>> {
        none_if_not_found(self.get(version, path, query).await)
    }

    /// A lazily fetched collection (follows `@odata.nextLink`).
    pub fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: &Query,
    ) -> Pager<T> {
        self.list_with(version, path, query, Vec::new())
    }

    pub(crate) fn list_with<T: DeserializeOwned + Send + 'static>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        query: &Query,
        mut headers: Vec<(&'static str, String)>,
    ) -> Pager<T> {
        headers.extend(query.headers().into_iter().map(|(k, v)| (k, v.to_owned())));
        let first = self.url(version, path, Some(query));
        Pager::new(self.clone(), first, headers)
    }

    /// POST a JSON body and decode the response. The request is treated as not safe to repeat:
    /// after a 503/504 or a connection lost once it was sent, it ends in
    /// [`Error::OutcomeUnknown`] instead of being resent.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: &B,
    ) -> Result<T> {
        let body = Self::encode_body(body)?;
        let resp = self
            .send(Method::POST, version, path, None, Vec::new(), Some(body))
            .await?;
        decode(&format!("POST {}", path), &resp.body)
    }

    /// POST a JSON body (or none) expecting no content back (204/202).
    pub async fn post_no_content<B: Serialize + ?Sized>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: Option<&B>,
    ) -> Result<()> {
        self.post_no_content_with(version, path, body, Vec::new(), Idempotency::NotIdempotent)
            .await
    }

    pub(crate) async fn post_no_content_with<B: Serialize + ?Sized>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: Option<&B>,
        headers: Vec<(&'static str, String)>,
        idempotency: Idempotency,
    ) -> Result<()> {
        let body = body.map(Self::encode_body).transpose()?;
        self.send_declared(
            Method::POST,
            version,
            path,
            None,
            headers,
            body,
            idempotency,
        )
        .await?;
        Ok(())
    }

    /// PATCH a JSON body (Graph answers 204, or 200 with the entity, which is ignored). Treated
    /// as not safe to repeat (see [`Client::post`]); resource handlers declare the PATCHes that are.
    pub async fn patch<B: Serialize + ?Sized>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: &B,
    ) -> Result<()> {
        let body = Self::encode_body(body)?;
        self.send(Method::PATCH, version, path, None, Vec::new(), Some(body))
            .await?;
        Ok(())
    }

    pub(crate) async fn post_with<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: &B,
        headers: Vec<(&'static str, String)>,
        idempotency: Idempotency,
    ) -> Result<T> {
        let body = Self::encode_body(body)?;
        let resp = self
            .send_declared(
                Method::POST,
                version,
                path,
                None,
                headers,
                Some(body),
                idempotency,
            )
            .await?;
        decode(&format!("POST {}", path), &resp.body)
    }

    pub(crate) async fn patch_with<B: Serialize + ?Sized>(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        body: &B,
        headers: Vec<(&'static str, String)>,
        idempotency: Idempotency,
    ) -> Result<()> {
        let body = Self::encode_body(body)?;
        self.send_declared(
            Method::PATCH,
            version,
            path,
            None,
            headers,
            Some(body),
            idempotency,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_with(
        &self,
        version: ApiVersion,
        path: &GraphPath,
        headers: Vec<(&'static str, String)>,
    ) -> Result<()> {
        self.send(Method::DELETE, version, path, None, headers, None)
            .await?;
        Ok(())
    }

    /// DELETE.
    pub async fn delete(&self, version: ApiVersion, path: &GraphPath) -> Result<()> {
        self.send(Method::DELETE, version, path, None, Vec::new(), None)
            .await?;
        Ok(())
    }
}

/// Maps a 404 to `None`.
pub(crate) fn none_if_not_found<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decodes JSON, naming the JSON path on failure.
pub(crate) fn decode<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T> {
    // Forget unreadable-field marks a failed decode on this thread may have left behind.
    crate::models::lenient::take_unreadable();
    let body = if body.is_empty() {
        b"null".as_slice()
    } else {
        body
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Error::Decode {
            operation: operation.split('?').next().unwrap_or_default().to_owned(),
            path,
            source: e.into_inner(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_presets() {
        assert_eq!(
            Cloud::Global.graph_url().as_str(),
            "https://graph.microsoft.com/"
        );
        assert_eq!(
            Cloud::UsGovernment.authority_url().as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(
            Cloud::China.graph_url().as_str(),
            "https://microsoftgraph.chinacloudapi.cn/"
        );
        for c in [Cloud::Global, Cloud::UsGovernment, Cloud::China] {
            c.validate().unwrap();
        }
    }

    #[test]
    fn authority_hosts_name_their_cloud() {
        assert_eq!(
            Cloud::from_authority_host("https://login.microsoftonline.com/").unwrap(),
            Cloud::Global
        );
        assert_eq!(
            Cloud::from_authority_host("login.microsoftonline.us").unwrap(),
            Cloud::UsGovernment
        );
        assert_eq!(
            Cloud::from_authority_host("https://LOGIN.chinacloudapi.cn").unwrap(),
            Cloud::China
        );
        let sim = Cloud::from_authority_host("http://127.0.0.1:8080/").unwrap();
        assert_eq!(sim.graph_url().as_str(), "http://127.0.0.1:8080/");
        let err = Cloud::from_authority_host("https://login.example.com").unwrap_err();
        assert!(err.to_string().contains("config profile"), "{err}");
        assert!(Cloud::from_authority_host("http://login.example.com").is_err());
        assert!(Cloud::China.check_windows365().is_err());
        assert!(
            Cloud::China
                .check_windows365()
                .unwrap_err()
                .to_string()
                .contains("21Vianet")
        );
        assert!(Cloud::UsGovernment.check_windows365().is_ok());
    }

    #[test]
    fn graph_scopes() {
        assert_eq!(
            Cloud::Global.graph_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            Cloud::UsGovernment.graph_scope(),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            Cloud::China.graph_scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        let sim = Cloud::custom("http://127.0.0.1:8080", "http://127.0.0.1:8080").unwrap();
        assert_eq!(sim.graph_scope(), "https://graph.microsoft.com/.default");
        let other =
            Cloud::custom("https://graph.example.com/", "https://login.example.com").unwrap();
        assert_eq!(other.graph_scope(), "https://graph.example.com/.default");
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(Cloud::custom("http://127.0.0.1:8080", "http://127.0.0.1:8080").is_ok());
        assert!(Cloud::custom("http://127.5.0.1:8080", "http://localhost:9").is_ok());
        assert!(Cloud::custom("http://[::1]:8080", "https://login.example.com").is_ok());
        let err =
            Cloud::custom("http://graph.example.com", "https://login.example.com").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(Cloud::custom("https://graph.example.com", "http://10.0.0.1").is_err());
        assert!(Cloud::custom("ftp://127.0.0.1", "http://127.0.0.1").is_err());
        assert!(
            Cloud::custom("https://u:p@graph.example.com", "https://login.example.com").is_err()
        );
    }

    #[test]
    fn decode_names_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            value: Vec<Item>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Item {
            count: i64,
        }
        let err =
            decode::<Outer>("GET /x", br#"{"value":[{"count":1},{"count":"two"}]}"#).unwrap_err();
        match err {
            Error::Decode { path, .. } => assert_eq!(path, "value[1].count"),
            other => panic!("{other:?}"),
        }
    }
}
