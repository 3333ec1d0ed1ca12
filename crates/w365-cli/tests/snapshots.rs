//! `w365 snapshot list|create` and `w365 cloudpc restore --snapshot|--latest|--before` against a
//! simulator over HTTP (restore points on the user settings schedule, virtual clock).

use std::time::Duration;

use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, output_of, run};

const ALICE: &str = "alice.smith@contoso.com";

#[tokio::test]
async fn snapshot_list_in_json_csv_and_human_newest_first() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["snapshot", "list", ALICE, "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "snapshot list");
    assert_eq!(doc["userPrincipalName"], ALICE);
    // alice's user settings policy takes one every six hours; ten are kept.
    assert_eq!(doc["count"], 10);
    let times: Vec<&str> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["createdDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(doc["snapshots"][0]["snapshotType"], "automatic");

    let out = run(&sim, env.cmd(&["snapshot", "list", ALICE, "-o", "csv"])).await;
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "id,createdDateTime,snapshotType,status,expirationDateTime,lastRestoredDateTime"
    );
    assert_eq!(lines.len(), 11);

    let out = run(&sim, env.cmd(&["snapshot", "list", ALICE])).await;
    out.expect(0);
    assert!(out.stdout.contains("10 restore point(s)"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn snapshot_create_dry_run_writes_nothing_and_the_manual_point_appears() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["snapshot", "create", ALICE, "--dry-run"])).await;
    out.expect(0);
    assert!(out.stdout.contains("Dry run"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);

    let out = output_of(env.cmd(&["snapshot", "create", ALICE, "-o", "json"])).await;
    out.expect(0);
    assert_eq!(json(&out)["requested"], true);
    sim.advance(Duration::from_secs(5 * 60)).await;
    let out = output_of(env.cmd(&["snapshot", "list", ALICE, "-o", "json"])).await;
    let doc = json(&out);
    let manual = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["snapshotType"] == "manual")
        .count();
    assert_eq!(manual, 1, "{doc:#}");

    // A Cloud PC that does not run cannot take one (erin's failed).
    let out = run(
        &sim,
        env.cmd(&["snapshot", "create", "erin.davis@contoso.com"]),
    )
    .await;
    out.expect(11);
    assert!(out.stderr.contains("failed"), "{}", out.stderr);
}

#[tokio::test]
async fn restore_names_the_restore_point_asks_and_validates_the_choice() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let list = json(&output_of(env.cmd(&["snapshot", "list", ALICE, "-o", "json"])).await);
    let snaps = list["snapshots"].as_array().unwrap().clone();
    let newest = snaps[0]["id"].as_str().unwrap().to_owned();
    let third = snaps[2]["id"].as_str().unwrap().to_owned();
    let second_time = snaps[1]["createdDateTime"].as_str().unwrap().to_owned();

    // Exactly one choice.
    let out = output_of(env.cmd(&["cloudpc", "restore", ALICE, "--yes"])).await;
    out.expect(2);
    let out = output_of(env.cmd(&[
        "cloudpc",
        "restore",
        ALICE,
        "--latest",
        "--before",
        "2026-01-01",
    ]))
    .await;
    out.expect(2);
    let out = output_of(env.cmd(&["cloudpc", "restore", ALICE, "--before", "yesterday"])).await;
    out.expect(2);
    assert!(out.stderr.contains("RFC 3339"), "{}", out.stderr);

    // An id that is not one of alice's restore points: refused before any write.
    let out = output_of(env.cmd(&[
        "cloudpc",
        "restore",
        ALICE,
        "--snapshot",
        "snapshot-1",
        "--yes",
    ]))
    .await;
    out.expect(11);
    assert!(
        out.stderr.contains("'snapshot-1' is not a restore point"),
        "{}",
        out.stderr
    );
    // Nothing older than all of them.
    let out = output_of(env.cmd(&[
        "cloudpc",
        "restore",
        ALICE,
        "--before",
        "2000-01-01",
        "--yes",
    ]))
    .await;
    out.expect(11);
    assert!(
        out.stderr.contains("no restore point before"),
        "{}",
        out.stderr
    );
    // No terminal and no --yes: refused for lack of consent (exit 2, the CLI's one consent
    // policy), nothing changes.
    let out = output_of(env.cmd(&["cloudpc", "restore", ALICE, "--latest"])).await;
    out.expect(2);
    assert!(
        out.stderr.contains(&newest),
        "names the restore point: {}",
        out.stderr
    );
    assert!(out.stderr.contains("lost"), "{}", out.stderr);
    // Dry run shows the choice and writes nothing.
    let out = output_of(env.cmd(&[
        "cloudpc",
        "restore",
        ALICE,
        "--before",
        &second_time,
        "--dry-run",
    ]))
    .await;
    out.expect(0);
    assert!(
        out.stdout.contains(&third),
        "newest strictly before: {}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), 0);

    let out = output_of(env.cmd(&[
        "cloudpc", "restore", ALICE, "--latest", "--yes", "-o", "json",
    ]))
    .await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "cloudpc restore");
    assert_eq!(doc["restorePoint"]["id"], newest.as_str());
    let show = json(&output_of(env.cmd(&["cloudpc", "show", ALICE, "-o", "json"])).await);
    assert_eq!(show["cloudPcs"][0]["status"], "restoring");
    let list = json(&output_of(env.cmd(&["snapshot", "list", ALICE, "-o", "json"])).await);
    assert!(list["snapshots"][0]["lastRestoredDateTime"].is_string());
    // While it restores, another restore is refused before the question (exit 11).
    let out = output_of(env.cmd(&["cloudpc", "restore", ALICE, "--latest", "--yes"])).await;
    out.expect(11);
    assert!(out.stderr.contains("restoring"), "{}", out.stderr);
}

#[tokio::test]
async fn snapshots_need_cloudpc_readwrite_all_even_to_list() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    let out = run(&sim, env.cmd(&["snapshot", "list", ALICE])).await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "restore", ALICE, "--latest", "--yes"]),
    )
    .await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    let before = sim.sim().request_log().len();
    let out = run(&sim, env.cmd(&["snapshot", "create", ALICE])).await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    let refused: Vec<String> = sim.sim().request_log()[before..]
        .iter()
        .filter(|r| r.status == 403)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        refused.len() == 1
            && refused[0].starts_with("POST ")
            && refused[0].ends_with("/createSnapshot"),
        "the Cloud PC is found with CloudPC.Read.All, the restore point is refused: {refused:?}"
    );
    let env = Env::new(&sim, Some(&["CloudPC.ReadWrite.All"]));
    let out = run(&sim, env.cmd(&["snapshot", "list", ALICE])).await;
    out.expect(0);
    let out = run(&sim, env.cmd(&["snapshot", "create", ALICE])).await;
    out.expect(0);
}
