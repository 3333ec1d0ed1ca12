//! `bulk`: `w365 assign --from FILE` for N users at 50 ms simulated latency, beside a loop of
//! single assigns, with and without 10 % injected 429s; and the memory of reading a
//! 100,000-row file and of planning it against a simulator tenant of 100,000 users.
//!
//! The planning is measured in a process of its own (the hidden `bulk-plan-worker`), so its
//! high-water mark (VmHWM) is the planning's alone: the simulator with its 100,000 users runs in
//! this process, the worker reaches it over HTTP like `w365 assign --from FILE --dry-run`.
//!
//! Each run starts a fresh contoso simulator with N generated users and N more units of the
//! 128 GB SKU. Directory timings are zero (memberships visible and licences processed at once)
//! and no Cloud PC is waited for, so the time measured is the tool's own Graph round trips.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud};
use w365_ops::assign::{self, AssignOptions};
use w365_ops::bulk::{self, BulkOptions, Outcome};
use w365_ops::{Silent, Waits};
use w365_sim::faults::{FaultAction, FaultRule, Trigger};
use w365_sim::seed::SeedFile;
use w365_sim::{DirectoryTimings, Seed, SimConfig, Timings};

use crate::mem;
use crate::report::{self, Check};
use crate::sim::Sim;

/// Targets of issue 14.
const TARGET_TIME: Duration = Duration::from_secs(60);
const TARGET_REQUESTS: u64 = 300;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users in the bulk file.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Users assigned one by one in the loop (its time per user is scaled to --users).
    #[arg(long, default_value_t = 100)]
    pub loop_users: usize,
    /// Simulated Graph latency per request, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Rows of the file whose reading memory is measured.
    #[arg(long, default_value_t = 100_000)]
    pub file_rows: usize,
}

/// The hidden worker that plans a file: the client secret comes on stdin, never on the command
/// line; it prints one `plan {json}` line with its figures.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanWorkerArgs {
    /// The simulator's base URL.
    #[arg(long)]
    pub sim: String,
    #[arg(long)]
    pub tenant_id: String,
    #[arg(long)]
    pub client_id: String,
    /// The bulk file to plan.
    #[arg(long)]
    pub file: PathBuf,
}

/// What the planning worker measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PlanFigures {
    rows: usize,
    planned: usize,
    requests: u64,
    read_secs: f64,
    plan_secs: f64,
    rss_start_kib: u64,
    rss_read_kib: u64,
    rss_planned_kib: u64,
    hwm_kib: u64,
}

/// Reads and plans the file against the simulator, with reads only (as `--dry-run`).
pub async fn plan_worker(args: &PlanWorkerArgs) -> anyhow::Result<()> {
    let mut secret = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut secret)
        .await?;
    let base = url::Url::parse(&args.sim).context("simulator URL")?;
    let client = Client::builder()
        .cloud(Cloud::Custom {
            graph: base.clone(),
            authority: base,
        })
        .credential(Credential::client_secret(
            &args.tenant_id,
            &args.client_id,
            secret.trim().to_owned(),
        ))
        .build()
        .context("building the Graph client")?;
    let memory = || mem::Memory::read().context("reading /proc/self/status");
    let start = memory()?;
    let started = Instant::now();
    let parsed = bulk::input::read_file(&args.file)?;
    let read = started.elapsed();
    let after_read = memory()?;
    let rows = parsed.rows.len();
    let mut base = AssignOptions::new("unused@contoso.com", "w365-bench");
    base.waits = Waits::sandbox();
    base.dry_run = true;
    let opts = BulkOptions {
        base,
        strict: false,
        journal: None,
        pacer: w365_graph::WritePacer::default(),
    };
    let started = Instant::now();
    let plan = bulk::plan(&client, &opts, parsed, &args.file, &Silent).await?;
    let planned_in = started.elapsed();
    let after = memory()?;
    let figures = PlanFigures {
        rows,
        planned: plan.count(Outcome::Assign),
        requests: plan.graph_requests,
        read_secs: read.as_secs_f64(),
        plan_secs: planned_in.as_secs_f64(),
        rss_start_kib: start.rss_kib,
        rss_read_kib: after_read.rss_kib,
        rss_planned_kib: after.rss_kib,
        hwm_kib: after.hwm_kib,
    };
    drop(plan);
    println!("plan {}", serde_json::to_string(&figures)?);
    Ok(())
}

/// Plans `path` in a `bulk-plan-worker` process against `sim`; its figures.
async fn plan_in_child(sim: &Sim, path: &std::path::Path) -> anyhow::Result<PlanFigures> {
    let exe = std::env::current_exe()?;
    let app = sim.handle.admin_app();
    let mut child = tokio::process::Command::new(&exe)
        .arg("bulk-plan-worker")
        .args(["--sim", sim.handle.base_url().as_str()])
        .args(["--tenant-id", &sim.handle.tenant_id()])
        .args(["--client-id", &app.client_id])
        .arg("--file")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the planning worker")?;
    child
        .stdin
        .take()
        .context("worker stdin")?
        .write_all(format!("{}\n", app.client_secret).as_bytes())
        .await?;
    let mut lines = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
    let mut figures = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(json) = line.strip_prefix("plan ") {
            figures = Some(serde_json::from_str::<PlanFigures>(json)?);
        }
    }
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "the planning worker failed ({status})");
    figures.context("the planning worker printed no figures")
}

/// The `n`-th (0-based) generated user of the seed.
fn upn(n: usize) -> String {
    SeedFile::generated_upn(n + 1)
}

fn config(users: usize, latency: Duration, throttle: bool) -> SimConfig {
    let mut seed = SeedFile::contoso();
    seed.add_generated_users(users);
    let mut timings = Timings::fast();
    timings.directory = DirectoryTimings {
        replication_lag: Duration::ZERO,
        license_processing: Duration::ZERO,
    };
    let mut faults = vec![FaultRule::always(FaultAction::Latency(
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    ))];
    if throttle {
        faults.push(FaultRule {
            method: None,
            path: Some("/v1.0/*".into()),
            tenant: None,
            action: FaultAction::Status {
                status: 429,
                retry_after_secs: Some(1),
                http_date: false,
            },
            trigger: Trigger::Probability { p: 0.1, seed: 14 },
        });
    }
    SimConfig {
        seed: Seed::Data(Box::new(seed)),
        timings,
        faults,
        ..SimConfig::contoso()
    }
}

fn client(sim: &Sim) -> anyhow::Result<Client> {
    let admin = sim.handle.admin_app();
    let base = sim.handle.base_url();
    Client::builder()
        .cloud(Cloud::Custom {
            graph: base.clone(),
            authority: base,
        })
        .credential(Credential::client_secret(
            sim.handle.tenant_id(),
            admin.client_id,
            admin.client_secret,
        ))
        .build()
        .context("building the Graph client")
}

struct BulkRun {
    wall: Duration,
    requests: u64,
    assigned: usize,
    failed: usize,
    throttled: usize,
    /// Directory writes counted by the pacer, and the time it waited for the budget.
    paced: (u64, Duration),
}

async fn run_bulk(args: &Args, users: usize, throttle: bool) -> anyhow::Result<BulkRun> {
    let sim = Sim::start(config(
        users,
        Duration::from_millis(args.latency_ms),
        throttle,
    ))
    .await?;
    let client = client(&sim)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("users.csv");
    let mut text = String::from("user\n");
    for n in 0..users {
        text.push_str(&upn(n));
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    let mut base = AssignOptions::new("unused@contoso.com", "w365-bench");
    base.waits = Waits::sandbox();
    let opts = BulkOptions {
        base,
        strict: false,
        journal: None,
        // The default write budget, as `w365 assign --from` runs.
        pacer: w365_graph::WritePacer::default(),
    };
    let started = Instant::now();
    let parsed = bulk::input::read_file(&path)?;
    let plan = bulk::plan(&client, &opts, parsed, &path, &Silent).await?;
    let report = bulk::execute(&client, &opts, plan, &Silent, &()).await?;
    let wall = started.elapsed();
    let paced = (opts.pacer.granted(), opts.pacer.waited());
    let count = |o: Outcome| report.rows.iter().filter(|r| r.outcome == o).count();
    let throttled = sim
        .handle
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    sim.shutdown().await;
    Ok(BulkRun {
        wall,
        requests: report.graph_requests,
        assigned: count(Outcome::Assigned),
        failed: count(Outcome::Failed) + count(Outcome::Invalid) + count(Outcome::Blocked),
        throttled,
        paced,
    })
}

async fn run_loop(args: &Args, users: usize) -> anyhow::Result<(Duration, u64)> {
    let sim = Sim::start(config(users, Duration::from_millis(args.latency_ms), false)).await?;
    let client = client(&sim)?;
    let started = Instant::now();
    let mut requests = 0;
    for n in 0..users {
        let mut opts = AssignOptions::new(upn(n), "w365-bench");
        opts.waits = Waits::sandbox();
        let report = assign::assign(&client, &opts, &Silent)
            .await
            .map_err(|f| anyhow::anyhow!("assign {} failed: {}", upn(n), f.error))?;
        requests += report.graph_requests;
    }
    let wall = started.elapsed();
    sim.shutdown().await;
    Ok((wall, requests))
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    let users = if quick { 100 } else { args.users };
    let loop_users = if quick {
        10
    } else {
        args.loop_users.min(users)
    }
    .max(1);
    let mut checks = Vec::new();

    report::heading(&format!(
        "bulk: assign --from with {users} users at {} ms latency (no Cloud PC wait)",
        args.latency_ms
    ));
    let clean = run_bulk(args, users, false).await?;
    report::figure(
        "bulk wall time",
        format!("{:.1} s", clean.wall.as_secs_f64()),
    );
    report::figure("bulk Graph requests", clean.requests);
    report::figure("bulk rows assigned", clean.assigned);
    report::figure(
        "bulk directory writes paced (default budget 300 + 16/s)",
        format!(
            "{} writes, waited {:.1} s",
            clean.paced.0,
            clean.paced.1.as_secs_f64()
        ),
    );
    let throttled = run_bulk(args, users, true).await?;
    report::figure(
        "bulk with 10 % 429s: wall time",
        format!("{:.1} s", throttled.wall.as_secs_f64()),
    );
    report::figure(
        "bulk with 10 % 429s: Graph requests (retries included)",
        throttled.requests,
    );
    report::figure("bulk with 10 % 429s: 429 answers", throttled.throttled);
    report::figure("bulk with 10 % 429s: rows assigned", throttled.assigned);
    let (loop_wall, loop_requests) = run_loop(args, loop_users).await?;
    let per_user = loop_wall / u32::try_from(loop_users).unwrap_or(u32::MAX);
    report::figure(
        &format!("loop of single assigns, {loop_users} users measured"),
        format!(
            "{:.1} s, {loop_requests} requests ({:.0} ms and {:.1} requests per user)",
            loop_wall.as_secs_f64(),
            per_user.as_secs_f64() * 1000.0,
            loop_requests as f64 / loop_users as f64
        ),
    );
    report::figure(
        &format!("loop scaled to {users} users (per-user figure x {users})"),
        format!(
            "{:.0} s, {:.0} requests",
            per_user.as_secs_f64() * users as f64,
            loop_requests as f64 / loop_users as f64 * users as f64
        ),
    );
    checks.push(Check::new(
        format!("bulk time, {users} users"),
        format!("{:.1} s", clean.wall.as_secs_f64()),
        "< 60 s",
        clean.wall < TARGET_TIME,
    ));
    checks.push(Check::new(
        format!("bulk Graph requests, {users} users"),
        clean.requests,
        format!("<= {TARGET_REQUESTS}"),
        clean.requests <= TARGET_REQUESTS,
    ));
    checks.push(Check::new(
        "bulk rows not assigned with 10 % 429s",
        throttled.failed,
        "0",
        throttled.failed == 0 && throttled.assigned == users,
    ));

    report::heading(&format!(
        "bulk: memory of reading a {}-row file",
        args.file_rows
    ));
    let rows = if quick { 10_000 } else { args.file_rows };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.csv");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(f, "user,license-group,priority")?;
        for n in 0..rows {
            writeln!(f, "user{n:06}@contoso.com,,")?;
        }
    }
    let size = std::fs::metadata(&path)?.len();
    let before = mem::Memory::read();
    let started = Instant::now();
    let parsed = bulk::input::read_file(&path)?;
    let took = started.elapsed();
    let after = mem::Memory::read();
    anyhow::ensure!(parsed.rows.len() == rows, "read {} rows", parsed.rows.len());
    report::figure("file size", format!("{:.1} MiB", size as f64 / 1048576.0));
    report::figure(
        "read and validated in",
        format!("{:.2} s", took.as_secs_f64()),
    );
    if let (Some(b), Some(a)) = (before, after) {
        report::figure(
            "resident memory before / after / high-water mark",
            format!(
                "{} / {} / {}",
                mem::mib(b.rss_kib),
                mem::mib(a.rss_kib),
                mem::mib(a.hwm_kib)
            ),
        );
    }
    drop(parsed);

    report::heading(&format!(
        "bulk: memory of planning a {rows}-row file against a tenant of {rows} generated users (a process of its own)"
    ));
    let sim = Sim::start(config(rows, Duration::ZERO, false)).await?;
    let plan_path = dir.path().join("plan.csv");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&plan_path)?);
        writeln!(f, "user")?;
        for n in 0..rows {
            writeln!(f, "{}", upn(n))?;
        }
    }
    let figures = plan_in_child(&sim, &plan_path).await;
    sim.shutdown().await;
    let figures = figures?;
    anyhow::ensure!(
        figures.rows == rows,
        "the worker read {} of {rows} rows",
        figures.rows
    );
    report::figure(
        "rows planned to assign",
        format!("{} of {}", figures.planned, figures.rows),
    );
    report::figure("Graph requests of the planning", figures.requests);
    report::figure(
        "read / planned in",
        format!("{:.2} s / {:.2} s", figures.read_secs, figures.plan_secs),
    );
    report::figure(
        "resident memory at start / after reading / after planning / high-water mark",
        format!(
            "{} / {} / {} / {}",
            mem::mib(figures.rss_start_kib),
            mem::mib(figures.rss_read_kib),
            mem::mib(figures.rss_planned_kib),
            mem::mib(figures.hwm_kib)
        ),
    );
    let per_row = figures.hwm_kib.saturating_sub(figures.rss_start_kib) as f64 * 1024.0
        / figures.rows.max(1) as f64;
    report::figure(
        "high-water mark above the start, per row",
        format!("{per_row:.0} bytes"),
    );
    Ok(checks)
}
