//! `jobs-store`: the job engine's own cost. 1,000 no-op jobs are inserted, then run by worker
//! processes (SQLite: 1 process; PostgreSQL: 2 processes on one database). The handler does
//! nothing, so the time per job is the engine's overhead: fetch (promotion, tenant limits, lease),
//! heartbeat bookkeeping, finish (fenced) and the job-log line the store writes at the end.
//!
//! Worker processes are this binary (`w365-bench jobs-store-worker`, hidden): each connects, says
//! "ready", waits for "go" on stdin, runs until every job is finished, then exits; the clock runs
//! from "go" to the last exit.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Row as _;
use w365_jobs::{Finish, Handler, Identity, JobContext, JobStore, NewJob, SqlStore, WorkerConfig};

use crate::report::{self, Check};

/// Issue 11's target for the engine's overhead per job.
pub const TARGET_OVERHEAD_MS: f64 = 5.0;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Jobs per run.
    #[arg(long, default_value_t = 1000)]
    pub jobs: usize,
    /// Jobs each worker process runs at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// PostgreSQL server (a database of its own is created and dropped); "none" to skip.
    #[arg(long, default_value = crate::pg::DEFAULT_URL)]
    pub postgres: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub database: String,
    #[arg(long)]
    pub jobs: usize,
    #[arg(long)]
    pub concurrency: usize,
    #[arg(long)]
    pub id: String,
}

struct Noop;

#[async_trait::async_trait]
impl Handler for Noop {
    async fn run(&self, _ctx: &JobContext) -> Finish {
        Finish::Succeeded(serde_json::Value::Null)
    }
}

async fn finished(store: &SqlStore) -> anyhow::Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'succeeded'")
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get("n")?)
}

/// The hidden worker subcommand.
pub async fn worker(args: &WorkerArgs) -> anyhow::Result<()> {
    let store = Arc::new(
        SqlStore::connect(&args.database, w365_jobs::ConnectOptions::default())
            .await
            .context("connecting the worker's store")?,
    );
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    run_worker_until(
        store.clone(),
        store,
        Arc::new(Noop),
        &args.id,
        args.concurrency,
        Duration::from_millis(5),
        "'succeeded'",
        args.jobs,
    )
    .await
}

/// Runs a worker (maintenance included) on `store` until `want` jobs are in one of `states`
/// (SQL literals, e.g. `'succeeded', 'failed'`), counted on `sql` every 10 ms.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_worker_until(
    sql: Arc<SqlStore>,
    store: Arc<dyn JobStore>,
    handler: Arc<dyn Handler>,
    id: &str,
    concurrency: usize,
    poll_interval: Duration,
    states: &'static str,
    want: usize,
) -> anyhow::Result<()> {
    let config = WorkerConfig {
        id: id.to_owned(),
        concurrency,
        lease: Duration::from_secs(30),
        poll_interval,
        maintenance: true,
        shutdown_grace: Duration::from_secs(5),
    };
    let done = async move {
        let query = format!("SELECT COUNT(*) AS n FROM jobs WHERE state IN ({states})");
        loop {
            let n: i64 = match sqlx::query(sqlx::AssertSqlSafe(query.clone()))
                .fetch_one(sql.pool())
                .await
            {
                Ok(row) => row.try_get("n").unwrap_or(0),
                Err(_) => 0,
            };
            if n >= want as i64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    w365_jobs::Worker::new(store, handler, config)
        .run(done)
        .await?;
    Ok(())
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    let jobs = if quick { args.jobs.min(200) } else { args.jobs };
    let mut checks = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    checks.push(
        one(
            &format!("SQLite, 1 process, {jobs} jobs"),
            &sqlite,
            jobs,
            1,
            args.concurrency,
        )
        .await?,
    );
    if let Some(db) = crate::pg::TempDatabase::create(&args.postgres, "w365_jobs_bench").await? {
        let r = one(
            &format!("PostgreSQL, 2 processes, {jobs} jobs"),
            db.url(),
            jobs,
            2,
            args.concurrency,
        )
        .await;
        db.drop_now().await?;
        checks.push(r?);
    }
    Ok(checks)
}

async fn one(
    title: &str,
    url: &str,
    jobs: usize,
    processes: usize,
    concurrency: usize,
) -> anyhow::Result<Check> {
    report::heading(&format!("jobs-store: {title} (no-op handler)"));
    let store = SqlStore::connect(url, w365_jobs::ConnectOptions::default()).await?;
    let who = Identity {
        object_id: "00000000-0000-0000-0000-000000000001".into(),
        upn: "bench@contoso.example".into(),
        display_name: "Benchmark".into(),
    };
    let start = Instant::now();
    for i in 0..jobs {
        let mut job = NewJob::new(
            "noop",
            format!("tenant-{}", i % 10),
            serde_json::json!({"i": i}),
            who.clone(),
        );
        job.max_attempts = 1;
        store.insert(job).await?;
    }
    let insert = start.elapsed();
    // Ten tenants, so the default per-tenant limit (10 running) does not throttle the run.
    report::figure("jobs inserted (10 tenants)", jobs);
    report::figure("insert time, total", report::ms(insert));
    report::figure("insert time per job", report::ms(insert / jobs as u32));

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for p in 0..processes {
        let mut child = Command::new(&exe)
            .args([
                "jobs-store-worker",
                "--database",
                url,
                "--jobs",
                &jobs.to_string(),
            ])
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--id",
                &format!("bench-{p}"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a worker process")?;
        let mut out = BufReader::new(child.stdout.take().context("worker stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        anyhow::ensure!(
            line.trim() == "ready",
            "worker said {line:?} instead of ready"
        );
        children.push(child);
    }
    let start = Instant::now();
    for c in &mut children {
        writeln!(c.stdin.as_mut().context("worker stdin")?, "go")?;
    }
    for c in &mut children {
        let status = c.wait()?;
        anyhow::ensure!(status.success(), "a worker process failed ({status})");
    }
    let run = start.elapsed();
    let done = finished(&store).await?;
    anyhow::ensure!(done == jobs as i64, "only {done} of {jobs} jobs succeeded");
    let row = sqlx::query(
        "SELECT CAST(AVG(finished_at - started_at) AS DOUBLE PRECISION) AS avg_us, MAX(attempt) AS max_attempt FROM jobs",
    )
    .fetch_one(store.pool())
    .await?;
    let avg_us: f64 = row.try_get("avg_us")?;
    let max_attempt: i64 = row.try_get("max_attempt")?;
    let per_job = run / jobs as u32;
    report::figure(
        "worker processes × concurrency",
        format!("{processes} × {concurrency}"),
    );
    report::figure("run time, all jobs", report::ms(run));
    report::figure(
        "throughput",
        format!("{:.0} jobs/s", jobs as f64 / run.as_secs_f64()),
    );
    report::figure(
        "engine overhead per job (run time / jobs)",
        report::ms(per_job),
    );
    report::figure(
        "mean fetch-to-finish time of one job",
        format!("{:.3} ms", avg_us / 1000.0),
    );
    report::figure("most attempts used by a job", max_attempt);
    store.pool().close().await;
    let ms = per_job.as_secs_f64() * 1000.0;
    Ok(Check::new(
        format!("jobs-store {title}: engine overhead per job"),
        format!("{ms:.3} ms"),
        format!("< {TARGET_OVERHEAD_MS} ms"),
        ms < TARGET_OVERHEAD_MS,
    ))
}
