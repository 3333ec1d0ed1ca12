//! `sandbox-quickstart`: the README's first command, `w365 assign megan.bowen@contoso.com
//! --sandbox --notify`, run as a user runs it (the `w365` binary, a fresh sandbox directory), timed
//! from start to exit. It provisions a Cloud PC on the sandbox's 60× clock and shows the mail.
//! The CLI test `the_sandbox_quick_start_provisions_and_shows_the_mail` checks what it does; this
//! measures how long it takes (tests assert no wall-clock durations).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::report::{self, Check};

/// Options of the benchmark.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `w365` binary [default: next to this executable]
    #[arg(long, value_name = "PATH")]
    w365: Option<PathBuf>,
    /// How many fresh sandboxes to time
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

/// The target of the quick start (README): a Cloud PC in the sandbox in under a minute.
const TARGET: Duration = Duration::from_secs(60);

fn w365_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.w365 {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().context("locating this executable")?;
    let beside = exe.with_file_name(format!("w365{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        beside.exists(),
        "no w365 binary at {}: build it first (`cargo build --release -p w365-cli`) or pass --w365 PATH",
        beside.display()
    );
    Ok(beside)
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    report::heading("sandbox quick start: w365 assign megan.bowen@contoso.com --sandbox --notify");
    let bin = w365_binary(args)?;
    let runs = if quick { 1 } else { args.runs.max(1) };
    let mut times = Vec::new();
    for run in 1..=runs {
        let dir = tempfile::tempdir().context("a temporary sandbox directory")?;
        let mut command = std::process::Command::new(&bin);
        command
            .env_clear()
            .env("HOME", dir.path())
            .env("W365_SANDBOX_DIR", dir.path().join("sandbox"))
            .args(["assign", "megan.bowen@contoso.com", "--sandbox", "--notify"]);
        let (out, took) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = command.output();
            (out, started.elapsed())
        })
        .await
        .context("waiting for w365")?;
        let out = out.context("running w365")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success() && stdout.contains("Subject: Your Cloud PC is ready"),
            "run {run} did not provision and mail ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        report::figure(
            &format!("run {run}"),
            format!("{:.1} s", took.as_secs_f64()),
        );
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    let slowest = times[times.len() - 1];
    report::figure("median", format!("{:.1} s", median.as_secs_f64()));
    report::figure("slowest", format!("{:.1} s", slowest.as_secs_f64()));
    Ok(vec![Check::new(
        "sandbox quick start (slowest run)",
        format!("{:.1} s", slowest.as_secs_f64()),
        format!("< {} s", TARGET.as_secs()),
        slowest < TARGET,
    )])
}
