//! The Graph wire protocol over the [`state`](crate::state) model (moto's `responses.py` +
//! `urls.py`): an axum 0.8 router serving `/v1.0/...` and `/beta/...`, the token endpoint
//! `POST /{tenant}/oauth2/v2.0/token`, and the simulator's own admin API under `/_sim/`.
//!
//! # How a route module plugs in
//!
//! A Graph area lives in `src/http/routes/<segment>.rs` (named after its URL segment in
//! snake_case) and exposes
//!
//! ```ignore
//! pub fn routes() -> axum::Router<AppState>
//! ```
//!
//! with paths relative to the version (`/deviceManagement/virtualEndpoint/cloudPCs/{id}`).
//! [`routes::graph_routes`] merges it (one `.merge(...)` line) and [`router`] nests the result under
//! both `/v1.0` and `/beta`. A handler typically looks like this:
//!
//! ```ignore
//! use axum::{extract::{Path, State}, Json};
//! use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphJson, GraphQuery, RequestContext};
//! use crate::http::collection::{self, CollectionSpec};
//!
//! async fn get_thing(
//!     State(app): State<AppState>,
//!     auth: Auth,                 // 401 InvalidAuthenticationToken without a valid token
//!     version: ApiVersion,        // V1 or Beta; `version.require_beta("seg")?` answers 400 on v1.0
//!     ctx: RequestContext,        // request ids, base URL, Prefer, ConsistencyLevel
//!     query: GraphQuery,          // parsed $filter/$select/$top/... (400 when malformed)
//!     Path(id): Path<String>,     // percent-decoded
//! ) -> Result<Json<serde_json::Value>, ApiError> {
//!     auth.require_any(&["CloudPC.Read.All", "CloudPC.ReadWrite.All"])?;   // 403 otherwise
//!     let item = app.with_tenant(auth.tenant_id(), |tenant, now| {
//!         // synchronous: the store lock is held only inside this closure (never across .await),
//!         // and due work (replication, licensing, lifecycle) has been played up to `now`.
//!         let thing = tenant.w365.thing(&id).ok_or_else(|| ApiError::not_found("ResourceNotFound", "..."))?;
//!         Ok(thing.to_json())
//!     })?;
//!     collection::entity(&ctx, &query, &CollectionSpec::plain("things", "microsoft.graph.thing"), &item)
//! }
//! ```
//!
//! - Errors: return [`ApiError`] (constructors for 400/401/403/404/405/409; `From<StateError>`,
//!   `From<ODataError>`); the middleware completes `innerError` with the request's `date`,
//!   `request-id` and `client-request-id` and sets both headers on every answer.
//! - Collections: build a `Vec<serde_json::Value>` (camelCase, `@odata.type` where Graph has it) and
//!   call [`collection::collection`] (filter, orderby, `$count`, select, paging with an absolute
//!   `@odata.nextLink`, `@odata.context`). Single objects: [`collection::entity`].
//! - Bodies: [`GraphJson<T>`] (a malformed body is Graph's 400).
//! - `Prefer: include-unknown-enum-members`: `ctx.prefers("include-unknown-enum-members")`.
//! - Unknown path segments answer 400 "Resource not found for the segment '`<name>`'." and wrong
//!   methods 405, without any code in the route module.
//! - Admin routes of an area go under `/_sim/...` in the same module, exposed as
//!   `pub fn admin_routes() -> Router<AppState>` and merged in [`admin::routes`] (one line).
//! - Fault injection (`crate::faults`) wraps the Graph routes; `/_sim` and the token endpoint are
//!   outside it.

pub mod admin;
pub mod collection;
pub mod context;
pub mod error;
pub mod extract;
pub mod key_syntax;
pub mod routes;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use time::OffsetDateTime;

pub use context::{ApiVersion, BatchItem, RequestContext, RequestRecord, round_trips};
pub use error::ApiError;
pub use extract::{Auth, GraphJson, GraphQuery};

use crate::clock::Clock;
use crate::faults::{FaultLayer, Faults};
use crate::identity::SigningKey;
use crate::state::{Store, TenantState};

/// Most request-log entries kept (older ones are dropped; per-route counts are kept in full).
const REQUEST_LOG_CAPACITY: usize = 50_000;

/// Everything the handlers share. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

struct Shared {
    store: Mutex<Store>,
    clock: Clock,
    signing_key: RwLock<Arc<SigningKey>>,
    jti: Mutex<crate::identity::MemoryJtiCache>,
    faults: Faults,
    log: Mutex<RequestLog>,
    token_lifetime: Duration,
    settings: Mutex<crate::Settings>,
    /// The key `/_sim` requests must carry.
    admin_key: crate::AdminKey,
    /// Requests that may have changed the state (every method but GET/HEAD/OPTIONS) and direct
    /// edits: what "unsaved changes" means for the periodic save of `serve`.
    changes: std::sync::atomic::AtomicU64,
    /// The request log's event counter: each request takes a number when it arrives and one
    /// when it is answered ([`RequestRecord::received`], [`RequestRecord::answered`]).
    events: std::sync::atomic::AtomicU64,
    /// The router itself (for `$batch`); taken out on shutdown to break the cycle.
    router: Mutex<Option<Router>>,
    /// The identity provider for operators (`crate::oidc`).
    oidc: crate::oidc::OidcState,
    /// How links are built (scheme, proxy headers).
    links: RwLock<LinkPolicy>,
}

/// How the simulator builds the absolute links it returns (`@odata.nextLink`, `@odata.context`,
/// the token endpoint as assertion audience): the scheme it serves, and whether a TLS proxy's
/// `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host` headers are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPolicy {
    /// `http` or `https`.
    pub scheme: &'static str,
    pub trust_forwarded_headers: bool,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            scheme: "http",
            trust_forwarded_headers: false,
        }
    }
}

#[derive(Default)]
struct RequestLog {
    records: VecDeque<RequestRecord>,
    counts: BTreeMap<String, u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    /// Shared state over a store, a clock and fault rules.
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        faults: Faults,
        token_lifetime: Duration,
        settings: crate::Settings,
        admin_key: crate::AdminKey,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                store: Mutex::new(store),
                clock,
                signing_key: RwLock::new(Arc::new(SigningKey::generate())),
                jti: Mutex::new(crate::identity::MemoryJtiCache::new()),
                faults,
                log: Mutex::new(RequestLog::default()),
                token_lifetime,
                settings: Mutex::new(settings),
                admin_key,
                changes: std::sync::atomic::AtomicU64::new(0),
                events: std::sync::atomic::AtomicU64::new(0),
                router: Mutex::new(None),
                oidc: crate::oidc::OidcState::default(),
                links: RwLock::new(LinkPolicy::default()),
            }),
        }
    }

    /// How links are built.
    pub fn links(&self) -> LinkPolicy {
        *self
            .inner
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets how links are built (by `spawn`, before serving).
    pub(crate) fn set_links(&self, policy: LinkPolicy) {
        *self
            .inner
            .links
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// The virtual time.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// The virtual clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Advances the virtual clock and plays the work that became due.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let start = self.now();
        let mut store = lock(&self.inner.store);
        // Observe the writes made since the last tick at the time they were made, then play due work
        // at its own time, so chains (membership -> licence -> Cloud PC) complete within one advance.
        store.tick(start);
        let now = self.inner.clock.advance(by);
        let mut at = start;
        while let Some(due) = store.next_due_after(at).filter(|d| *d <= now) {
            store.tick(due);
            at = due;
        }
        store.tick(now);
        now
    }

    /// After a successful write: lets the Windows 365 engine see it at once.
    pub(crate) fn after_write(&self) {
        let now = self.now();
        let mut store = lock(&self.inner.store);
        store.touch_all();
        store.tick(now);
    }

    /// Runs `f` on the store under its lock, after playing due work up to now. Never call it
    /// while holding the lock (it is not re-entrant) and never `.await` inside `f`.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store, OffsetDateTime) -> R) -> R {
        let now = self.now();
        let mut store = lock(&self.inner.store);
        store.tick(now);
        f(&mut store, now)
    }

    /// Runs `f` on one tenant (see [`Self::with_store`]); an unknown tenant is a 401.
    pub fn with_tenant<R>(
        &self,
        tenant_id: &str,
        f: impl FnOnce(&mut TenantState, OffsetDateTime) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.with_store(|store, now| match store.tenant_mut(tenant_id) {
            Some(tenant) => f(tenant, now),
            None => Err(crate::state::StateError::TenantNotFound {
                id: tenant_id.to_owned(),
            }
            .into()),
        })
    }

    /// Replaces the whole store (reset, seed, load) and forgets issued token replay state.
    pub fn replace_store(&self, store: Store) {
        *lock(&self.inner.store) = store;
    }

    /// The token-signing key of this simulator process.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        Arc::clone(
            &self
                .inner
                .signing_key
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The client-assertion replay cache.
    pub(crate) fn jti(&self) -> MutexGuard<'_, crate::identity::MemoryJtiCache> {
        lock(&self.inner.jti)
    }

    /// The seed and timings reset re-applies.
    pub(crate) fn settings(&self) -> crate::Settings {
        lock(&self.inner.settings).clone()
    }

    /// Lifetime of issued access tokens.
    pub fn token_lifetime(&self) -> Duration {
        self.inner.token_lifetime
    }

    /// The key of the `/_sim` admin API.
    pub fn admin_key(&self) -> &crate::AdminKey {
        &self.inner.admin_key
    }

    /// The identity provider for operators.
    pub fn oidc(&self) -> &crate::oidc::OidcState {
        &self.inner.oidc
    }

    /// The fault rules in force.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Counts a change that a save should keep.
    pub(crate) fn mark_changed(&self) {
        self.inner
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many possible changes there were so far (compare two readings to see new ones).
    pub fn changes(&self) -> u64 {
        self.inner
            .changes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends to the request log.
    /// The next number of the request log's event counter (1, 2, ...).
    pub(crate) fn next_event(&self) -> u64 {
        self.inner
            .events
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    pub fn record(&self, record: RequestRecord) {
        if !matches!(record.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            self.mark_changed();
        }
        let mut log = lock(&self.inner.log);
        let key = format!(
            "{} {}",
            record.method,
            record.route.as_deref().unwrap_or("(unmatched)")
        );
        *log.counts.entry(key).or_default() += 1;
        if log.records.len() == REQUEST_LOG_CAPACITY {
            log.records.pop_front();
        }
        log.records.push_back(record);
    }

    /// The request log, oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.inner.log).records.iter().cloned().collect()
    }

    /// Requests per `METHOD /route/template`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.log).counts.clone()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        let mut log = lock(&self.inner.log);
        log.records.clear();
        log.counts.clear();
    }

    /// The complete router (set by [`router`]); used to dispatch `$batch` items.
    pub(crate) fn router(&self) -> Option<Router> {
        lock(&self.inner.router).clone()
    }

    /// Drops the router reference held for `$batch` (the router holds this state: a cycle).
    pub(crate) fn release_router(&self) {
        lock(&self.inner.router).take();
    }
}

/// The complete application: Graph routes under `/v1.0` and `/beta` (behind the fault layer),
/// the token endpoint, `/_sim`, the Graph-style fallback, and the request middleware.
pub fn router(app: AppState) -> Router {
    let graph = Router::new()
        .nest("/v1.0", routes::graph_routes())
        .nest("/beta", routes::graph_routes())
        // One audit event per successful Windows 365 change, whatever route made it.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            routes::virtual_endpoint::record_audit_event,
        ))
        .layer(FaultLayer::new(app.faults().clone()));
    let router = Router::new()
        .merge(graph)
        .merge(routes::token::routes())
        .merge(crate::oidc::routes())
        .merge(admin::routes().layer(axum::middleware::from_fn_with_state(
            app.clone(),
            admin::guard,
        )))
        .fallback(routes::fallback)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            context::envelope,
        ))
        .with_state(app.clone());
    *lock(&app.inner.router) = Some(router.clone());
    router
}
