//! `serve-latency`: issue 12's benchmark. The server of `w365 serve --sandbox` (the same router,
//! `w365_server::router`, with the simulator as Graph and identity provider) in this process on
//! 127.0.0.1:0, with a SQLite job store (a temp file) and then a PostgreSQL one (a database of
//! its own). Each request kind is sent **open-loop** at a constant arrival rate (default 200/s):
//! request `i` is due at `start + i / rate` and is sent then whether or not earlier answers
//! arrived; its latency counts from when it was due (so a slow server's queueing shows in the
//! figures instead of slowing the sender down).
//!
//! Request kinds, each signed in as the sandbox's Helpdesk demo operator (a token the simulator
//! issued, checked by the server on every request):
//! - `GET /api/v1/jobs/{id}` over 1,000 stored jobs, round robin;
//! - `GET /api/v1/jobs` (the first page: 50 newest jobs);
//! - `POST /api/v1/jobs` dry run of `assign` (validation, the protected-group check and the plan:
//!   Graph reads against the simulator, no latency injected);
//! - `POST /api/v1/jobs` real `assign` (validation, protected-group check, job insert, audit
//!   record). No worker runs: the jobs stay queued; the benchmark measures submission.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use w365_graph::Cloud;
use w365_graph::auth::Credential;
use w365_jobs::{Identity, JobStore, NewJob};
use w365_sim::oidc::{OperatorIdentity, W365_APP_ID};
use w365_sim::seed::SeedFile;
use w365_sim::{Seed, SimConfig};

use crate::pg::TempDatabase;
use crate::report::{self, Check, Percentiles};
use crate::sim::Sim;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Requests per second (open loop: constant arrival rate).
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Measured seconds per request kind (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// p99 target, in milliseconds (reads and submissions alike).
    #[arg(long, default_value_t = 100)]
    pub target_p99_ms: u64,
    /// PostgreSQL server (a database of its own is created and dropped); "none" to skip.
    #[arg(long, default_value = crate::pg::DEFAULT_URL)]
    pub postgres: String,
}

/// Jobs stored before the reads are measured.
const STORED_JOBS: usize = 1000;
/// Generated users the submissions cycle through.
const USERS: usize = 500;

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    let seconds = if quick { 2 } else { args.seconds };
    let mut checks = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    checks.extend(one(args, seconds, "SQLite", &sqlite).await?);
    if let Some(db) = TempDatabase::create(&args.postgres, "w365_serve_bench").await? {
        let r = one(args, seconds, "PostgreSQL", db.url()).await;
        db.drop_now().await?;
        checks.extend(r?);
    }
    Ok(checks)
}

struct Server {
    sim: Sim,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(url: &str) -> anyhow::Result<(Server, Arc<dyn JobStore>)> {
    let sim = Sim::start(SimConfig {
        seed: Seed::ContosoWithUsers(USERS),
        ..SimConfig::contoso()
    })
    .await?;
    let store = w365_jobs::connect(url).await.context("job store")?;
    let base = sim.handle.base_url();
    let app = sim.handle.admin_app();
    let client = w365_graph::Client::builder()
        .cloud(Cloud::Custom {
            graph: base.clone(),
            authority: base,
        })
        .credential(Credential::client_secret(
            sim.handle.tenant_id(),
            app.client_id,
            app.client_secret,
        ))
        .build()
        .context("Graph client")?;
    let config = w365_server::ServerConfig {
        auth: w365_server::AuthConfig::new(sim.handle.oidc_issuer(), W365_APP_ID),
        tenants: vec![w365_server::Tenant::new(
            w365_service::SANDBOX,
            client,
            w365_ops::profile::Profile::sandbox(),
        )],
        scopes: w365_server::TenantScopes::default(),
        hsts: false,
    };
    let state = w365_server::AppState::new(config, store.clone(), reqwest::Client::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = w365_server::router(state);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((
        Server {
            sim,
            addr,
            stop,
            task,
        },
        store,
    ))
}

/// An access token for the Helpdesk demo operator, issued by the simulator's identity provider
/// for the user as the directory has them.
async fn helpdesk_token(sim: &Sim) -> anyhow::Result<String> {
    let op = w365_sim::oidc::demo_operator("helpdesk").context("the helpdesk demo operator")?;
    let graph_token = sim.access_token().await?;
    let user = sim.user(&graph_token, op.upn).await?;
    let who = OperatorIdentity {
        tenant_id: sim.handle.tenant_id(),
        object_id: user["id"].as_str().context("user id")?.to_owned(),
        upn: op.upn.to_owned(),
        display_name: op.display_name.to_owned(),
        roles: vec![op.role.to_owned()],
    };
    let tokens = sim.handle.oidc().issue(
        &sim.handle.oidc_issuer(),
        &who,
        W365_APP_ID,
        None,
        sim.handle.now(),
    );
    Ok(tokens.access_token)
}

/// What one request kind sends.
enum Kind {
    GetJob(Arc<Vec<String>>),
    ListJobs,
    Submit { dry_run: bool },
}

impl Kind {
    fn label(&self) -> &'static str {
        match self {
            Kind::GetJob(_) => "GET /api/v1/jobs/{id}",
            Kind::ListJobs => "GET /api/v1/jobs",
            Kind::Submit { dry_run: true } => "POST /api/v1/jobs (assign, dry run)",
            Kind::Submit { dry_run: false } => "POST /api/v1/jobs (assign)",
        }
    }

    fn request(&self, http: &reqwest::Client, base: &str, i: usize) -> reqwest::RequestBuilder {
        match self {
            Kind::GetJob(ids) => http.get(format!("{base}/api/v1/jobs/{}", ids[i % ids.len()])),
            Kind::ListJobs => http.get(format!("{base}/api/v1/jobs")),
            Kind::Submit { dry_run } => http.post(format!("{base}/api/v1/jobs")).json(&json!({
                "operation": "assign",
                "tenant": w365_service::SANDBOX,
                "params": {"user": SeedFile::generated_upn(i % USERS + 1)},
                "dryRun": dry_run,
            })),
        }
    }
}

struct Measured {
    samples: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
    /// Requests sent in all (warm-up included) and how long sending them took.
    total: usize,
    send_span: Duration,
}

/// Sends `kind` open-loop at `rate` per second for `warmup + window`; latencies of requests due
/// inside the window, measured from when each was due.
async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    kind: Arc<Kind>,
    rate: u32,
    warmup: Duration,
    window: Duration,
) -> Measured {
    let interval = Duration::from_secs(1) / rate.max(1);
    let total = ((warmup + window).as_secs_f64() * f64::from(rate)) as usize;
    let warm = (warmup.as_secs_f64() * f64::from(rate)) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        let request = kind.request(http, base, i).bearer_auth(token);
        tasks.spawn(async move {
            let outcome = match request.send().await {
                Ok(r) if r.status().is_success() => {
                    // The answer counts when its body has arrived.
                    r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    Err(format!("{status}: {}", body["error"]["message"]))
                }
                Err(e) => Err(e.to_string()),
            };
            let latency = tokio::time::Instant::now() - due;
            (i, latency, outcome)
        });
    }
    let send_span = start.elapsed();
    let mut m = Measured {
        samples: Vec::with_capacity(total),
        errors: 0,
        first_error: None,
        total,
        send_span,
    };
    while let Some(done) = tasks.join_next().await {
        let Ok((i, latency, outcome)) = done else {
            m.errors += 1;
            continue;
        };
        if i < warm {
            continue;
        }
        match outcome {
            Ok(()) => m
                .samples
                .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                m.errors += 1;
                m.first_error.get_or_insert(e);
            }
        }
    }
    m
}

async fn one(args: &Args, seconds: u64, title: &str, url: &str) -> anyhow::Result<Vec<Check>> {
    report::heading(&format!(
        "serve-latency: {title} store, {} requests/s open loop, {seconds} s per kind",
        args.rate
    ));
    let (server, store) = start(url).await?;
    let token = helpdesk_token(&server.sim).await?;
    let who = Identity {
        object_id: "00000000-0000-0000-0000-000000000002".into(),
        upn: "bench@contoso.example".into(),
        display_name: "Benchmark".into(),
    };
    let mut ids = Vec::with_capacity(STORED_JOBS);
    for i in 0..STORED_JOBS {
        let upn = SeedFile::generated_upn(i % USERS + 1);
        let mut job = NewJob::new(
            "assign",
            w365_service::SANDBOX,
            json!({ "user": upn }),
            who.clone(),
        );
        job.target = Some(upn);
        ids.push(store.insert(job).await?.0.id.to_string());
    }
    report::figure("jobs stored before the reads", STORED_JOBS);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let base = format!("http://{}", server.addr);
    let kinds = [
        Kind::GetJob(Arc::new(ids)),
        Kind::ListJobs,
        Kind::Submit { dry_run: true },
        Kind::Submit { dry_run: false },
    ];
    let mut checks = Vec::new();
    let target_us = u32::try_from(args.target_p99_ms * 1000).unwrap_or(u32::MAX);
    for kind in kinds {
        let kind = Arc::new(kind);
        let label = kind.label();
        let mut m = open_loop(
            &http,
            &base,
            &token,
            kind,
            args.rate,
            Duration::from_secs(1),
            Duration::from_secs(seconds),
        )
        .await;
        let rate = m.total as f64 / m.send_span.as_secs_f64();
        match Percentiles::of(&mut m.samples) {
            Some(p) => {
                report::figure(label, p);
                report::figure(
                    "  answered / errors / offered rate",
                    format!(
                        "{} / {} / {rate:.0} per s{}",
                        m.samples.len(),
                        m.errors,
                        m.first_error
                            .as_deref()
                            .map(|e| format!(" (first error: {e})"))
                            .unwrap_or_default()
                    ),
                );
                checks.push(Check::new(
                    format!(
                        "serve-latency {title}: p99 of {label} at {} req/s",
                        args.rate
                    ),
                    format!("{:.2} ms, {} errors", f64::from(p.p99) / 1000.0, m.errors),
                    format!("< {} ms, 0 errors", args.target_p99_ms),
                    p.p99 < target_us && m.errors == 0,
                ));
            }
            None => anyhow::bail!(
                "{label}: no request succeeded ({} errors; first: {})",
                m.errors,
                m.first_error.unwrap_or_default()
            ),
        }
    }
    let _ = server.stop.send(());
    let _ = server.task.await;
    server.sim.shutdown().await;
    Ok(checks)
}
