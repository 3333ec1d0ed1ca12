//! `w365-bench`: the performance figures of BENCHMARKS.md.
//!
//! - `sim-throughput`: simple GETs per second against the simulator on loopback.
//! - `sim-load`: a 100,000-user tenant: generation time, memory, state-file save and load.
//! - `assign`: Graph requests and time of one dedicated assign, beside the runbook's pattern.
//! - `sandbox-quickstart`: the README's first command (`w365 assign ... --sandbox --notify`), timed.
//! - `jobs-store`: the job engine's overhead per job (w365-jobs on SQLite and PostgreSQL).
//! - `jobs-assign`: 1,000 queued assign jobs through the operations handler against the
//!   simulator with 50 ms latency (SQLite, 1 worker process; PostgreSQL, 2 worker processes).
//! - `serve-latency`: p99 latency of job reads and submissions at 200 requests/s, open loop.
//! - `bulk`: `assign --from FILE` for 1,000 users beside a loop of single assigns.
//! - `all`: each of the above in its own process (so memory figures do not mix).
//!
//! Benchmarks report: every target is printed as PASS or MISS, and a missed target does not
//! change the exit code (1 only when a benchmark could not run at all).

mod assign;
mod bulk;
mod graph_timer;
mod jobs;
mod jobs_assign;
mod load;
mod loadgen;
mod mem;
mod pg;
mod quickstart;
mod report;
mod runbook;
mod serve_latency;
mod sim;
mod throughput;

use std::io::{BufRead as _, BufReader};
use std::process::{ExitCode, Stdio};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "w365-bench", version, about = "w365 performance benchmarks")]
struct Cli {
    /// A fast smoke run: short windows and smaller tenants (figures are not the reference ones).
    #[arg(long, global = true)]
    quick: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simple GET requests per second against the simulator on 127.0.0.1.
    SimThroughput(throughput::Args),
    /// Generate a 100,000-user tenant; its time, memory, and state-file save/load.
    SimLoad(load::Args),
    /// Graph requests and wall time of one dedicated assign, beside the runbook's pattern.
    Assign(assign::Args),
    /// The README's quick start (`w365 assign ... --sandbox --notify`) with the w365 binary, timed.
    SandboxQuickstart(quickstart::Args),
    /// Job engine overhead: 1,000 no-op jobs on SQLite (1 process) and PostgreSQL (2 processes).
    JobsStore(jobs::Args),
    /// Worker process of `jobs-store` (started by it).
    #[command(hide = true)]
    JobsStoreWorker(jobs::WorkerArgs),
    /// 1,000 queued assign jobs through the operations handler, 50 ms Graph latency, parked
    /// Cloud PC waits: SQLite (1 process) and PostgreSQL (2 processes).
    JobsAssign(jobs_assign::Args),
    /// Worker process of `jobs-assign` (started by it).
    #[command(hide = true)]
    JobsAssignWorker(jobs_assign::AssignWorkerArgs),
    /// p99 latency of job reads and submissions at a constant arrival rate (SQLite, PostgreSQL).
    ServeLatency(serve_latency::Args),
    /// assign --from FILE for 1,000 users beside a loop of single assigns; 429 storm; the memory
    /// of reading and of planning a 100,000-row file.
    Bulk(bulk::Args),
    /// Planning process of `bulk` (started by it).
    #[command(hide = true)]
    BulkPlanWorker(bulk::PlanWorkerArgs),
    /// Every benchmark, each in a fresh process.
    All,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::All => run_all(cli.quick),
        Command::JobsStoreWorker(args) => runtime().and_then(|rt| rt.block_on(jobs::worker(args))),
        Command::JobsAssignWorker(args) => {
            runtime().and_then(|rt| rt.block_on(jobs_assign::worker(args)))
        }
        Command::BulkPlanWorker(args) => {
            runtime().and_then(|rt| rt.block_on(bulk::plan_worker(args)))
        }
        command => runtime().and_then(|rt| rt.block_on(run_one(command, cli.quick))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("w365-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn run_one(command: &Command, quick: bool) -> anyhow::Result<()> {
    report::machine();
    let checks = match command {
        Command::SimThroughput(args) => throughput::run(args, quick).await?,
        Command::SimLoad(args) => load::run(args, quick).await?,
        Command::Assign(args) => assign::run(args, quick).await?,
        Command::SandboxQuickstart(args) => quickstart::run(args, quick).await?,
        Command::JobsStore(args) => jobs::run(args, quick).await?,
        Command::Bulk(args) => bulk::run(args, quick).await?,
        Command::JobsAssign(args) => jobs_assign::run(args, quick).await?,
        Command::ServeLatency(args) => serve_latency::run(args, quick).await?,
        Command::All
        | Command::JobsStoreWorker(_)
        | Command::JobsAssignWorker(_)
        | Command::BulkPlanWorker(_) => {
            unreachable!("handled by main")
        }
    };
    report::summary(&checks);
    Ok(())
}

/// Runs a benchmark child process, echoing its output; returns the checks of its last summary.
pub(crate) fn run_child(command: &mut std::process::Command) -> anyhow::Result<Vec<report::Check>> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a benchmark process")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut checks = Vec::new();
    let mut in_summary = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading child output")?;
        println!("{line}");
        if line == "== summary" {
            // Only the last summary counts (a child may echo its own child's summary first).
            checks.clear();
            in_summary = true;
        } else if in_summary && let Some(check) = report::Check::parse(&line) {
            checks.push(check);
        }
    }
    let status = child.wait().context("waiting for a benchmark process")?;
    anyhow::ensure!(status.success(), "did not complete ({status})");
    Ok(checks)
}

/// Runs every benchmark as a child process of this binary, echoes its output and gathers the
/// PASS/MISS lines into one summary.
fn run_all(quick: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut checks = Vec::new();
    let mut failures = Vec::new();
    for name in [
        "sim-throughput",
        "sim-load",
        "assign",
        "sandbox-quickstart",
        "jobs-store",
        "bulk",
        "jobs-assign",
        "serve-latency",
    ] {
        let mut command = std::process::Command::new(&exe);
        command.arg(name);
        if quick {
            command.arg("--quick");
        }
        match run_child(&mut command) {
            Ok(child_checks) => checks.extend(child_checks),
            Err(error) => failures.push(format!("{name}: {error:#}")),
        }
    }
    report::summary(&checks);
    for failure in &failures {
        println!("  [FAIL] {failure}");
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} benchmark(s) did not complete",
        failures.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
