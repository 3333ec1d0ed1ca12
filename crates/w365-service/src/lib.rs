//! Operations as durable jobs: [`OpsHandler`] implements [`w365_jobs::Handler`] by running the
//! operations of `w365-ops` in job mode ([`w365_ops::resume`]).
//!
//! A crate of its own, with no HTTP in it, because it is the one place that knows both sides:
//! `w365-ops` stays free of the job store (and of sqlx: nothing in the operations knows which front
//! end started them), `w365-jobs` stays free of Graph, and both front ends that run workers — the
//! CLI's `w365 worker` and the server's `w365 serve` — use this same handler.
//!
//! For each job the handler:
//! 1. finds the operation's declaration and the tenant's profile, and validates the input again
//!    (the server validated it on submission; the worker never trusts stored input);
//! 2. takes a Graph client for the job's tenant (its profile, or the sandbox simulator): one per
//!    tenant shares connections and the access token across runs, each run counts its own
//!    requests and names its job in the User-Agent;
//! 3. plans on the first run, then executes with a checkpoint after every step (written before
//!    and after a step that runs at most once, such as a mail; staged after the others, and
//!    written with the next write of the job); a long wait returns [`Finish::Park`], whose
//!    transaction writes the staged checkpoint, and the next run resumes where it stopped;
//!    The policy operations (`policy.*`, `user-settings.*`) plan and execute through
//!    [`w365_ops::policy::job`], the code of `w365 policy` / `w365 user-settings`, without a
//!    checkpoint: every change is idempotent, so a retried run plans again and finds what is done;
//! 4. writes the executor's progress events as job log lines;
//! 5. returns the CLI's JSON result document (`--output json`), or maps the error: Graph
//!    unavailable → retry with backoff; anything else (validation, not found, out of licences,
//!    permission, timeout...) → failed, with the document so far.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud, RetryPolicy, TenantStats, WriteGate};
use w365_jobs::{BudgetGrant, Finish, Handler, JobContext};
use w365_ops::bulk::unassign::BulkUnassignOptions;
use w365_ops::bulk::{self, BulkOptions, BulkReport, JournalState};
use w365_ops::execute::{Event, Observer, StepOutcome};
use w365_ops::profile::{ConfigFile, Profile};
use w365_ops::resume::{
    self, Checkpoint, CheckpointSink, JobRun, JobSettings, ResumeOptions, document, error_object,
};
use w365_ops::spec;
use w365_ops::wait::human_duration;
use w365_ops::{ErrorKind, Waits};

const USER_AGENT: &str = concat!("w365/", env!("CARGO_PKG_VERSION"), " (worker)");

/// The tenant name of the sandbox.
pub const SANDBOX: &str = "sandbox";

/// How to reach a tenant's Graph.
#[derive(Clone)]
pub struct Connection {
    pub cloud: Cloud,
    pub credential: Credential,
    pub waits: Waits,
    pub profile: Profile,
}

/// Tuning of the handler.
#[derive(Debug, Clone, Default)]
pub struct HandlerOptions {
    pub resume: ResumeOptions,
    /// Every wait polls at this interval (simulators and tests; `W365_POLL_INTERVAL_MS`).
    pub poll_interval: Option<Duration>,
    /// Graph client retries (default: the client's own policy).
    pub retry: Option<RetryPolicy>,
}

/// Runs w365 operations as jobs.
pub struct OpsHandler {
    config: ConfigFile,
    sandbox: Option<Connection>,
    options: HandlerOptions,
    /// One Graph client per tenant, shared by the job runs (connection pool and token cache),
    /// with when it was built: see [`CLIENT_REFRESH`].
    clients: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Client)>>,
    /// Each tenant's write budget in the job store, as the runs' Graph write gate.
    gates: std::sync::Mutex<std::collections::HashMap<String, Arc<StoreWriteGate>>>,
    /// Time the runs of this handler waited for write budgets, in µs (see
    /// [`OpsHandler::write_budget_waited`]).
    budget_waited_us: Arc<std::sync::atomic::AtomicU64>,
    /// The Graph traffic of the runs per tenant (see [`OpsHandler::with_graph_stats`]).
    graph_stats: TenantStats,
}

/// A tenant's shared Graph client is built again after this long, so a rotated credential in
/// the config file or its secret store is picked up without restarting the worker.
pub const CLIENT_REFRESH: Duration = Duration::from_secs(30 * 60);

/// A job that cannot run as stored: refused, never retried.
struct Refusal {
    kind: &'static str,
    message: String,
    fix: String,
    problems: Vec<spec::Problem>,
}

impl Refusal {
    fn finish(self) -> Finish {
        Finish::Failed {
            error: json!({
                "kind": self.kind,
                "message": self.message,
                "hint": self.fix,
                "problems": self.problems,
            }),
            result: None,
        }
    }
}

impl OpsHandler {
    /// Tenants come from the config file's profiles.
    pub fn new(config: ConfigFile, options: HandlerOptions) -> Self {
        Self {
            config,
            sandbox: None,
            options,
            clients: Default::default(),
            gates: Default::default(),
            budget_waited_us: Default::default(),
            graph_stats: TenantStats::default(),
        }
    }

    /// Counts every run's Graph requests, retries and 429s into `stats` by tenant (the server's
    /// `/metrics` reads them). The counts survive the tenant's client being rebuilt.
    pub fn with_graph_stats(mut self, stats: TenantStats) -> Self {
        self.graph_stats = stats;
        self
    }

    /// The Graph traffic of this handler's runs per tenant (a handle sharing the counters).
    pub fn graph_stats(&self) -> TenantStats {
        self.graph_stats.clone()
    }

    /// Jobs of the tenant [`SANDBOX`] go to this simulator (the sandbox's waits, its profile).
    pub fn with_sandbox(mut self, cloud: Cloud, credential: Credential) -> Self {
        self.sandbox = Some(Connection {
            cloud,
            credential,
            waits: Waits::sandbox(),
            profile: Profile::sandbox(),
        });
        self
    }

    /// How the job's tenant is reached.
    pub fn connection(&self, tenant: &str) -> Result<Connection, (String, String)> {
        if tenant == SANDBOX {
            return self.sandbox.clone().ok_or_else(|| {
                (
                    "this worker has no sandbox".to_owned(),
                    "run the sandbox's jobs with a worker started with --sandbox".to_owned(),
                )
            });
        }
        let Some(profile) = self.config.tenants.get(tenant) else {
            let known: Vec<&str> = self.config.tenants.keys().map(String::as_str).collect();
            return Err((
                format!("no tenant profile named '{tenant}' in this worker's config file"),
                format!(
                    "add [tenants.{tenant}] to the config file of every worker (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        let fix = || "fix the tenant profile in the worker's config file".to_owned();
        Ok(Connection {
            cloud: profile
                .resolve_cloud()
                .map_err(|e| (e.to_string(), fix()))?,
            credential: profile
                .resolve_credential(tenant)
                .map_err(|e| (e.to_string(), fix()))?,
            waits: Waits::realistic(),
            profile: profile.clone(),
        })
    }

    /// The tenant's shared Graph client, built on first use and again after [`CLIENT_REFRESH`].
    fn tenant_client(&self, tenant: &str, conn: &Connection) -> Result<Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, client)) = clients.get(tenant)
            && built.elapsed() < CLIENT_REFRESH
        {
            return Ok(client.clone());
        }
        let mut builder = Client::builder()
            .cloud(conn.cloud.clone())
            .credential(conn.credential.clone())
            .user_agent(USER_AGENT)
            .count_into(self.graph_stats.tenant(tenant));
        if let Some(retry) = &self.options.retry {
            builder = builder.retry(retry.clone());
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        clients.insert(
            tenant.to_owned(),
            (std::time::Instant::now(), client.clone()),
        );
        Ok(client)
    }

    /// The run's gate on its tenant's write budget, shared by every worker on the store.
    fn write_gate(&self, ctx: &JobContext) -> Arc<RunWriteGate> {
        let tenant = &ctx.job().tenant;
        let shared = self
            .gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(StoreWriteGate {
                    store: ctx.store().clone(),
                    tenant: tenant.clone(),
                    reserve: tokio::sync::Mutex::new(0),
                })
            })
            .clone();
        Arc::new(RunWriteGate {
            shared,
            writes: Default::default(),
            waited_us: Default::default(),
            total_waited_us: self.budget_waited_us.clone(),
        })
    }

    /// How long the runs of this handler have waited, in all, for their tenants' write budgets
    /// (deliberate pacing under Graph's write limits, not work).
    pub fn write_budget_waited(&self) -> Duration {
        Duration::from_micros(
            self.budget_waited_us
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn waits(&self, mut waits: Waits) -> Waits {
        if let Some(every) = self.options.poll_interval {
            for p in [
                &mut waits.memberships,
                &mut waits.license,
                &mut waits.cloud_pc_appears,
                &mut waits.provisioning,
            ] {
                p.initial_interval = every;
                p.max_interval = every;
                p.second_check_after = Duration::ZERO;
            }
        }
        waits
    }

    async fn run_job(&self, ctx: &JobContext) -> Result<Finish, Refusal> {
        let job = ctx.job();
        let spec = spec::operation(&job.operation).ok_or_else(|| Refusal {
            kind: "refusedByValidation",
            message: format!("no operation named '{}' is declared", job.operation),
            fix: format!(
                "submit one of: {}",
                spec::operations()
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            problems: vec![],
        })?;
        let conn = self
            .connection(&job.tenant)
            .map_err(|(message, fix)| Refusal {
                kind: "usage",
                message,
                fix,
                problems: vec![],
            })?;
        let values: Map<String, Value> = job.input.as_object().cloned().unwrap_or_default();
        let input =
            spec::validate(spec, &values, Some(&conn.profile)).map_err(|problems| Refusal {
                kind: "refusedByValidation",
                message: format!("{} refused: {}", spec.name, spec::describe(&problems)),
                fix: "submit the job again with the problems fixed".into(),
                problems,
            })?;
        let gate = self.write_gate(ctx);
        // The run's own client (its own request counts), on the tenant's shared connections
        // and token; the job id in its User-Agent shows in the tenant's Graph activity logs.
        let client = self
            .tenant_client(&job.tenant, &conn)
            .map_err(|e| Refusal {
                kind: "usage",
                message: format!("could not build the Graph client for '{}': {e}", job.tenant),
                fix: "fix the tenant profile in the worker's config file".into(),
                problems: vec![],
            })?
            .scoped(format!("{USER_AGENT} job/{}", job.id), Some(gate.clone()));
        let who = &job.requested_by;
        let settings = JobSettings {
            waits: self.waits(conn.waits),
            caller: if who.display_name.trim().is_empty() {
                who.upn.clone()
            } else {
                format!("{} ({})", who.display_name, who.upn)
            },
            profile: Some(conn.profile.clone()),
        };

        if spec.name.ends_with(".bulk") {
            let finish = run_bulk(
                ctx,
                &client,
                &input,
                &settings,
                &spec.cli.join(" "),
                self.options.resume.inline_wait,
            )
            .await;
            gate.report(ctx);
            return Ok(finish);
        }
        if w365_ops::policy::job::operation(&spec.name).is_some() {
            let observer = LogObserver { ctx };
            let (body, error) = w365_ops::policy::job::run(&client, &input, &observer).await;
            let command = spec.cli.join(" ");
            gate.report(ctx);
            return Ok(match error {
                None => Finish::Succeeded(document(&command, &job.tenant, &body, None)),
                Some(e) => finish_with_error(ctx, &command, &body, &e).await,
            });
        }
        let observer = LogObserver { ctx };
        let sink = StoreSink { ctx };
        let run = resume::run_operation(
            &client,
            &input,
            &settings,
            &job.checkpoint,
            &observer,
            &self.options.resume,
            &sink,
        )
        .await;
        let command = spec.cli.join(" ");
        gate.report(ctx);
        Ok(match run {
            Err(e) => Finish::Retry {
                at: None,
                error: json!({"kind": "unexpected", "message": e.to_string()}),
            },
            Ok(JobRun::Parked { until, reason }) => {
                let _ = ctx.log("info", &format!("parked: {reason}")).await;
                Finish::Park { until, reason }
            }
            Ok(JobRun::Cancelled { .. }) => {
                let _ = ctx
                    .log(
                        "warn",
                        "cancelled at a step boundary; the steps done so far stay done",
                    )
                    .await;
                Finish::Cancelled
            }
            Ok(JobRun::Done { body, error: None }) => {
                Finish::Succeeded(document(&command, &job.tenant, &body, None))
            }
            Ok(JobRun::Done {
                body,
                error: Some(e),
            }) => finish_with_error(ctx, &command, &body, &e).await,
        })
    }
}

#[async_trait::async_trait]
impl Handler for OpsHandler {
    async fn run(&self, ctx: &JobContext) -> Finish {
        match self.run_job(ctx).await {
            Ok(finish) => finish,
            Err(refusal) => {
                let _ = ctx.log("error", &refusal.message).await;
                refusal.finish()
            }
        }
    }
}

/// Writes taken from the store's budget at once: the rest is spent by this process's next
/// writes for the tenant, so a job's few writes cost a store transaction only every few jobs.
/// At most this many writes are held by one process and not yet sent.
pub const WRITE_BUDGET_CHUNK: u32 = 10;

/// A writer that finds the budget dry waits for a whole chunk when that takes at most this much
/// longer than waiting for its own write.
const CHUNK_WAIT_MAX: Duration = Duration::from_secs(1);

/// A tenant's Graph write budget, kept in the job store ([`w365_jobs::JobStore::take_write_budget`]:
/// one token bucket per tenant shared by every worker process, under Graph's published write
/// limits, see [`w365_jobs::TenantLimits::GRAPH_DEFAULT`]), as the write gate of the tenant's
/// Graph clients: every directory write a job sends, resends and `$batch` items included, is
/// taken from it first; when the bucket is empty the write waits for its refill.
struct StoreWriteGate {
    store: Arc<dyn w365_jobs::JobStore>,
    tenant: String,
    /// Writes taken from the store and not spent yet; the lock makes this process's writers for
    /// the tenant take turns.
    reserve: tokio::sync::Mutex<u32>,
}

impl StoreWriteGate {
    /// Takes `writes` from the budget; returns how long the caller was held up by it: waiting
    /// for its turn (behind a writer that waits for the refill) and for the refill, not counting
    /// its own calls to the store.
    async fn take(&self, writes: u32) -> Duration {
        let started = std::time::Instant::now();
        let mut in_store = Duration::ZERO;
        let mut reserve = self.reserve.lock().await;
        let held_up = |in_store: Duration| started.elapsed().saturating_sub(in_store);
        if *reserve >= writes {
            *reserve -= writes;
            return held_up(in_store);
        }
        let need = writes - *reserve;
        let chunk = need.max(WRITE_BUDGET_CHUNK);
        let mut take = chunk;
        // When a whole chunk will be there, as the store said the last time it was asked.
        let mut chunk_at: Option<tokio::time::Instant> = None;
        loop {
            let asked = std::time::Instant::now();
            let answer = self.store.take_write_budget(&self.tenant, take).await;
            in_store += asked.elapsed();
            match answer {
                Ok(BudgetGrant::Granted) => {
                    *reserve = *reserve + take - writes;
                    return held_up(in_store);
                }
                // Not a whole chunk left: take only what this write needs.
                Ok(BudgetGrant::Wait(wait)) if take > need => {
                    chunk_at = Some(tokio::time::Instant::now() + wait);
                    take = need;
                }
                Err(w365_jobs::Error::Invalid(_)) if take > need => take = need,
                Ok(BudgetGrant::Wait(wait)) => {
                    // The bucket is dry. Waiting for a whole chunk costs the same in all (the
                    // refill paces every write) and asks the store once per chunk, not once per
                    // write; unless the refill is so slow that the chunk is far off.
                    let now = tokio::time::Instant::now();
                    let until = match chunk_at.take() {
                        Some(at) if at > now + wait && at <= now + wait + CHUNK_WAIT_MAX => {
                            take = chunk;
                            at
                        }
                        _ => now + wait,
                    };
                    tracing::debug!(tenant = %self.tenant, wait_ms = until.saturating_duration_since(tokio::time::Instant::now()).as_millis() as u64, "waiting for the tenant's Graph write budget");
                    tokio::time::sleep_until(until).await;
                }
                Err(e) => {
                    // The store cannot say: send (Graph's own 429s are still honoured).
                    tracing::warn!(tenant = %self.tenant, error = %e, "the write budget could not be read; sending without it");
                    return held_up(in_store);
                }
            }
        }
    }
}

/// One run's gate: takes from the tenant's [`StoreWriteGate`] and counts what the run took and
/// how long it waited, for the job's log and [`OpsHandler::write_budget_waited`].
struct RunWriteGate {
    shared: Arc<StoreWriteGate>,
    writes: std::sync::atomic::AtomicU64,
    waited_us: std::sync::atomic::AtomicU64,
    total_waited_us: Arc<std::sync::atomic::AtomicU64>,
}

#[async_trait::async_trait]
impl WriteGate for RunWriteGate {
    async fn acquire(&self, writes: u32) {
        use std::sync::atomic::Ordering::Relaxed;
        let held_up = self.shared.take(writes).await;
        let us = u64::try_from(held_up.as_micros()).unwrap_or(u64::MAX);
        self.writes.fetch_add(u64::from(writes), Relaxed);
        self.waited_us.fetch_add(us, Relaxed);
        self.total_waited_us.fetch_add(us, Relaxed);
    }
}

impl RunWriteGate {
    /// Says in the job's log how long the run waited for the write budget, if it was noticeable.
    fn report(&self, ctx: &JobContext) {
        use std::sync::atomic::Ordering::Relaxed;
        let waited = Duration::from_micros(self.waited_us.load(Relaxed));
        if waited < Duration::from_millis(100) {
            return;
        }
        let _ = ctx.push_log(
            "info",
            &format!(
                "waited {} in all for {}'s Graph write budget ({} directory writes; it keeps the tenant under Graph's write limit)",
                human_duration(waited),
                ctx.job().tenant,
                self.writes.load(Relaxed)
            ),
        );
    }
}

/// Where a bulk job keeps its journal in the job's checkpoint.
const BULK_JOURNAL: &str = "bulkJournal";
/// Where an `assign.bulk` job with notify keeps its Cloud PC wait's cursor between runs.
const BULK_NOTIFY: &str = "bulkNotify";

/// Runs `assign.bulk` and `unassign.bulk`: the bulk planners and executors of
/// `w365 assign|unassign --from`, with the journal in
/// the job's checkpoint (each entry saved before the run goes on: a resumed job does nothing
/// twice), each row's outcome as a log line and the rows in the result document.
///
/// With `notify`, the wait for the rows' Cloud PCs parks the job between checks (no worker
/// held): the cursor of the wait goes into the checkpoint beside the journal, and the resumed run
/// plans again (reads only: what is done is found done), sends the mails still due (each one
/// journaled, with a barrier checkpoint, before it is sent) and parks again until every row is
/// mailed or the wait times out.
async fn run_bulk(
    ctx: &JobContext,
    client: &Client,
    input: &spec::ValidatedInput,
    settings: &JobSettings,
    command: &str,
    inline_wait: Duration,
) -> Finish {
    let job = ctx.job();
    let refuse = |message: String, fix: &str| Refusal {
        kind: "refusedByValidation",
        message,
        fix: fix.to_owned(),
        problems: vec![],
    };
    let parsed = match bulk::input::read_text(input.str("rows").unwrap_or_default(), "rows") {
        Ok(p) => p,
        Err(e) => {
            return refuse(e.to_string(), "submit the job again with the file fixed").finish();
        }
    };
    let saved_journal = job.checkpoint.get(BULK_JOURNAL).cloned();
    let journal = JournalState::from_value(saved_journal.as_ref().unwrap_or(&Value::Null));
    let saved_cursor = job.checkpoint.get(BULK_NOTIFY).cloned();
    let cursor: Option<bulk::NotifyCursor> = saved_cursor
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let pacer = w365_graph::WritePacer::default;
    let strict = input.bool("strict");
    let observer = LogObserver { ctx };
    let sink = BulkSink {
        ctx,
        journal: std::sync::Mutex::new(saved_journal.unwrap_or(Value::Null)),
        notify: saved_cursor.unwrap_or(Value::Null),
    };
    let empty_rows = parsed.empty_rows.clone();
    let run = if input.operation == "unassign.bulk" {
        let mut base = input.unassign_options();
        base.waits = settings.waits;
        let opts = BulkUnassignOptions {
            base,
            strict,
            journal: None,
            pacer: pacer(),
        };
        async {
            let plan =
                bulk::unassign::plan_in_job(client, &opts, parsed, journal, &observer).await?;
            bulk::unassign::execute_in_job(client, &opts, plan, &sink, &observer, &()).await
        }
        .await
        .map(|r| {
            bulk::BulkJobRun::Done(BulkReport {
                rows: r.rows,
                capacity: vec![],
                ticket_sent_to: None,
                graph_requests: r.graph_requests,
            })
        })
    } else {
        let mut base = input.assign_options(settings.caller.clone());
        base.waits = settings.waits;
        input.apply_wait_timeout(&mut base.waits);
        let opts = BulkOptions {
            base,
            strict,
            journal: None,
            pacer: pacer(),
        };
        async {
            let plan = bulk::plan_in_job(client, &opts, parsed, journal, &observer).await?;
            bulk::execute_in_job(
                client,
                &opts,
                plan,
                &sink,
                cursor,
                inline_wait,
                &observer,
                &(),
            )
            .await
        }
        .await
    };
    match run {
        Ok(bulk::BulkJobRun::Parked {
            until,
            reason,
            cursor,
        }) => {
            // Written with the park: the journal as last saved, and where the wait stands.
            let checkpoint = json!({
                BULK_JOURNAL: sink.journal(),
                BULK_NOTIFY: cursor,
            });
            if let Err(e) = ctx.stage_checkpoint(checkpoint) {
                let _ = ctx
                    .log("warn", &format!("could not keep the wait's cursor: {e}"))
                    .await;
            }
            let _ = ctx.log("info", &format!("parked: {reason}")).await;
            Finish::Park { until, reason }
        }
        Ok(bulk::BulkJobRun::Done(report)) => {
            for r in &report.rows {
                let level = match r.outcome {
                    bulk::Outcome::Failed => "error",
                    bulk::Outcome::Invalid | bulk::Outcome::Blocked => "warn",
                    _ => "info",
                };
                let detail = if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                };
                let line = format!("row {} {}: {}{detail}", r.row, r.user, r.outcome.as_str());
                if ctx.log(level, &line).await.is_err() {
                    break;
                }
            }
            let body = json!({
                "rows": report.rows,
                "emptyRows": empty_rows,
                "capacity": report.capacity,
                "ticketSentTo": report.ticket_sent_to,
                "graphRequests": report.graph_requests,
            });
            Finish::Succeeded(document(command, &job.tenant, &body, None))
        }
        Err(e) => finish_with_error(ctx, command, &json!({}), &e).await,
    }
}

/// A run that ended in an error: logged; Graph unavailable (429/503/504 kept coming, or it could
/// not be reached) → retry later; anything else → failed, with the document so far.
async fn finish_with_error(
    ctx: &JobContext,
    command: &str,
    body: &Value,
    e: &w365_ops::Error,
) -> Finish {
    let _ = ctx.log("error", &e.to_string()).await;
    if e.kind() == ErrorKind::Unavailable {
        Finish::Retry {
            at: None,
            error: error_object(e),
        }
    } else {
        Finish::Failed {
            error: error_object(e),
            result: Some(document(command, &ctx.job().tenant, body, Some(e))),
        }
    }
}

/// Saves a bulk job's journal through the job's lease, beside the Cloud PC wait's cursor the run
/// started with (a save replaces the whole checkpoint).
struct BulkSink<'a> {
    ctx: &'a JobContext,
    /// The journal as last saved (or as the run found it).
    journal: std::sync::Mutex<Value>,
    notify: Value,
}

impl BulkSink<'_> {
    fn journal(&self) -> Value {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl bulk::JournalSink for BulkSink<'_> {
    fn save<'a>(
        &'a self,
        journal: Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let mut checkpoint = json!({ BULK_JOURNAL: journal });
            if !self.notify.is_null() {
                checkpoint[BULK_NOTIFY] = self.notify.clone();
            }
            self.ctx
                .checkpoint(&checkpoint)
                .await
                .map_err(|e| e.to_string())?;
            *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = journal;
            Ok(())
        })
    }
}

/// Saves checkpoints through the job's lease (fenced: a worker that lost the job cannot write).
struct StoreSink<'a> {
    ctx: &'a JobContext,
}

impl CheckpointSink for StoreSink<'_> {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let value = serde_json::to_value(checkpoint).map_err(|e| e.to_string())?;
        self.ctx.checkpoint(&value).await.map_err(|e| e.to_string())
    }

    async fn save_soon(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let value = serde_json::to_value(checkpoint).map_err(|e| e.to_string())?;
        self.ctx.stage_checkpoint(value).map_err(|e| e.to_string())
    }

    async fn cancel_requested(&self) -> bool {
        self.ctx.cancel_requested().await.unwrap_or(false)
    }
}

/// Turns the executor's progress events into job log lines (buffered by the job context and
/// written with the step's checkpoint).
struct LogObserver<'a> {
    ctx: &'a JobContext,
}

impl Observer for LogObserver<'_> {
    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Planning { what } => ("info", format!("planning: {what}")),
            Event::StepStarted { index, total, step } => {
                ("info", format!("step {}/{total}: {step}", index + 1))
            }
            Event::StepFinished {
                index,
                total,
                outcome,
                ..
            } => {
                let level = match outcome {
                    StepOutcome::Failed { .. } => "error",
                    StepOutcome::TimedOut { .. } => "warn",
                    StepOutcome::Skipped { reason } if reason.starts_with("outcome unknown") => {
                        "warn"
                    }
                    _ => "info",
                };
                (
                    level,
                    format!(
                        "step {}/{total} {}: {}",
                        index + 1,
                        outcome.label(),
                        outcome.detail()
                    ),
                )
            }
            Event::Waiting(tick) => (
                "info",
                format!(
                    "waiting for {}{} (check {}, next in {})",
                    tick.what,
                    tick.state.map(|s| format!(": {s}")).unwrap_or_default(),
                    tick.checks,
                    human_duration(tick.next_check_in)
                ),
            ),
            Event::Note(text) => ("info", (*text).to_owned()),
            _ => return,
        };
        // Lost the lease: the run stops at its next checkpoint; the line is dropped.
        let _ = self.ctx.push_log(line.0, &line.1);
    }
}

/// A shared handler, as a worker takes it.
pub fn handler(config: ConfigFile, options: HandlerOptions) -> Arc<OpsHandler> {
    Arc::new(OpsHandler::new(config, options))
}
