//! `w365 audit-events`, `w365 bulk-action` and `w365 regions` against a simulator over HTTP,
//! including the permission each needs and the region check of `policy create`.

use std::time::Duration;

use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, output_of};

fn pc_of(sim: &TestSim, upn: &str) -> String {
    sim.sim().with_state(|s| {
        s.default_tenant()
            .unwrap()
            .w365
            .cloud_pcs()
            .iter()
            .find(|c| c.user_principal_name == upn)
            .map(|c| c.id.clone())
            .unwrap()
    })
}

#[tokio::test]
async fn audit_events_lists_every_change_with_filters_and_needs_cloudpc_read_all() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    // Two changes through the CLI: a rename and a troubleshoot.
    let alice = pc_of(&sim, "alice.smith@contoso.com");
    output_of(env.cmd(&["cloudpc", "rename", &alice, "--name", "Alice PC", "--yes"]))
        .await
        .expect(0);
    output_of(env.cmd(&["cloudpc", "troubleshoot", &alice]))
        .await
        .expect(0);
    let out = output_of(env.cmd(&["audit-events", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "audit-events");
    let events = doc["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["activityType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Rename CloudPC", "Troubleshoot CloudPC"], "{doc:#}");
    assert_eq!(events[0]["resources"][0]["resourceId"], alice.as_str());
    let app = events[0]["actor"]["applicationDisplayName"]
        .as_str()
        .unwrap()
        .to_owned();

    // --activity (Graph $filter), --actor (the app, for app-only changes), --since.
    let out = output_of(env.cmd(&[
        "audit-events",
        "--activity",
        "Troubleshoot CloudPC",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    assert_eq!(json(&out)["count"], 1);
    let out = output_of(env.cmd(&["audit-events", "--actor", &app, "-o", "json"])).await;
    assert_eq!(json(&out)["count"], 2);
    let out = output_of(env.cmd(&[
        "audit-events",
        "--actor",
        "someone@contoso.com",
        "-o",
        "json",
    ]))
    .await;
    assert_eq!(json(&out)["count"], 0);
    sim.advance(Duration::from_secs(3600)).await;
    let since = (sim.sim().now() - time::Duration::minutes(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let out = output_of(env.cmd(&["audit-events", "--since", &since, "-o", "json"])).await;
    assert_eq!(
        json(&out)["count"],
        0,
        "both changes are older than an hour"
    );
    let out = output_of(env.cmd(&["audit-events", "--since", "yesterday"])).await;
    out.expect(2);
    assert!(out.stderr.contains("RFC 3339"), "{}", out.stderr);

    // Human and CSV.
    let out = output_of(env.cmd(&["audit-events"])).await;
    out.expect(0);
    assert!(out.stdout.contains("Rename CloudPC") && out.stdout.contains("2 audit event(s)"));
    let out = output_of(env.cmd(&["audit-events", "-o", "csv"])).await;
    assert!(out.stdout.starts_with(
        "activityDateTime,activityType,activityOperationType,activityResult,actor,resourceId,resourceDisplayName,id"
    ));
    let out = output_of(env.cmd(&["audit-events", "--activity-types"])).await;
    assert!(
        out.stdout.contains("Troubleshoot CloudPC"),
        "{}",
        out.stdout
    );
    let out = output_of(env.cmd(&["audit-events", "--activity-types", "-o", "csv"])).await;
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "activityType");
    assert!(lines.contains(&"Troubleshoot CloudPC"), "{}", out.stdout);

    // Permission: CloudPC.Read.All is enough; without it, exit 9 naming it.
    let reader = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    output_of(reader.cmd(&["audit-events"])).await.expect(0);
    let none = Env::new(&sim, Some(&["User.Read.All"]));
    let out = output_of(none.cmd(&["audit-events"])).await;
    out.expect(9);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}

#[tokio::test]
async fn bulk_action_plans_asks_creates_and_shows_each_cloud_pc() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let policy = "cfg - Windows 365 - Provisioning - Win10";
    let frank = pc_of(&sim, "frank.miller@contoso.com");

    // --dry-run: the plan, nothing sent.
    let before = graph_writes(&sim);
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "reboot",
        "--policy",
        policy,
        "--dry-run",
    ]))
    .await;
    out.expect(0);
    assert!(
        out.stdout.contains("dry run") && out.stdout.contains("frank.miller@contoso.com"),
        "{}",
        out.stdout
    );
    // Destructive without --yes and without a terminal: refused, exit 2, nothing sent.
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "reboot",
        "--policy",
        policy,
    ]))
    .await;
    out.expect(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), before, "nothing was sent");

    // With consent.
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "reboot",
        "--policy",
        policy,
        "--name",
        "weekly",
        "--yes",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    let doc = json(&out);
    let id = doc["bulkAction"]["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["plan"]["cloudPcs"][0]["id"], frank.as_str());
    assert_eq!(doc["bulkAction"]["status"], "pending");

    // Troubleshoot is not destructive: no --yes needed; by user and by id.
    let alice = pc_of(&sim, "alice.smith@contoso.com");
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "troubleshoot",
        "--cloud-pc",
        "bob.jones@contoso.com",
        "--cloud-pc",
        &alice,
    ]))
    .await;
    out.expect(0);
    assert!(
        out.stdout.contains("cloudPcBulkTroubleshoot"),
        "{}",
        out.stdout
    );

    sim.advance(Duration::from_secs(10 * 60)).await;
    let out = output_of(env.cmd(&["bulk-action", "show", &id, "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["bulkAction"]["status"], "succeeded", "{doc:#}");
    assert_eq!(doc["devices"][0]["cloudPcId"], frank.as_str());
    assert_eq!(doc["devices"][0]["actionState"], "done");
    let out = output_of(env.cmd(&["bulk-action", "show", &id])).await;
    assert!(out.stdout.contains("1 done, 0 failed"), "{}", out.stdout);
    let out = output_of(env.cmd(&["bulk-action", "show", &id, "-o", "csv"])).await;
    assert!(
        out.stdout
            .starts_with("cloudPcId,displayName,userPrincipalName,actionState"),
        "{}",
        out.stdout
    );

    let out = output_of(env.cmd(&["bulk-action", "list", "-o", "json"])).await;
    out.expect(0);
    assert_eq!(json(&out)["count"], 2);
    let out = output_of(env.cmd(&["bulk-action", "list", "-o", "csv"])).await;
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);

    // Bad input: clear errors.
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "restore",
        "--group",
        "Engineering",
        "--yes",
    ]))
    .await;
    out.expect(2);
    assert!(out.stderr.contains("--restore-point"), "{}", out.stderr);
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "reboot",
        "--policy",
        "no such policy",
        "--yes",
    ]))
    .await;
    out.expect(3);
    let out = output_of(env.cmd(&[
        "bulk-action",
        "show",
        "00000000-0000-0000-0000-000000000000",
    ]))
    .await;
    out.expect(3);

    // Permissions: list/show with CloudPC.Read.All; create needs CloudPC.ReadWrite.All.
    let reader = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    output_of(reader.cmd(&["bulk-action", "list"]))
        .await
        .expect(0);
    let out = output_of(reader.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "troubleshoot",
        "--cloud-pc",
        &alice,
    ]))
    .await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    output_of(reader.cmd(&["bulk-action", "show", &id]))
        .await
        .expect(0);
    let none = Env::new(&sim, Some(&["User.Read.All"]));
    for args in [
        vec!["bulk-action", "list"],
        vec!["bulk-action", "show", &id],
    ] {
        let out = output_of(none.cmd(&args)).await;
        out.expect(9);
        assert!(
            out.stderr.contains("CloudPC.Read.All"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn bulk_action_by_group_reaches_the_members_cloud_pcs() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "troubleshoot",
        "--group",
        "Engineering",
        "--dry-run",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    let doc = json(&out);
    // Engineering's direct members with a Cloud PC: carol, dave, irene, kate, liam.
    let mut users: Vec<&str> = doc["plan"]["cloudPcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userPrincipalName"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        [
            "carol.white@contoso.com",
            "dave.brown@contoso.com",
            "irene.taylor@contoso.com",
            "kate.thomas@contoso.com",
            "liam.jackson@contoso.com"
        ]
    );
    assert!(doc["bulkAction"].is_null(), "a dry run creates nothing");
    // Two groups are named Sales: refused with both ids (exit 4).
    let out = output_of(env.cmd(&[
        "bulk-action",
        "create",
        "--action",
        "troubleshoot",
        "--group",
        "Sales",
    ]))
    .await;
    out.expect(4);
}

#[tokio::test]
async fn regions_lists_supported_regions_and_policy_create_refuses_unknown_ones() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["regions", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    let regions = doc["regions"].as_array().unwrap();
    assert!(
        regions
            .iter()
            .any(|r| r["displayName"] == "westeurope" && r["regionGroup"] == "europeUnion")
    );
    let out = output_of(env.cmd(&["regions"])).await;
    assert!(out.stdout.contains("region group(s)"), "{}", out.stdout);
    let out = output_of(env.cmd(&["regions", "-o", "csv"])).await;
    assert!(
        out.stdout
            .starts_with("name,regionGroup,geographicLocationType,regionStatus")
    );

    let create = |region: &str| {
        env.cmd(&[
            "policy",
            "create",
            "--display-name",
            "Region check",
            "--image-type",
            "gallery",
            "--image-id",
            "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
            "--image-display-name",
            "Windows 11",
            "--join-type",
            "azureADJoin",
            "--region-name",
            region,
            "--dry-run",
        ])
    };
    let out = output_of(create("westeurop")).await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("'westeurop' is not a supported Windows 365 region"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("westeurope"),
        "the valid names are listed: {}",
        out.stderr
    );
    output_of(create("westeurope")).await.expect(0);
    output_of(create("automatic")).await.expect(0);

    let none = Env::new(&sim, Some(&["User.Read.All"]));
    let out = output_of(none.cmd(&["regions"])).await;
    out.expect(9);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}

/// Writes sent to provisioning policies (the simulator's request log).
fn policy_writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/provisioningPolicies"))
        .count()
}

#[tokio::test]
async fn policy_update_and_apply_region_refuse_unknown_regions_and_accept_supported_ones() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    // A policy whose region has a typo, made straight through Graph (the simulator stores any
    // region name, as w365 would refuse to create it).
    sim.client()
        .post::<_, serde_json::Value>(
            w365_graph::ApiVersion::V1,
            &w365_graph::odata::GraphPath::new([
                "deviceManagement",
                "virtualEndpoint",
                "provisioningPolicies",
            ]),
            &serde_json::json!({
                "displayName": "Typo region",
                "provisioningType": "dedicated",
                "imageType": "gallery",
                "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
                "imageDisplayName": "Windows 11",
                "domainJoinConfigurations": [{
                    "domainJoinType": "azureADJoin",
                    "regionName": "westeurop",
                    "regionGroup": "europeUnion"
                }]
            }),
        )
        .await
        .unwrap();
    let writes = policy_writes(&sim);

    // apply --setting region: the region the Cloud PCs would move to is checked first.
    let out = output_of(env.cmd(&[
        "policy",
        "apply",
        "Typo region",
        "--setting",
        "region",
        "--yes",
    ]))
    .await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("'westeurop' is not a supported Windows 365 region"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("westeurope"), "{}", out.stderr);
    // Single sign-on moves no Cloud PC: its region is not checked.
    output_of(env.cmd(&[
        "policy",
        "apply",
        "Typo region",
        "--setting",
        "single-sign-on",
        "--dry-run",
    ]))
    .await
    .expect(0);

    // update: an unknown region name or region group is refused with the valid ones.
    let out = output_of(env.cmd(&[
        "policy",
        "update",
        "Typo region",
        "--region-name",
        "northeurop",
        "--yes",
    ]))
    .await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("'northeurop' is not a supported Windows 365 region"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("northeurope"), "{}", out.stderr);
    let out = output_of(env.cmd(&[
        "policy",
        "update",
        "Typo region",
        "--region-name",
        "westeurope",
        "--region-group",
        "europ",
        "--yes",
    ]))
    .await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("'europ' is not the group of any supported region"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("europeUnion"), "{}", out.stderr);
    assert_eq!(policy_writes(&sim), writes, "nothing was sent");

    // A supported region: the update goes through, and apply accepts it.
    output_of(env.cmd(&[
        "policy",
        "update",
        "Typo region",
        "--region-name",
        "westeurope",
        "--yes",
    ]))
    .await
    .expect(0);
    assert_eq!(policy_writes(&sim), writes + 1);
    let out = output_of(env.cmd(&[
        "policy",
        "apply",
        "Typo region",
        "--setting",
        "region",
        "--yes",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    assert_eq!(json(&out)["ok"], true);
    assert_eq!(policy_writes(&sim), writes + 2);
}

/// GETs of a collection (by the end of its path) in the request log after `from`, with whether
/// each asked for a next page (`$skiptoken`).
fn collection_gets(sim: &TestSim, from: usize, collection: &str) -> Vec<bool> {
    sim.sim().request_log()[from..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(collection))
        .map(|r| r.query.as_deref().unwrap_or_default().contains("skiptoken"))
        .collect()
}

#[tokio::test]
async fn audit_events_and_bulk_action_list_follow_every_page() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let alice = pc_of(&sim, "alice.smith@contoso.com");
    // 130 bulk actions straight through Graph (the test's setup): 130 audit events, 130 bulk
    // actions; the simulator's pages (as Graph's without $top) hold 100.
    const N: usize = 130;
    for i in 0..N {
        sim.client()
            .bulk_actions()
            .create(&w365_graph::resources::BulkActionRequest {
                odata_type: "#microsoft.graph.cloudPcBulkTroubleshoot".into(),
                display_name: format!("paging {i:03}"),
                cloud_pc_ids: vec![alice.clone()],
                target_service_plan_id: None,
                restore_point_date_time: None,
                time_range: None,
            })
            .await
            .unwrap();
    }
    let expected: Vec<String> = (0..N).map(|i| format!("paging {i:03}")).collect();

    let from = sim.sim().request_log().len();
    let out = output_of(env.cmd(&["audit-events", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["count"], N);
    let named: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resources"][0]["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(named, expected, "every event once, oldest first");
    assert_eq!(
        collection_gets(&sim, from, "/auditEvents"),
        [false, true],
        "two pages"
    );

    // A filtered listing keeps its filter on the next page.
    let from = sim.sim().request_log().len();
    let out = output_of(env.cmd(&[
        "audit-events",
        "--activity",
        "Create BulkAction",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    assert_eq!(json(&out)["count"], N);
    let log = sim.sim().request_log();
    let pages: Vec<&str> = log[from..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/auditEvents"))
        .map(|r| r.query.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages.iter().all(|q| q.contains("filter")),
        "the filter is on both pages: {pages:?}"
    );
    let out = output_of(env.cmd(&["audit-events", "-o", "csv"])).await;
    assert_eq!(
        out.stdout.lines().count(),
        N + 1,
        "the header and every event"
    );

    let from = sim.sim().request_log().len();
    let out = output_of(env.cmd(&["bulk-action", "list", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["count"], N);
    let mut names: Vec<&str> = doc["bulkActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, expected, "every bulk action once");
    assert_eq!(
        collection_gets(&sim, from, "/bulkActions"),
        [false, true],
        "two pages"
    );
    let out = output_of(env.cmd(&["bulk-action", "list"])).await;
    out.expect(0);
    assert!(out.stdout.contains("paging 129"), "{}", out.stdout);
}

/// A Cloud PC of the simulator's state: (status, power state).
fn pc_state(
    sim: &TestSim,
    id: &str,
) -> (
    w365_sim::state::windows365::CloudPcStatus,
    w365_sim::state::windows365::PowerState,
) {
    sim.sim().with_state(|s| {
        let pc = s
            .default_tenant()
            .unwrap()
            .w365
            .cloud_pcs()
            .iter()
            .find(|c| c.id == id)
            .unwrap();
        (pc.status, pc.power_state)
    })
}

/// `bulk-action show ID -o json`: the action's status and each Cloud PC's state by id.
async fn bulk_states(env: &Env, id: &str) -> (String, Vec<(String, String)>) {
    let out = output_of(env.cmd(&["bulk-action", "show", id, "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    let devices = doc["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["cloudPcId"].as_str().unwrap().to_owned(),
                d["actionState"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (
        doc["bulkAction"]["status"].as_str().unwrap().to_owned(),
        devices,
    )
}

#[tokio::test]
async fn bulk_power_off_power_on_and_reprovision_run_device_by_device() {
    use w365_sim::state::windows365::{CloudPcStatus, PowerState};
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let kate = pc_of(&sim, "kate.thomas@contoso.com"); // Frontline
    let alice = pc_of(&sim, "alice.smith@contoso.com"); // Enterprise
    let create = |action: &str, pcs: &[&str], extra: &[&str]| {
        let mut args = vec!["bulk-action", "create", "--action", action];
        for pc in pcs {
            args.extend(["--cloud-pc", pc]);
        }
        args.extend(extra);
        args.extend(["-o", "json"]);
        env.cmd(&args)
    };

    // power-off ends the users' sessions: consent first, nothing sent without it.
    let before = graph_writes(&sim);
    let out = output_of(create("power-off", &[&kate, &alice], &[])).await;
    out.expect(2);
    assert_eq!(graph_writes(&sim), before);
    let out = output_of(create("power-off", &[&kate, &alice], &["--yes"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(
        doc["bulkAction"]["@odata.type"],
        "#microsoft.graph.cloudPcBulkPowerOff"
    );
    let off = doc["bulkAction"]["id"].as_str().unwrap().to_owned();
    sim.advance(Duration::from_secs(5 * 60)).await;
    let (status, devices) = bulk_states(&env, &off).await;
    assert_eq!(
        devices,
        [
            (kate.clone(), "done".to_owned()),
            (alice.clone(), "notSupported".to_owned())
        ]
    );
    assert_eq!(status, "failed", "a device was not supported");
    assert_eq!(pc_state(&sim, &kate).1, PowerState::PoweredOff);
    assert_eq!(pc_state(&sim, &alice).1, PowerState::Running);
    let out = output_of(env.cmd(&["bulk-action", "show", &off])).await;
    assert!(
        out.stdout
            .contains("power actions apply only to Windows 365 Frontline"),
        "the reason a device was not supported: {}",
        out.stdout
    );

    // power-on is not destructive: no consent needed.
    let out = output_of(create("power-on", &[&kate], &[])).await;
    out.expect(0);
    let on = json(&out)["bulkAction"]["id"].as_str().unwrap().to_owned();
    sim.advance(Duration::from_secs(5 * 60)).await;
    let (status, devices) = bulk_states(&env, &on).await;
    assert_eq!(status, "succeeded");
    assert_eq!(devices, [(kate.clone(), "done".to_owned())]);
    assert_eq!(pc_state(&sim, &kate).1, PowerState::Running);

    // reprovision recreates the Cloud PC: consent; the device is active until it is back.
    let out = output_of(create("reprovision", &[&alice], &[])).await;
    out.expect(2);
    let out = output_of(create("reprovision", &[&alice], &["--yes"])).await;
    out.expect(0);
    let re = json(&out)["bulkAction"]["id"].as_str().unwrap().to_owned();
    sim.advance(Duration::from_secs(2 * 60)).await;
    let (status, devices) = bulk_states(&env, &re).await;
    assert_eq!(status, "pending");
    assert_eq!(devices, [(alice.clone(), "active".to_owned())]);
    assert_ne!(pc_state(&sim, &alice).0, CloudPcStatus::Provisioned);
    sim.advance(Duration::from_secs(2 * 3600)).await;
    let (status, devices) = bulk_states(&env, &re).await;
    assert_eq!(status, "succeeded");
    assert_eq!(devices, [(alice.clone(), "done".to_owned())]);
    assert_eq!(pc_state(&sim, &alice).0, CloudPcStatus::Provisioned);
}
