//! `sim-throughput`: simple GET requests per second against the simulator on loopback.
//!
//! The simulator (contoso seed) and the load generator run in this one process and share the
//! machine's cores, so the figure is what the server sustains while also paying for its client.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::loadgen::{self, LoadSpec};
use crate::mem;
use crate::report::{self, Check, Percentiles};
use crate::sim;

/// The target of issue 3.
pub const TARGET_RPS: f64 = 20_000.0;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Measured seconds per scenario (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    report::heading("sim-throughput: simple GETs on loopback (contoso seed)");
    let seconds = if quick { 2 } else { args.seconds };
    let sim = sim::Sim::start_contoso().await?;
    let token = sim.access_token().await?;
    let users = sim.user_ids_and_upns(&token).await?;
    anyhow::ensure!(!users.is_empty(), "the contoso seed has no users");
    report::figure("users in the tenant", users.len());
    report::figure("connections", args.connections);
    report::figure("measured seconds per scenario", seconds);

    let by_id: Vec<String> = users
        .iter()
        .map(|(id, _)| format!("/v1.0/users/{}", sim::encode_segment(id)))
        .collect();
    let filtered: Vec<String> = users
        .iter()
        .map(|(_, upn)| {
            let filter = w365_graph::odata::Filter::eq("userPrincipalName", upn).to_string();
            format!("/v1.0/users?$filter={}", sim::encode_query_value(&filter))
        })
        .collect();

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let authorization: Arc<str> = Arc::from(format!("Bearer {token}"));
    let mut checks = Vec::new();
    for (name, paths) in [
        ("GET /v1.0/users/{id}", by_id),
        ("GET /v1.0/users?$filter=userPrincipalName eq '…'", filtered),
    ] {
        let spec = LoadSpec {
            addr: sim.addr(),
            host: sim.host(),
            authorization: authorization.clone(),
            paths: Arc::new(paths),
            connections: args.connections,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(seconds),
        };
        let cpu_before = mem::cpu_time();
        let wall = std::time::Instant::now();
        let mut result = loadgen::run(spec)
            .await
            .with_context(|| format!("load on {name}"))?;
        let wall = wall.elapsed();
        let cpu = cpu_before
            .zip(mem::cpu_time())
            .map(|(b, a)| a.saturating_sub(b));
        println!("  {name}");
        report::figure("  requests answered 200 in the window", result.ok);
        report::figure("  other answers", result.non_ok);
        if let Some(status) = result.first_non_ok {
            report::figure("  first other status", status);
        }
        let rate = result.rate();
        report::figure("  throughput", format!("{rate:.0} req/s"));
        if let Some(p) = Percentiles::of(&mut result.latencies_us) {
            report::figure("  latency", p);
        }
        if let Some(cpu) = cpu.filter(|c| !c.is_zero()) {
            // What the machine gave this process, and what one request costs it: other
            // processes compete for the same cores, so the rate alone understates the server.
            report::figure(
                "  CPU time of this process (client + server)",
                format!(
                    "{:.2} s in {:.2} s wall = {:.0}% of {cores} cores",
                    cpu.as_secs_f64(),
                    wall.as_secs_f64(),
                    100.0 * cpu.as_secs_f64() / (wall.as_secs_f64() * cores as f64)
                ),
            );
            report::figure(
                "  requests per CPU-second (client + server)",
                format!("{:.0}", result.completed as f64 / cpu.as_secs_f64()),
            );
        }
        let check = Check::new(
            format!("sim-throughput {name}"),
            format!("{rate:.0} req/s"),
            format!(">= {TARGET_RPS:.0} req/s, no errors"),
            rate >= TARGET_RPS && result.non_ok == 0,
        );
        check.print();
        checks.push(check);
    }
    sim.shutdown().await;
    Ok(checks)
}
