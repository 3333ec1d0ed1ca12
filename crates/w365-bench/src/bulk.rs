//! `bulk`: `w365 assign --from FILE` for N users at 50 ms simulated latency, beside a loop of
//! single assigns, with and without 10 % injected 429s; and the memory of reading a
//! 100,000-row file.
//!
//! Each run starts a fresh contoso simulator with N generated users and N more units of the
//! 128 GB SKU. Directory timings are zero (memberships visible and licences processed at once)
//! and no Cloud PC is waited for, so the time measured is the tool's own Graph round trips.

use std::time::{Duration, Instant};

use anyhow::Context as _;
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
    Ok(checks)
}
