//! The `w365` binary against a simulator over HTTP, configured like a real tenant: a config
//! profile with a custom cloud and the secret in an environment variable.

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, output_of, run};

#[tokio::test]
async fn assign_prints_a_stable_json_document() {
    let sim = TestSim::contoso().await;
    let env = Env::with_assign_defaults(&sim, None, "");
    let mut cmd = env.cmd(&[]);
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
    // 10 with the realistic first license check after 10 s; W365_POLL_INTERVAL_MS (one rule for
    // every command, settings::waits) starts it after 10 ms, which may add one "not yet".
    assert!(
        doc["graphRequests"].as_u64().unwrap() <= 11,
        "{}",
        doc["graphRequests"]
    );
    assert_eq!(doc["mails"], Value::Array(vec![]));
    assert_eq!(doc["cloudPc"], Value::Null);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::with_assign_defaults(&sim, None, "");
    let mut cmd = env.cmd(&[]);
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
    let env = Env::with_assign_defaults(&sim, None, "");
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
            "already has a Windows 365 license: CPC_E_2C_4GB_128GB through the group 'lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB'",
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
        let mut cmd = env.cmd(&[]);
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
    let env = Env::with_assign_defaults(&sim, None, "");
    let lic = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    let mut cmd = env.cmd(&[]);
    cmd.args(["assign", "megan.bowen@contoso.com", "--license-group", lic]);
    assert_eq!(run(&sim, cmd).await.code, 0);
    let mut cmd = env.cmd(&[]);
    cmd.args(["assign", "henry.moore@contoso.com", "--license-group", lic]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[tokio::test]
async fn a_long_custom_message_is_refused_before_any_request() {
    let sim = TestSim::contoso().await;
    let env = Env::with_assign_defaults(&sim, None, "");
    let file = env.dir().join("message.txt");
    std::fs::write(&file, "é".repeat(3001)).unwrap();
    let mut cmd = env.cmd(&[]);
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
    let env = Env::with_assign_defaults(
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
    let mut cmd = env.cmd(&[]);
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
    let env = Env::with_assign_defaults(
        &sim,
        None,
        "[tenants.sim.assign.allowed]\nlicense_group = [\"lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB\"]",
    );
    let mut cmd = env.cmd(&[]);
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
    assert!(help.contains("11  refused (nothing was changed)"), "{help}");
    assert!(help.contains("--sandbox"), "{help}");
    // One consent policy, with its two exit codes.
    assert!(
        help.contains("exit 2 (JSON error kind consentRequired)"),
        "{help}"
    );
    assert!(
        help.contains("exit 11 (JSON error kind notConfirmed)"),
        "{help}"
    );
}

fn with_tenant(sim: &TestSim, f: impl FnOnce(&mut w365_sim::state::TenantState)) {
    sim.sim().with_state(|store| {
        let id = store.default_tenant_id().to_owned();
        f(store.tenant_mut(&id).expect("the default tenant"));
    });
}

#[tokio::test]
async fn a_failed_provisioning_exits_7_with_the_status_detail() {
    use w365_sim::state::windows365::{ForcedOutcome, OutcomeKind};
    let sim = TestSim::contoso().await;
    with_tenant(&sim, |t| {
        for _ in 0..3 {
            t.w365.faults.force_for_user(
                "megan.bowen@contoso.com",
                ForcedOutcome {
                    outcome: OutcomeKind::Failed,
                    code: Some("imageNotFound".into()),
                    message: Some("The image was not found.".into()),
                },
            );
        }
    });
    let env = Env::with_assign_defaults(&sim, None, "");
    let mut cmd = env.cmd(&[]);
    cmd.args([
        "assign",
        "megan.bowen@contoso.com",
        "--notify",
        "-o",
        "json",
    ]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 7, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "provisioningFailed");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("imageNotFound"),
        "{doc}"
    );
    assert_eq!(doc["cloudPc"]["status"], "failed");
    assert!(sim.sim().outbox().is_empty());
}

#[tokio::test]
async fn a_provisioning_wait_timeout_exits_8_saying_it_is_still_running() {
    let sim = TestSim::contoso().await;
    with_tenant(&sim, |t| {
        t.w365.timings.provisioning = time::Duration::days(30)
    });
    let env = Env::with_assign_defaults(&sim, None, "");
    let mut cmd = env.cmd(&[]);
    cmd.args([
        "assign",
        "megan.bowen@contoso.com",
        "--notify",
        "--wait-timeout",
        "1s",
    ]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 8, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("still running"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("failed"),
        "a timeout is not a failure: {}",
        out.stderr
    );
    assert!(out.stdout.contains("(provisioning)"), "{}", out.stdout);
}

fn sandbox_cmd(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("w365").unwrap();
    cmd.env_clear()
        .env("HOME", dir)
        .env("W365_SANDBOX_DIR", dir.join("sandbox"))
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn the_sandbox_quick_start_provisions_and_shows_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    // How long this takes (target < 60 s) is measured by `w365-bench sandbox-quickstart`.
    let out = sandbox_cmd(dir.path())
        .args(["assign", "megan.bowen@contoso.com", "--sandbox", "--notify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("(provisioned"), "{stdout}");
    assert!(
        stdout.contains("Subject: Your Cloud PC is ready"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://windows365.microsoft.com"),
        "{stdout}"
    );

    // The state was kept: the same user is now already assigned, and the outbox has the mail.
    let again = sandbox_cmd(dir.path())
        .args(["--sandbox", "assign", "megan.bowen@contoso.com"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(6));
    let outbox = sandbox_cmd(dir.path())
        .args(["sandbox", "outbox", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(outbox.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&outbox.stdout).unwrap();
    assert_eq!(doc["mails"].as_array().unwrap().len(), 1);
    assert_eq!(doc["mails"][0]["subject"], "Your Cloud PC is ready");

    let reset = sandbox_cmd(dir.path())
        .args(["sandbox", "reset"])
        .output()
        .unwrap();
    assert_eq!(reset.status.code(), Some(0));
    let fresh = sandbox_cmd(dir.path())
        .args(["sandbox", "outbox", "-o", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert_eq!(doc["mails"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn sim_serve_announces_working_credentials() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("w365"))
        .args(["sim", "serve", "--port", "0", "-o", "json"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let announced = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line == "}" {
                break;
            }
        }
        text
    })
    .await
    .unwrap();
    let doc: Value =
        serde_json::from_str(&announced).unwrap_or_else(|e| panic!("{e}: {announced}"));
    let base = url::Url::parse(doc["baseUrl"].as_str().unwrap()).unwrap();
    assert_eq!(base.host_str(), Some("127.0.0.1"));
    let client = w365_graph::Client::builder()
        .cloud(w365_graph::Cloud::Custom {
            graph: base.clone(),
            authority: base,
        })
        .credential(w365_graph::Credential::client_secret(
            doc["tenantId"].as_str().unwrap(),
            doc["clientId"].as_str().unwrap(),
            doc["clientSecret"].as_str().unwrap(),
        ))
        .build()
        .unwrap();
    let megan = client.users().find_by_upn("megan.bowen@contoso.com").await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(megan.unwrap().unwrap().display_name, "Megan Bowen");
}

#[tokio::test]
async fn long_inputs_are_clipped_in_messages() {
    let sim = TestSim::contoso().await;
    let env = Env::with_assign_defaults(&sim, None, "");
    let long_upn = format!("{}@contoso.com", "x".repeat(3000));
    let long_group = "G".repeat(3000);
    let not_a_upn = "y".repeat(3000);
    // (arguments, exit code, what the short message says instead of echoing the whole input)
    for (args, code, says) in [
        (vec!["assign", not_a_upn.as_str()], 11, "characters)"),
        (vec!["assign", long_upn.as_str()], 3, "characters)"),
        (
            vec![
                "assign",
                "megan.bowen@contoso.com",
                "--license-group",
                long_group.as_str(),
            ],
            // Refused by the declaration before any request: no group name is that long.
            11,
            "longer than 256 characters",
        ),
    ] {
        let mut cmd = env.cmd(&[]);
        cmd.args(&args);
        let out = run(&sim, cmd).await;
        assert_eq!(out.code, code, "{}", out.stderr);
        assert!(out.stderr.len() < 1500, "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}

#[tokio::test]
async fn a_real_tenant_needs_an_explicit_sender_and_engineering_is_not_a_license_group() {
    let sim = TestSim::contoso().await;
    // A profile without from_mailbox: no demo sender outside the sandbox.
    let env = Env::with_assign_table(&sim, None, "");
    let mut cmd = env.cmd(&[]);
    cmd.args(["assign", "megan.bowen@contoso.com", "--notify"]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 11, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("--notify needs a sender mailbox")
            && out.stderr.contains("--from-mailbox"),
        "{}",
        out.stderr
    );
    // A sender that does not exist is found out while planning, before any change.
    let mut cmd = env.cmd(&[]);
    cmd.args([
        "assign",
        "megan.bowen@contoso.com",
        "--notify",
        "--from-mailbox",
        "nobody@contoso.com",
    ]);
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("nobody@contoso.com"), "{}", out.stderr);
    // A group without a Windows 365 licence, for assign and resize: exit 3, not 1.
    for args in [
        &[
            "assign",
            "megan.bowen@contoso.com",
            "--license-group",
            "Engineering",
        ][..],
        &[
            "resize",
            "alice.smith@contoso.com",
            "--from",
            "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
            "--to",
            "Engineering",
            "--yes",
        ][..],
    ] {
        let mut cmd = env.cmd(&[]);
        cmd.args(args);
        let out = run(&sim, cmd).await;
        assert_eq!(out.code, 3, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr
                .contains("'Engineering' is not a Windows 365 license group"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(graph_writes(&sim), 0);
}

#[test]
fn two_parallel_sandbox_assigns_both_keep_their_licence() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("w365");
    let start = |upn: &str| {
        std::process::Command::new(&bin)
            .env_clear()
            .env("HOME", dir.path())
            .env("W365_SANDBOX_DIR", dir.path().join("sandbox"))
            .args(["--sandbox", "assign", upn])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let megan = start("megan.bowen@contoso.com");
    let henry = start("henry.moore@contoso.com");
    for (who, child) in [("megan", megan), ("henry", henry)] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{who}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Neither save overwrote the other: both users now hold the licence.
    for upn in ["megan.bowen@contoso.com", "henry.moore@contoso.com"] {
        let again = sandbox_cmd(dir.path())
            .args(["--sandbox", "assign", upn])
            .output()
            .unwrap();
        assert_eq!(
            again.status.code(),
            Some(6),
            "{upn} lost the licence: {}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
    let names: Vec<String> = std::fs::read_dir(dir.path().join("sandbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn a_sandbox_command_waits_for_the_lock_and_says_so() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    // Another w365 command holds the sandbox (the same OS lock the CLI takes).
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sandbox.join("sandbox.lock"))
        .unwrap();
    held.lock().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("w365"))
        .env_clear()
        .env("HOME", dir.path())
        .env("W365_SANDBOX_DIR", &sandbox)
        .args(["sandbox", "outbox", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("waiting for another w365 command using the sandbox"),
        "{line}"
    );
    // Still waiting: no state was written while the lock is held.
    assert!(!sandbox.join("state.json").exists());
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["mails"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_ticket_whose_answer_was_lost_is_not_sent_twice_and_exits_10() {
    let sim = TestSim::contoso().await;
    let env = Env::with_assign_defaults(&sim, None, "");
    let lic = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    let mut cmd = env.cmd(&[]);
    cmd.args(["assign", "megan.bowen@contoso.com", "--license-group", lic]);
    assert_eq!(run(&sim, cmd).await.code, 0);
    // The next assign finds no free licence and raises a ticket; Graph accepts the mail but the
    // answer is a 503 (or the connection breaks): the outcome is unknown to the client.
    for action in [
        w365_sim::faults::FaultAction::StatusAfterProcessing {
            status: 503,
            retry_after_secs: Some(0),
            http_date: false,
        },
        w365_sim::faults::FaultAction::DropAfterProcessing,
    ] {
        let before = sim.sim().outbox().len();
        sim.sim().set_faults(vec![w365_sim::FaultRule {
            method: Some("POST".to_owned()),
            path: Some("/v1.0/users/*/sendMail".to_owned()),
            tenant: None,
            action,
            trigger: w365_sim::faults::Trigger::FirstN(1),
        }]);
        let mut cmd = env.cmd(&[]);
        cmd.args([
            "assign",
            "henry.moore@contoso.com",
            "--license-group",
            lic,
            "--ticket-when-out-of-licenses",
            "--ticket-queue",
            "helpdesk@contoso.com",
            "--from-mailbox",
            "runbooks@contoso.com",
        ]);
        let out = run(&sim, cmd).await;
        assert_eq!(out.code, 10, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("outcome unknown, not resent"),
            "{}",
            out.stderr
        );
        assert_eq!(
            sim.sim().outbox().len(),
            before + 1,
            "the ticket is in the queue exactly once"
        );
    }
}

/// Starts `w365 sim serve` with `args`; returns the child and its JSON announcement.
async fn sim_serve(args: &[&str]) -> (std::process::Child, Value) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("w365"))
        .args(["sim", "serve", "--port", "0", "-o", "json"])
        .args(args)
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let announced = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line == "}" {
                break;
            }
        }
        text
    })
    .await
    .unwrap();
    let doc: Value =
        serde_json::from_str(&announced).unwrap_or_else(|e| panic!("{e}: {announced}"));
    (child, doc)
}

#[tokio::test]
async fn sim_serve_saves_its_state_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (mut child, doc) = sim_serve(&["--state", state.to_str().unwrap()]).await;
    assert!(
        doc["adminKey"].as_str().is_some_and(|k| k.len() >= 32),
        "{doc}"
    );
    let base = url::Url::parse(doc["baseUrl"].as_str().unwrap()).unwrap();
    let client = w365_graph::Client::builder()
        .cloud(w365_graph::Cloud::Custom {
            graph: base.clone(),
            authority: base.clone(),
        })
        .credential(w365_graph::Credential::client_secret(
            doc["tenantId"].as_str().unwrap(),
            doc["clientId"].as_str().unwrap(),
            doc["clientSecret"].as_str().unwrap(),
        ))
        .build()
        .unwrap();
    let group = client
        .groups()
        .find_by_display_name("Engineering")
        .await
        .unwrap()
        .remove(0);
    let megan = client
        .users()
        .find_by_upn("megan.bowen@contoso.com")
        .await
        .unwrap()
        .unwrap();
    client
        .groups()
        .add_member(&group.id, &megan.id)
        .await
        .unwrap();
    // The admin API answers with the printed key only.
    let http = reqwest::Client::new();
    let clock = format!("{base}_sim/clock");
    assert_eq!(http.get(&clock).send().await.unwrap().status(), 401);
    let with_key = http
        .get(&clock)
        .header(
            doc["adminKeyHeader"].as_str().unwrap(),
            doc["adminKey"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 200);

    // A normal stop by a service manager: SIGTERM.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop");

    let mut cfg = TestSim::manual_config(w365_sim::Seed::Contoso);
    cfg.state_file = Some(state);
    let restarted = TestSim::start(cfg).await;
    let kept = restarted.sim().with_state(|s| {
        let t = s.default_tenant().unwrap();
        t.directory.is_member(&group.id, &megan.id)
    });
    assert!(kept, "the membership made before SIGTERM was saved");
}

#[tokio::test]
async fn sim_serve_refuses_a_speed_out_of_range() {
    for speed in ["1e308", "1e12", "0", "-3", "NaN", "inf"] {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("w365"))
            .args(["sim", "serve", "--port", "0", &format!("--speed={speed}")])
            .env_clear()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{speed}: {stderr}");
        assert!(
            stderr.contains("greater than 0 and at most 1000000"),
            "{speed}: {stderr}"
        );
        assert!(stderr.len() < 300, "{speed}: {stderr}");
    }
}

fn env_cmd(dir: &std::path::Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("w365").unwrap();
    cmd.env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config-home"))
        .env("W365_POLL_INTERVAL_MS", "10");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.args(args);
    cmd
}

#[tokio::test]
async fn environment_credentials_follow_azure_authority_host() {
    let sim = TestSim::contoso().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = sim.sim().admin_app();
    let tenant = sim.sim().tenant_id();
    let base = sim.sim().base_url().to_string();
    let vars = |host: &str| -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_TENANT_ID", tenant.clone()),
            ("AZURE_CLIENT_ID", admin.client_id.clone()),
            ("AZURE_CLIENT_SECRET", admin.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST", host.to_owned()),
        ]
    };
    // The simulator on loopback stands for a national cloud's authority: the environment
    // credential signs in there, and Graph is asked there.
    let v = vars(&base);
    let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cmd = env_cmd(
        dir.path(),
        &pairs,
        &["assign", "megan.bowen@contoso.com", "--dry-run"],
    );
    let out = run(&sim, cmd).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        sim.sim()
            .request_log()
            .iter()
            .any(|r| r.path.ends_with("/oauth2/v2.0/token")),
        "the token came from AZURE_AUTHORITY_HOST"
    );

    // The China cloud: refused before any request, naming why.
    let v = vars("https://login.chinacloudapi.cn");
    let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = output_of(env_cmd(
        dir.path(),
        &pairs,
        &["assign", "megan.bowen@contoso.com", "--dry-run"],
    ))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("21Vianet"), "{}", out.stderr);

    // An authority w365 does not know: what to do instead.
    let v = vars("https://login.example.com");
    let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = output_of(env_cmd(
        dir.path(),
        &pairs,
        &["assign", "megan.bowen@contoso.com", "--dry-run"],
    ))
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("config profile"), "{}", out.stderr);
}
