//! The SQL job store: one implementation over sqlx's `Any` driver, with SQL files per backend
//! where SQLite and PostgreSQL differ (fetch, row locks) and shared files where they do not.
//!
//! Writes on SQLite run in `BEGIN IMMEDIATE` transactions (one writer at a time, so a read-then-
//! write never races); on PostgreSQL, statements that read-then-write take a transaction-scoped
//! advisory lock (fetch, audit append) or a row lock (write budget).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Connection, Executor, Row, SqlSafeStr};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::audit::{self, AuditFilter, AuditRecord, AuditVerdict, NewAuditRecord, StoredFields};
use crate::cron::CronSchedule;
use crate::{
    BudgetGrant, Clock, Durability, Error, Finish, Identity, Job, JobEvent, JobFilter, JobId,
    JobSort, JobState, JobStore, JobTemplate, Leased, LogLine, NewJob, NewLogLine, Page,
    PortalSession, PortalSignIn, Result, Schedule, ScheduleSpec, SystemClock, TenantLimits,
    Written,
};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

macro_rules! common {
    ($name:literal) => {
        include_str!(concat!("../sql/common/", $name, ".sql"))
    };
}

struct Sql {
    fetch: &'static str,
    insert_lines: &'static str,
    /// The statement serializing the audit chain's read-then-write ("" for SQLite, where BEGIN
    /// IMMEDIATE already makes every write transaction exclusive).
    audit_lock: &'static str,
    begin: &'static str,
    /// Makes the transaction's commit [`Durability::Soon`] ("" where commits already are).
    commit_soon: &'static str,
    /// PostgreSQL: a [`Durability::Soon`] transaction's beginning, and a fetch's (the promotion is
    /// added to it), each one simple query: one round trip to the server instead of one per
    /// statement ("" for SQLite, whose writes begin on the writer connection). A fetch reads
    /// per-tenant running counts, then updates: its lock lets one fetcher at a time do so.
    begin_soon: &'static str,
    begin_fetch: &'static str,
}

const SQLITE: Sql = Sql {
    fetch: include_str!("../sql/sqlite/fetch.sql"),
    insert_lines: include_str!("../sql/sqlite/insert_lines.sql"),
    audit_lock: "",
    begin: "BEGIN IMMEDIATE",
    // WAL with synchronous = NORMAL: no commit waits for the disk.
    commit_soon: "",
    begin_soon: "",
    begin_fetch: "",
};

const POSTGRES: Sql = Sql {
    fetch: concat!(
        include_str!("../sql/common/fetch_free.sql"),
        include_str!("../sql/postgres/fetch.sql")
    ),
    insert_lines: include_str!("../sql/postgres/insert_lines.sql"),
    // Audit append reads the last hash, then inserts: one appender at a time (taken last, after
    // any job row lock, so lock order never cycles).
    audit_lock: "SELECT pg_advisory_xact_lock(7236500012)",
    begin: "BEGIN",
    // https://www.postgresql.org/docs/current/wal-async-commit.html: the commit returns before
    // its WAL is flushed; a server crash may lose the last such transactions (by default at most
    // three times wal_writer_delay, 600 ms), never corrupting the database or reordering them.
    commit_soon: "SET LOCAL synchronous_commit = off",
    begin_soon: "BEGIN; SET LOCAL synchronous_commit = off",
    begin_fetch: "BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock(7236500011)",
};

const MIGRATIONS_SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "jobs",
        include_str!("../migrations/sqlite/0001_jobs.sql"),
    ),
    (
        2,
        "portal_sessions",
        include_str!("../migrations/sqlite/0002_portal_sessions.sql"),
    ),
];
const MIGRATIONS_POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "jobs",
        include_str!("../migrations/postgres/0001_jobs.sql"),
    ),
    (
        2,
        "portal_sessions",
        include_str!("../migrations/postgres/0002_portal_sessions.sql"),
    ),
    (
        3,
        "write_budget_take",
        include_str!("../migrations/postgres/0003_write_budget_take.sql"),
    ),
];

/// Options for [`connect_with`].
#[derive(Clone)]
pub struct ConnectOptions {
    pub clock: Arc<dyn Clock>,
    /// Pool size (default 8).
    pub max_connections: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            max_connections: 8,
        }
    }
}

/// Connects to `sqlite://PATH?mode=rwc` (or `sqlite::memory:` for a throwaway store) or
/// `postgres://USER@HOST/DB`, and runs the migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn JobStore>> {
    Ok(Arc::new(
        SqlStore::connect(url, ConnectOptions::default()).await?,
    ))
}

/// [`connect`] with a clock (tests) and pool size.
pub async fn connect_with(url: &str, opts: ConnectOptions) -> Result<Arc<dyn JobStore>> {
    Ok(Arc::new(SqlStore::connect(url, opts).await?))
}

/// A write transaction of the store.
///
/// On a SQLite file every write transaction of the process runs on one dedicated connection,
/// taken in turns: SQLite has one writer at a time, and a transaction that finds the database
/// locked sleeps in SQLite's busy handler (1, 2, 5, 10… ms) before it tries again, whereas
/// taking turns on an async lock hands the database from one writer to the next as soon as it
/// commits. One connection also keeps its page cache: SQLite drops a connection's cache when
/// another connection has written since it last read, so writes rotating over the pool's
/// connections each began by reading their pages again. (Several processes on one SQLite file
/// still meet in the busy handler.) An in-memory SQLite database has only its pool's one
/// connection, which writers take in turns; PostgreSQL writes run on any pooled connection.
struct WriteTx {
    conn: Option<TxConn>,
}

enum TxConn {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    /// SQLite's writer connection, in a transaction begun by hand (sqlx's `Transaction` would
    /// borrow the connection from the guard that holds it).
    Writer(tokio::sync::OwnedMutexGuard<WriterConn>),
    /// SQLite in memory: the pool's connection, plus the writers' turn.
    Turn {
        tx: sqlx::Transaction<'static, sqlx::Any>,
        _turn: tokio::sync::OwnedMutexGuard<WriterConn>,
    },
}

/// The writer's turn; on a SQLite file also its connection.
struct WriterConn {
    conn: Option<sqlx::AnyConnection>,
    /// A transaction was begun on `conn` and not ended (its `WriteTx` was dropped before it
    /// committed and the rollback sent then did not run): the next writer rolls it back first.
    open: bool,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        match self.conn.as_ref().expect("a transaction until it ends") {
            TxConn::Pooled(tx) | TxConn::Turn { tx, .. } => tx,
            TxConn::Writer(w) => w.conn.as_ref().expect("the writer's connection"),
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self.conn.as_mut().expect("a transaction until it ends") {
            TxConn::Pooled(tx) | TxConn::Turn { tx, .. } => tx,
            TxConn::Writer(w) => w.conn.as_mut().expect("the writer's connection"),
        }
    }
}

impl WriteTx {
    async fn commit(mut self) -> std::result::Result<(), sqlx::Error> {
        match self.conn.take().expect("a transaction until it ends") {
            TxConn::Pooled(tx) | TxConn::Turn { tx, .. } => tx.commit().await,
            TxConn::Writer(mut w) => {
                let conn = w.conn.as_mut().expect("the writer's connection");
                conn.execute("COMMIT").await?;
                w.open = false;
                Ok(())
            }
        }
    }

    /// The transaction's SQL ended it itself (a batch whose last statement is COMMIT).
    fn ended(mut self) {
        if let Some(TxConn::Writer(mut w)) = self.conn.take() {
            w.open = false;
        }
    }
}

/// SQLite batches: a transaction's statements sent to the writer connection in one call (one
/// hop to sqlx's SQLite thread, not one per statement; see [`SqlStore::begin_batch`]).
mod batch {
    macro_rules! progress {
        () => {
            include_str!("../sql/sqlite/progress_batch.sql")
        };
    }
    macro_rules! finish {
        ($name:literal) => {
            concat!(
                "BEGIN IMMEDIATE;\n",
                progress!(),
                ";\n",
                include_str!(concat!("../sql/common/", $name, ".sql")),
                ";\n",
                include_str!("../sql/common/audit_last.sql")
            )
        };
    }
    pub const WRITE_PROGRESS: &str = concat!("BEGIN IMMEDIATE;\n", progress!(), ";\nCOMMIT");
    pub const FINISH_SUCCEEDED: &str = finish!("finish_succeeded");
    pub const FINISH_FAILED: &str = finish!("finish_failed");
    pub const FINISH_RETRY: &str = finish!("finish_retry");
    pub const FINISH_PARK: &str = finish!("finish_park");
    pub const FINISH_CANCELLED: &str = finish!("finish_cancelled");
    /// A fetch's first call: due jobs promoted ($1 now), then the tenants with room (see
    /// [`SqlStore::choose_sqlite`]).
    pub const FETCH_ROOMS: &str = concat!(
        "BEGIN IMMEDIATE;\n",
        include_str!("../sql/common/promote.sql"),
        ";\n",
        include_str!("../sql/common/fetch_free.sql"),
        include_str!("../sql/sqlite/fetch_room.sql"),
        ";\n",
        include_str!("../sql/sqlite/fetch_oldest.sql")
    );
    /// A fetch's last call: the chosen jobs leased, and the commit.
    pub const FETCH_TAKE: &str = concat!(include_str!("../sql/sqlite/fetch.sql"), ";\nCOMMIT");
    /// A write-budget take's first call: the tenant's bucket created full if new ($1 tenant,
    /// $2 capacity, $3 now), then read.
    pub const BUCKET_READ: &str = concat!(
        "BEGIN IMMEDIATE;\n",
        include_str!("../sql/common/bucket_init.sql"),
        ";\n",
        include_str!("../sql/sqlite/bucket_get.sql")
    );
    /// A granted take's second call: the bucket's new level, and the commit.
    pub const BUCKET_SET: &str = concat!(include_str!("../sql/common/bucket_set.sql"), ";\nCOMMIT");
    /// A final outcome's audit record and state line, and the commit.
    pub const FINAL_COMMIT: &str = concat!(
        include_str!("../sql/common/audit_insert.sql"),
        ";\n",
        include_str!("../sql/sqlite/final_commit.sql"),
        ";\nCOMMIT"
    );
    /// The state line of a finish that is not final, and the commit.
    pub const STATE_LINE_COMMIT: &str =
        concat!(include_str!("../sql/common/insert_log.sql"), ";\nCOMMIT");
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        // Ended without a commit (an error, or the caller's future dropped): roll back now, so
        // the write lock is not kept from other processes until this one writes again.
        if let Some(TxConn::Writer(mut w)) = self.conn.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Some(conn) = w.conn.as_mut()
                    && conn.execute("ROLLBACK").await.is_ok()
                {
                    w.open = false;
                }
            });
        }
    }
}

/// The job store on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    sql: &'static Sql,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<JobEvent>,
    /// PostgreSQL: events to publish to other processes (NOTIFY), see [`pg_events`].
    notify: Option<tokio::sync::mpsc::UnboundedSender<JobEvent>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// SQLite: this process's writers take turns, on a file on one connection (see [`WriteTx`]).
    writer: Option<Arc<tokio::sync::Mutex<WriterConn>>>,
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Cross-process events on PostgreSQL: every event this process emits is also sent with
/// `pg_notify` on channel `w365_jobs` (batched, after the change committed), and a `LISTEN`ing
/// connection turns other processes' notifications into local events. Lost notifications (a
/// dropped connection) only delay readers, who also poll.
mod pg_events {
    use super::*;

    pub const CHANNEL: &str = "w365_jobs";

    pub fn encode(origin: &str, e: &JobEvent) -> String {
        match e {
            JobEvent::Log { job, seq } => format!("{origin} L {job} {seq}"),
            JobEvent::State { job, state } => format!("{origin} S {job} {state}"),
            JobEvent::Inserted { job } => format!("{origin} I {job}"),
            JobEvent::CancelRequested { job } => format!("{origin} C {job}"),
        }
    }

    pub fn decode(line: &str, own_origin: &str) -> Option<JobEvent> {
        let mut parts = line.split(' ');
        let origin = parts.next()?;
        if origin == own_origin {
            return None;
        }
        let kind = parts.next()?;
        let job: JobId = parts.next()?.parse().ok()?;
        match kind {
            "L" => Some(JobEvent::Log {
                job,
                seq: parts.next()?.parse().ok()?,
            }),
            "S" => Some(JobEvent::State {
                job,
                state: parts.next()?.parse().ok()?,
            }),
            "I" => Some(JobEvent::Inserted { job }),
            "C" => Some(JobEvent::CancelRequested { job }),
            _ => None,
        }
    }

    /// Sends queued events, several per notification (payloads stay under PostgreSQL's 8000 bytes).
    pub async fn notifier(
        pool: AnyPool,
        origin: String,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<JobEvent>,
    ) {
        while let Some(first) = rx.recv().await {
            let mut payload = encode(&origin, &first);
            while payload.len() < 7000 {
                match rx.try_recv() {
                    Ok(e) => {
                        payload.push('\n');
                        payload.push_str(&encode(&origin, &e));
                    }
                    Err(_) => break,
                }
            }
            let r = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = r {
                tracing::debug!(error = %e, "pg_notify failed; other processes will see the change when they poll");
            }
        }
    }

    pub async fn listener(url: String, origin: String, events: broadcast::Sender<JobEvent>) {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect(&url).await?;
                l.listen(CHANNEL).await?;
                loop {
                    let n = l.recv().await?;
                    for line in n.payload().lines() {
                        if let Some(e) = decode(line, &origin) {
                            let _ = events.send(e);
                        }
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            if let Err(e) = listener.await {
                tracing::debug!(error = %e, "LISTEN connection lost; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

fn from_us(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn lease_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_json(s: &str, what: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn opt_json(row: &AnyRow, col: &str) -> Result<Option<Value>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| parse_json(&s, col)).transpose()
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let v: Option<i64> = row.try_get(col)?;
    Ok(v.map(from_us))
}

fn job_from_row(row: &AnyRow) -> Result<Job> {
    let id: String = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let requested_by: String = row.try_get("requested_by")?;
    let input: String = row.try_get("input")?;
    let checkpoint: String = row.try_get("checkpoint")?;
    let attempt: i64 = row.try_get("attempt")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    let parks: i64 = row.try_get("parks")?;
    Ok(Job {
        id: id.parse()?,
        operation: row.try_get("operation")?,
        tenant: row.try_get("tenant")?,
        input: parse_json(&input, "input")?,
        target: row.try_get("target")?,
        requested_by: serde_json::from_str(&requested_by)
            .map_err(|e| Error::Corrupt(format!("requested_by: {e}")))?,
        idempotency_key: row.try_get("idempotency_key")?,
        state: state.parse()?,
        attempt: attempt as u32,
        max_attempts: max_attempts as u32,
        parks: parks as u32,
        created_at: from_us(row.try_get("created_at")?),
        scheduled_at: from_us(row.try_get("scheduled_at")?),
        started_at: opt_time(row, "started_at")?,
        finished_at: opt_time(row, "finished_at")?,
        checkpoint: parse_json(&checkpoint, "checkpoint")?,
        parked_reason: row.try_get("parked_reason")?,
        result: opt_json(row, "result")?,
        error: opt_json(row, "error")?,
        cancel_requested_at: opt_time(row, "cancel_requested_at")?,
        request_id: row.try_get("request_id")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: opt_time(row, "lease_expires_at")?,
        schedule: row.try_get("schedule_id")?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<(AuditRecord, String)> {
    let input: String = row.try_get("input")?;
    let job_id: Option<String> = row.try_get("job_id")?;
    let rec = AuditRecord {
        seq: row.try_get("seq")?,
        at: from_us(row.try_get("at")?),
        actor: Identity {
            object_id: row.try_get("actor_object_id")?,
            upn: row.try_get("actor_upn")?,
            display_name: row.try_get("actor_display_name")?,
        },
        tenant: row.try_get("tenant")?,
        operation: row.try_get("operation")?,
        target: row.try_get("target")?,
        input: parse_json(&input, "audit input").unwrap_or_else(|_| Value::String(input.clone())),
        outcome: row.try_get("outcome")?,
        job_id: job_id.as_deref().map(str::parse).transpose()?,
        request_id: row.try_get("request_id")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    };
    Ok((rec, input))
}

fn schedule_from_row(row: &AnyRow) -> Result<Schedule> {
    let template: String = row.try_get("template")?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(Schedule {
        name: row.try_get("name")?,
        cron: row.try_get("cron")?,
        time_zone: row.try_get("time_zone")?,
        job: serde_json::from_str(&template)
            .map_err(|e| Error::Corrupt(format!("schedule template: {e}")))?,
        enabled: enabled != 0,
        next_fire_at: from_us(row.try_get("next_fire_at")?),
    })
}

/// Maps a database refusal by the state-transition trigger to a typed error.
fn is_illegal_transition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains("illegal job state transition"))
}

/// The job list in each allowed order: the sort column comes from [`JobSort`], never from a
/// caller's text. Ties: newest first, then by id.
macro_rules! list_jobs_by {
    ($order:literal) => {
        concat!(
            common!("list_jobs"),
            "ORDER BY ",
            $order,
            "\nLIMIT $11 OFFSET $12"
        )
    };
}

fn list_sql(sort: JobSort, descending: bool) -> &'static str {
    match (sort, descending) {
        (JobSort::Created, true) => list_jobs_by!("created_at DESC, id DESC"),
        (JobSort::Created, false) => list_jobs_by!("created_at ASC, id ASC"),
        (JobSort::Operation, true) => list_jobs_by!("operation DESC, created_at DESC, id DESC"),
        (JobSort::Operation, false) => list_jobs_by!("operation ASC, created_at DESC, id DESC"),
        (JobSort::Target, true) => {
            list_jobs_by!("LOWER(COALESCE(target, '')) DESC, created_at DESC, id DESC")
        }
        (JobSort::Target, false) => {
            list_jobs_by!("LOWER(COALESCE(target, '')) ASC, created_at DESC, id DESC")
        }
        (JobSort::State, true) => list_jobs_by!("state DESC, created_at DESC, id DESC"),
        (JobSort::State, false) => list_jobs_by!("state ASC, created_at DESC, id DESC"),
        (JobSort::Requester, true) => {
            list_jobs_by!("LOWER(requested_by_upn) DESC, created_at DESC, id DESC")
        }
        (JobSort::Requester, false) => {
            list_jobs_by!("LOWER(requested_by_upn) ASC, created_at DESC, id DESC")
        }
    }
}

/// How many jobs match (the list's filters with no cursor: $9 and $10 bound NULL).
const COUNT_JOBS: &str = concat!(
    "SELECT COUNT(*) AS n FROM (\n",
    common!("list_jobs"),
    ") AS matched"
);

/// A LIKE pattern matching `text` anywhere, any case; `%`, `_` and `\` in it match themselves.
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Binds the list's filters, $1 to $8.
fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    filter: &JobFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(contains_pattern);
    query
        .bind(filter.state.map(|s| s.as_str().to_string()))
        .bind(filter.operation.clone())
        .bind(filter.tenant.clone())
        .bind(filter.target.clone())
        .bind(filter.requested_by.clone())
        .bind(filter.created_after.map(us))
        .bind(filter.created_before.map(us))
        .bind(search)
}

fn q(sql: &'static str) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql)
}

/// Binds a batch's step boundary ([`batch`]): NULLs after the `bound` arguments already bound up
/// to $10, then $11 the number of lines, $12 the checkpoint and $13 the lines as JSON.
fn bind_progress(
    mut query: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    bound: usize,
    lines: &[NewLogLine],
    checkpoint: Option<&Value>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    for _ in bound..10 {
        query = query.bind(None::<i64>);
    }
    let n = i64::try_from(lines.len()).unwrap_or(i64::MAX);
    query
        .bind(n)
        .bind(checkpoint.map(json_text))
        .bind((!lines.is_empty()).then(|| lines_json(lines)))
}

/// PostgreSQL's step boundary in one statement (`postgres/write_progress.sql`); `soon`: its commit
/// does not wait for the WAL flush.
fn pg_write_progress(
    l: &Leased,
    lines: &[NewLogLine],
    checkpoint: Option<&Value>,
    soon: bool,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    q(include_str!("../sql/postgres/write_progress.sql"))
        .bind(l.job.id.to_string())
        .bind(l.token.clone())
        .bind(i64::try_from(lines.len()).unwrap_or(i64::MAX))
        .bind(checkpoint.map(json_text))
        .bind((!lines.is_empty()).then(|| lines_json(lines)))
        .bind(soon)
}

/// What a step boundary's statement returned (no row: the lease is lost).
fn written_from(l: &Leased, lines: &[NewLogLine], row: Option<AnyRow>) -> Result<Written> {
    let row = row.ok_or(Error::LostLease(l.job.id))?;
    let last: i64 = row.try_get("log_seq")?;
    let cancel: Option<i64> = row.try_get("cancel_requested_at")?;
    Ok(Written {
        last_seq: (!lines.is_empty()).then_some(last),
        cancel_requested: cancel.is_some(),
    })
}

/// A write-budget take's answer when `available` thousandths of a write were there for `need`:
/// granted, or how long until the refill has brought what is missing (rounded up, so that after
/// waiting this long the tokens are there).
fn budget_grant(available: i64, need: i64, refill_per_hour: u32) -> BudgetGrant {
    if available >= need {
        return BudgetGrant::Granted;
    }
    let missing = need - available;
    let per_hour_milli = i128::from(refill_per_hour) * 1000;
    let wait_us =
        ((i128::from(missing) * 3_600_000_000 + per_hour_milli - 1) / per_hour_milli) as u64;
    BudgetGrant::Wait(Duration::from_micros(wait_us))
}

/// Log lines as the JSON array of `[at, level, message]` triples the batch inserts read.
fn lines_json(lines: &[NewLogLine]) -> String {
    let batch: Vec<(i64, &str, &str)> = lines
        .iter()
        .map(|l| (us(l.at), l.level.as_str(), l.message.as_str()))
        .collect();
    serde_json::to_string(&batch).unwrap_or_default()
}

/// Appends an audit record inside `tx`, linking it to the last one.
async fn audit_append_tx(
    sql: &Sql,
    tx: &mut WriteTx,
    rec: NewAuditRecord,
    now: OffsetDateTime,
) -> Result<AuditRecord> {
    if !sql.audit_lock.is_empty() {
        sqlx::query(sql.audit_lock).execute(&mut **tx).await?;
    }
    let last = q(common!("audit_last")).fetch_optional(&mut **tx).await?;
    let record = audit_stamp(rec, last.as_ref(), now)?;
    bind_audit(q(common!("audit_insert")), &record)
        .execute(&mut **tx)
        .await?;
    Ok(record)
}

/// The record `rec` becomes when appended after `last` (a row of `audit_last.sql`; `None` for the
/// first record): its seq, time and hash linking it to the last one.
fn audit_stamp(
    rec: NewAuditRecord,
    last: Option<&AnyRow>,
    now: OffsetDateTime,
) -> Result<AuditRecord> {
    let at = us(rec.at.unwrap_or(now));
    let input = json_text(&rec.input);
    let job_id = rec.job_id.map(|j| j.to_string());
    let (seq, prev_hash) = match last {
        Some(r) => (
            r.try_get::<i64, _>("seq")? + 1,
            r.try_get::<String, _>("hash")?,
        ),
        None => (1, audit::GENESIS_HASH.to_string()),
    };
    let hash = audit::record_hash(&StoredFields {
        seq,
        at_us: at,
        actor: &rec.actor,
        tenant: &rec.tenant,
        operation: &rec.operation,
        target: rec.target.as_deref(),
        input: &input,
        outcome: &rec.outcome,
        job_id: job_id.as_deref(),
        request_id: rec.request_id.as_deref(),
        prev_hash: &prev_hash,
    });
    Ok(AuditRecord {
        seq,
        at: from_us(at),
        actor: rec.actor,
        tenant: rec.tenant,
        operation: rec.operation,
        target: rec.target,
        input: rec.input,
        outcome: rec.outcome,
        job_id: rec.job_id,
        request_id: rec.request_id,
        prev_hash,
        hash,
    })
}

/// The "finished" audit record of a job in a terminal state (`None` otherwise); the actor is the
/// requester.
fn finished_record(job: &Job, now: OffsetDateTime) -> Option<NewAuditRecord> {
    job.state.is_terminal().then(|| NewAuditRecord {
        at: Some(now),
        actor: job.requested_by.clone(),
        tenant: job.tenant.clone(),
        operation: job.operation.clone(),
        target: job.target.clone(),
        input: job.input.clone(),
        outcome: job.state.as_str().to_string(),
        job_id: Some(job.id),
        request_id: job.request_id.clone(),
    })
}

/// Binds `audit_insert.sql`'s $1…$14 for `r`.
fn bind_audit(
    query: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    r: &AuditRecord,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(r.seq)
        .bind(us(r.at))
        .bind(r.actor.object_id.clone())
        .bind(r.actor.upn.clone())
        .bind(r.actor.display_name.clone())
        .bind(r.tenant.clone())
        .bind(r.operation.clone())
        .bind(r.target.clone())
        .bind(json_text(&r.input))
        .bind(r.outcome.clone())
        .bind(r.job_id.map(|j| j.to_string()))
        .bind(r.request_id.clone())
        .bind(r.prev_hash.clone())
        .bind(r.hash.clone())
}

/// Writes a log line whose seq was taken from `jobs.log_seq` in the same transaction.
async fn insert_line(
    tx: &mut WriteTx,
    id: JobId,
    seq: i64,
    at: i64,
    level: &str,
    message: &str,
) -> Result<()> {
    q(common!("insert_log"))
        .bind(id.to_string())
        .bind(seq)
        .bind(at)
        .bind(level.to_string())
        .bind(message.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The line the store writes when a job changes state.
fn state_line(outcome: Option<&Finish>, job: &Job) -> (&'static str, String) {
    match (outcome, job.state) {
        (Some(Finish::Park { until, reason }), JobState::Parked) => (
            "info",
            format!("parked until {}: {reason}", rfc3339(*until)),
        ),
        (_, JobState::Retryable) => (
            "warn",
            format!(
                "attempt {} of {} failed; retrying at {}",
                job.attempt,
                job.max_attempts,
                rfc3339(job.scheduled_at)
            ),
        ),
        (Some(Finish::Retry { .. }), JobState::Failed) => (
            "error",
            format!(
                "attempt {} of {} failed; no attempts left",
                job.attempt, job.max_attempts
            ),
        ),
        (_, JobState::Cancelled) => ("warn", "cancelled".to_string()),
        (_, JobState::Running) => (
            "warn",
            "cancel requested: the job stops at its next step boundary".to_string(),
        ),
        (_, JobState::Available) => (
            "warn",
            "released by its worker (shutdown); it will run again".to_string(),
        ),
        (_, state) => ("info", format!("finished: {state}")),
    }
}

/// Every SQLite connection's settings.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> std::result::Result<(), sqlx::Error> {
    // WAL: readers do not block the writer; writers wait (not fail) for each other.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA busy_timeout = 60000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

impl SqlStore {
    /// Connects and migrates. See [`connect`].
    pub async fn connect(url: &str, opts: ConnectOptions) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let (backend, sql, migrations) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, &SQLITE, MIGRATIONS_SQLITE)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, &POSTGRES, MIGRATIONS_POSTGRES)
        } else {
            return Err(Error::UnsupportedUrl(url.to_string()));
        };
        let mut pool_opts = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(60));
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if backend == Backend::Sqlite && memory {
            // An in-memory database lives and dies with its one connection: keep exactly one.
            pool_opts = pool_opts
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        if backend == Backend::Sqlite {
            pool_opts = pool_opts
                .after_connect(|conn, _meta| Box::pin(async move { sqlite_pragmas(conn).await }));
        }
        let pool = pool_opts.connect(url).await?;
        let migrator = Migrator::with_migrations(
            migrations
                .iter()
                .map(|(v, name, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        migrator.run(&pool).await?;
        let writer = match backend {
            Backend::Postgres => None,
            Backend::Sqlite if memory => Some(WriterConn {
                conn: None,
                open: false,
            }),
            Backend::Sqlite => {
                let mut conn = sqlx::AnyConnection::connect(url).await?;
                sqlite_pragmas(&mut conn).await?;
                Some(WriterConn {
                    conn: Some(conn),
                    open: false,
                })
            }
        }
        .map(|w| Arc::new(tokio::sync::Mutex::new(w)));
        let (events, _) = broadcast::channel(1024);
        let mut tasks = Vec::new();
        let mut notify = None;
        if backend == Backend::Postgres {
            let origin = uuid::Uuid::new_v4().simple().to_string();
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tasks.push(tokio::spawn(pg_events::notifier(
                pool.clone(),
                origin.clone(),
                rx,
            )));
            tasks.push(tokio::spawn(pg_events::listener(
                url.to_string(),
                origin,
                events.clone(),
            )));
            notify = Some(tx);
        }
        Ok(SqlStore {
            pool,
            backend,
            sql,
            clock: opts.clock,
            events,
            notify,
            tasks,
            writer,
        })
    }

    /// The underlying pool (tests and the crash-test helper use it for their own tables).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn emit(&self, e: JobEvent) {
        if let Some(n) = &self.notify {
            let _ = n.send(e.clone());
        }
        let _ = self.events.send(e);
    }

    async fn begin(&self) -> Result<WriteTx> {
        let conn = match &self.writer {
            None => TxConn::Pooled(self.pool.begin_with(self.sql.begin).await?),
            Some(lock) => {
                let mut w = lock.clone().lock_owned().await;
                if w.conn.is_none() {
                    TxConn::Turn {
                        tx: self.pool.begin_with(self.sql.begin).await?,
                        _turn: w,
                    }
                } else {
                    let wc = &mut *w;
                    let conn = wc.conn.as_mut().expect("the writer's connection");
                    if wc.open {
                        // Best effort: it fails harmlessly when nothing is open any more.
                        let _ = conn.execute("ROLLBACK").await;
                    }
                    conn.execute(self.sql.begin).await?;
                    wc.open = true;
                    TxConn::Writer(w)
                }
            }
        };
        Ok(WriteTx { conn: Some(conn) })
    }

    /// On a SQLite file, the writer's turn for a transaction whose SQL begins itself (`BEGIN
    /// IMMEDIATE; …`): sqlx runs the statements of one query string in one call to the
    /// connection's thread, binding `$N` by number in each, so a step boundary is one hop to it
    /// instead of one per statement. A batch that ends with COMMIT is closed with
    /// [`WriteTx::ended`]; dropped otherwise, it is rolled back. `None` elsewhere (PostgreSQL,
    /// SQLite in memory).
    async fn begin_batch(&self) -> Option<WriteTx> {
        let lock = self.writer.as_ref()?;
        let mut w = lock.clone().lock_owned().await;
        let wc = &mut *w;
        let conn = wc.conn.as_mut()?;
        if wc.open {
            // Best effort: it fails harmlessly when nothing is open any more.
            let _ = conn.execute("ROLLBACK").await;
        }
        wc.open = true;
        Some(WriteTx {
            conn: Some(TxConn::Writer(w)),
        })
    }

    /// A write transaction whose commit need not wait for the disk ([`Durability::Soon`]).
    async fn begin_soon(&self) -> Result<WriteTx> {
        if self.writer.is_none() && !self.sql.begin_soon.is_empty() {
            let tx = self.pool.begin_with(self.sql.begin_soon).await?;
            return Ok(WriteTx {
                conn: Some(TxConn::Pooled(tx)),
            });
        }
        let mut tx = self.begin().await?;
        if !self.sql.commit_soon.is_empty() {
            sqlx::query(self.sql.commit_soon).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    async fn begin_with_durability(&self, d: Durability) -> Result<WriteTx> {
        match d {
            Durability::Now => self.begin().await,
            Durability::Soon => self.begin_soon().await,
        }
    }

    /// The jobs a fetch hands out, as leased (oldest first), announced as running.
    fn leased_out(&self, rows: &[sqlx::any::AnyRow], token: &str) -> Result<Vec<Leased>> {
        let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.scheduled_at, j.id));
        for j in &jobs {
            self.emit(JobEvent::State {
                job: j.id,
                state: JobState::Running,
            });
        }
        Ok(jobs
            .into_iter()
            .map(|job| Leased {
                job,
                token: token.to_owned(),
            })
            .collect())
    }

    /// The fetch's choice from the oldest available jobs, when it is the whole answer: each
    /// taken while its tenant has room, until `max`. `None` when a job was passed over for its
    /// tenant's limit and more could be taken: then each tenant's queue must be read
    /// ([`choose_sqlite`](Self::choose_sqlite)).
    fn choose_from_oldest(
        rooms: &[AnyRow],
        oldest: &[AnyRow],
        max: u32,
    ) -> Result<Option<Vec<String>>> {
        let mut room = HashMap::new();
        for r in rooms {
            room.insert(r.try_get::<String, _>("tenant")?, r.try_get::<i64, _>("n")?);
        }
        let mut chosen = Vec::new();
        let mut passed_over = false;
        for job in oldest {
            if chosen.len() >= max as usize {
                break;
            }
            match room.get_mut(&job.try_get::<String, _>("tenant")?) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    chosen.push(job.try_get::<String, _>("id")?);
                }
                _ => passed_over = true,
            }
        }
        let room_left = room.values().any(|n| *n > 0);
        Ok((!passed_over || chosen.len() >= max as usize || !room_left).then_some(chosen))
    }

    /// SQLite's fetch chooses first: the tenants with room (`rooms`, read by the caller), then up
    /// to that many of each one's oldest jobs from the index, then the oldest `max` of those.
    /// Each statement reads only what it returns (SQLite has no LATERAL, and a window over the
    /// queue would number every queued job on every fetch).
    async fn choose_sqlite(tx: &mut WriteTx, rooms: Vec<AnyRow>, max: u32) -> Result<Vec<String>> {
        let mut chosen: Vec<(i64, String)> = Vec::new();
        for room in rooms {
            let tenant: String = room.try_get("tenant")?;
            let n: i64 = room.try_get("n")?;
            let queue = sqlx::query(include_str!("../sql/sqlite/fetch_queue.sql"))
                .bind(tenant)
                .bind(n.min(i64::from(max)))
                .fetch_all(&mut **tx)
                .await?;
            for row in queue {
                chosen.push((row.try_get("scheduled_at")?, row.try_get("id")?));
            }
        }
        chosen.sort();
        chosen.truncate(max as usize);
        Ok(chosen.into_iter().map(|(_, id)| id).collect())
    }

    /// Appends the "finished" audit record of a job that reached a terminal state, in the
    /// transaction that finished it (so it is written exactly once). The actor is the requester.
    async fn audit_finished(&self, tx: &mut WriteTx, job: &Job, now: OffsetDateTime) -> Result<()> {
        if let Some(rec) = finished_record(job, now) {
            audit_append_tx(self.sql, tx, rec, now).await?;
        }
        Ok(())
    }

    /// A log line written by the store itself, in its own transaction (unfinished jobs only).
    async fn system_log(&self, id: JobId, level: &str, message: &str) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = q(common!("next_log_seq"))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound(id))?;
        let seq: i64 = row.try_get("log_seq")?;
        insert_line(&mut tx, id, seq, us(self.now()), level, message).await?;
        tx.commit().await?;
        self.emit(JobEvent::Log { job: id, seq });
        Ok(seq)
    }

    async fn insert_inner(
        &self,
        job: &NewJob,
        schedule: Option<(&str, OffsetDateTime)>,
    ) -> Result<Option<Job>> {
        let now = self.now();
        let run_at = job.run_at.unwrap_or(now);
        let state = if run_at > now {
            JobState::Scheduled
        } else {
            JobState::Available
        };
        let mut tx = self.begin().await?;
        let row = q(common!("insert_job"))
            .bind(JobId::new().to_string())
            .bind(job.operation.clone())
            .bind(job.tenant.clone())
            .bind(json_text(&job.input))
            .bind(job.target.clone())
            .bind(serde_json::to_string(&job.requested_by).unwrap_or_default())
            .bind(job.requested_by.upn.clone())
            .bind(job.idempotency_key.clone())
            .bind(state.as_str())
            .bind(i64::from(job.max_attempts))
            .bind(us(now))
            .bind(us(run_at))
            .bind(job.request_id.clone())
            .bind(schedule.map(|(s, _)| s.to_string()))
            .bind(schedule.map(|(_, t)| us(t)))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// [`finish_inner`](Self::finish_inner) on a SQLite file in two calls to the writer: the step
    /// boundary, the outcome and a read of the last audit record; then the state line (with a
    /// final outcome, its audit record, linked to the one read under the same write lock) and
    /// the commit.
    #[allow(clippy::too_many_arguments)]
    async fn finish_batched(
        &self,
        mut tx: WriteTx,
        l: &Leased,
        outcome: &Finish,
        (query, bound): (
            sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
            usize,
        ),
        lines: &[NewLogLine],
        checkpoint: Option<&Value>,
        now: OffsetDateTime,
    ) -> Result<Job> {
        let rows = bind_progress(query, bound, lines, checkpoint)
            .fetch_all(&mut *tx)
            .await?;
        // The step boundary's row (log_seq, cancel_requested_at), the job's if the lease held,
        // and the last audit record's (seq, hash) if there is one.
        let Some(row) = rows.iter().find(|r| r.try_column("state").is_ok()) else {
            return Err(Error::LostLease(l.job.id));
        };
        let last_audit = rows.iter().find(|r| r.try_column("hash").is_ok());
        // The lease held, so the step boundary's row came first.
        let written = written_from(l, lines, rows.first().cloned())?.last_seq;
        let job = job_from_row(row)?;
        let seq: i64 = row.try_get("log_seq")?;
        let (level, msg) = state_line(Some(outcome), &job);
        let closing = match finished_record(&job, now) {
            Some(rec) => bind_audit(q(batch::FINAL_COMMIT), &audit_stamp(rec, last_audit, now)?),
            None => q(batch::STATE_LINE_COMMIT),
        };
        closing
            .bind(job.id.to_string())
            .bind(seq)
            .bind(us(now))
            .bind(level.to_string())
            .bind(msg)
            .execute(&mut *tx)
            .await?;
        tx.ended();
        self.emit_finished(&job, written, seq);
        Ok(job)
    }

    /// A finish's events, after its commit: the lines written with it (up to `written`), its
    /// state line (`seq`) and its new state.
    fn emit_finished(&self, job: &Job, written: Option<i64>, seq: i64) {
        if let Some(last) = written {
            self.emit(JobEvent::Log {
                job: job.id,
                seq: last,
            });
        }
        self.emit(JobEvent::Log { job: job.id, seq });
        self.emit(JobEvent::State {
            job: job.id,
            state: job.state,
        });
    }

    /// [`JobStore::write_progress`] inside `tx`; the seq of each line written is emitted by the
    /// caller after the commit.
    async fn write_progress_tx(
        &self,
        tx: &mut WriteTx,
        l: &Leased,
        lines: &[NewLogLine],
        checkpoint: Option<&Value>,
    ) -> Result<Written> {
        let n = i64::try_from(lines.len()).unwrap_or(i64::MAX);
        if self.backend == Backend::Postgres {
            // In the caller's transaction: its durability is the transaction's.
            let row = pg_write_progress(l, lines, checkpoint, false)
                .fetch_optional(&mut **tx)
                .await?;
            return written_from(l, lines, row);
        }
        let row = q(common!("write_progress"))
            .bind(l.job.id.to_string())
            .bind(l.token.clone())
            .bind(n)
            .bind(checkpoint.map(json_text))
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(Error::LostLease(l.job.id))?;
        let last: i64 = row.try_get("log_seq")?;
        let cancel: Option<i64> = row.try_get("cancel_requested_at")?;
        if !lines.is_empty() {
            // One statement for all of them.
            sqlx::query(self.sql.insert_lines)
                .bind(l.job.id.to_string())
                .bind(last - n + 1)
                .bind(lines_json(lines))
                .execute(&mut **tx)
                .await?;
        }
        Ok(Written {
            last_seq: (n > 0).then_some(last),
            cancel_requested: cancel.is_some(),
        })
    }

    async fn finish_inner(
        &self,
        l: &Leased,
        outcome: &Finish,
        lines: &[NewLogLine],
        checkpoint: Option<&Value>,
    ) -> Result<Job> {
        let now = self.now();
        let id = l.job.id.to_string();
        // A park or a retry lost in a server crash is found again by the rescuer (the lease
        // expires) and the job resumes from its checkpoint; a final outcome is on disk at once.
        let durability = match outcome {
            Finish::Park { .. } | Finish::Retry { .. } => Durability::Soon,
            _ => Durability::Now,
        };
        // The outcome's statement ($1 id, $2 token, $3 now, then its own), and how many it binds.
        let outcome_query = |batched: bool| {
            let sql = |single: &'static str, in_batch: &'static str| {
                q(if batched { in_batch } else { single })
                    .bind(id.clone())
                    .bind(l.token.clone())
                    .bind(us(now))
            };
            match outcome {
                Finish::Succeeded(result) => (
                    sql(common!("finish_succeeded"), batch::FINISH_SUCCEEDED)
                        .bind(json_text(result)),
                    4,
                ),
                Finish::Failed { error, result } => (
                    sql(common!("finish_failed"), batch::FINISH_FAILED)
                        .bind(json_text(error))
                        .bind(result.as_ref().map(json_text)),
                    5,
                ),
                Finish::Retry { at, error } => {
                    let at = at.unwrap_or_else(|| now + crate::backoff(l.job.attempt));
                    (
                        sql(common!("finish_retry"), batch::FINISH_RETRY)
                            .bind(us(at))
                            .bind(json_text(error)),
                        5,
                    )
                }
                Finish::Park { until, reason } => (
                    sql(common!("finish_park"), batch::FINISH_PARK)
                        .bind(us(*until))
                        .bind(reason.clone()),
                    5,
                ),
                Finish::Cancelled => (sql(common!("finish_cancelled"), batch::FINISH_CANCELLED), 3),
            }
        };
        if let Some(tx) = self.begin_batch().await {
            return self
                .finish_batched(tx, l, outcome, outcome_query(true), lines, checkpoint, now)
                .await;
        }
        let mut tx = self.begin_with_durability(durability).await?;
        let written = if lines.is_empty() && checkpoint.is_none() {
            None
        } else {
            self.write_progress_tx(&mut tx, l, lines, checkpoint)
                .await?
                .last_seq
        };
        let (query, _) = outcome_query(false);
        let row = query.fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Err(Error::LostLease(l.job.id));
        };
        let job = job_from_row(&row)?;
        let seq: i64 = row.try_get("log_seq")?;
        let (level, msg) = state_line(Some(outcome), &job);
        insert_line(&mut tx, job.id, seq, us(now), level, &msg).await?;
        self.audit_finished(&mut tx, &job, now).await?;
        tx.commit().await?;
        self.emit_finished(&job, written, seq);
        Ok(job)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[async_trait::async_trait]
impl JobStore for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    async fn insert(&self, job: NewJob) -> Result<(Job, bool)> {
        if job.max_attempts < 1 {
            return Err(Error::Invalid(format!(
                "max_attempts is {}: a job needs at least 1 attempt",
                job.max_attempts
            )));
        }
        if job.operation.trim().is_empty() || job.tenant.trim().is_empty() {
            return Err(Error::Invalid(
                "a job needs an operation and a tenant (both were required, one was empty)".into(),
            ));
        }
        // The key may belong to a job that finishes between our insert and our read: try again.
        for _ in 0..3 {
            if let Some(inserted) = self.insert_inner(&job, None).await? {
                self.emit(JobEvent::Inserted { job: inserted.id });
                return Ok((inserted, true));
            }
            let Some(key) = &job.idempotency_key else {
                return Err(Error::Corrupt("insert conflicted without a key".into()));
            };
            let existing = q(common!("job_by_live_key"))
                .bind(key.clone())
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = existing {
                return Ok((job_from_row(&row)?, false));
            }
        }
        Err(Error::Invalid(
            "the idempotency key is being used by jobs finishing right now; try again".into(),
        ))
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>> {
        let row = q(common!("get_job"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    async fn list(&self, filter: &JobFilter) -> Result<Page<Job>> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 500);
        let descending = filter.is_descending();
        let keyset = filter.sort == JobSort::Created && descending;
        let (cur_at, cur_id) = match &filter.cursor {
            Some(_) if !keyset || filter.offset.is_some() => {
                return Err(Error::Invalid(
                    "a cursor pages the newest-first order only: use offset for other orders"
                        .into(),
                ));
            }
            Some(c) => {
                let bad = || {
                    Error::Invalid(format!(
                        "cursor {c:?} is not valid: pass the nextCursor of the previous page unchanged"
                    ))
                };
                let (a, b) = c.split_once('_').ok_or_else(bad)?;
                let at: i64 = a.parse().map_err(|_| bad())?;
                (Some(at), Some(b.to_string()))
            }
            None => (None, None),
        };
        let rows = bind_filter(q(list_sql(filter.sort, descending)), filter)
            .bind(cur_at)
            .bind(cur_id)
            .bind(i64::from(limit) + 1)
            .bind(i64::from(filter.offset.unwrap_or(0)))
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            // Offset paging has no cursor: the caller adds the page size to its offset.
            items
                .last()
                .filter(|_| keyset && filter.offset.is_none())
                .map(|j| format!("{}_{}", us(j.created_at), j.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn count(&self, filter: &JobFilter) -> Result<u64> {
        let n: i64 = bind_filter(q(COUNT_JOBS), filter)
            .bind(None::<i64>)
            .bind(None::<String>)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn cancel(&self, id: JobId) -> Result<Job> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let row = q(common!("cancel_queued"))
            .bind(id.to_string())
            .bind(us(now))
            .fetch_optional(&mut *tx)
            .await?;
        let (job, at_once, row_seq) = match row {
            Some(r) => (job_from_row(&r)?, true, r.try_get::<i64, _>("log_seq")?),
            None => {
                let row = q(common!("cancel_running"))
                    .bind(id.to_string())
                    .bind(us(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                match row {
                    Some(r) => (job_from_row(&r)?, false, r.try_get::<i64, _>("log_seq")?),
                    None => {
                        let current = q(common!("get_job"))
                            .bind(id.to_string())
                            .fetch_optional(&mut *tx)
                            .await?;
                        return match current {
                            None => Err(Error::NotFound(id)),
                            Some(r) => {
                                let job = job_from_row(&r)?;
                                Err(Error::IllegalTransition {
                                    id,
                                    from: job.state,
                                    to: JobState::Cancelled,
                                })
                            }
                        };
                    }
                }
            }
        };
        let seq: i64 = row_seq;
        let (level, msg) = state_line(None, &job);
        insert_line(&mut tx, id, seq, us(now), level, &msg).await?;
        self.audit_finished(&mut tx, &job, now).await?;
        tx.commit().await?;
        self.emit(JobEvent::Log { job: id, seq });
        if at_once {
            self.emit(JobEvent::State {
                job: id,
                state: job.state,
            });
        } else {
            self.emit(JobEvent::CancelRequested { job: id });
        }
        Ok(job)
    }

    async fn log(&self, id: JobId, after_seq: i64) -> Result<Vec<LogLine>> {
        let rows = q(common!("log_after"))
            .bind(id.to_string())
            .bind(after_seq)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LogLine {
                    seq: r.try_get("seq")?,
                    at: from_us(r.try_get("at")?),
                    level: r.try_get("level")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    async fn fetch(&self, worker: &str, max: u32, lease: Duration) -> Result<Vec<Leased>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let token = uuid::Uuid::new_v4().simple().to_string();
        if let Some(mut tx) = self.begin_batch().await {
            let rows = q(batch::FETCH_ROOMS)
                .bind(us(now))
                .bind(i64::from(max))
                .fetch_all(&mut *tx)
                .await?;
            // The tenants with room (tenant, n), then the oldest available jobs (id, …).
            let (oldest, rooms): (Vec<AnyRow>, Vec<AnyRow>) =
                rows.into_iter().partition(|r| r.try_column("id").is_ok());
            let ids = match Self::choose_from_oldest(&rooms, &oldest, max)? {
                Some(ids) => ids,
                None => Self::choose_sqlite(&mut tx, rooms, max).await?,
            };
            if ids.is_empty() {
                tx.commit().await?;
                return Ok(Vec::new());
            }
            let rows = q(batch::FETCH_TAKE)
                .bind(us(now))
                .bind(worker.to_string())
                .bind(token.clone())
                .bind(us(now) + lease_us(lease))
                .bind(serde_json::to_string(&ids).unwrap_or_default())
                .fetch_all(&mut *tx)
                .await?;
            tx.ended();
            return self.leased_out(&rows, &token);
        }
        let mut tx = if self.writer.is_none() && !self.sql.begin_fetch.is_empty() {
            // PostgreSQL: the beginning, the fetchers' lock and the promotion in one simple
            // query, one round trip (its one parameter, now, is an integer written out).
            let promote = common!("promote").replace("$1", &us(now).to_string());
            let begin = format!("{};\n{promote}", self.sql.begin_fetch);
            WriteTx {
                conn: Some(TxConn::Pooled(
                    self.pool.begin_with(sqlx::AssertSqlSafe(begin)).await?,
                )),
            }
        } else {
            // SQLite in memory: one connection, so one fetcher at a time already. A fetch lost
            // in a crash leaves the job available, and the lease it handed out is refused.
            let mut tx = self.begin_soon().await?;
            q(common!("promote"))
                .bind(us(now))
                .execute(&mut *tx)
                .await?;
            tx
        };
        let take = sqlx::query(self.sql.fetch)
            .bind(us(now))
            .bind(worker.to_string())
            .bind(token.clone())
            .bind(us(now) + lease_us(lease));
        // $5: PostgreSQL chooses in its one statement (LATERAL per tenant with room) and takes
        // how many; SQLite takes the ids chosen beforehand.
        let take = match self.backend {
            Backend::Postgres => take.bind(i64::from(max)),
            Backend::Sqlite => {
                let rooms = sqlx::query(concat!(
                    include_str!("../sql/common/fetch_free.sql"),
                    include_str!("../sql/sqlite/fetch_room.sql")
                ))
                .fetch_all(&mut *tx)
                .await?;
                let ids = Self::choose_sqlite(&mut tx, rooms, max).await?;
                if ids.is_empty() {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                take.bind(serde_json::to_string(&ids).unwrap_or_default())
            }
        };
        let rows = take.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        self.leased_out(&rows, &token)
    }

    async fn heartbeat(&self, l: &Leased, lease: Duration) -> Result<bool> {
        let now = self.now();
        let mut tx = self.begin_soon().await?;
        let row = q(common!("heartbeat"))
            .bind(l.job.id.to_string())
            .bind(l.token.clone())
            .bind(us(now) + lease_us(lease))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = row.ok_or(Error::LostLease(l.job.id))?;
        let cancel: Option<i64> = row.try_get("cancel_requested_at")?;
        Ok(cancel.is_some())
    }

    async fn append_log(&self, l: &Leased, level: &str, message: &str) -> Result<i64> {
        let line = NewLogLine {
            at: self.now(),
            level: level.to_owned(),
            message: message.to_owned(),
        };
        let w = self
            .write_progress(l, &[line], None, Durability::Now)
            .await?;
        Ok(w.last_seq.unwrap_or_default())
    }

    async fn save_checkpoint(&self, l: &Leased, checkpoint: &Value) -> Result<()> {
        self.write_progress(l, &[], Some(checkpoint), Durability::Now)
            .await
            .map(|_| ())
    }

    async fn write_progress(
        &self,
        l: &Leased,
        lines: &[NewLogLine],
        checkpoint: Option<&Value>,
        durability: Durability,
    ) -> Result<Written> {
        let written = if let Some(mut tx) = self.begin_batch().await {
            let query = q(batch::WRITE_PROGRESS)
                .bind(l.job.id.to_string())
                .bind(l.token.clone());
            let rows = bind_progress(query, 2, lines, checkpoint)
                .fetch_all(&mut *tx)
                .await?;
            tx.ended();
            written_from(l, lines, rows.into_iter().next())?
        } else if self.backend == Backend::Postgres {
            // One statement, its own transaction: one round trip.
            let row = pg_write_progress(l, lines, checkpoint, durability == Durability::Soon)
                .fetch_optional(&self.pool)
                .await?;
            written_from(l, lines, row)?
        } else {
            let mut tx = self.begin_with_durability(durability).await?;
            let written = self
                .write_progress_tx(&mut tx, l, lines, checkpoint)
                .await?;
            tx.commit().await?;
            written
        };
        if let Some(seq) = written.last_seq {
            self.emit(JobEvent::Log { job: l.job.id, seq });
        }
        Ok(written)
    }

    async fn cancel_requested(&self, l: &Leased) -> Result<bool> {
        let row = q(common!("cancel_requested"))
            .bind(l.job.id.to_string())
            .bind(l.token.clone())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::LostLease(l.job.id))?;
        let v: Option<i64> = row.try_get("cancel_requested_at")?;
        Ok(v.is_some())
    }

    async fn work_ready(&self) -> Result<bool> {
        let ready: i64 = q(concat!(
            include_str!("../sql/common/fetch_free.sql"),
            include_str!("../sql/common/work_ready.sql")
        ))
        .bind(us(self.now()))
        .fetch_one(&self.pool)
        .await?
        .try_get("ready")?;
        Ok(ready != 0)
    }

    async fn cancels_requested(&self, worker: &str) -> Result<Vec<JobId>> {
        let rows = q(common!("cancels_requested"))
            .bind(worker.to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                id.parse()
                    .map_err(|_| Error::Corrupt(format!("job id {id:?} is not a job id")))
            })
            .collect()
    }

    async fn finish(&self, l: &Leased, outcome: Finish) -> Result<Job> {
        self.finish_inner(l, &outcome, &[], None).await
    }

    async fn finish_with_log(
        &self,
        l: &Leased,
        outcome: Finish,
        lines: &[NewLogLine],
        checkpoint: Option<&Value>,
    ) -> Result<Job> {
        self.finish_inner(l, &outcome, lines, checkpoint).await
    }

    async fn release(&self, l: &Leased) -> Result<Job> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let row = q(common!("release"))
            .bind(l.job.id.to_string())
            .bind(l.token.clone())
            .bind(us(now))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::LostLease(l.job.id))?;
        let job = job_from_row(&row)?;
        let seq: i64 = row.try_get("log_seq")?;
        let (level, msg) = state_line(None, &job);
        insert_line(&mut tx, job.id, seq, us(now), level, &msg).await?;
        self.audit_finished(&mut tx, &job, now).await?;
        tx.commit().await?;
        self.emit(JobEvent::Log { job: job.id, seq });
        self.emit(JobEvent::State {
            job: job.id,
            state: job.state,
        });
        Ok(job)
    }

    async fn promote(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let r = q(common!("promote"))
            .bind(us(self.now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    async fn rescue(&self) -> Result<Vec<Job>> {
        let error = serde_json::json!({
            "kind": "leaseExpired",
            "message": "the worker running this job stopped sending heartbeats (it crashed or lost its database connection)",
            "fix": "nothing to do: the job runs again from its last checkpoint while attempts are left",
        });
        let now = self.now();
        // The rescuer runs every poll of every worker and almost always finds nothing: ask with
        // a read first, so it does not queue for the writer (SQLite) or a transaction for none.
        let due = q(common!("rescue_due"))
            .bind(us(now))
            .fetch_optional(&self.pool)
            .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let rows = q(common!("rescue"))
            .bind(us(now))
            .bind(json_text(&error))
            .fetch_all(&mut *tx)
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            let seq: i64 = row.try_get("log_seq")?;
            let msg = format!("lease expired (worker gone): now {}", job.state);
            insert_line(&mut tx, job.id, seq, us(now), "warn", &msg).await?;
            self.audit_finished(&mut tx, &job, now).await?;
            jobs.push((job, seq));
        }
        tx.commit().await?;
        for (j, seq) in &jobs {
            self.emit(JobEvent::Log {
                job: j.id,
                seq: *seq,
            });
            self.emit(JobEvent::State {
                job: j.id,
                state: j.state,
            });
        }
        Ok(jobs.into_iter().map(|(j, _)| j).collect())
    }

    async fn tenant_limits(&self, tenant: &str) -> Result<TenantLimits> {
        let row = q(common!("get_limits"))
            .bind(tenant.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(TenantLimits::GRAPH_DEFAULT);
        };
        let (a, b, c): (i64, i64, i64) = (
            row.try_get("max_running")?,
            row.try_get("write_capacity")?,
            row.try_get("write_refill_per_hour")?,
        );
        Ok(TenantLimits {
            max_running: a as u32,
            write_capacity: b as u32,
            write_refill_per_hour: c as u32,
        })
    }

    async fn set_tenant_limits(&self, tenant: &str, limits: TenantLimits) -> Result<()> {
        if limits.max_running == 0
            || limits.write_capacity == 0
            || limits.write_refill_per_hour == 0
        {
            return Err(Error::Invalid(format!(
                "tenant limits for {tenant:?} must all be at least 1 (got {limits:?})"
            )));
        }
        let mut tx = self.begin().await?;
        q(common!("set_limits"))
            .bind(tenant.to_string())
            .bind(i64::from(limits.max_running))
            .bind(i64::from(limits.write_capacity))
            .bind(i64::from(limits.write_refill_per_hour))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_write_budget(&self, tenant: &str, n: u32) -> Result<BudgetGrant> {
        let too_many = |capacity: i64| {
            Error::Invalid(format!(
                "{n} writes at once exceed tenant {tenant:?}'s write budget capacity of {capacity}: take them in smaller batches"
            ))
        };
        let now = us(self.now());
        let need = i64::from(n) * 1000;
        if self.backend == Backend::Postgres {
            // One round trip: the limits and the take (migration 0003, the same steps as the
            // SQLite path below).
            let default = TenantLimits::GRAPH_DEFAULT;
            let row = q("SELECT * FROM w365_take_write_budget($1, $2, $3, $4, $5)")
                .bind(tenant.to_string())
                .bind(now)
                .bind(i64::from(n))
                .bind(i64::from(default.write_capacity))
                .bind(i64::from(default.write_refill_per_hour))
                .fetch_one(&self.pool)
                .await?;
            let available: Option<i64> = row.try_get("out_available")?;
            let refill: i64 = row.try_get("out_refill_per_hour")?;
            let Some(available) = available else {
                return Err(too_many(row.try_get("out_capacity")?));
            };
            let refill = u32::try_from(refill).map_err(|_| {
                Error::Corrupt(format!("tenant {tenant:?}'s refill rate is {refill}"))
            })?;
            return Ok(budget_grant(available, need, refill));
        }
        let limits = self.tenant_limits(tenant).await?;
        if n > limits.write_capacity {
            return Err(too_many(i64::from(limits.write_capacity)));
        }
        let capacity = i64::from(limits.write_capacity) * 1000;
        // Lost in a server crash, the taken writes are simply there again.
        let batched = self.begin_batch().await;
        let is_batch = batched.is_some();
        let (mut tx, row) = match batched {
            Some(mut tx) => {
                // fetch_all: a batch's stream dropped after its first row would leave the
                // statement unfinished, and the commit refused.
                let row = q(batch::BUCKET_READ)
                    .bind(tenant.to_string())
                    .bind(capacity)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        Error::Corrupt(format!("tenant {tenant:?} has no write bucket"))
                    })?;
                (tx, row)
            }
            None => {
                let mut tx = self.begin_soon().await?;
                q(common!("bucket_init"))
                    .bind(tenant.to_string())
                    .bind(capacity)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row = q(include_str!("../sql/sqlite/bucket_get.sql"))
                    .bind(tenant.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                (tx, row)
            }
        };
        let (milli, updated): (i64, i64) =
            (row.try_get("milli_tokens")?, row.try_get("updated_at")?);
        // Refill: write_refill_per_hour tokens per 3.6e9 µs, in thousandths of a token.
        let elapsed = (now - updated).max(0);
        let refill = (i128::from(elapsed) * i128::from(limits.write_refill_per_hour) * 1000
            / 3_600_000_000) as i64;
        let available = (milli + refill).min(capacity);
        let granted = available >= need;
        if granted {
            q(if is_batch {
                batch::BUCKET_SET
            } else {
                common!("bucket_set")
            })
            .bind(tenant.to_string())
            .bind(available - need)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // A granted batch's second call ended with its commit.
        if granted && is_batch {
            tx.ended();
        } else {
            tx.commit().await?;
        }
        Ok(budget_grant(available, need, limits.write_refill_per_hour))
    }

    async fn audit_append(&self, rec: NewAuditRecord) -> Result<AuditRecord> {
        let mut tx = self.begin().await?;
        let r = audit_append_tx(self.sql, &mut tx, rec, self.now()).await?;
        tx.commit().await?;
        Ok(r)
    }

    async fn audit_list(&self, filter: &AuditFilter) -> Result<Page<AuditRecord>> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let after: i64 = match &filter.cursor {
            Some(c) => c.parse().map_err(|_| {
                Error::Invalid(format!(
                    "cursor {c:?} is not valid: pass the nextCursor of the previous page unchanged"
                ))
            })?,
            None => 0,
        };
        let rows = q(common!("audit_list"))
            .bind(after)
            .bind(filter.since.map(us))
            .bind(filter.until.map(us))
            .bind(filter.tenant.clone())
            .bind(filter.actor.clone())
            .bind(filter.job_id.map(|j| j.to_string()))
            .bind(filter.operation.clone())
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| audit_from_row(r).map(|(rec, _)| rec))
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn audit_verify(&self) -> Result<AuditVerdict> {
        let mut expected_prev = audit::GENESIS_HASH.to_string();
        let mut expected_seq = 1i64;
        let mut after = 0i64;
        let mut count = 0u64;
        loop {
            let rows = q(common!("audit_list"))
                .bind(after)
                .bind(None::<i64>)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(1000i64)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(AuditVerdict::Ok { count });
            }
            for row in &rows {
                let (rec, input_text) = audit_from_row(row)?;
                if rec.seq != expected_seq {
                    return Ok(AuditVerdict::Broken {
                        seq: rec.seq,
                        reason: format!(
                            "record {} follows record {}: records {}..{} are missing",
                            rec.seq,
                            expected_seq - 1,
                            expected_seq,
                            rec.seq - 1
                        ),
                    });
                }
                if rec.prev_hash != expected_prev {
                    return Ok(AuditVerdict::Broken {
                        seq: rec.seq,
                        reason: "its prev_hash does not match the previous record's hash (a record before it was changed or removed)".into(),
                    });
                }
                let job_id = rec.job_id.map(|j| j.to_string());
                let hash = audit::record_hash(&StoredFields {
                    seq: rec.seq,
                    at_us: us(rec.at),
                    actor: &rec.actor,
                    tenant: &rec.tenant,
                    operation: &rec.operation,
                    target: rec.target.as_deref(),
                    input: &input_text,
                    outcome: &rec.outcome,
                    job_id: job_id.as_deref(),
                    request_id: rec.request_id.as_deref(),
                    prev_hash: &rec.prev_hash,
                });
                if hash != rec.hash {
                    return Ok(AuditVerdict::Broken {
                        seq: rec.seq,
                        reason: "its content does not match its hash (the record was changed)"
                            .into(),
                    });
                }
                expected_prev = rec.hash;
                expected_seq += 1;
                after = rec.seq;
                count += 1;
            }
        }
    }

    async fn schedule_upsert(&self, spec: ScheduleSpec) -> Result<Schedule> {
        if spec.name.trim().is_empty() {
            return Err(Error::Invalid("a schedule needs a name".into()));
        }
        if spec.job.max_attempts < 1 {
            return Err(Error::Invalid(format!(
                "schedule {:?}: max_attempts must be at least 1",
                spec.name
            )));
        }
        let sched = CronSchedule::new(&spec.cron, &spec.time_zone)
            .map_err(|e| Error::Invalid(format!("schedule {:?}: {e}", spec.name)))?;
        let now = self.now();
        let next = sched.next_after(now).ok_or_else(|| {
            Error::Invalid(format!(
                "schedule {:?}: cron expression {:?} never fires (check the day and month fields)",
                spec.name, spec.cron
            ))
        })?;
        let mut tx = self.begin().await?;
        let row = q(common!("schedule_upsert"))
            .bind(spec.name.clone())
            .bind(spec.cron.clone())
            .bind(spec.time_zone.clone())
            .bind(serde_json::to_string(&spec.job).unwrap_or_default())
            .bind(i64::from(spec.enabled))
            .bind(us(next))
            .bind(us(now))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        schedule_from_row(&row)
    }

    async fn schedule_list(&self) -> Result<Vec<Schedule>> {
        let rows = q(common!("schedule_list")).fetch_all(&self.pool).await?;
        rows.iter().map(schedule_from_row).collect()
    }

    async fn schedule_delete(&self, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let r = q(common!("schedule_delete"))
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    async fn run_due_schedules(&self) -> Result<Vec<Job>> {
        let now = self.now();
        let rows = q(common!("schedules_due"))
            .bind(us(now))
            .fetch_all(&self.pool)
            .await?;
        let mut inserted = Vec::new();
        for row in &rows {
            let s = schedule_from_row(row)?;
            let fire_at = s.next_fire_at;
            let t: &JobTemplate = &s.job;
            let new = NewJob {
                operation: t.operation.clone(),
                tenant: t.tenant.clone(),
                input: t.input.clone(),
                target: t.target.clone(),
                requested_by: t.requested_by.clone(),
                idempotency_key: None,
                run_at: Some(fire_at.min(now)),
                max_attempts: t.max_attempts.max(1),
                request_id: None,
            };
            // The unique (schedule_id, schedule_fire_at) index makes this insert happen once.
            if let Some(job) = self.insert_inner(&new, Some((&s.name, fire_at))).await? {
                self.emit(JobEvent::Inserted { job: job.id });
                self.system_log(
                    job.id,
                    "info",
                    &format!(
                        "inserted by schedule {:?} ({} {}) for {}",
                        s.name,
                        s.cron,
                        s.time_zone,
                        rfc3339(fire_at)
                    ),
                )
                .await?;
                inserted.push(job);
            }
            // Missed fires while nothing ran are not replayed: the next fire is after now.
            let next = CronSchedule::new(&s.cron, &s.time_zone)
                .ok()
                .and_then(|c| c.next_after(now));
            if let Some(next) = next {
                let mut tx = self.begin().await?;
                q(common!("schedule_advance"))
                    .bind(s.name.clone())
                    .bind(us(fire_at))
                    .bind(us(next))
                    .bind(us(now))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(inserted)
    }

    async fn portal_signin_put(&self, signin: &PortalSignIn) -> Result<()> {
        let now = us(self.now());
        q(common!("portal_signins_purge"))
            .bind(now)
            .execute(&self.pool)
            .await?;
        q(common!("portal_signin_insert"))
            .bind(signin.key_hash.clone())
            .bind(signin.state.clone())
            .bind(signin.nonce.clone())
            .bind(signin.verifier.clone())
            .bind(signin.return_to.clone())
            .bind(us(signin.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn portal_signin_take(&self, key_hash: &str) -> Result<Option<PortalSignIn>> {
        let row = q(common!("portal_signin_take"))
            .bind(key_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let signin = PortalSignIn {
            key_hash: row.try_get("key_hash")?,
            state: row.try_get("state")?,
            nonce: row.try_get("nonce")?,
            verifier: row.try_get("verifier")?,
            return_to: row.try_get("return_to")?,
            expires_at: from_us(row.try_get("expires_at")?),
        };
        Ok((signin.expires_at > self.now()).then_some(signin))
    }

    async fn portal_session_put(&self, session: &PortalSession) -> Result<()> {
        q(common!("portal_sessions_purge"))
            .bind(us(self.now()))
            .execute(&self.pool)
            .await?;
        q(common!("portal_session_insert"))
            .bind(session.id_hash.clone())
            .bind(session.operator.object_id.clone())
            .bind(session.operator.upn.clone())
            .bind(session.operator.display_name.clone())
            .bind(session.sign_in_tenant.clone())
            .bind(session.role.clone())
            .bind(session.tenant.clone())
            .bind(session.csrf_token.clone())
            .bind(us(session.created_at))
            .bind(us(session.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn portal_session_get(&self, id_hash: &str) -> Result<Option<PortalSession>> {
        let row = q(common!("portal_session_get"))
            .bind(id_hash.to_owned())
            .bind(us(self.now()))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PortalSession {
            id_hash: row.try_get("id_hash")?,
            operator: Identity {
                object_id: row.try_get("operator_object_id")?,
                upn: row.try_get("operator_upn")?,
                display_name: row.try_get("operator_name")?,
            },
            sign_in_tenant: row.try_get("sign_in_tenant")?,
            role: row.try_get("role")?,
            tenant: row.try_get("tenant")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: from_us(row.try_get("created_at")?),
            expires_at: from_us(row.try_get("expires_at")?),
        }))
    }

    async fn portal_session_set_tenant(&self, id_hash: &str, tenant: &str) -> Result<bool> {
        let r = q(common!("portal_session_set_tenant"))
            .bind(id_hash.to_owned())
            .bind(tenant.to_owned())
            .bind(us(self.now()))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn portal_session_delete(&self, id_hash: &str) -> Result<bool> {
        let r = q(common!("portal_session_delete"))
            .bind(id_hash.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

impl SqlStore {
    /// Runs one SQL statement against the store's database (tests and tools only: e.g. to show
    /// that the database refuses an illegal transition or an audit change).
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let r = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_illegal_transition(&e) {
                    Error::Invalid(format!("refused by the database: {e}"))
                } else {
                    Error::Db(e)
                }
            })?;
        Ok(r.rows_affected())
    }
}
