//! Durable jobs for w365: every change is a recorded job that survives restarts and long waits.
//!
//! - [`JobStore`]: the storage contract, implemented by one SQL store ([`SqlStore`]) on two
//!   backends: **SQLite** (embedded default, one file, nothing to install) and **PostgreSQL**
//!   (several worker and server processes on one database). [`connect`] picks the backend from the
//!   URL and runs the migrations.
//! - [`JobState`]: the state machine, documented once on the enum and enforced by the database
//!   (CHECK constraints, a transition table checked by a trigger, guarded `UPDATE`s).
//! - [`Worker`]: runs a [`Handler`] with leases, heartbeats and fencing; parking of long waits
//!   ([`Finish::Park`]); retries with backoff; cancellation; release of running jobs on shutdown.
//! - [`cron`]: 5-field cron expressions in an IANA time zone; [`JobStore::run_due_schedules`]
//!   inserts each fire once, whatever the number of schedulers.
//! - Per-tenant limits in the database ([`TenantLimits`]): concurrent running jobs and a Graph write
//!   budget (token bucket), shared by every process.
//! - [`audit`]: the append-only audit log, each record carrying the SHA-256 of the previous one.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use w365_jobs::{Finish, Handler, Identity, JobContext, JobState, NewJob, Worker, WorkerConfig};
//!
//! struct Hello;
//!
//! #[async_trait::async_trait]
//! impl Handler for Hello {
//!     async fn run(&self, ctx: &JobContext) -> Finish {
//!         if ctx.log("info", "hello").await.is_err() {
//!             return Finish::Cancelled; // lost the lease: nothing more to write
//!         }
//!         Finish::Succeeded(serde_json::json!({"greeted": ctx.job().input["user"]}))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), w365_jobs::Error> {
//! let store = w365_jobs::connect("sqlite::memory:").await?;
//! let who = Identity { object_id: "1".into(), upn: "alice@contoso.com".into(), display_name: "Alice".into() };
//! let (job, _) = store.insert(NewJob::new("hello", "contoso", serde_json::json!({"user": "bob"}), who)).await?;
//!
//! let mut events = store.subscribe();
//! let worker = Worker::new(store.clone(), Arc::new(Hello), WorkerConfig::default());
//! let until_done = async move {
//!     while let Ok(e) = events.recv().await {
//!         if e == (w365_jobs::JobEvent::State { job: job.id, state: JobState::Succeeded }) {
//!             break;
//!         }
//!     }
//! };
//! worker.run(until_done).await?;
//! let done = store.get(job.id).await?.expect("the job");
//! assert_eq!(done.result, Some(serde_json::json!({"greeted": "bob"})));
//! assert_eq!(store.log(job.id, 0).await?[0].message, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Why not apalis
//! apalis 1.0 (apalis-sqlite, apalis-postgres) was the first candidate. It cannot express three
//! things this engine needs: (1) **parking** — no backend implements `Reschedule`, so a wait of
//! hours would either hold a worker (its retry layer awaits the backoff inside the worker) or burn
//! an attempt; we need "give the attempt back, keep the checkpoint, hold nothing, come back at T";
//! (2) **fencing on every worker-side write** — its ack/retry are fenced by `lock_by` (the worker
//! name), not by a per-fetch lease token, so a worker that lost a job and fetched it again under
//! the same name could still write; checkpoints and log lines are not fenced at all; (3) per-tenant
//! concurrency and write budgets shared across processes, which must be part of the fetch query.
//! So the store follows River's model instead (states enforced in SQL, one-statement fetch with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`
//! under `BEGIN IMMEDIATE` on SQLite, snooze-as-state, a rescuer for expired leases, unique keys for
//! idempotency and cron fires), written here on sqlx 0.9 with runtime queries whose SQL lives in
//! `.sql` files (no database needed to build).
//!
//! # Time
//! All times are taken from the store's [`Clock`] (tests use [`ManualClock`]); in the database they
//! are microseconds since the Unix epoch (UTC) in both backends.

pub mod audit;
mod clock;
pub mod cron;
mod model;
mod store;
mod worker;

pub use audit::{AuditFilter, AuditRecord, AuditVerdict, NewAuditRecord};
pub use clock::{Clock, ManualClock, SystemClock};
pub use model::*;
pub use store::{Backend, ConnectOptions, SqlStore, connect, connect_with};
pub use worker::{Handler, JobContext, Worker, WorkerConfig};

use std::sync::Arc;
use std::time::Duration;

/// Errors of the job store. Messages say what was wrong and what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller no longer holds the job's lease (it expired and was rescued, or the job was
    /// finished by someone else). The write was refused; stop working on the job.
    #[error(
        "lost the lease on job {0}: another worker may own it now; stop working on it (nothing was written)"
    )]
    LostLease(JobId),
    #[error("job {0} not found: check the id (list jobs to see the existing ones)")]
    NotFound(JobId),
    #[error(
        "job {id} cannot go from {from} to {to}: {hint}",
        hint = if from.is_terminal() { "it is already finished" } else { "this transition is not allowed" }
    )]
    IllegalTransition {
        id: JobId,
        from: JobState,
        to: JobState,
    },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a reader can wait on: new log lines and state changes. Events of this process's store
/// arrive at once (an in-process broadcast); on PostgreSQL, events of other processes arrive too
/// (LISTEN/NOTIFY on channel `w365_jobs`). They only say when to look again: read the lines with
/// [`JobStore::log`] and the job with [`JobStore::get`] (and poll as well, since a notification can
/// be lost with a dropped connection; on SQLite other processes' events are not delivered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    Log {
        job: JobId,
        seq: i64,
    },
    State {
        job: JobId,
        state: JobState,
    },
    Inserted {
        job: JobId,
    },
    /// A cancel was requested for a running job: its worker stops it at the next step boundary.
    CancelRequested {
        job: JobId,
    },
}

/// The storage contract. All worker-side calls are fenced by the lease token handed out by
/// [`fetch`](JobStore::fetch): they fail with [`Error::LostLease`] when the caller is no longer the
/// holder, and then write nothing.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    fn clock(&self) -> Arc<dyn Clock>;
    /// Events of this process (log lines, state changes, inserts).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JobEvent>;

    /// Inserts a job. With an idempotency key that belongs to a job not yet finished, nothing is
    /// inserted and that job is returned with `false`.
    async fn insert(&self, job: NewJob) -> Result<(Job, bool)>;
    async fn get(&self, id: JobId) -> Result<Option<Job>>;
    /// One page of the matching jobs in `filter.sort` order (newest first by default), from
    /// `filter.offset` or, newest first only, continuing from a previous page's `next_cursor`.
    async fn list(&self, filter: &JobFilter) -> Result<Page<Job>>;
    /// How many jobs match `filter` in all (its order, page and cursor aside).
    async fn count(&self, filter: &JobFilter) -> Result<u64>;
    /// Queued (scheduled, available, retryable) or parked: cancelled at once. Running: the
    /// request is recorded (`cancel_requested_at`) and the handler sees it at its next step
    /// boundary ([`JobContext::cancel_requested`]). Finished: [`Error::IllegalTransition`].
    async fn cancel(&self, id: JobId) -> Result<Job>;
    /// Log lines with `seq > after_seq`, in order; readable while the job runs.
    async fn log(&self, id: JobId, after_seq: i64) -> Result<Vec<LogLine>>;

    /// Takes up to `max` available jobs (respecting each tenant's `max_running`), marks them
    /// running with a fresh lease token and `lease` to live. Due scheduled, retryable and parked
    /// jobs are made available first.
    async fn fetch(&self, worker: &str, max: u32, lease: Duration) -> Result<Vec<Leased>>;
    /// Extends the lease; returns whether a cancel was requested.
    async fn heartbeat(&self, l: &Leased, lease: Duration) -> Result<bool>;
    /// Appends one line (its own transaction). Workers buffer their lines instead and write
    /// them with [`write_progress`](JobStore::write_progress).
    async fn append_log(&self, l: &Leased, level: &str, message: &str) -> Result<i64>;
    async fn save_checkpoint(&self, l: &Leased, checkpoint: &serde_json::Value) -> Result<()>;
    /// Appends `lines` (in order, seqs taken from the job) and, when given, saves the
    /// checkpoint, in one fenced transaction; reads the cancel request in it too. This is the
    /// worker's one write per step boundary: a step's log lines land with its checkpoint.
    async fn write_progress(
        &self,
        l: &Leased,
        lines: &[NewLogLine],
        checkpoint: Option<&serde_json::Value>,
        durability: Durability,
    ) -> Result<Written>;
    /// Whether a cancel was requested for this leased job (fenced).
    async fn cancel_requested(&self, l: &Leased) -> Result<bool>;
    /// Whether a [`fetch`](Self::fetch) now would find anything (a due job to promote, or an
    /// available job of a tenant with room): a read, for a worker's idle polls, so that they take
    /// no lock when there is nothing to take.
    async fn work_ready(&self) -> Result<bool>;
    /// The running jobs leased by `worker` whose cancel was requested (one read for all of a
    /// worker's jobs: its cancel watch asks this, so step boundaries need not).
    async fn cancels_requested(&self, worker: &str) -> Result<Vec<JobId>>;
    async fn finish(&self, l: &Leased, outcome: Finish) -> Result<Job>;
    /// Writes the worker's last buffered `lines` and its staged `checkpoint` (when given), then
    /// finishes, in one transaction.
    async fn finish_with_log(
        &self,
        l: &Leased,
        outcome: Finish,
        lines: &[NewLogLine],
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<Job>;
    /// Gives a running job back (running → available, attempt returned), e.g. on shutdown.
    async fn release(&self, l: &Leased) -> Result<Job>;

    /// Moves due scheduled, retryable and parked jobs to available; returns how many.
    async fn promote(&self) -> Result<u64>;
    /// The rescuer: running jobs whose lease expired become retryable (or failed when their
    /// attempts are used up, cancelled when a cancel was requested).
    async fn rescue(&self) -> Result<Vec<Job>>;

    async fn tenant_limits(&self, tenant: &str) -> Result<TenantLimits>;
    /// Sets a tenant's limits; the tenant `"*"` holds the defaults for tenants without their own.
    async fn set_tenant_limits(&self, tenant: &str, limits: TenantLimits) -> Result<()>;
    /// Takes `n` writes from the tenant's Graph write budget (a token bucket shared by every
    /// process), or says how long to wait until `n` are available.
    async fn take_write_budget(&self, tenant: &str, n: u32) -> Result<BudgetGrant>;

    /// Appends a record (callers write "submitted", "refused", "cancel requested"...). The store
    /// itself appends each job's "finished" record (outcome = the terminal state, actor = the
    /// requester) in the transaction that finishes the job, so it is written exactly once.
    async fn audit_append(&self, rec: NewAuditRecord) -> Result<AuditRecord>;
    async fn audit_list(&self, filter: &AuditFilter) -> Result<Page<AuditRecord>>;
    async fn audit_verify(&self) -> Result<AuditVerdict>;

    async fn schedule_upsert(&self, spec: ScheduleSpec) -> Result<Schedule>;
    async fn schedule_list(&self) -> Result<Vec<Schedule>>;
    async fn schedule_delete(&self, name: &str) -> Result<bool>;
    /// Inserts one job per due schedule fire (once across all schedulers) and advances the
    /// schedules; returns the jobs this call inserted.
    async fn run_due_schedules(&self) -> Result<Vec<Job>>;

    /// Records a portal sign-in in progress (and forgets expired ones).
    async fn portal_signin_put(&self, signin: &PortalSignIn) -> Result<()>;
    /// Removes and returns the sign-in with this key (each is used at most once); `None` when
    /// unknown or expired.
    async fn portal_signin_take(&self, key_hash: &str) -> Result<Option<PortalSignIn>>;
    /// Stores a new portal session (and forgets expired ones).
    async fn portal_session_put(&self, session: &PortalSession) -> Result<()>;
    /// The session with this id hash, unless unknown or expired.
    async fn portal_session_get(&self, id_hash: &str) -> Result<Option<PortalSession>>;
    /// Sets the session's current tenant; `false` when the session is unknown or expired.
    async fn portal_session_set_tenant(&self, id_hash: &str, tenant: &str) -> Result<bool>;
    /// Ends a session (sign out); whether it existed.
    async fn portal_session_delete(&self, id_hash: &str) -> Result<bool>;
}
