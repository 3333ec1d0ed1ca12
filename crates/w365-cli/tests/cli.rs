//! The `w365` binary against a simulator over HTTP, configured like a real tenant: a config
//! profile with a custom cloud and the secret in an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;
use w365_testkit::TestSim;

/// A temporary config file with a profile `sim` pointing at the simulator.
struct Env {
    dir: TempDir,
    config: PathBuf,
    secret: String,
}

impl Env {
    fn new(sim: &TestSim, roles: Option<&[&str]>, assign_extra: &str) -> Self {
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
                 [tenants.sim.assign]\n{assign_extra}\n",
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

    fn cmd(&self) -> Command {
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
            .arg("sim");
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
async fn assign_prints_a_stable_json_document() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None, "");
    let mut cmd = env.cmd();
    cmd.args(["assign", "megan.bowen@contoso.com", "--output", "json"]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["command"], "assign");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["exitCode"], 0);
    assert_eq!(doc["error"], Value::Null);
    assert_eq!(doc["tenant"], "sim");
    assert_eq!(doc["caller"], "cli test");
    assert_eq!(doc["user"]["userPrincipalName"], "megan.bowen@contoso.com");
    assert_eq!(doc["path"]["kind"], "dedicated");
    assert_eq!(doc["path"]["sku"]["skuPartNumber"], "CPC_E_2C_4GB_128GB");
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert!(steps.iter().all(|s| s["outcome"] == "done"), "{steps:?}");
    assert_eq!(steps[0]["step"]["action"], "addUserToGroup");
    assert!(doc["graphRequests"].as_u64().unwrap() <= 10);
    assert_eq!(doc["mails"], Value::Array(vec![]));
    assert_eq!(doc["cloudPc"], Value::Null);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None, "");
    let mut cmd = env.cmd();
    cmd.args(["assign", "megan.bowen@contoso.com", "--dry-run", "--notify"]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Dry run"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("add megan.bowen@contoso.com to the license group"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("send the 'Cloud PC ready' mail"),
        "{}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), 0);
    assert!(sim.sim().outbox().is_empty());
}

#[tokio::test]
async fn exit_codes_follow_the_architecture() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None, "");
    let cases: &[(&[&str], i32, &str)] = &[
        (&["assign", "nobody@contoso.com"], 3, "was not found"),
        (
            &[
                "assign",
                "megan.bowen@contoso.com",
                "--provisioning-group",
                "Sales",
            ],
            4,
            "ambiguous",
        ),
        (
            &["assign", "alice.smith@contoso.com"],
            6,
            "already has this Windows 365 license",
        ),
        (
            &[
                "assign",
                "megan.bowen@contoso.com",
                "--license-group",
                "no such group",
            ],
            3,
            "no such group",
        ),
        (&["assign", "not-a-upn"], 11, "not a user principal name"),
        (
            &[
                "assign",
                "megan.bowen@contoso.com",
                "--ticket-when-out-of-licenses",
            ],
            11,
            "ticket queue",
        ),
        (&["assign"], 2, "USER"),
    ];
    for (args, code, text) in cases {
        let mut cmd = env.cmd();
        cmd.args(*args);
        let out = run(&sim, cmd).await;
        assert_eq!(out.code, *code, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    }
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn out_of_licenses_exits_5_and_the_error_is_printed_once_with_a_hint() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None, "");
    let lic = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    let mut cmd = env.cmd();
    cmd.args(["assign", "megan.bowen@contoso.com", "--license-group", lic]);
    assert_eq!(run(&sim, cmd).await.code, 0);
    let mut cmd = env.cmd();
    cmd.args(["assign", "henry.moore@contoso.com", "--license-group", lic]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[tokio::test]
async fn a_long_custom_message_is_refused_before_any_request() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None, "");
    let file = env.dir.path().join("message.txt");
    std::fs::write(&file, "é".repeat(3001)).unwrap();
    let mut cmd = env.cmd();
    cmd.args([
        "assign",
        "megan.bowen@contoso.com",
        "--notify",
        "--message-file",
    ])
    .arg(&file);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 11, "{}", out.stderr);
    assert!(out.stderr.contains("3001 characters"), "{}", out.stderr);
    assert!(
        sim.sim().request_log().is_empty(),
        "nothing may be requested"
    );
}

#[tokio::test]
async fn a_missing_permission_exits_9_naming_it() {
    let sim = TestSim::contoso().await;
    let env = Env::new(
        &sim,
        Some(&[
            "User.Read.All",
            "Group.Read.All",
            "Organization.Read.All",
            "CloudPC.Read.All",
            "Mail.Send",
        ]),
        "",
    );
    let mut cmd = env.cmd();
    cmd.args(["assign", "megan.bowen@contoso.com"]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(
        out.stderr.contains("GroupMember.ReadWrite.All"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[tokio::test]
async fn profile_allowed_choices_refuse_other_values() {
    let sim = TestSim::contoso().await;
    let env = Env::new(
        &sim,
        None,
        "[tenants.sim.assign.allowed]\nlicense_group = [\"lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB\"]",
    );
    let mut cmd = env.cmd();
    cmd.args([
        "assign",
        "megan.bowen@contoso.com",
        "--license-group",
        "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB",
    ]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 11, "{}", out.stderr);
    assert!(out.stderr.contains("allowed choices"), "{}", out.stderr);
    assert!(sim.sim().request_log().is_empty());
}

#[test]
fn no_tenant_configured_is_a_usage_error_pointing_at_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("w365")
        .unwrap()
        .env_clear()
        .env("HOME", dir.path())
        .args(["assign", "megan.bowen@contoso.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--sandbox"), "{stderr}");
}

#[test]
fn help_documents_exit_codes_and_the_sandbox() {
    let out = Command::cargo_bin("w365")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("11  refused by validation"), "{help}");
    assert!(help.contains("--sandbox"), "{help}");
}
