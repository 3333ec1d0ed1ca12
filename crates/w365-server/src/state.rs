//! What the handlers share: the token validator, the job store, the tenants (a Graph client, the
//! profile with its defaults and allowed choices, the protected groups) and the operator scopes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OnceCell;
use w365_graph::Client;
use w365_jobs::JobStore;
use w365_ops::profile::Profile;

use crate::auth::{AuthConfig, TokenValidator};

/// A tenant the server acts on (a profile of the config file; `sandbox` in the sandbox).
pub struct Tenant {
    pub name: String,
    /// Graph client for reads and the protected-group check (changes go through jobs).
    pub client: Client,
    /// Defaults and allowed choices of the operations' parameters.
    pub profile: Profile,
    /// Protected (VIP) groups: display names or object ids. Only Admins may run operations on
    /// their members (direct or nested).
    pub protected_groups: Vec<String>,
    resolved_groups: OnceCell<Vec<String>>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .field("protected_groups", &self.protected_groups)
            .finish_non_exhaustive()
    }
}

impl Tenant {
    pub fn new(name: impl Into<String>, client: Client, profile: Profile) -> Self {
        Self {
            name: name.into(),
            client,
            profile,
            protected_groups: Vec::new(),
            resolved_groups: OnceCell::new(),
        }
    }

    pub fn with_protected_groups(mut self, groups: Vec<String>) -> Self {
        self.protected_groups = groups;
        self
    }

    /// The protected groups' object ids (names resolved once through Graph). A configured name
    /// that matches no group is an error: silently protecting nobody would be worse.
    pub async fn protected_group_ids(&self) -> Result<&[String], String> {
        self.resolved_groups
            .get_or_try_init(|| async {
                let mut ids = Vec::new();
                for entry in &self.protected_groups {
                    if uuid::Uuid::parse_str(entry).is_ok() {
                        ids.push(entry.clone());
                        continue;
                    }
                    let found = self
                        .client
                        .groups()
                        .find_by_display_name(entry)
                        .await
                        .map_err(|e| {
                            format!("could not look up the protected group '{entry}': {e}")
                        })?;
                    if found.is_empty() {
                        return Err(format!(
                            "the protected group '{entry}' of tenant '{}' does not exist",
                            self.name
                        ));
                    }
                    ids.extend(found.into_iter().map(|g| g.id));
                }
                Ok(ids)
            })
            .await
            .map(Vec::as_slice)
    }
}

/// Which tenants an operator may act on (MSP staff per customer). Operators not listed may act
/// on every tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantScopes {
    /// Lower-case UPN or object id → tenant names.
    pub by_operator: BTreeMap<String, Vec<String>>,
}

impl TenantScopes {
    pub fn limit(mut self, operator: &str, tenants: &[&str]) -> Self {
        self.by_operator.insert(
            operator.to_lowercase(),
            tenants.iter().map(|t| (*t).to_owned()).collect(),
        );
        self
    }

    /// The tenants `upn`/`object_id` is limited to, `None` when not limited.
    pub fn of(&self, upn: &str, object_id: &str) -> Option<&[String]> {
        self.by_operator
            .get(&upn.to_lowercase())
            .or_else(|| self.by_operator.get(&object_id.to_lowercase()))
            .map(Vec::as_slice)
    }
}

/// Everything [`crate::router`] needs.
pub struct ServerConfig {
    pub auth: AuthConfig,
    pub tenants: Vec<Tenant>,
    pub scopes: TenantScopes,
    /// Send HSTS (set when the server is reachable off loopback).
    pub hsts: bool,
}

/// The shared state of the handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    validator: TokenValidator,
    http: reqwest::Client,
    store: Arc<dyn JobStore>,
    tenants: BTreeMap<String, Arc<Tenant>>,
    scopes: TenantScopes,
    hsts: bool,
    started: Instant,
    metrics: crate::api::health::Metrics,
    /// The Graph traffic of the job workers of this process, per tenant (`/metrics`).
    job_graph_stats: std::sync::OnceLock<w365_graph::TenantStats>,
    /// The web portal's sign-in settings (set once by [`AppState::with_portal`]).
    portal: std::sync::OnceLock<crate::portal::PortalConfig>,
    /// The identity provider's endpoints for the portal's sign-in (discovered on first use).
    portal_endpoints: OnceCell<crate::portal::signin::Endpoints>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(config: ServerConfig, store: Arc<dyn JobStore>, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                validator: TokenValidator::new(config.auth, http.clone()),
                http,
                store,
                tenants: config
                    .tenants
                    .into_iter()
                    .map(|t| (t.name.clone(), Arc::new(t)))
                    .collect(),
                scopes: config.scopes,
                hsts: config.hsts,
                started: Instant::now(),
                metrics: crate::api::health::Metrics::default(),
                job_graph_stats: std::sync::OnceLock::new(),
                portal: std::sync::OnceLock::new(),
                portal_endpoints: OnceCell::new(),
            }),
        }
    }

    /// Sets the web portal's sign-in settings (real tenants: the web app's client id, secret and
    /// redirect URI). Without it the portal signs in as the API's own client, a public client with
    /// PKCE, redirecting to the loopback address it was reached on (the sandbox).
    pub fn with_portal(self, config: crate::portal::PortalConfig) -> Self {
        if self.inner.portal.set(config).is_err() {
            tracing::warn!("the portal settings were already set; the first ones stay");
        }
        self
    }

    /// The Graph counters of this process's job workers (`OpsHandler::graph_stats`), so that
    /// `/metrics` counts the jobs' Graph requests and throttling with the API's reads.
    pub fn with_job_graph_stats(self, stats: w365_graph::TenantStats) -> Self {
        if self.inner.job_graph_stats.set(stats).is_err() {
            tracing::warn!("the job workers' Graph counters were already set; the first ones stay");
        }
        self
    }

    /// The job workers' Graph traffic per tenant (empty without workers).
    pub(crate) fn job_graph_stats(&self) -> Vec<(String, w365_graph::RequestStats)> {
        self.inner
            .job_graph_stats
            .get()
            .map(w365_graph::TenantStats::snapshot)
            .unwrap_or_default()
    }

    pub(crate) fn portal_config(&self) -> &crate::portal::PortalConfig {
        self.inner.portal.get_or_init(|| {
            crate::portal::PortalConfig::new(&self.inner.validator.config().audience)
        })
    }

    pub(crate) fn portal_endpoints(&self) -> &OnceCell<crate::portal::signin::Endpoints> {
        &self.inner.portal_endpoints
    }

    pub fn validator(&self) -> &TokenValidator {
        &self.inner.validator
    }

    /// The HTTP client for the identity provider (the portal's token requests).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.inner.tenants.values()
    }

    pub fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.inner.tenants.get(name)
    }

    pub fn scopes(&self) -> &TenantScopes {
        &self.inner.scopes
    }

    pub fn hsts(&self) -> bool {
        self.inner.hsts
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    pub(crate) fn metrics(&self) -> &crate::api::health::Metrics {
        &self.inner.metrics
    }
}
