//! One consent policy for every destructive command (crate::consent), against a simulator over
//! HTTP: without a terminal and without --yes each one is refused with exit 2 and changes
//! nothing; on a terminal (a pseudo-terminal made by util-linux `script`) the plan is shown and
//! the question asked; "no" is exit 11 and changes nothing, "y" carries the plan out.

use std::time::Duration;

use w365_testkit::TestSim;

use crate::common;
use crate::common::{Env, Output, graph_writes, json, run};

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
const WIN10: &str = "cfg - Windows 365 - Provisioning - Win10";
const SHIFT_A: &str = "cfg - Windows 365 - Frontline - Shift A";
const FRONTLINE_PLAN: &str = "057efbfe-a95d-4263-acb0-12b4a31fed8d";
const RESTORE: &str = "cfg - Windows 365 - User Settings - restore allowed";

/// Every destructive command, without a terminal and without --yes: exit 2, the JSON error kind
/// `consentRequired`, the plan in the document, only JSON on stdout, no write sent.
#[tokio::test]
async fn every_destructive_command_refuses_without_consent_and_changes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let alice_pc = sim
        .client()
        .cloud_pcs()
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.user_principal_name.as_deref() == Some("alice.smith@contoso.com"))
        .unwrap()
        .id;
    let cases: Vec<Vec<&str>> = vec![
        vec!["unassign", "alice.smith@contoso.com"],
        vec!["unassign", "alice.smith@contoso.com", "--keep-grace-period"],
        vec!["reprovision", "alice.smith@contoso.com"],
        vec![
            "resize",
            "alice.smith@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
        ],
        vec!["cloudpc", "reboot", "alice.smith@contoso.com"],
        // Restore to a real restore point (the simulator refuses invented ids).
        vec!["cloudpc", "restore", "alice.smith@contoso.com", "--latest"],
        vec!["cloudpc", "end-grace-period", "grace.wilson@contoso.com"],
        vec!["cloudpc", "power-off", "kate.thomas@contoso.com"],
        vec!["policy", "delete", WIN10, "--unassign-first"],
        vec!["policy", "unassign", WIN10, "--group", WIN10],
        vec!["policy", "apply", WIN10],
        vec!["policy", "apply-config", "--cloud-pc", &alice_pc],
        vec!["user-settings", "unassign", RESTORE, "--group", RESTORE],
        vec!["user-settings", "delete", RESTORE, "--unassign-first"],
        // Two Cloud PCs use Shift A's allotment of 3: lowering it to 1 takes seats in use.
        vec![
            "policy",
            "assign",
            SHIFT_A,
            "--group",
            SHIFT_A,
            "--service-plan",
            FRONTLINE_PLAN,
            "--allotment-name",
            "Shift A",
            "--allotment-count",
            "1",
        ],
    ];
    for args in &cases {
        let mut argv = args.clone();
        argv.extend(["-o", "json"]);
        let out = run(&sim, env.cmd(&argv)).await;
        assert_eq!(out.code, 2, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        let doc = json(&out);
        assert_eq!(doc["ok"], false, "{args:?}");
        assert_eq!(doc["exitCode"], 2, "{args:?}");
        assert_eq!(doc["error"]["kind"], "consentRequired", "{args:?}: {doc}");
        assert!(
            doc["error"]["hint"].as_str().unwrap().contains("--yes"),
            "{args:?}: {doc}"
        );
        assert!(
            // Lifecycle plans are a list of steps; policy plans list their changes.
            doc["plan"]
                .as_array()
                .or(doc["plan"]["changes"].as_array())
                .is_some_and(|p| !p.is_empty()),
            "{args:?}: the plan is part of the refusal: {doc}"
        );
        assert_eq!(graph_writes(&sim), 0, "{args:?} sent a write");
    }
    // The allotment refusal names the Cloud PCs in use.
    let out = run(&sim, env.cmd(&cases.last().unwrap().clone())).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("below the 2 Cloud PC(s) using it"),
        "{}",
        out.stderr
    );
}

/// Changes that destroy nothing need no consent: renaming, the health check, adding an
/// assignment, lowering an allotment that stays above what is in use.
#[tokio::test]
async fn harmless_changes_need_no_consent() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "cloudpc",
            "rename",
            "bob.jones@contoso.com",
            "--name",
            "Bob",
        ],
        vec!["cloudpc", "troubleshoot", "bob.jones@contoso.com"],
        vec!["policy", "assign", WIN10, "--group", "Engineering"],
        vec![
            "policy",
            "assign",
            SHIFT_A,
            "--group",
            SHIFT_A,
            "--service-plan",
            FRONTLINE_PLAN,
            "--allotment-name",
            "Shift A",
            "--allotment-count",
            "2",
        ],
    ];
    for args in &cases {
        let out = run(&sim, env.cmd(args)).await;
        assert_eq!(out.code, 0, "{args:?}\n{}\n{}", out.stdout, out.stderr);
    }
}

/// `unassign` used to delete the Cloud PC with no question at all: now it asks like the rest,
/// and `--yes` carries it out.
#[tokio::test]
async fn unassign_needs_consent_and_yes_carries_it_out() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["unassign", "alice.smith@contoso.com"])).await;
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("refused without consent"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the Cloud PC and its disk are deleted"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("Plan (not carried out"),
        "{}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), 0);
    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(graph_writes(&sim) > 0);
    // Converged: nothing left to do, so nothing to consent to.
    let out = run(&sim, env.cmd(&["unassign", "alice.smith@contoso.com"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
}

/// A dry run speaks of the plan: nothing "removed", no consent needed.
#[tokio::test]
async fn a_dry_run_never_says_removed() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "--dry-run"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("groups to remove"), "{}", out.stdout);
    assert!(!out.stdout.contains("removed"), "{}", out.stdout);
    let out = run(
        &sim,
        env.cmd(&["policy", "delete", WIN10, "--unassign-first", "--dry-run"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Dry run on sim: nothing was changed.\nPlan (2 changes)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("removed"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);
}

/// Runs `w365 <args>` on a pseudo-terminal (util-linux `script`), typing `answer`.
async fn on_a_terminal(env: &Env, sim: &TestSim, args: &[&str], answer: &str) -> Output {
    let inner = env.cmd(args);
    let program = inner.get_program().to_string_lossy().into_owned();
    let mut line = shell_quote(&program);
    for a in inner.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(&a.to_string_lossy()));
    }
    let mut cmd = assert_cmd::Command::new("script");
    cmd.env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.args(["-qec", &line, "/dev/null"])
        .write_stdin(format!("{answer}\n"))
        .timeout(Duration::from_secs(120));
    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    common::output_of(cmd).await
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[tokio::test]
async fn on_a_terminal_the_plan_is_shown_and_no_changes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = on_a_terminal(&env, &sim, &["unassign", "alice.smith@contoso.com"], "n").await;
    assert_eq!(out.code, 11, "{}\n{}", out.stdout, out.stderr);
    // script merges the terminal's output: the question, the plan, the refusal.
    assert!(out.stdout.contains("Proceed? [y/N]"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("remove alice.smith@contoso.com from the license group"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not confirmed, nothing was changed"),
        "{}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), 0);

    // The same question and code for a policy command.
    let out = on_a_terminal(
        &env,
        &sim,
        &["policy", "delete", WIN10, "--unassign-first"],
        "no",
    )
    .await;
    assert_eq!(out.code, 11, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Proceed? [y/N]"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);

    let out = on_a_terminal(&env, &sim, &["unassign", "alice.smith@contoso.com"], "y").await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Done: alice.smith@contoso.com is unassigned"),
        "{}",
        out.stdout
    );
    assert!(graph_writes(&sim) > 0);
}
