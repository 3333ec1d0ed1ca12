//! `w365 assign --from FILE` through the binary against the simulator over HTTP.

use std::time::Duration;

use crate::common::{Env, graph_writes, run};
use w365_sim::FaultRule;
use w365_testkit::TestSim;

const USERS: [&str; 6] = [
    "grace.wilson@contoso.com",
    "henry.moore@contoso.com",
    "jack.anderson@contoso.com",
    "kate.thomas@contoso.com",
    "liam.jackson@contoso.com",
    "mia.martin@contoso.com",
];

/// Six unlicensed users, a licensed one (row 8), an unknown user (row 9), an empty row (10).
fn write_file(env: &Env) -> std::path::PathBuf {
    let mut text = String::from("user;licenseGroup\n");
    for u in USERS {
        text.push_str(&format!("{u};\n"));
    }
    text.push_str("alice.smith@contoso.com;\nnobody@contoso.com;\n;\n");
    let path = env.dir().join("onboarding.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn dry_run_prints_the_plan_as_json_csv_and_a_table_and_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = write_file(&env);
    let file = file.to_str().unwrap();
    let out = run(
        &sim,
        env.cmd(&["-o", "json", "assign", "--from", file, "--dry-run"]),
    )
    .await;
    out.expect(11); // an invalid row (unknown user)
    let doc = out.json();
    let rows = doc["rows"].as_array().unwrap();
    let outcome = |row: u64| {
        rows.iter()
            .find(|r| r["row"] == row)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .unwrap()
    };
    for row in 2..=7 {
        assert_eq!(outcome(row), "assign");
    }
    assert_eq!(outcome(8), "alreadyAssigned");
    assert_eq!(outcome(9), "invalid");
    assert_eq!(doc["emptyRows"], serde_json::json!([10]));
    let csv = run(
        &sim,
        env.cmd(&["-o", "csv", "assign", "--from", file, "--dry-run"]),
    )
    .await;
    assert!(
        csv.stdout.starts_with("row,user,outcome,"),
        "{}",
        csv.stdout
    );
    assert!(
        csv.stdout.contains("9,nobody@contoso.com,invalid,"),
        "{}",
        csv.stdout
    );
    let human = run(&sim, env.cmd(&["assign", "--from", file, "--dry-run"])).await;
    assert!(
        human.stdout.contains("dry run, nothing changed"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("[user] no user 'nobody@contoso.com'"),
        "{}",
        human.stdout
    );
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn a_run_assigns_writes_results_and_a_rerun_converges() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = write_file(&env);
    let results = env.dir().join("results.jsonl");
    let args = [
        "-o",
        "json",
        "assign",
        "--from",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ];
    let out = run(&sim, env.cmd(&args)).await;
    out.expect(11);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "one line per non-empty row");
    assert_eq!(
        lines.iter().filter(|l| l["outcome"] == "assigned").count(),
        6
    );
    let writes = graph_writes(&sim);
    let again = run(&sim, env.cmd(&args)).await;
    again.expect(11);
    assert_eq!(graph_writes(&sim), writes, "a re-run writes nothing");
    let doc = again.json();
    let assigned = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "assigned")
        .count();
    assert_eq!(assigned, 6, "the journal remembers what this file assigned");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_row_before_connecting() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let path = env.dir().join("bad.csv");
    std::fs::write(&path, "user,colour\na@contoso.com,red\n").unwrap();
    let out = run(&sim, env.cmd(&["assign", "--from", path.to_str().unwrap()])).await;
    out.expect(11);
    assert!(
        out.stderr.contains("unknown column 'colour'"),
        "{}",
        out.stderr
    );
    std::fs::write(&path, "user,license-group\na@contoso.com\n").unwrap();
    let out = run(&sim, env.cmd(&["assign", "--from", path.to_str().unwrap()])).await;
    out.expect(11);
    assert!(
        out.stderr.contains("row 2 has 1 field(s)"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.sim().request_log().len(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_run_killed_mid_way_resumes_with_the_same_command_and_does_nothing_twice() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = write_file(&env);
    let journal = env.dir().join("onboarding.csv.journal");
    // Slow batches: the run is killed after the memberships, before the licences are confirmed.
    sim.sim().set_faults(vec![FaultRule {
        method: Some("POST".into()),
        path: Some("/v1.0/$batch".into()),
        tenant: None,
        action: w365_sim::faults::FaultAction::Latency(400),
        trigger: w365_sim::faults::Trigger::Always,
    }]);
    let args = ["assign", "--from", file.to_str().unwrap()];
    let clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    let mut child = env.std_cmd(&args).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains("\"groups\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never journaled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(clock);
    assert!(
        !std::fs::read_to_string(&journal)
            .unwrap()
            .contains("\"confirmed\"")
    );
    sim.sim().set_faults(Vec::new());
    let out = run(
        &sim,
        env.cmd(&["-o", "json", "assign", "--from", file.to_str().unwrap()]),
    )
    .await;
    out.expect(11);
    let doc = out.json();
    let assigned = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "assigned")
        .count();
    assert_eq!(assigned, 6, "{doc}");
    // Nothing done twice: each membership write once per user at most, nobody in a group twice.
    let client = sim.client();
    for name in [
        "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
        "cfg - Windows 365 - Provisioning - Win11",
    ] {
        let g = client.groups().find_by_display_name(name).await.unwrap();
        let members: Vec<String> = client
            .groups()
            .members(&g[0].id)
            .collect_all()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut unique = members.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), members.len(), "{name}");
    }
    assert!(sim.sim().outbox().is_empty(), "no mail, no ticket");
}

fn sandbox_cmd(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("w365").unwrap();
    cmd.env_clear()
        .env("HOME", dir)
        .env("W365_SANDBOX_DIR", dir.join("sandbox"))
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn sandbox_reset_with_users_generates_them_and_a_bulk_run_assigns_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = sandbox_cmd(dir.path())
        .args(["sandbox", "reset", "--users", "30"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("30 generated users"));
    let file = dir.path().join("new-hires.csv");
    let mut text = String::from("user\n");
    for i in 1..=30 {
        text.push_str(&format!("user{i:05}@contoso.com\n"));
    }
    std::fs::write(&file, text).unwrap();
    let out = sandbox_cmd(dir.path())
        .args([
            "-o",
            "json",
            "assign",
            "--sandbox",
            "--from",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{doc}");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter().filter(|r| r["outcome"] == "assigned").count(),
        30,
        "{doc}"
    );
    let out = sandbox_cmd(dir.path())
        .args(["sandbox", "reset", "--users", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1 and 100000"));
}
