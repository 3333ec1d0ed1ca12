//! `jobs-assign`: issue 11's benchmark. 1,000 queued `assign` jobs run by the real operations
//! handler (`w365_service::OpsHandler`, the one `w365 worker` and `w365 serve` use) against the
//! simulator with 50 ms latency on every Graph request: SQLite with 1 worker process, PostgreSQL
//! with 2 worker processes on one database.
//!
//! Each job plans and carries out a dedicated assign for its own generated user, then waits for
//! the Cloud PC: the wait checks once and **parks** the job (no worker held); the benchmark moves
//! the simulator's virtual clock forward (a tick every `--tick-ms` of real time advances it by
//! `--advance-secs`) so provisioning completes, and the parked job is resumed by whichever worker
//! fetches it. Nothing sleeps for the lifecycle.
//!
//! How the engine overhead is measured (nothing is estimated):
//! - every worker process wraps the handler and the store in timers: the wall time of every
//!   handler run, and of every store call (fetch, finish, log lines, checkpoints, cancel checks,
//!   heartbeats, maintenance);
//! - a job's **active time** is the sum, over its runs, of the fetch that handed it out, the
//!   handler run and the finish that recorded its outcome (a fetch that returned k jobs counts
//!   its whole time for each of them: the time each job waited for it);
//! - the **Graph wait** is measured where the job waits for it, in its Graph client: each
//!   request's `graph_request` span (w365-graph opens it once the request's write budget is
//!   taken and its token is in hand, and closes it when the answer's body is read), timed by a
//!   tracing layer in the worker ([`GraphSpans`]); per run, the union of its requests' spans. A
//!   timing relay between the workers and the simulator ([`crate::graph_timer`]) measures the
//!   same requests from its side as a cross-check: its figure is shorter by the hop from the
//!   worker to the relay and back (a second loopback connection and process per request, which
//!   production, talking to Graph directly, does not have), and the overhead computed with it
//!   is printed too. The latency floor (requests × the injected latency) is printed beside them;
//! - the **write-budget wait**: the time the runs slept until the tenant's write budget (shared
//!   by the worker processes in the store) let their directory writes go; the handler counts it;
//! - **engine overhead per job** = (Σ active time − Σ Graph wait − Σ budget wait) / jobs: the
//!   time a job held a worker slot without waiting on Graph or on Graph's write limit. It is an
//!   upper bound on the job engine's own cost: it also holds the operation's CPU (planning,
//!   JSON), the token requests (no latency injected; counted as overhead), the parsing of each
//!   answer, and the time a job queued behind the others for a core or the database;
//! - **worker CPU per job** = the CPU time (user + system) of the worker processes / jobs: what
//!   the engine and the operations cost the machine, without the queueing.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use w365_graph::Cloud;
use w365_graph::auth::Credential;
use w365_jobs::{
    AuditFilter, AuditRecord, AuditVerdict, Backend, BudgetGrant, Clock, Durability, Finish,
    Handler, Identity, Job, JobContext, JobEvent, JobFilter, JobId, JobStore, Leased, LogLine,
    NewAuditRecord, NewJob, NewLogLine, Page, PortalSession, PortalSignIn, Schedule, ScheduleSpec,
    SqlStore, TenantLimits, Written,
};
use w365_sim::seed::SeedFile;
use w365_sim::{DirectoryTimings, Seed, SimConfig, Timings};

use crate::graph_timer::GraphTimer;
use crate::jobs::TARGET_OVERHEAD_MS;
use crate::pg::TempDatabase;
use crate::report::{self, Check};
use crate::sim::Sim;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Assign jobs per run (one generated user each).
    #[arg(long, default_value_t = 1000)]
    pub jobs: usize,
    /// Simulated latency of every Graph request, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Jobs each worker process runs at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Virtual seconds the simulator's clock moves on each tick.
    #[arg(long, default_value_t = 10)]
    pub advance_secs: u64,
    /// Real milliseconds between two ticks of the virtual clock.
    #[arg(long, default_value_t = 100)]
    pub tick_ms: u64,
    /// How long a parked job waits before its next check, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
    /// PostgreSQL server (a database of its own is created and dropped); "none" to skip.
    #[arg(long, default_value = crate::pg::DEFAULT_URL)]
    pub postgres: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AssignWorkerArgs {
    /// Database, jobs to wait for, concurrency and worker id, as `jobs-store-worker`.
    #[command(flatten)]
    pub worker: crate::jobs::WorkerArgs,
    /// The simulator's base URL.
    #[arg(long)]
    pub sim: String,
    #[arg(long)]
    pub tenant_id: String,
    #[arg(long)]
    pub client_id: String,
    #[arg(long)]
    pub poll_ms: u64,
}

/// Calls and time of one kind of call.
#[derive(Debug, Default)]
struct Acc {
    calls: AtomicU64,
    micros: AtomicU64,
}

impl Acc {
    fn add(&self, d: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> Timing {
        Timing {
            calls: self.calls.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Timing {
    calls: u64,
    micros: u64,
}

impl std::ops::AddAssign for Timing {
    fn add_assign(&mut self, o: Timing) {
        self.calls += o.calls;
        self.micros += o.micros;
    }
}

/// What one worker process measured (printed as one `stats {json}` line).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Stats {
    handler_runs: Timing,
    /// Fetches that returned jobs; `jobs_fetched` jobs in all, `fetch_per_job_micros` = Σ (time
    /// of the fetch × jobs it returned).
    fetch_nonempty: Timing,
    jobs_fetched: u64,
    fetch_per_job_micros: u64,
    fetch_empty: Timing,
    finish: Timing,
    log: Timing,
    checkpoint: Timing,
    cancel_check: Timing,
    heartbeat: Timing,
    maintenance: Timing,
    /// The worker's cancel watch: one read of its running jobs' cancel requests (off their path).
    #[serde(default)]
    cancel_watch: Timing,
    /// Calls to the tenant's Graph write budget, and how many were told to wait.
    budget: Timing,
    budget_waits: u64,
    /// Time the job runs slept waiting for the write budget's refill (pacing, not work).
    #[serde(default)]
    budget_wait_micros: u64,
    /// CPU time (user + system) of the worker process.
    #[serde(default)]
    cpu_micros: u64,
    /// Σ over runs of the union of their Graph requests' time as the job's client saw it
    /// ([`GraphSpans`]), and how many requests that covers.
    #[serde(default)]
    graph_client_micros: u64,
    #[serde(default)]
    graph_client_requests: u64,
    other: Timing,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.handler_runs += o.handler_runs;
        self.fetch_nonempty += o.fetch_nonempty;
        self.jobs_fetched += o.jobs_fetched;
        self.fetch_per_job_micros += o.fetch_per_job_micros;
        self.fetch_empty += o.fetch_empty;
        self.finish += o.finish;
        self.log += o.log;
        self.checkpoint += o.checkpoint;
        self.cancel_check += o.cancel_check;
        self.heartbeat += o.heartbeat;
        self.maintenance += o.maintenance;
        self.cancel_watch += o.cancel_watch;
        self.budget += o.budget;
        self.budget_waits += o.budget_waits;
        self.budget_wait_micros += o.budget_wait_micros;
        self.cpu_micros += o.cpu_micros;
        self.graph_client_micros += o.graph_client_micros;
        self.graph_client_requests += o.graph_client_requests;
        self.other += o.other;
    }
}

#[derive(Default)]
struct Timers {
    handler_runs: Acc,
    fetch_nonempty: Acc,
    jobs_fetched: AtomicU64,
    fetch_per_job_micros: AtomicU64,
    fetch_empty: Acc,
    finish: Acc,
    log: Acc,
    checkpoint: Acc,
    cancel_check: Acc,
    heartbeat: Acc,
    maintenance: Acc,
    cancel_watch: Acc,
    budget: Acc,
    budget_waits: AtomicU64,
    graph_client_micros: AtomicU64,
    graph_client_requests: AtomicU64,
    other: Acc,
}

impl Timers {
    fn stats(&self) -> Stats {
        Stats {
            handler_runs: self.handler_runs.get(),
            fetch_nonempty: self.fetch_nonempty.get(),
            jobs_fetched: self.jobs_fetched.load(Ordering::Relaxed),
            fetch_per_job_micros: self.fetch_per_job_micros.load(Ordering::Relaxed),
            fetch_empty: self.fetch_empty.get(),
            finish: self.finish.get(),
            log: self.log.get(),
            checkpoint: self.checkpoint.get(),
            cancel_check: self.cancel_check.get(),
            heartbeat: self.heartbeat.get(),
            maintenance: self.maintenance.get(),
            cancel_watch: self.cancel_watch.get(),
            budget: self.budget.get(),
            budget_waits: self.budget_waits.load(Ordering::Relaxed),
            // Filled in by the worker when it reports.
            budget_wait_micros: 0,
            cpu_micros: 0,
            graph_client_micros: self.graph_client_micros.load(Ordering::Relaxed),
            graph_client_requests: self.graph_client_requests.load(Ordering::Relaxed),
            other: self.other.get(),
        }
    }
}

/// Times `$call` into the accumulator `$acc`.
macro_rules! timed {
    ($acc:expr, $call:expr) => {{
        let started = Instant::now();
        let out = $call.await;
        $acc.add(started.elapsed());
        out
    }};
}

/// The store as the worker sees it, with every call timed.
struct TimedStore {
    inner: Arc<SqlStore>,
    t: Arc<Timers>,
}

#[async_trait::async_trait]
impl JobStore for TimedStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock()
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JobEvent> {
        self.inner.subscribe()
    }
    async fn insert(&self, job: NewJob) -> w365_jobs::Result<(Job, bool)> {
        timed!(self.t.other, self.inner.insert(job))
    }
    async fn get(&self, id: JobId) -> w365_jobs::Result<Option<Job>> {
        timed!(self.t.other, self.inner.get(id))
    }
    async fn list(&self, filter: &JobFilter) -> w365_jobs::Result<Page<Job>> {
        timed!(self.t.other, self.inner.list(filter))
    }
    async fn count(&self, filter: &JobFilter) -> w365_jobs::Result<u64> {
        timed!(self.t.other, self.inner.count(filter))
    }
    async fn cancel(&self, id: JobId) -> w365_jobs::Result<Job> {
        timed!(self.t.other, self.inner.cancel(id))
    }
    async fn log(&self, id: JobId, after_seq: i64) -> w365_jobs::Result<Vec<LogLine>> {
        timed!(self.t.other, self.inner.log(id, after_seq))
    }
    async fn fetch(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
    ) -> w365_jobs::Result<Vec<Leased>> {
        let started = Instant::now();
        let out = self.inner.fetch(worker, max, lease).await;
        let took = started.elapsed();
        match &out {
            Ok(jobs) if !jobs.is_empty() => {
                let n = jobs.len() as u64;
                self.t.fetch_nonempty.add(took);
                self.t.jobs_fetched.fetch_add(n, Ordering::Relaxed);
                self.t.fetch_per_job_micros.fetch_add(
                    u64::try_from(took.as_micros()).unwrap_or(u64::MAX) * n,
                    Ordering::Relaxed,
                );
            }
            _ => self.t.fetch_empty.add(took),
        }
        out
    }
    async fn heartbeat(&self, l: &Leased, lease: Duration) -> w365_jobs::Result<bool> {
        timed!(self.t.heartbeat, self.inner.heartbeat(l, lease))
    }
    async fn append_log(&self, l: &Leased, level: &str, message: &str) -> w365_jobs::Result<i64> {
        timed!(self.t.log, self.inner.append_log(l, level, message))
    }
    async fn save_checkpoint(
        &self,
        l: &Leased,
        checkpoint: &serde_json::Value,
    ) -> w365_jobs::Result<()> {
        timed!(self.t.checkpoint, self.inner.save_checkpoint(l, checkpoint))
    }
    async fn write_progress(
        &self,
        l: &Leased,
        lines: &[NewLogLine],
        checkpoint: Option<&serde_json::Value>,
        durability: Durability,
    ) -> w365_jobs::Result<Written> {
        // A checkpoint (with the lines logged since the last write) or a flush of lines alone.
        let acc = if checkpoint.is_some() {
            &self.t.checkpoint
        } else {
            &self.t.log
        };
        timed!(
            acc,
            self.inner.write_progress(l, lines, checkpoint, durability)
        )
    }
    async fn finish_with_log(
        &self,
        l: &Leased,
        outcome: Finish,
        lines: &[NewLogLine],
        checkpoint: Option<&serde_json::Value>,
    ) -> w365_jobs::Result<Job> {
        timed!(
            self.t.finish,
            self.inner.finish_with_log(l, outcome, lines, checkpoint)
        )
    }
    async fn cancel_requested(&self, l: &Leased) -> w365_jobs::Result<bool> {
        timed!(self.t.cancel_check, self.inner.cancel_requested(l))
    }
    async fn work_ready(&self) -> w365_jobs::Result<bool> {
        timed!(self.t.fetch_empty, self.inner.work_ready())
    }
    async fn cancels_requested(&self, worker: &str) -> w365_jobs::Result<Vec<JobId>> {
        timed!(self.t.cancel_watch, self.inner.cancels_requested(worker))
    }
    async fn finish(&self, l: &Leased, outcome: Finish) -> w365_jobs::Result<Job> {
        timed!(self.t.finish, self.inner.finish(l, outcome))
    }
    async fn release(&self, l: &Leased) -> w365_jobs::Result<Job> {
        timed!(self.t.other, self.inner.release(l))
    }
    async fn promote(&self) -> w365_jobs::Result<u64> {
        timed!(self.t.maintenance, self.inner.promote())
    }
    async fn rescue(&self) -> w365_jobs::Result<Vec<Job>> {
        timed!(self.t.maintenance, self.inner.rescue())
    }
    async fn tenant_limits(&self, tenant: &str) -> w365_jobs::Result<TenantLimits> {
        timed!(self.t.other, self.inner.tenant_limits(tenant))
    }
    async fn set_tenant_limits(&self, tenant: &str, limits: TenantLimits) -> w365_jobs::Result<()> {
        timed!(self.t.other, self.inner.set_tenant_limits(tenant, limits))
    }
    async fn take_write_budget(&self, tenant: &str, n: u32) -> w365_jobs::Result<BudgetGrant> {
        let grant = timed!(self.t.budget, self.inner.take_write_budget(tenant, n));
        if matches!(grant, Ok(BudgetGrant::Wait(_))) {
            self.t.budget_waits.fetch_add(1, Ordering::Relaxed);
        }
        grant
    }
    async fn audit_append(&self, rec: NewAuditRecord) -> w365_jobs::Result<AuditRecord> {
        timed!(self.t.other, self.inner.audit_append(rec))
    }
    async fn audit_list(&self, filter: &AuditFilter) -> w365_jobs::Result<Page<AuditRecord>> {
        timed!(self.t.other, self.inner.audit_list(filter))
    }
    async fn audit_verify(&self) -> w365_jobs::Result<AuditVerdict> {
        timed!(self.t.other, self.inner.audit_verify())
    }
    async fn schedule_upsert(&self, spec: ScheduleSpec) -> w365_jobs::Result<Schedule> {
        timed!(self.t.other, self.inner.schedule_upsert(spec))
    }
    async fn schedule_list(&self) -> w365_jobs::Result<Vec<Schedule>> {
        timed!(self.t.other, self.inner.schedule_list())
    }
    async fn schedule_delete(&self, name: &str) -> w365_jobs::Result<bool> {
        timed!(self.t.other, self.inner.schedule_delete(name))
    }
    async fn run_due_schedules(&self) -> w365_jobs::Result<Vec<Job>> {
        timed!(self.t.maintenance, self.inner.run_due_schedules())
    }
    // The portal's sessions: never called by workers; passed through untimed.
    async fn portal_signin_put(&self, signin: &PortalSignIn) -> w365_jobs::Result<()> {
        self.inner.portal_signin_put(signin).await
    }
    async fn portal_signin_take(&self, key_hash: &str) -> w365_jobs::Result<Option<PortalSignIn>> {
        self.inner.portal_signin_take(key_hash).await
    }
    async fn portal_session_put(&self, session: &PortalSession) -> w365_jobs::Result<()> {
        self.inner.portal_session_put(session).await
    }
    async fn portal_session_get(&self, id_hash: &str) -> w365_jobs::Result<Option<PortalSession>> {
        self.inner.portal_session_get(id_hash).await
    }
    async fn portal_session_set_tenant(
        &self,
        id_hash: &str,
        tenant: &str,
    ) -> w365_jobs::Result<bool> {
        self.inner.portal_session_set_tenant(id_hash, tenant).await
    }
    async fn portal_session_delete(&self, id_hash: &str) -> w365_jobs::Result<bool> {
        self.inner.portal_session_delete(id_hash).await
    }
}

/// The operations handler with each run timed.
struct TimedHandler {
    inner: w365_service::OpsHandler,
    t: Arc<Timers>,
}

#[async_trait::async_trait]
impl Handler for TimedHandler {
    async fn run(&self, ctx: &JobContext) -> Finish {
        let calls = GraphCalls::default();
        let out = RUN_GRAPH_CALLS
            .scope(calls.clone(), async {
                timed!(self.t.handler_runs, self.inner.run(ctx))
            })
            .await;
        let calls = std::mem::take(&mut *calls.lock().unwrap_or_else(|p| p.into_inner()));
        let n = calls.len() as u64;
        let waited = crate::graph_timer::union(&calls);
        self.t.graph_client_micros.fetch_add(
            u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.t.graph_client_requests.fetch_add(n, Ordering::Relaxed);
        out
    }
}

/// The in-flight intervals of one run's Graph requests, as its client saw them.
type GraphCalls = Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>;

tokio::task_local! {
    /// Where the running job's [`GraphSpans`] go (a job's requests are all sent from its task).
    static RUN_GRAPH_CALLS: GraphCalls;
}

/// Times every Graph request as the job's own client sees it: w365-graph's `graph_request` span
/// opens once the request's write budget is taken and its token is in hand, and closes when the
/// answer's body has been read (one span per attempt). Its lifetime is the time the job waited
/// on Graph: the request on the wire both ways and the server, i.e. what production's network
/// round trip to Graph would be. The relay's view ([`crate::graph_timer`]) is shorter by the
/// hop from the worker to the relay and back, which production does not have.
struct GraphSpans;

/// When a `graph_request` span opened, and the run it belongs to.
struct Opened(Instant, Option<GraphCalls>);

impl<S> tracing_subscriber::Layer<S> for GraphSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "graph_request" {
            return;
        }
        let run = RUN_GRAPH_CALLS.try_with(Clone::clone).ok();
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now(), run));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let closed = Instant::now();
        if let Some(span) = ctx.span(&id)
            && let Some(Opened(at, Some(run))) = span.extensions().get::<Opened>()
        {
            run.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((*at, closed));
        }
    }
}

/// Installs [`GraphSpans`] as the worker process's only tracing layer, for `graph_request`
/// spans only (nothing else is recorded or printed).
fn time_graph_requests() -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let only_requests =
        tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.name() == "graph_request");
    let subscriber = tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(
        GraphSpans,
        only_requests,
    ));
    tracing::subscriber::set_global_default(subscriber)
        .context("installing the Graph request timer")
}

/// The hidden worker subcommand: the client secret comes on stdin (never on the command line),
/// then "ready", "go", and a `stats` line when every job is finished.
pub async fn worker(args: &AssignWorkerArgs) -> anyhow::Result<()> {
    time_graph_requests()?;
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut secret = String::new();
    stdin.read_line(&mut secret).await?;
    let secret = secret.trim().to_owned();
    let sql = Arc::new(
        SqlStore::connect(&args.worker.database, w365_jobs::ConnectOptions::default())
            .await
            .context("connecting the worker's store")?,
    );
    let timers = Arc::new(Timers::default());
    let base = url::Url::parse(&args.sim).context("simulator URL")?;
    let poll = Duration::from_millis(args.poll_ms);
    let options = w365_service::HandlerOptions {
        resume: w365_ops::resume::ResumeOptions {
            inline_wait: Duration::ZERO,
        },
        poll_interval: Some(poll),
        retry: None,
    };
    let handler = w365_service::OpsHandler::new(Default::default(), options).with_sandbox(
        Cloud::Custom {
            graph: base.clone(),
            authority: base,
        },
        Credential::client_secret(&args.tenant_id, &args.client_id, secret),
    );
    println!("ready");
    let mut line = String::new();
    stdin.read_line(&mut line).await?;
    let store: Arc<dyn JobStore> = Arc::new(TimedStore {
        inner: sql.clone(),
        t: timers.clone(),
    });
    let handler = Arc::new(TimedHandler {
        inner: handler,
        t: timers.clone(),
    });
    crate::jobs::run_worker_until(
        sql,
        store,
        handler.clone(),
        &args.worker.id,
        args.worker.concurrency,
        poll,
        "'succeeded', 'failed', 'cancelled'",
        args.worker.jobs,
    )
    .await?;
    let mut stats = timers.stats();
    stats.cpu_micros = own_cpu_time().map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(0));
    stats.budget_wait_micros =
        u64::try_from(handler.inner.write_budget_waited().as_micros()).unwrap_or(u64::MAX);
    println!("stats {}", serde_json::to_string(&stats)?);
    Ok(())
}

/// This process's CPU time, user + system (Linux: `/proc/self/stat`, fields 14 and 15, in clock
/// ticks of 1/100 s, the kernel's USER_HZ on Linux).
fn own_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn sim_config(users: usize, latency: Duration) -> SimConfig {
    let mut timings = Timings::fast();
    // Memberships visible and licences processed at once: the waits that park are the Cloud
    // PC's (detection and provisioning, on the virtual clock the benchmark moves).
    timings.directory = DirectoryTimings {
        replication_lag: Duration::ZERO,
        license_processing: Duration::ZERO,
    };
    SimConfig {
        // Contoso with its Windows 365 policies and their group assignments, plus the users.
        seed: Seed::ContosoWithUsers(users),
        timings,
        faults: vec![w365_sim::faults::FaultRule::always(
            w365_sim::faults::FaultAction::Latency(
                u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            ),
        )],
        // The virtual clock runs ahead of real time; tokens must outlive a whole run.
        token_lifetime: Duration::from_secs(30 * 24 * 3600),
        ..SimConfig::contoso()
    }
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    let jobs = if quick { args.jobs.min(100) } else { args.jobs };
    let mut checks = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    checks.push(
        one(
            args,
            &format!("SQLite, 1 process, {jobs} jobs"),
            &sqlite,
            jobs,
            1,
        )
        .await?,
    );
    if let Some(db) = TempDatabase::create(&args.postgres, "w365_jobs_assign_bench").await? {
        let r = one(
            args,
            &format!("PostgreSQL, 2 processes, {jobs} jobs"),
            db.url(),
            jobs,
            2,
        )
        .await;
        db.drop_now().await?;
        checks.push(r?);
    }
    Ok(checks)
}

struct Child {
    process: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

async fn one(
    args: &Args,
    title: &str,
    url: &str,
    jobs: usize,
    processes: usize,
) -> anyhow::Result<Check> {
    report::heading(&format!("jobs-assign: {title}"));
    let latency = Duration::from_millis(args.latency_ms);
    let sim = Sim::start(sim_config(jobs, latency)).await?;
    let timer = GraphTimer::start(&sim.handle.base_url()).await?;
    let store = SqlStore::connect(url, w365_jobs::ConnectOptions::default()).await?;
    let limits = store.tenant_limits(w365_service::SANDBOX).await?;
    let who = Identity {
        object_id: "00000000-0000-0000-0000-000000000001".into(),
        upn: "bench@contoso.example".into(),
        display_name: "Benchmark".into(),
    };
    let start = Instant::now();
    for i in 1..=jobs {
        let upn = SeedFile::generated_upn(i);
        let mut job = NewJob::new(
            "assign",
            w365_service::SANDBOX,
            // --notify: the runbook's mail when the Cloud PC is ready, so the job waits for it.
            serde_json::json!({ "user": upn, "notify": true }),
            who.clone(),
        );
        job.target = Some(upn);
        store.insert(job).await?;
    }
    let insert = start.elapsed();
    report::figure("assign jobs queued (one tenant, one user each)", jobs);
    report::figure("insert time per job", report::ms(insert / jobs as u32));
    report::figure(
        "tenant limits (running at once; write budget)",
        format!(
            "{}; {} burst, {}/h",
            limits.max_running, limits.write_capacity, limits.write_refill_per_hour
        ),
    );

    let exe = std::env::current_exe()?;
    let app = sim.handle.admin_app();
    let mut children = Vec::new();
    for p in 0..processes {
        let mut process = tokio::process::Command::new(&exe)
            .arg("jobs-assign-worker")
            .args(["--database", url, "--sim", &timer.url()])
            .args(["--tenant-id", &sim.handle.tenant_id()])
            .args(["--client-id", &app.client_id])
            .args(["--jobs", &jobs.to_string()])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--poll-ms", &args.poll_ms.to_string()])
            .args(["--id", &format!("bench-{p}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker process")?;
        let stdin = process.stdin.as_mut().context("worker stdin")?;
        stdin
            .write_all(format!("{}\n", app.client_secret).as_bytes())
            .await?;
        let mut lines = BufReader::new(process.stdout.take().context("worker stdout")?).lines();
        let line = lines.next_line().await?.unwrap_or_default();
        anyhow::ensure!(
            line.trim() == "ready",
            "worker said {line:?} instead of ready"
        );
        children.push(Child { process, lines });
    }
    sim.handle.app_state().clear_request_log();
    let virtual_start = sim.handle.now();
    let start = Instant::now();
    for c in &mut children {
        c.process
            .stdin
            .as_mut()
            .context("worker stdin")?
            .write_all(b"go\n")
            .await?;
    }
    let waits = children.into_iter().map(|mut c| async move {
        let mut stats = None;
        while let Some(line) = c.lines.next_line().await? {
            if let Some(json) = line.strip_prefix("stats ") {
                stats = Some(serde_json::from_str::<Stats>(json)?);
            }
        }
        let status = c.process.wait().await?;
        anyhow::ensure!(status.success(), "a worker process failed ({status})");
        stats.context("a worker process printed no stats")
    });
    let all = futures::future::join_all(waits);
    tokio::pin!(all);
    let tick = Duration::from_millis(args.tick_ms);
    let advance = Duration::from_secs(args.advance_secs);
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            () = tokio::time::sleep(tick) => sim.handle.advance(advance).await,
        }
    };
    let wall = start.elapsed();
    let mut stats = Stats::default();
    for r in results {
        stats += r?;
    }
    let virtual_elapsed = sim.handle.now() - virtual_start;

    let census = census(&store).await?;
    let row = sqlx::query(
        "SELECT CAST(SUM(parks) AS BIGINT) AS parks, MAX(attempt) AS max_attempt FROM jobs",
    )
    .fetch_one(store.pool())
    .await?;
    let parks: i64 = row.try_get("parks")?;
    let max_attempt: i64 = row.try_get("max_attempt")?;
    // Counts per route are kept in full; the log of single requests (for their statuses) keeps
    // the last 50,000.
    let counts = sim.handle.app_state().request_counts();
    let count = |graph: bool| -> u64 {
        counts
            .iter()
            .filter(|(key, _)| {
                let route = key.split_once(' ').map_or("", |(_, r)| r);
                let is_graph = route.starts_with("/v1.0/") || route.starts_with("/beta/");
                let is_token = route.contains("/oauth2/");
                if graph { is_graph } else { is_token }
            })
            .map(|(_, n)| *n)
            .sum()
    };
    let graph = count(true);
    let tokens = count(false);
    let log = sim.handle.request_log();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    let floor_us = graph * u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let measured = timer.wait();
    let wait_us = u64::try_from(measured.wait.as_micros()).unwrap_or(u64::MAX);
    let active_us = stats.handler_runs.micros + stats.fetch_per_job_micros + stats.finish.micros;
    let per_job = |us: u64| us as f64 / jobs as f64 / 1000.0;
    let budget_wait_us = stats.budget_wait_micros;
    let client_wait_us = stats.graph_client_micros;
    let overhead_ms = per_job(active_us.saturating_sub(client_wait_us + budget_wait_us));
    let relay_overhead_ms = per_job(active_us.saturating_sub(wait_us + budget_wait_us));
    let store_in_handler_us =
        stats.log.micros + stats.checkpoint.micros + stats.cancel_check.micros;
    store.pool().close().await;
    sim.shutdown().await;

    report::figure(
        "worker processes × concurrency",
        format!("{processes} × {}", args.concurrency),
    );
    report::figure("jobs by final state", format!("{census:?}"));
    report::figure(
        "total time, all jobs",
        format!("{:.1} s", wall.as_secs_f64()),
    );
    report::figure(
        "throughput",
        format!("{:.1} jobs/s", jobs as f64 / wall.as_secs_f64()),
    );
    report::figure(
        "virtual time the simulator's clock moved",
        format!("{:.0} min", virtual_elapsed.as_seconds_f64() / 60.0),
    );
    report::figure(
        "handler runs (first run + resumes after parking)",
        format!(
            "{} ({:.2} per job; {parks} parks in all; most attempts {max_attempt})",
            stats.handler_runs.calls,
            stats.handler_runs.calls as f64 / jobs as f64
        ),
    );
    report::figure(
        "Graph requests (token requests apart)",
        format!(
            "{graph} ({:.1} per job); {tokens} token requests",
            graph as f64 / jobs as f64
        ),
    );
    report::figure(
        "active time per job (fetch + handler runs + finish)",
        format!("{:.1} ms", per_job(active_us)),
    );
    report::figure(
        "Graph wait per job, as the jobs' client saw it (union of its requests)",
        format!(
            "{:.1} ms ({} requests timed)",
            per_job(client_wait_us),
            stats.graph_client_requests
        ),
    );
    report::figure(
        "  as the relay saw it (without the worker-relay hop)",
        format!(
            "{:.1} ms ({} requests of {} jobs through the relay)",
            per_job(wait_us),
            measured.requests,
            measured.runs
        ),
    );
    report::figure(
        &format!(
            "  latency floor per job (requests × {} ms)",
            args.latency_ms
        ),
        format!("{:.1} ms", per_job(floor_us)),
    );
    report::figure(
        "  token requests (no latency injected; in the overhead)",
        format!(
            "{} taking {:.2} ms per job",
            measured.unauthenticated.0,
            measured.unauthenticated.1.as_secs_f64() * 1000.0 / jobs as f64
        ),
    );
    report::figure(
        "  store calls in the handler (log, checkpoint, cancel; may overlap Graph)",
        format!(
            "{:.2} ms ({} writes of log lines alone, {} checkpoints with their lines, {} cancel reads)",
            per_job(store_in_handler_us),
            stats.log.calls,
            stats.checkpoint.calls,
            stats.cancel_check.calls
        ),
    );
    report::figure(
        "  fetch (time each job waited for its fetch)",
        format!(
            "{:.2} ms ({} fetches handed out {} runs)",
            per_job(stats.fetch_per_job_micros),
            stats.fetch_nonempty.calls,
            stats.jobs_fetched
        ),
    );
    report::figure(
        "  finish (fenced outcome + log line + audit record)",
        format!("{:.2} ms", per_job(stats.finish.micros)),
    );
    report::figure(
        "  off the jobs' path: empty fetches and idle-poll reads, heartbeats, maintenance, cancel watch",
        format!(
            "{} / {} / {} / {} calls, {:.0} / {:.0} / {:.0} / {:.0} ms in all",
            stats.fetch_empty.calls,
            stats.heartbeat.calls,
            stats.maintenance.calls,
            stats.cancel_watch.calls,
            stats.fetch_empty.micros as f64 / 1000.0,
            stats.heartbeat.micros as f64 / 1000.0,
            stats.maintenance.micros as f64 / 1000.0,
            stats.cancel_watch.micros as f64 / 1000.0
        ),
    );
    report::figure(
        "mean jobs active at once (Σ active time / total time)",
        format!("{:.1}", active_us as f64 / 1e6 / wall.as_secs_f64()),
    );
    report::figure(
        "throttling: Graph 429 answers; write-budget calls / waits",
        format!(
            "{throttled}; {} / {}",
            stats.budget.calls, stats.budget_waits
        ),
    );
    report::figure(
        "  write-budget store calls per job (in the overhead)",
        format!("{:.2} ms", per_job(stats.budget.micros)),
    );
    report::figure(
        "worker CPU per job (user + system time of the worker processes / jobs)",
        format!("{:.2} ms", per_job(stats.cpu_micros)),
    );
    report::figure(
        "write-budget wait per job (pacing under Graph's write limit)",
        format!("{:.1} ms", per_job(budget_wait_us)),
    );
    report::figure(
        "engine overhead per job ((active − Graph wait − budget wait) / jobs)",
        format!("{overhead_ms:.2} ms"),
    );
    report::figure(
        "  with the relay's Graph wait instead (also charges the worker-relay hop)",
        format!("{relay_overhead_ms:.2} ms"),
    );
    let failed = jobs as i64 - census.get("succeeded").copied().unwrap_or(0);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {jobs} jobs did not succeed: {census:?}"
    );
    Ok(Check::new(
        format!("jobs-assign {title}: engine overhead per job"),
        format!("{overhead_ms:.2} ms"),
        format!("< {TARGET_OVERHEAD_MS} ms"),
        overhead_ms < TARGET_OVERHEAD_MS,
    ))
}

async fn census(store: &SqlStore) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        .fetch_all(store.pool())
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get::<String, _>("state")?, row.try_get("n")?);
    }
    Ok(out)
}
