//! `w365 unassign --from FILE` through the binary against the simulator over HTTP.

use crate::common::{Env, graph_writes, run};
use w365_testkit::TestSim;

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";

/// Two users with the licence and a Cloud PC (rows 2, 3), one with nothing (row 4), an empty row.
fn write_file(env: &Env, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "user,license-group\nalice.smith@contoso.com,\nbob.jones@contoso.com,{LIC_128}\nhenry.moore@contoso.com,\n,\n{extra}"
    );
    let path = env.dir().join("offboarding.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn outcome(doc: &serde_json::Value, row: u64) -> String {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no row {row}: {doc}"))
}

async fn license_members(sim: &TestSim) -> Vec<String> {
    let client = sim.client();
    let g = client.groups().find_by_display_name(LIC_128).await.unwrap();
    client
        .groups()
        .members(&g[0].id)
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

async fn user_id(sim: &TestSim, upn: &str) -> String {
    sim.client()
        .users()
        .find_by_upn(upn)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn dry_run_plans_every_row_with_reads_only() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let before = license_members(&sim).await;
    let file = write_file(&env, "nobody@contoso.com,\nmegan.bowen@contoso.com,x,\n");
    let file = file.to_str().unwrap();
    let out = run(
        &sim,
        env.cmd(&["-o", "json", "unassign", "--from", file, "--dry-run"]),
    )
    .await;
    // Row 7 has three fields under a two-column header: the whole file is refused.
    out.expect(11);
    assert!(
        out.stderr.contains("row 7 has 3 field(s)"),
        "{}",
        out.stderr
    );
    let file = write_file(&env, "nobody@contoso.com,\n");
    let file = file.to_str().unwrap();
    let out = run(
        &sim,
        env.cmd(&["-o", "json", "unassign", "--from", file, "--dry-run"]),
    )
    .await;
    out.expect(11); // an invalid row (unknown user)
    let doc = out.json();
    assert_eq!(outcome(&doc, 2), "unassign");
    assert_eq!(outcome(&doc, 3), "unassign");
    assert_eq!(outcome(&doc, 4), "nothingToDo");
    assert_eq!(outcome(&doc, 6), "invalid");
    assert_eq!(doc["emptyRows"], serde_json::json!([5]));
    assert_eq!(doc["dryRun"], true);
    let human = run(&sim, env.cmd(&["unassign", "--from", file, "--dry-run"])).await;
    assert!(
        human.stdout.contains("dry run, nothing changed"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("remove alice.smith@contoso.com"),
        "{}",
        human.stdout
    );
    assert_eq!(graph_writes(&sim), 0);
    assert_eq!(license_members(&sim).await, before);
}

#[tokio::test]
async fn without_yes_it_is_refused_and_nothing_is_written() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = write_file(&env, "");
    let results = env.dir().join("results.csv");
    let out = run(
        &sim,
        env.cmd(&[
            "unassign",
            "--from",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ]),
    )
    .await;
    out.expect(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), 0);
    assert!(!results.exists(), "no results file");
    assert!(
        !env.dir().join("offboarding.csv.unassign.journal").exists(),
        "no journal"
    );
}

#[tokio::test]
async fn with_yes_a_run_converges_and_a_rerun_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = write_file(&env, "");
    let before = license_members(&sim).await;
    let results = env.dir().join("results.jsonl");
    let args = [
        "-o",
        "json",
        "unassign",
        "--from",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--yes",
    ];
    let out = run(&sim, env.cmd(&args)).await;
    out.expect(0);
    let doc = out.json();
    assert_eq!(outcome(&doc, 2), "unassigned", "{doc}");
    assert_eq!(outcome(&doc, 3), "unassigned", "{doc}");
    assert_eq!(outcome(&doc, 4), "nothingToDo", "{doc}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per non-empty row");
    let gone = [
        user_id(&sim, "alice.smith@contoso.com").await,
        user_id(&sim, "bob.jones@contoso.com").await,
    ];
    let expected: Vec<String> = before
        .iter()
        .filter(|m| !gone.contains(m))
        .cloned()
        .collect();
    assert_eq!(expected.len() + 2, before.len(), "both had the licence");
    assert_eq!(
        license_members(&sim).await,
        expected,
        "alice and bob lost the licence; the users not in the file keep it"
    );
    // Their Cloud PCs left the grace period (the default, as single unassign).
    let pcs = sim.client().cloud_pcs().list(None).await.unwrap();
    for upn in ["alice.smith@contoso.com", "bob.jones@contoso.com"] {
        let pc = pcs
            .iter()
            .find(|p| p.user_principal_name.as_deref() == Some(upn))
            .unwrap();
        assert_eq!(
            pc.status.as_ref().map(|s| s.as_str()),
            Some("deprovisioning"),
            "{upn}"
        );
    }
    let writes = graph_writes(&sim);
    assert!(writes > 0);
    let again = run(&sim, env.cmd(&args)).await;
    again.expect(0);
    assert_eq!(graph_writes(&sim), writes, "a re-run writes nothing");
    let doc = again.json();
    assert_eq!(
        outcome(&doc, 2),
        "unassigned",
        "the journal remembers: {doc}"
    );
    assert_eq!(outcome(&doc, 4), "nothingToDo");
}
