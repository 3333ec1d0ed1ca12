//! `w365 unassign|reprovision|resize|cloudpc|capacity` against a simulator over HTTP, configured like
//! a real tenant (a config profile with a custom cloud, the secret in an environment variable).

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;
use w365_testkit::TestSim;

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";

struct Env {
    dir: TempDir,
    config: PathBuf,
    secret: String,
}

impl Env {
    fn new(sim: &TestSim, roles: Option<&[&str]>) -> Self {
        let app = match roles {
            Some(roles) => sim.sim().create_app("w365 lifecycle test", roles),
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
                 caller = \"cli test\"\n",
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

    fn cmd(&self, args: &[&str]) -> Command {
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
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the command on a blocking thread while the simulator's clock advances.
async fn run(sim: &TestSim, mut cmd: Command) -> Output {
    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
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

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

fn graph_writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| {
            (r.path.starts_with("/v1.0/") || r.path.starts_with("/beta/")) && r.method != "GET"
        })
        .filter(|r| !r.path.ends_with("/checkMemberGroups"))
        .count()
}

#[tokio::test]
async fn unassign_prints_a_json_document_and_dry_run_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "--dry-run"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Dry run"), "{}", out.stdout);
    assert!(out.stdout.contains("end it"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);

    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "-o", "json"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["command"], "unassign");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["path"]["kind"], "dedicated");
    assert_eq!(doc["groups"]["remove"], true);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 4);
    assert_eq!(doc["cloudPc"]["status"], "deprovisioning");
}

#[tokio::test]
async fn lifecycle_exit_codes_follow_the_architecture() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["unassign", "nobody@contoso.com"], 3, "was not found"),
        (
            &["reprovision", "megan.bowen@contoso.com", "--yes"],
            3,
            "nothing to reprovision",
        ),
        (
            &[
                "resize",
                "alice.smith@contoso.com",
                "--from",
                LIC_128,
                "--to",
                LIC_128,
                "--yes",
            ],
            11,
            "same size",
        ),
        (
            &[
                "cloudpc",
                "end-grace-period",
                "alice.smith@contoso.com",
                "--yes",
            ],
            11,
            "grace period",
        ),
        (
            &["cloudpc", "show", "00000000-0000-0000-0000-000000000000"],
            3,
            "Cloud PC",
        ),
        (
            &["cloudpc", "list", "--status", "sleeping"],
            11,
            "unknown Cloud PC status",
        ),
        // Destructive without a terminal and without --yes: refused before anything changes.
        (
            &["cloudpc", "end-grace-period", "grace.wilson@contoso.com"],
            11,
            "pass --yes",
        ),
        (
            &["reprovision", "alice.smith@contoso.com"],
            11,
            "pass --yes",
        ),
        (&["resize", "alice.smith@contoso.com"], 2, "--from"),
    ];
    for (args, code, text) in cases {
        let out = run(&sim, env.cmd(args)).await;
        assert_eq!(out.code, *code, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    }
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn resize_without_a_free_license_exits_5_and_the_happy_path_exits_0() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "alice.smith@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
            "-o",
            "json",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["command"], "resize");
    assert_eq!(doc["toSku"]["skuPartNumber"], "CPC_E_2C_4GB_256GB");
    // That took the last 256 GB unit: the next resize is out of licenses.
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "bob.jones@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 5, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no free"), "{}", out.stderr);
}

#[tokio::test]
async fn reprovision_with_yes_and_notify_sends_the_mail() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["reprovision", "bob.jones@contoso.com", "--notify", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("being reprovisioned"), "{}", out.stdout);
    assert_eq!(sim.sim().outbox().len(), 1);
}

#[tokio::test]
async fn cloudpc_list_json_and_csv_and_actions_with_yes() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["cloudpc", "list", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    let total = sim
        .sim()
        .with_state(|s| s.default_tenant().unwrap().w365.cloud_pcs().len());
    assert_eq!(doc["count"], total);

    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "inGracePeriod", "-o", "csv"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("id,displayName,userPrincipalName,status"));
    assert!(lines[1].contains("grace.wilson@contoso.com"));

    let out = run(
        &sim,
        env.cmd(&[
            "cloudpc",
            "end-grace-period",
            "grace.wilson@contoso.com",
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "cloudpc",
            "rename",
            "bob.jones@contoso.com",
            "--name",
            "Bob's PC",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "show", "bob.jones@contoso.com", "-o", "json"]),
    )
    .await;
    assert_eq!(json(&out)["cloudPcs"][0]["displayName"], "Bob's PC");
}

#[tokio::test]
async fn capacity_json_and_csv_match_the_simulator() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["capacity", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    let sku = doc["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuPartNumber"] == "CPC_E_2C_4GB_256GB")
        .unwrap();
    assert_eq!(
        (&sku["total"], &sku["consumed"], &sku["free"]),
        (&4.into(), &3.into(), &1.into())
    );
    assert_eq!(doc["frontlinePlans"][0]["free"], 1);
    assert_eq!(
        doc["gracePeriod"][0]["userPrincipalName"],
        "grace.wilson@contoso.com"
    );

    let out = run(&sim, env.cmd(&["capacity", "-o", "csv"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("section,name,id,total,used,free,detail")
    );
    assert!(
        out.stdout.contains("sku,CPC_E_2C_4GB_256GB,"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("gracePeriod,grace.wilson@contoso.com,"));

    let out = run(&sim, env.cmd(&["capacity"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Windows 365 SKU"), "{}", out.stdout);
}

#[tokio::test]
async fn capacity_needs_only_read_permissions() {
    let sim = TestSim::contoso().await;
    let env = Env::new(
        &sim,
        Some(&[
            "Organization.Read.All",
            "GroupMember.Read.All",
            "CloudPC.Read.All",
        ]),
    );
    let out = run(&sim, env.cmd(&["capacity", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env = Env::new(
        &sim,
        Some(&["Organization.Read.All", "GroupMember.Read.All"]),
    );
    let out = run(&sim, env.cmd(&["capacity"])).await;
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}

#[tokio::test]
async fn the_documented_permissions_are_enough() {
    let sim = TestSim::contoso().await;
    // The README's lists: GroupMember.ReadWrite.All (or GroupMember.Read.All where nothing is
    // written) covers the group reads, so Group.Read.All is not needed anywhere.
    let write = [
        "User.Read.All",
        "GroupMember.ReadWrite.All",
        "Organization.Read.All",
        "CloudPC.ReadWrite.All",
    ];
    let env = Env::new(&sim, Some(&write));
    let out = run(&sim, env.cmd(&["unassign", "alice.smith@contoso.com"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "bob.jones@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let env = Env::new(
        &sim,
        Some(&[
            "User.Read.All",
            "GroupMember.Read.All",
            "Organization.Read.All",
            "CloudPC.ReadWrite.All",
        ]),
    );
    let out = run(
        &sim,
        env.cmd(&["reprovision", "dave.brown@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let env = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    let out = run(&sim, env.cmd(&["cloudpc", "list"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // Without the write permission an action fails with exit 9 naming it.
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "troubleshoot", "frank.miller@contoso.com"]),
    )
    .await;
    assert_eq!(out.code, 9, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    // Without GroupMember.ReadWrite.All, unassign fails naming it.
    let env = Env::new(
        &sim,
        Some(&[
            "User.Read.All",
            "GroupMember.Read.All",
            "Organization.Read.All",
            "CloudPC.ReadWrite.All",
        ]),
    );
    let out = run(&sim, env.cmd(&["unassign", "erin.davis@contoso.com"])).await;
    assert_eq!(out.code, 9, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("GroupMember.ReadWrite.All"),
        "{}",
        out.stderr
    );
}
