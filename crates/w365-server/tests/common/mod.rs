//! One simulator (Graph + the operators' identity provider), one job store (SQLite in a temp dir,
//! or a PostgreSQL database of the test's own under [`on_postgres`]), optionally a worker, and the
//! server on 127.0.0.1:0 — per test.
#![allow(dead_code)]

/// The job store tests' per-test database helper (a PostgreSQL database created and dropped per
/// test; skipped with the reason when PostgreSQL is unreachable, a failure under
/// W365_REQUIRE_SERVICES=1).
#[path = "../../../w365-jobs/tests/common/mod.rs"]
pub mod jobs_db;

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud};
use w365_jobs::JobStore;
use w365_ops::profile::Profile;
use w365_server::{AppState, AuthConfig, ServerConfig, Tenant, TenantScopes};
use w365_sim::oidc::{VIP_GROUP, W365_APP_ID, pkce_challenge};
use w365_sim::{SimConfig, SimHandle};

pub mod portal;

/// A Helpdesk operator limited to the `sandbox` tenant (an MSP's staff member).
pub const SCOPED_OPERATOR: &str = "paul.clark@contoso.com";

pub struct Harness {
    pub sim: SimHandle,
    pub store: Arc<dyn JobStore>,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    worker_stop: Option<oneshot::Sender<()>>,
    worker: Option<JoinHandle<()>>,
    /// The worker's Graph counters, which the server's `/metrics` reads.
    job_graph_stats: w365_graph::TenantStats,
}

pub fn sim_client(sim: &SimHandle) -> Client {
    let app = sim.admin_app();
    let base = sim.base_url();
    Client::builder()
        .cloud(Cloud::Custom {
            graph: base.clone(),
            authority: base,
        })
        .credential(Credential::ClientSecret {
            tenant_id: sim.tenant_id(),
            client_id: app.client_id.clone(),
            secret: SecretString::from(app.client_secret.clone()),
        })
        .build()
        .expect("graph client")
}

#[derive(Default)]
pub struct Options {
    pub worker: bool,
    pub hsts: bool,
    /// The `sandbox` tenant's profile (default: [`Profile::sandbox`]).
    pub profile: Option<Profile>,
}

thread_local! {
    /// The PostgreSQL database of the running test ([`on_postgres`]); `None`: SQLite.
    static POSTGRES: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `test` with every harness it starts on one PostgreSQL database of its own (created by
/// the job store tests' helper, dropped afterwards). Without PostgreSQL the test is skipped with
/// the reason printed, or fails under W365_REQUIRE_SERVICES=1.
pub async fn on_postgres<F: Future<Output = ()>>(test: impl FnOnce() -> F) {
    let Some(db) = jobs_db::TestDb::postgres().await else {
        return;
    };
    POSTGRES.with(|p| *p.borrow_mut() = Some(db.url.clone()));
    test().await;
    POSTGRES.with(|p| p.borrow_mut().take());
    db.cleanup().await;
}

/// The database URL of the running test under [`on_postgres`].
pub fn postgres_url() -> Option<String> {
    POSTGRES.with(|p| p.borrow().clone())
}

/// Instantiates each `async fn name()` test twice: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! sqlite_and_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name().await;
                }
                #[tokio::test]
                async fn postgres() {
                    $crate::common::on_postgres(super::$name).await;
                }
            }
        )*
    };
}

/// The server's configuration for a simulator: tenants `sandbox` (VIP group protected) and
/// `other`, one tenant-scoped operator.
pub fn server_config(sim: &SimHandle, hsts: bool) -> ServerConfig {
    server_config_with(sim, hsts, Profile::sandbox())
}

/// [`server_config`] with `profile` for the `sandbox` tenant (its defaults and choices).
pub fn server_config_with(sim: &SimHandle, hsts: bool, profile: Profile) -> ServerConfig {
    let mut auth = AuthConfig::new(sim.oidc_issuer(), W365_APP_ID);
    auth.jwks_refetch_interval = Duration::ZERO;
    ServerConfig {
        auth,
        tenants: vec![
            Tenant::new("sandbox", sim_client(sim), profile)
                .with_protected_groups(vec![VIP_GROUP.to_owned()]),
            Tenant::new("other", sim_client(sim), Profile::sandbox()),
        ],
        scopes: TenantScopes::default().limit(SCOPED_OPERATOR, &["sandbox"]),
        hsts,
    }
}

/// Serves `state` on 127.0.0.1:0 until the sender is used.
pub async fn serve(state: AppState) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let app = w365_server::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("server");
    });
    (addr, stop, server)
}

/// A worker running the operations handler on `store`, with the sandbox tenant on `sim`.
pub fn spawn_worker(
    sim: &SimHandle,
    store: Arc<dyn JobStore>,
    id: &str,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    spawn_worker_counting(sim, store, id, Default::default())
}

/// [`spawn_worker`], its runs' Graph traffic counted into `stats` (the server's `/metrics`).
pub fn spawn_worker_counting(
    sim: &SimHandle,
    store: Arc<dyn JobStore>,
    id: &str,
    stats: w365_graph::TenantStats,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let base = sim.base_url();
    let app = sim.admin_app();
    let credential = Credential::ClientSecret {
        tenant_id: sim.tenant_id(),
        client_id: app.client_id.clone(),
        secret: SecretString::from(app.client_secret.clone()),
    };
    let options = w365_service::HandlerOptions {
        poll_interval: Some(Duration::from_millis(50)),
        resume: w365_ops::resume::ResumeOptions {
            inline_wait: Duration::ZERO,
        },
        retry: None,
    };
    let handler = w365_service::OpsHandler::new(Default::default(), options)
        .with_sandbox(
            Cloud::Custom {
                graph: base.clone(),
                authority: base,
            },
            credential,
        )
        .with_graph_stats(stats);
    let config = w365_jobs::WorkerConfig {
        id: id.into(),
        concurrency: 2,
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(200),
        ..Default::default()
    };
    let worker = w365_jobs::Worker::new(store, Arc::new(handler), config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("worker");
    });
    (stop, task)
}

pub async fn start() -> Harness {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Harness {
    let sim = w365_sim::spawn(SimConfig::contoso())
        .await
        .expect("simulator");
    sim.oidc().assign_app_role(SCOPED_OPERATOR, "W365.Helpdesk");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = postgres_url()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display()));
    let store = w365_jobs::connect(&url).await.expect("store");
    let job_graph_stats = w365_graph::TenantStats::default();
    let state = AppState::new(
        server_config_with(
            &sim,
            opts.hsts,
            opts.profile.unwrap_or_else(Profile::sandbox),
        ),
        store.clone(),
        reqwest::Client::new(),
    )
    .with_job_graph_stats(job_graph_stats.clone());
    let (addr, stop, server) = serve(state).await;
    let mut h = Harness {
        sim,
        store,
        addr,
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("http"),
        dir,
        stop: Some(stop),
        server: Some(server),
        worker_stop: None,
        worker: None,
        job_graph_stats,
    };
    if opts.worker {
        h.start_worker();
    }
    h
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn start_worker(&mut self) {
        let (stop, worker) = spawn_worker_counting(
            &self.sim,
            self.store.clone(),
            "test-worker",
            self.job_graph_stats.clone(),
        );
        self.worker_stop = Some(stop);
        self.worker = Some(worker);
    }

    pub async fn stop_worker(&mut self) {
        if let Some(stop) = self.worker_stop.take() {
            let _ = stop.send(());
        }
        if let Some(w) = self.worker.take() {
            w.await.expect("worker task");
        }
    }

    /// Signs in through the simulator's authorize form (PKCE) as `upn`; the access token.
    pub async fn token_for(&self, upn: &str) -> String {
        let verifier = "the-code-verifier-of-the-server-tests-0123456789";
        let tid = self.sim.tenant_id();
        let base = self.sim.base_url();
        let redirect = "http://127.0.0.1:9/callback";
        let scope = format!("openid api://{W365_APP_ID}/access_as_user");
        let challenge = pkce_challenge(verifier);
        let answer = self
            .http
            .post(format!("{base}{tid}/oauth2/v2.0/authorize"))
            .form(&[
                ("client_id", W365_APP_ID),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", scope.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("login_hint", upn),
            ])
            .send()
            .await
            .expect("authorize");
        let location = answer.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let code = url::Url::parse(&location)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let tokens: Value = self
            .http
            .post(format!("{base}{tid}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", W365_APP_ID),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// A demo operator's token: `reader`, `helpdesk` or `admin`.
    pub async fn token(&self, role: &str) -> String {
        let op = w365_sim::oidc::demo_operator(role).expect("demo operator");
        self.token_for(op.upn).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn shutdown(mut self) {
        self.stop_worker().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }
}
