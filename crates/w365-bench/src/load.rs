//! `sim-load`: a generated large tenant (100,000 users, groups of 50,000 members): the time to
//! build it and start serving, the memory it takes, and the save/load of its state file.
//!
//! Loading the state file is measured in a fresh child process, so its memory figures are not
//! mixed with the generated tenant's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use w365_sim::seed::LargeTenantSpec;
use w365_sim::{Seed, SimConfig};

use crate::mem::{self, Memory};
use crate::report::{self, Check};
use crate::sim::Sim;

/// Targets of issue 3.
pub const TARGET_LOAD: Duration = Duration::from_secs(2);
pub const TARGET_MEMORY_KIB: u64 = 500 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users in the generated tenant.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Groups in the generated tenant.
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    /// Members of each group.
    #[arg(long, default_value_t = 50_000)]
    pub members_per_group: usize,
    /// (internal) Measure loading this state file, in this process.
    #[arg(long, hide = true)]
    pub load_state: Option<PathBuf>,
}

pub async fn run(args: &Args, quick: bool) -> anyhow::Result<Vec<Check>> {
    if let Some(path) = &args.load_state {
        return load_state(path).await;
    }
    let spec = if quick {
        LargeTenantSpec {
            users: 10_000,
            groups: 2,
            members_per_group: 5_000,
            id_seed: 42,
        }
    } else {
        LargeTenantSpec {
            users: args.users,
            groups: args.groups,
            members_per_group: args.members_per_group,
            id_seed: 42,
        }
    };
    report::heading(&format!(
        "sim-load: generated tenant of {} users, {} groups of {} members",
        spec.users, spec.groups, spec.members_per_group
    ));
    let before = Memory::read().context("reading /proc/self/status")?;
    let started = Instant::now();
    let sim = Sim::start(SimConfig {
        seed: Seed::Large(spec),
        ..SimConfig::contoso()
    })
    .await?;
    let load_time = started.elapsed();
    let after = Memory::read().context("reading /proc/self/status")?;

    let (users, groups) = sim.handle.with_state(|store| {
        let tenant = store.default_tenant().expect("a default tenant");
        (
            tenant.directory.user_count(),
            tenant.directory.groups().count(),
        )
    });
    anyhow::ensure!(
        users == spec.users,
        "expected {} users, found {users}",
        spec.users
    );
    print_memory(before, after);
    report::figure(
        "users / groups in the tenant",
        format!("{users} / {groups}"),
    );
    report::figure("generate + start serving", report::ms(load_time));

    // It answers: a token, one user, one page of a big group's members.
    let token = sim.access_token().await?;
    let first_page = Instant::now();
    let members = sim.first_members_page(&token, "bench group 0000").await?;
    report::figure(
        "first page of a group's members (HTTP)",
        format!(
            "{} members in {}",
            members,
            report::ms(first_page.elapsed())
        ),
    );

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let state = dir.path().join("state.json");
    let saving = Instant::now();
    sim.handle.save_to(&state).context("saving the state")?;
    let save_time = saving.elapsed();
    let size = std::fs::metadata(&state).context("state file")?.len();
    report::figure("save state file", report::ms(save_time));
    report::figure(
        "state file size",
        format!("{:.1} MiB", size as f64 / (1024.0 * 1024.0)),
    );
    sim.shutdown().await;

    let mut checks = vec![
        Check::new(
            format!("sim-load generate {users} users + start"),
            report::ms(load_time),
            format!("< {} ms", TARGET_LOAD.as_millis()),
            load_time < TARGET_LOAD,
        ),
        Check::new(
            format!("sim-load memory high-water mark with {users} users"),
            mem::mib(after.hwm_kib),
            format!("< {}", mem::mib(TARGET_MEMORY_KIB)),
            after.hwm_kib < TARGET_MEMORY_KIB,
        ),
    ];

    let exe = std::env::current_exe().context("locating this executable")?;
    let mut command = std::process::Command::new(exe);
    command.arg("sim-load").arg("--load-state").arg(&state);
    checks.extend(crate::run_child(&mut command).context("loading the state file")?);
    Ok(checks)
}

async fn load_state(path: &Path) -> anyhow::Result<Vec<Check>> {
    report::heading(&format!(
        "sim-load: start from the state file {}",
        path.display()
    ));
    let before = Memory::read().context("reading /proc/self/status")?;
    let started = Instant::now();
    let sim = Sim::start(SimConfig {
        seed: Seed::Empty,
        state_file: Some(path.to_owned()),
        ..SimConfig::contoso()
    })
    .await?;
    let load_time = started.elapsed();
    let after = Memory::read().context("reading /proc/self/status")?;
    let users = sim.handle.with_state(|store| {
        store
            .default_tenant()
            .map(|t| t.directory.user_count())
            .unwrap_or(0)
    });
    print_memory(before, after);
    report::figure("users loaded", users);
    report::figure("load state file + start serving", report::ms(load_time));
    sim.shutdown().await;
    Ok(vec![
        Check::new(
            format!("sim-load state file with {users} users: load + start"),
            report::ms(load_time),
            format!("< {} ms", TARGET_LOAD.as_millis()),
            load_time < TARGET_LOAD,
        ),
        Check::new(
            "sim-load state file: memory high-water mark",
            mem::mib(after.hwm_kib),
            format!("< {}", mem::mib(TARGET_MEMORY_KIB)),
            after.hwm_kib < TARGET_MEMORY_KIB,
        ),
    ])
}

fn print_memory(before: Memory, after: Memory) {
    report::figure(
        "VmRSS before / after",
        format!("{} / {}", mem::mib(before.rss_kib), mem::mib(after.rss_kib)),
    );
    report::figure(
        "VmRSS growth",
        mem::mib(after.rss_kib.saturating_sub(before.rss_kib)),
    );
    report::figure(
        "VmHWM (process peak) before / after",
        format!("{} / {}", mem::mib(before.hwm_kib), mem::mib(after.hwm_kib)),
    );
}
