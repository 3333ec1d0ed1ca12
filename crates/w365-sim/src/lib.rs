//! w365-sim: a Microsoft Graph tenant simulator for Windows 365.
//!
//! Layout (see ARCHITECTURE.md):
//! - [`state`]: the plain synchronous tenant model (no HTTP types).
//! - [`lifecycle`]: the Windows 365 provisioning lifecycle, driven by the virtual clock.
//! - [`clock`]: the virtual clock (manual, or N× real time).
//! - [`odata`]: our own OData `$filter` parser/evaluator, `$select`, `$orderby`, paging tokens.
//! - [`identity`]: the token endpoint logic, token issue/validation, permission checks.
//! - [`oidc`]: the identity provider operators sign in to `w365 serve` with (sandbox).
//! - [`http`]: the axum router that speaks the Graph wire protocol, plus `/_sim` admin routes.
//! - [`seed`]: the contoso demo tenant and a large-tenant generator.
//!
//! Start one with [`spawn`] (tests, the sandbox) or [`serve`] (`w365 sim serve`).

pub mod batch;
pub mod clock;
pub mod faults;
pub mod http;
pub mod identity;
pub mod lifecycle;
pub mod odata;
pub mod oidc;
mod persistence;
pub mod seed;
pub mod state;
pub mod tls;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use clock::ClockMode;
pub use faults::FaultRule;
pub use http::{RequestRecord, round_trips};
pub use seed::{LargeTenantSpec, SeedFile};
pub use state::mail::SentMail;
pub use state::{DirectoryTimings, Store};

use clock::Clock;
use faults::Faults;
use http::AppState;
use state::TenantState;

/// The header that carries the admin key on `/_sim` requests.
pub const ADMIN_KEY_HEADER: &str = "x-w365-sim-key";

/// The key of the `/_sim` admin API: random per simulator unless configured. Never in Debug
/// output; `w365 sim serve` prints it for the developer who started it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKey(String);

impl AdminKey {
    /// 32 random alphanumeric characters.
    pub fn random() -> Self {
        use rand::Rng as _;
        AdminKey(
            rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect(),
        )
    }

    /// A chosen key (at least 16 characters, visible ASCII).
    pub fn new(key: impl Into<String>) -> Result<Self, SimError> {
        let key = key.into();
        if key.len() < 16 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SimError::AdminKey);
        }
        Ok(AdminKey(key))
    }

    /// The key itself (to send it, or print it once).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(<redacted>)")
    }
}

/// Timings of the simulated services.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    /// Replication lag and license processing.
    pub directory: DirectoryTimings,
    /// The Windows 365 lifecycle.
    pub w365: state::windows365::Timings,
}

impl Timings {
    /// Close to a real tenant.
    pub fn realistic() -> Self {
        Self {
            directory: DirectoryTimings::realistic(),
            w365: state::windows365::Timings::realistic(),
        }
    }

    /// Fast, for the sandbox.
    pub fn fast() -> Self {
        Self {
            directory: DirectoryTimings::fast(),
            w365: state::windows365::Timings::fast(),
        }
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self::realistic()
    }
}

/// What the simulator starts with (when no state file exists yet).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Seed {
    /// The contoso demo tenant.
    Contoso,
    /// A tenant with nothing but the admin app.
    Empty,
    /// A tenant description file (the format of `seed/contoso.json`).
    File(PathBuf),
    /// A generated large tenant.
    Large(LargeTenantSpec),
    /// An already parsed tenant description.
    Data(Box<SeedFile>),
    /// The contoso demo tenant (its Windows 365 policies and demo operators too) plus this many
    /// generated users, with as many more units of the SKU they are meant to get
    /// ([`SeedFile::add_generated_users`]).
    ContosoWithUsers(usize),
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: Seed,
    pub clock: ClockMode,
    pub timings: Timings,
    pub faults: Vec<FaultRule>,
    /// Loaded at start when it exists (else the seed is used); written by `save`.
    pub state_file: Option<PathBuf>,
    /// 0: any free port. The simulator binds 127.0.0.1 only.
    pub port: u16,
    /// Lifetime of issued access tokens, on the virtual clock.
    pub token_lifetime: Duration,
    /// The key `/_sim` requests must send in [`ADMIN_KEY_HEADER`] (random by default).
    pub admin_key: AdminKey,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<tls::TlsConfig>,
    /// Build links (`@odata.nextLink`, `@odata.context`, the token endpoint) from
    /// `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host` (behind a TLS proxy). Off by
    /// default: a client could otherwise make the simulator print links to any host.
    pub trust_forwarded_headers: bool,
    /// Where the virtual clock starts when no saved state says otherwise (default: now). Tests of
    /// anything that depends on the weekday or the hour (connection history, schedules) pin it.
    pub start_at: Option<OffsetDateTime>,
}

impl SimConfig {
    /// The contoso tenant, manual clock, realistic timings, no state file, any port.
    pub fn contoso() -> Self {
        Self {
            seed: Seed::Contoso,
            clock: ClockMode::Manual,
            timings: Timings::realistic(),
            faults: Vec::new(),
            state_file: None,
            port: 0,
            token_lifetime: identity::DEFAULT_TOKEN_LIFETIME,
            admin_key: AdminKey::random(),
            tls: None,
            trust_forwarded_headers: false,
            start_at: None,
        }
    }

    /// The sandbox: contoso, fast timings, a clock running 60× real time, state kept in `state_file`.
    pub fn sandbox(state_file: PathBuf) -> Self {
        Self {
            clock: ClockMode::Speed(60.0),
            timings: Timings::fast(),
            state_file: Some(state_file),
            ..Self::contoso()
        }
        .with_real_time_token_lifetime()
    }

    /// Scales the token lifetime (virtual time) by the clock's speed, so that a token lives the
    /// default hour of real time on a fast clock (saturating; a manual clock keeps it as is).
    pub fn with_real_time_token_lifetime(mut self) -> Self {
        if let ClockMode::Speed(factor) = self.clock {
            let secs = identity::DEFAULT_TOKEN_LIFETIME.as_secs_f64() * factor;
            self.token_lifetime = if secs.is_finite() && secs > 0.0 {
                Duration::from_secs_f64(secs.min(clock::MAX_SPAN.as_secs_f64()))
            } else {
                identity::DEFAULT_TOKEN_LIFETIME
            };
        }
        self
    }
}

/// Client credentials of an app registered in the simulator.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Errors starting, saving or configuring a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the seed tenant")]
    Seed(#[from] seed::SeedError),
    #[error("cannot read or write the state file {path}")]
    StateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is not a simulator state")]
    StateFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no state file is configured")]
    NoStateFile,
    #[error("cannot register credentials for app {client_id}")]
    App {
        client_id: String,
        #[source]
        source: state::apps::AppRegistrationError,
    },
    #[error("tenant {tenant_id} already exists")]
    TenantExists { tenant_id: String },
    #[error("waiting for Ctrl-C failed")]
    Signal(#[source] std::io::Error),
    #[error("an admin key must have at least 16 visible ASCII characters")]
    AdminKey,
    #[error("cannot serve HTTPS")]
    Tls(#[from] tls::TlsError),
}

/// Builds a fresh store from a seed at virtual time `now`.
pub fn build_store(seed: &Seed, timings: &Timings, now: OffsetDateTime) -> Result<Store, SimError> {
    let mut tenant = match seed {
        Seed::Contoso => SeedFile::contoso().build(timings.directory, now)?,
        Seed::Empty => seed::empty_tenant(timings.directory),
        Seed::File(path) => SeedFile::read(path)?.build(timings.directory, now)?,
        Seed::Data(file) => file.build(timings.directory, now)?,
        Seed::ContosoWithUsers(n) => {
            let mut file = SeedFile::contoso();
            file.add_generated_users(*n);
            file.build(timings.directory, now)?
        }
        Seed::Large(spec) => spec.build(timings.directory, now),
    };
    tenant.w365.timings = timings.w365;
    if matches!(seed, Seed::Contoso | Seed::ContosoWithUsers(_)) {
        seed::windows365::seed_contoso(&mut tenant, now)?;
        oidc::seed_operators(&mut tenant, now)?;
    }
    Ok(Store::with_tenant(tenant))
}

/// Registers an app with exactly `roles` and a fresh random secret (returned once, stored hashed).
pub fn register_app(
    tenant: &mut TenantState,
    display_name: &str,
    roles: &[&str],
) -> Result<AppCredentials, SimError> {
    use rand::Rng as _;
    let client_id = tenant.ids.next_id();
    let client_secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    tenant.apps.create_app(
        client_id.clone(),
        display_name,
        roles.iter().map(|r| (*r).to_owned()).collect(),
    );
    tenant
        .apps
        .add_secret(&client_id, &client_secret)
        .map_err(|source| SimError::App {
            client_id: client_id.clone(),
            source,
        })?;
    Ok(AppCredentials {
        client_id,
        client_secret,
    })
}

/// Settings the admin API needs after start (reset re-seeds with them).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub seed: Seed,
    pub timings: Timings,
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    app: AppState,
    addr: SocketAddr,
    scheme: &'static str,
    state_file: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: Option<JoinHandle<()>>,
}

fn initial_store(cfg: &SimConfig) -> Result<(Store, OffsetDateTime), SimError> {
    let wall = clock::wall_now();
    if let Some(path) = cfg.state_file.as_ref().filter(|p| p.exists()) {
        let store = persistence::load(path)?;
        let start = match (store.clock, cfg.clock) {
            (Some(snapshot), ClockMode::Speed(factor)) => {
                let elapsed = (wall - snapshot.saved_at).max(time::Duration::ZERO);
                let factor = if factor.is_finite() {
                    factor.clamp(0.0, clock::MAX_SPEED)
                } else {
                    0.0
                };
                let span = Duration::try_from_secs_f64(elapsed.as_seconds_f64() * factor)
                    .unwrap_or(clock::MAX_SPAN)
                    .min(clock::MAX_SPAN);
                clock::saturating_add(snapshot.virtual_now, span)
            }
            (Some(snapshot), ClockMode::Manual) => snapshot.virtual_now,
            (None, _) => wall,
        };
        return Ok((store, start));
    }
    let start = cfg.start_at.unwrap_or(wall);
    Ok((build_store(&cfg.seed, &cfg.timings, start)?, start))
}

/// Starts a simulator on `127.0.0.1:cfg.port`.
pub async fn spawn(cfg: SimConfig) -> Result<SimHandle, SimError> {
    let (store, start) = initial_store(&cfg)?;
    let clock = Clock::new(cfg.clock, start);
    let app = AppState::new(
        store,
        clock,
        Faults::new(cfg.faults.clone()),
        cfg.token_lifetime,
        Settings {
            seed: cfg.seed.clone(),
            timings: cfg.timings,
        },
        cfg.admin_key.clone(),
    );
    let tls_config = cfg.tls.as_ref().map(tls::server_config).transpose()?;
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    app.set_links(http::LinkPolicy {
        scheme,
        trust_forwarded_headers: cfg.trust_forwarded_headers,
    });
    let router = http::router(app.clone());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, cfg.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let server = match tls_config {
        None => tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %err, "simulator server stopped");
            }
        }),
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)
                .map_err(|source| SimError::Bind { addr, source })?;
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!(error = %err, "simulator server stopped");
                }
            })
        }
    };
    let ticker = match cfg.clock {
        ClockMode::Speed(_) => {
            let app = app.clone();
            Some(tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(100));
                loop {
                    interval.tick().await;
                    app.with_store(|_, _| ());
                }
            }))
        }
        ClockMode::Manual => None,
    };
    Ok(SimHandle {
        app,
        addr,
        scheme,
        state_file: cfg.state_file,
        stop: Some(stop),
        server,
        ticker,
    })
}

impl SimHandle {
    /// `http://127.0.0.1:PORT/` (`https://` when serving TLS).
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("{}://{}/", self.scheme, self.addr))
            .expect("a socket address makes a valid URL")
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key of the `/_sim` admin API (send it in [`ADMIN_KEY_HEADER`]).
    pub fn admin_key(&self) -> &AdminKey {
        self.app.admin_key()
    }

    /// The seeded (default) tenant's id.
    pub fn tenant_id(&self) -> String {
        self.app
            .with_store(|store, _| store.default_tenant_id().to_owned())
    }

    /// Adds another tenant (e.g. from a [`SeedFile`]) next to the seeded one; returns its id
    /// (an error if a tenant with that id exists).
    /// Its admin app has the same fixture credentials as the default tenant's.
    pub fn add_tenant(&self, seed: &Seed) -> Result<String, SimError> {
        let timings = self.app.settings().timings;
        let store = build_store(seed, &timings, self.now())?;
        let tenant_id = store.default_tenant_id().to_owned();
        let tenant = store
            .tenant(&tenant_id)
            .cloned()
            .expect("a built store holds its tenant");
        self.app.with_store(|existing, _| {
            if existing.tenant(&tenant_id).is_some() {
                return Err(SimError::TenantExists {
                    tenant_id: tenant_id.clone(),
                });
            }
            existing.insert_tenant(tenant);
            Ok(())
        })?;
        Ok(tenant_id)
    }

    /// The admin app (every permission) of the default tenant.
    pub fn admin_app(&self) -> AppCredentials {
        AppCredentials {
            client_id: seed::ADMIN_CLIENT_ID.to_owned(),
            client_secret: seed::ADMIN_CLIENT_SECRET.to_owned(),
        }
    }

    /// Registers an app with exactly `roles` in the default tenant; returns its credentials.
    pub fn create_app(&self, display_name: &str, roles: &[&str]) -> AppCredentials {
        self.app
            .with_store(|store, _| {
                let tenant = store
                    .default_tenant_mut()
                    .expect("the simulator always has a default tenant");
                register_app(tenant, display_name, roles)
            })
            .expect("a freshly registered app accepts a non-empty secret")
    }

    /// Registers a certificate (PEM) on an app of the default tenant (for the certificate flow).
    pub fn add_app_certificate(
        &self,
        client_id: &str,
        certificate_pem: &str,
    ) -> Result<(), SimError> {
        self.app.with_store(|store, _| {
            let tenant = store
                .default_tenant_mut()
                .expect("the simulator always has a default tenant");
            tenant
                .apps
                .add_certificate(client_id, certificate_pem)
                .map(|_| ())
                .map_err(|source| SimError::App {
                    client_id: client_id.to_owned(),
                    source,
                })
        })
    }

    /// The identity provider operators sign in with (keys, app-role assignments).
    pub fn oidc(&self) -> &oidc::OidcState {
        self.app.oidc()
    }

    /// The issuer of the default tenant's operator tokens (`{base}/{tenant id}/v2.0`).
    pub fn oidc_issuer(&self) -> String {
        oidc::issuer(self.base_url().as_str(), &self.tenant_id())
    }

    /// Advances the virtual clock and plays the work that became due.
    pub async fn advance(&self, by: Duration) {
        self.app.advance(by);
    }

    /// The virtual time.
    pub fn now(&self) -> OffsetDateTime {
        self.app.now()
    }

    /// Direct access to the store (due work is played first; afterwards every tenant is marked
    /// changed, so the Windows 365 engine sees direct edits on the next tick).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        self.app.mark_changed();
        self.app.with_store(|store, _| {
            let out = f(store);
            store.touch_all();
            out
        })
    }

    /// Every request served so far (the most recent 50,000).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.app.request_log()
    }

    /// Mail accepted by the default tenant.
    pub fn outbox(&self) -> Vec<SentMail> {
        self.app.with_store(|store, _| {
            store
                .default_tenant()
                .map(|t| t.outbox.messages.clone())
                .unwrap_or_default()
        })
    }

    /// Replaces the fault rules.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.app.faults().set(rules);
    }

    /// Saves the state to the configured state file.
    pub fn save(&self) -> Result<(), SimError> {
        let path = self.state_file.as_ref().ok_or(SimError::NoStateFile)?;
        self.app
            .with_store(|store, now| persistence::save(store, path, now))
    }

    /// Saves the state to `path`.
    pub fn save_to(&self, path: &std::path::Path) -> Result<(), SimError> {
        self.app
            .with_store(|store, now| persistence::save(store, path, now))
    }

    /// The shared state behind the router (for in-process embedding).
    pub fn app_state(&self) -> &AppState {
        &self.app
    }

    /// Stops the server (open connections get five seconds to finish).
    pub async fn shutdown(mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let abort = self.server.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.server)
            .await
            .is_err()
        {
            abort.abort();
        }
        self.app.release_router();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.app.release_router();
    }
}

/// What `serve` announces once listening (the CLI prints it).
#[derive(Clone)]
pub struct Announcement {
    pub base_url: Url,
    pub tenant_id: String,
    pub client_id: String,
    /// The admin app's fixture secret (a simulator fixture, not a real credential).
    pub client_secret: String,
    /// The key of the `/_sim` admin API.
    pub admin_key: AdminKey,
}

impl fmt::Debug for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announcement")
            .field("base_url", &self.base_url.as_str())
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("admin_key", &self.admin_key)
            .finish()
    }
}

impl SimHandle {
    /// What `serve` announces.
    pub fn announcement(&self) -> Announcement {
        let admin = self.admin_app();
        Announcement {
            base_url: self.base_url(),
            tenant_id: self.tenant_id(),
            client_id: admin.client_id,
            client_secret: admin.client_secret,
            admin_key: self.admin_key().clone(),
        }
    }
}

/// How often `serve` saves a state with unsaved changes.
pub const AUTOSAVE_EVERY: Duration = Duration::from_secs(30);

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill`, systemd and container
/// runtimes send for a normal stop).
pub async fn stop_signal() -> Result<(), SimError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(SimError::Signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(SimError::Signal)
    }
}

/// Runs a simulator until Ctrl-C or SIGTERM, then saves the state (when a state file is
/// configured); meanwhile saves it every [`AUTOSAVE_EVERY`] when something changed, so a crash
/// or a kill loses at most that much. `announce` is called once listening;
/// `handle.announcement()` has what to print.
pub async fn serve(cfg: SimConfig, announce: impl FnOnce(&SimHandle)) -> Result<(), SimError> {
    serve_until(cfg, AUTOSAVE_EVERY, announce, stop_signal()).await
}

/// [`serve`] with the autosave period and the stop condition given.
pub async fn serve_until(
    cfg: SimConfig,
    autosave_every: Duration,
    announce: impl FnOnce(&SimHandle),
    stop: impl std::future::Future<Output = Result<(), SimError>>,
) -> Result<(), SimError> {
    let handle = spawn(cfg).await?;
    announce(&handle);
    let mut saved_changes = handle.app.changes();
    let mut autosave = tokio::time::interval(autosave_every.max(Duration::from_millis(10)));
    autosave.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    autosave.tick().await;
    tokio::pin!(stop);
    let signal = loop {
        tokio::select! {
            result = &mut stop => break result,
            _ = autosave.tick() => {
                let changes = handle.app.changes();
                if handle.state_file.is_some() && changes != saved_changes {
                    match handle.save() {
                        Ok(()) => saved_changes = changes,
                        Err(err) => tracing::warn!(error = %err, "could not save the simulator state; trying again later"),
                    }
                }
            }
        }
    };
    let saved = if handle.state_file.is_some() {
        handle.save()
    } else {
        Ok(())
    };
    handle.shutdown().await;
    signal?;
    saved
}
