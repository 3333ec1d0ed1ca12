//! The harness the CLI tests share: a temporary config profile `sim` that points at a simulator the
//! test started (custom cloud, the secret in an environment variable, as a real tenant is
//! configured), the `w365` binary run against it, and what it printed.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;
use w365_testkit::TestSim;

/// A temporary home with a config file whose profile `sim` reaches the simulator.
pub struct Env {
    dir: TempDir,
    config: PathBuf,
    secret: String,
}

impl Env {
    /// A profile for an app with exactly `roles` (`None`: the admin app with every permission).
    pub fn new(sim: &TestSim, roles: Option<&[&str]>) -> Self {
        Self::with_assign_defaults(sim, roles, "")
    }

    /// As [`Env::new`], with extra lines in the profile's `[tenants.sim.assign]` table. The
    /// profile names its sender and ticket customer id, as a real tenant's must (the demo ones
    /// are sandbox defaults only).
    pub fn with_assign_defaults(sim: &TestSim, roles: Option<&[&str]>, assign: &str) -> Self {
        let assign = format!(
            "from_mailbox = \"runbooks@contoso.com\"\nticket_customer_id = \"Contoso\"\n{assign}"
        );
        Self::with_assign_table(sim, roles, &assign)
    }

    /// As [`Env::new`], with exactly these lines in the profile's `[tenants.sim.assign]` table.
    pub fn with_assign_table(sim: &TestSim, roles: Option<&[&str]>, assign: &str) -> Self {
        let app = match roles {
            Some(roles) => sim.sim().create_app("w365 cli test", roles),
            None => sim.sim().admin_app(),
        };
        let dir = tempfile::tempdir().unwrap();
        let base = sim.sim().base_url();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[tenants.sim]\n\
                 tenant_id = \"{tenant}\"\n\
                 client_id = \"{client}\"\n\
                 client_secret_env = \"W365_SIM_SECRET\"\n\
                 cloud = {{ graph = \"{base}\", authority = \"{base}\" }}\n\
                 caller = \"cli test\"\n\
                 [tenants.sim.assign]\n{assign}\n",
                tenant = sim.sim().tenant_id(),
                client = app.client_id,
            ),
        )
        .unwrap();
        Self {
            dir,
            config,
            secret: app.client_secret,
        }
    }

    /// `w365 --config <file> --tenant sim <args>` in a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("w365").unwrap();
        cmd.env_clear()
            .env("W365_SIM_SECRET", &self.secret)
            .env("W365_POLL_INTERVAL_MS", "10")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config-home"))
            .env("XDG_DATA_HOME", self.dir.path().join("data-home"))
            .arg("--config")
            .arg(&self.config)
            .arg("--tenant")
            .arg("sim")
            .args(args);
        cmd
    }

    /// The temporary directory (for files a test writes or reads).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// What the binary printed, and its exit code.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout as the JSON result document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Stdout as the JSON result document.
pub fn json(out: &Output) -> Value {
    out.json()
}

/// Runs the command on a blocking thread while the simulator's clock advances (30 s of virtual
/// time every 5 ms), so waits for the lifecycle finish without sleeping.
pub async fn run(sim: &TestSim, cmd: Command) -> Output {
    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    output_of(cmd).await
}

/// Runs the command on a blocking thread; the simulator's clock stays where it is.
pub async fn output_of(mut cmd: Command) -> Output {
    let out = tokio::task::spawn_blocking(move || {
        cmd.timeout(Duration::from_secs(120)).output().unwrap()
    })
    .await
    .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Graph writes in the simulator's request log (checkMemberGroups is a POST that only reads).
pub fn graph_writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| {
            (r.path.starts_with("/v1.0/") || r.path.starts_with("/beta/")) && r.method != "GET"
        })
        .filter(|r| !r.path.ends_with("/checkMemberGroups"))
        // A $batch envelope is logged besides each of its items (which carry their own method).
        .filter(|r| !r.path.ends_with("/$batch"))
        .count()
}
