//! Benchmark for `assign` (issue 5): Graph requests and time of one dedicated assignment without
//! --notify, against the simulator with simulated Graph latency, next to a baseline that follows
//! the runbook's documented request pattern (read every member of every prefix group and of the
//! license group, fixed sleeps).
//!
//! ```sh
//! cargo run --release -p w365-ops --example assign_benchmark -- [MEMBERS...] [--latency-ms 50] [--baseline-sleep-s 15]
//! ```
//! With no MEMBERS it measures 10 and 50000 members per group. `BENCH_STEPS=1` prints the time of
//! each step of the w365 run on stderr.

use std::time::{Duration, Instant};

use w365_graph::models::Group;
use w365_graph::{ApiVersion, Client, Filter, GraphPath, Query};
use w365_ops::assign::{self, AssignOptions};
use w365_ops::execute::{Silent, Waits};
use w365_sim::FaultRule;
use w365_sim::faults::{FaultAction, Trigger};
use w365_testkit::TestSim;

const USER: &str = "megan.bowen@contoso.com";
const PROV: &str = "cfg - Windows 365 - Provisioning - Win11";
const US: &str = "cfg - Windows 365 - User Settings - restore allowed";
const LIC: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
const PROV_PREFIX: &str = "cfg - Windows 365 - Provisioning - ";
const US_PREFIX: &str = "cfg - Windows 365 - User Settings - ";

struct Args {
    members: Vec<usize>,
    latency_ms: u64,
    baseline_sleep: Duration,
}

fn args() -> Args {
    let mut members = Vec::new();
    let mut latency_ms = 50;
    let mut baseline_sleep = Duration::from_secs(15);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--latency-ms" => latency_ms = it.next().and_then(|v| v.parse().ok()).unwrap_or(50),
            "--baseline-sleep-s" => {
                baseline_sleep =
                    Duration::from_secs(it.next().and_then(|v| v.parse().ok()).unwrap_or(15));
            }
            n => members.push(n.parse().expect("MEMBERS is a number")),
        }
    }
    if members.is_empty() {
        members = vec![10, 50_000];
    }
    Args {
        members,
        latency_ms,
        baseline_sleep,
    }
}

/// Grows every prefix group and the license group to `members` members (the license group's SKU
/// gets enough units so the assignment still has a free one).
fn grow(sim: &TestSim, members: usize) {
    use w365_sim::state::directory::User;
    let now = sim.sim().now();
    sim.sim().with_state(|store| {
        let id = store.default_tenant_id().to_owned();
        let t = store.tenant_mut(&id).expect("the default tenant");
        let groups: Vec<String> = [PROV, US, LIC, "cfg - Windows 365 - Provisioning - Win10"]
            .iter()
            .map(|name| t.directory.groups_named(name)[0].clone())
            .collect();
        for sku in &mut t.licensing.skus {
            sku.prepaid_units.enabled += u32::try_from(members).unwrap_or(u32::MAX);
        }
        let mut users = Vec::with_capacity(members);
        for n in 0..members {
            let uid = t.ids.next_id();
            let upn = format!("bench{n:06}@contoso.com");
            t.directory
                .insert_user(User::new(uid.clone(), &upn, &upn))
                .expect("a new user");
            users.push(uid);
        }
        for gid in &groups {
            for chunk in users.chunks(20) {
                t.add_members(gid, chunk, now).expect("members added");
            }
        }
    });
}

async fn start(members: usize, latency_ms: u64) -> TestSim {
    let sim = TestSim::contoso().await;
    grow(&sim, members);
    // Let licensing settle for the new members before measuring.
    sim.advance(Duration::from_secs(3600)).await;
    sim.sim().set_faults(vec![FaultRule {
        method: None,
        path: None,
        tenant: None,
        action: FaultAction::Latency(latency_ms),
        trigger: Trigger::Always,
    }]);
    sim
}

/// Signs in (the token request is not part of the measurement).
async fn signed_in(sim: &TestSim) -> Client {
    let client = sim.client();
    client.users().find_by_upn(USER).await.expect("sign-in");
    client
}

async fn ours(sim: &TestSim) -> (u64, Duration) {
    let client = signed_in(sim).await;
    let mut o = AssignOptions::new(USER, "benchmark");
    o.waits = Waits::uniform(Duration::from_millis(20), Duration::from_secs(120));
    o.waits.license.second_check_after = Duration::from_millis(100);
    // Few, large clock steps: each step runs the simulator's due work over the whole tenant.
    let _clock = sim.drive_clock(Duration::from_secs(150), Duration::from_millis(50));
    let started = Instant::now();
    let report = assign::assign(&client, &o, &Silent)
        .await
        .unwrap_or_else(|f| panic!("assign failed: {}", f.error));
    if std::env::var_os("BENCH_STEPS").is_some() {
        for s in &report.steps {
            eprintln!("{:>6} ms  {}", s.elapsed_ms, s.step);
        }
    }
    (report.graph_requests, started.elapsed())
}

async fn groups_where(client: &Client, filter: Filter) -> Vec<Group> {
    client
        .list::<Group>(
            ApiVersion::V1,
            &GraphPath::new(["groups"]),
            &Query::new().filter(filter),
        )
        .collect_all()
        .await
        .expect("groups")
}

/// The runbook's documented pattern, as a strategy: every lookup separately, every member of every
/// prefix group and of the license group read, fixed sleeps instead of checks.
async fn baseline(sim: &TestSim, sleep: Duration) -> (u64, Duration) {
    let client = signed_in(sim).await;
    let before = client.stats().requests;
    let _clock = sim.drive_clock(Duration::from_secs(150), Duration::from_millis(50));
    let started = Instant::now();
    let user = client.users().find_by_upn(USER).await.unwrap().unwrap();
    let mut named = Vec::new();
    for name in [PROV, US, LIC] {
        named.push(
            groups_where(&client, Filter::eq("displayName", name))
                .await
                .remove(0),
        );
    }
    client.subscribed_skus().list().await.unwrap();
    let mut in_prefix = [false, false];
    for (i, prefix) in [PROV_PREFIX, US_PREFIX].iter().enumerate() {
        for g in groups_where(&client, Filter::starts_with("displayName", prefix)).await {
            let members = client.groups().members(&g.id).collect_all().await.unwrap();
            in_prefix[i] |= members.iter().any(|m| m.id == user.id);
        }
    }
    let lic_members = client
        .groups()
        .members(&named[2].id)
        .collect_all()
        .await
        .unwrap();
    assert!(!lic_members.iter().any(|m| m.id == user.id));
    for (i, group) in named[..2].iter().enumerate() {
        if !in_prefix[i] {
            client
                .groups()
                .add_member(&group.id, &user.id)
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(sleep).await;
    client
        .groups()
        .add_member(&named[2].id, &user.id)
        .await
        .unwrap();
    tokio::time::sleep(sleep).await;
    (client.stats().requests - before, started.elapsed())
}

#[tokio::main]
async fn main() {
    let args = args();
    println!(
        "assign (dedicated, no --notify), {} ms Graph latency, baseline sleeps {} s\n",
        args.latency_ms,
        args.baseline_sleep.as_secs()
    );
    println!(
        "{:>9} | {:>13} {:>10} | {:>17} {:>14}",
        "members", "w365 requests", "w365 time", "baseline requests", "baseline time"
    );
    for &members in &args.members {
        let (our_requests, our_time) = ours(&start(members, args.latency_ms).await).await;
        let (base_requests, base_time) =
            baseline(&start(members, args.latency_ms).await, args.baseline_sleep).await;
        println!(
            "{members:>9} | {our_requests:>13} {:>9.2}s | {base_requests:>17} {:>13.2}s",
            our_time.as_secs_f64(),
            base_time.as_secs_f64()
        );
    }
}
