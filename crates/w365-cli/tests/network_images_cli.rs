//! `w365 network ...`, `w365 image ...` and `w365 org-settings ...` against a simulator over
//! HTTP: human, JSON and CSV output, dry runs that write nothing, consent on deletes, the delete
//! refusals naming the provisioning policies, and missing permissions named.

use std::time::Duration;

use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, output_of};

const SUB: &str = "5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13";

fn subnet(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/contoso-cloudpc/providers/Microsoft.Network/virtualNetworks/contoso-vnet/subnets/{name}"
    )
}

/// Creates a provisioning policy straight through Graph (the test's setup, not the command under test).
async fn create_policy(sim: &TestSim, body: &serde_json::Value) {
    sim.client()
        .post::<_, serde_json::Value>(
            w365_graph::ApiVersion::V1,
            &w365_graph::odata::GraphPath::new([
                "deviceManagement",
                "virtualEndpoint",
                "provisioningPolicies",
            ]),
            body,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn network_list_show_in_json_csv_and_human() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["network", "list", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "network list");
    assert_eq!(doc["count"], 1);
    let c = &doc["networkConnections"][0];
    assert_eq!(c["displayName"], "Contoso East US network");
    assert_eq!(c["healthCheckStatus"], "passed");
    assert_eq!(c["inUse"], false);

    let out = output_of(env.cmd(&["network", "list", "-o", "csv"])).await;
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "id,displayName,connectionType,healthCheckStatus,failedChecks,virtualNetworkLocation,inUse,subnetId"
    );
    assert_eq!(lines.len(), 2);

    let out = output_of(env.cmd(&["network", "show", "contoso east us network"])).await;
    out.expect(0);
    assert!(
        out.stdout.contains("Azure subnet IP address usage"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("passed"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn network_create_dry_run_then_create_then_failed_check_is_shown_and_rerun_converges() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let full = subnet("cloudpcs-full");
    let args = [
        "network",
        "create",
        "--name",
        "Full subnet",
        "--join",
        "azure-ad",
        "--subnet-id",
        &full,
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = output_of(env.cmd(&dry)).await;
    out.expect(0);
    assert!(out.stdout.contains("Dry run"), "{}", out.stdout);
    assert!(out.stdout.contains("subnetId"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);

    let out = output_of(env.cmd(&args)).await;
    out.expect(0);
    assert!(out.stdout.contains("Created"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 1);
    // Re-running changes nothing.
    let out = output_of(env.cmd(&args)).await;
    out.expect(0);
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 1);

    sim.advance(Duration::from_secs(11 * 60)).await;
    let out = output_of(env.cmd(&["network", "show", "Full subnet", "-o", "json"])).await;
    out.expect(0);
    let c = &json(&out)["networkConnection"];
    assert_eq!(c["healthCheckStatus"], "failed");
    let failed: Vec<&serde_json::Value> = c["healthCheckStatusDetail"]["healthChecks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["errorType"],
        "resourceAvailabilityCheckNoSubnetIP"
    );
    let out = output_of(env.cmd(&["network", "list"])).await;
    assert!(
        out.stdout.contains("resourceAvailabilityCheckNoSubnetIP"),
        "{}",
        out.stdout
    );

    // Moving it to a good subnet: the checks run again and pass.
    let good = subnet("cloudpcs");
    let out = output_of(env.cmd(&["network", "update", "Full subnet", "--subnet-id", &good])).await;
    out.expect(0);
    assert!(out.stdout.contains("subnetId"), "{}", out.stdout);
    sim.advance(Duration::from_secs(11 * 60)).await;
    let out = output_of(env.cmd(&["network", "show", "Full subnet", "-o", "json"])).await;
    assert_eq!(
        json(&out)["networkConnection"]["healthCheckStatus"],
        "passed"
    );
}

#[tokio::test]
async fn network_create_refuses_bad_flags_before_reading_and_keeps_the_password_out_of_output() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&[
        "network",
        "create",
        "--name",
        "x",
        "--join",
        "azure-ad",
        "--subnet-id",
        "subnet-1",
    ]))
    .await;
    out.expect(2);
    assert!(out.stderr.contains("--subnet-id"), "{}", out.stderr);
    let good = subnet("cloudpcs");
    let out = output_of(env.cmd(&[
        "network",
        "create",
        "--name",
        "x",
        "--join",
        "hybrid",
        "--subnet-id",
        &good,
    ]))
    .await;
    out.expect(2);
    assert!(out.stderr.contains("--ad-domain-name"), "{}", out.stderr);
    assert_eq!(
        sim.sim().request_log().len(),
        0,
        "refused before any request"
    );

    let mut cmd = env.cmd(&[
        "network",
        "create",
        "--name",
        "Hybrid",
        "--join",
        "hybrid",
        "--subnet-id",
        &good,
        "--ad-domain-name",
        "corp.contoso.com",
        "--ad-domain-username",
        "join@contoso.com",
        "--ad-domain-password-env",
        "W365_TEST_JOIN_PASSWORD",
        "-o",
        "json",
    ]);
    cmd.env("W365_TEST_JOIN_PASSWORD", "S3cret-join-value");
    let out = output_of(cmd).await;
    out.expect(0);
    assert!(!out.stdout.contains("S3cret-join-value"));
    assert!(!out.stderr.contains("S3cret-join-value"));
    assert_eq!(json(&out)["changed"], true);
}

#[tokio::test]
async fn network_delete_is_refused_while_a_policy_uses_it_and_needs_consent() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let good = subnet("cloudpcs");
    output_of(env.cmd(&[
        "network",
        "create",
        "--name",
        "Spare",
        "--join",
        "azure-ad",
        "--subnet-id",
        &good,
    ]))
    .await
    .expect(0);
    // Without a terminal and without --yes: refused, exit 2, nothing deleted.
    let before = graph_writes(&sim);
    let out = output_of(env.cmd(&["network", "delete", "Spare"])).await;
    out.expect(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), before);
    let out = output_of(env.cmd(&["network", "delete", "Spare", "--dry-run"])).await;
    out.expect(0);
    assert_eq!(graph_writes(&sim), before);
    output_of(env.cmd(&["network", "delete", "Spare", "--yes"]))
        .await
        .expect(0);
    let out = output_of(env.cmd(&["network", "show", "Spare"])).await;
    out.expect(3);

    // In use: a provisioning policy joins through the seeded connection.
    let id =
        json(&output_of(env.cmd(&["network", "list", "-o", "json"])).await)["networkConnections"]
            [0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let token_policy = serde_json::json!({
        "displayName": "Network users",
        "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
        "imageDisplayName": "Windows 11",
        "imageType": "gallery",
        "provisioningType": "dedicated",
        "domainJoinConfigurations": [{"domainJoinType": "azureADJoin", "onPremisesConnectionId": id}],
    });
    create_policy(&sim, &token_policy).await;
    let out = output_of(env.cmd(&["network", "delete", "Contoso East US network", "--yes"])).await;
    out.expect(11);
    assert!(out.stderr.contains("Network users"), "{}", out.stderr);
}

#[tokio::test]
async fn network_check_explains_that_graph_refuses_application_permissions() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["network", "check", "Contoso East US network"])).await;
    out.expect(11);
    assert!(out.stderr.contains("delegated"), "{}", out.stderr);
    let out =
        output_of(env.cmd(&["network", "check", "Contoso East US network", "--dry-run"])).await;
    out.expect(0);
}

#[tokio::test]
async fn missing_permissions_are_named() {
    let sim = TestSim::contoso().await;
    let nothing = Env::new(&sim, Some(&["User.Read.All"]));
    for args in [
        vec!["network", "list"],
        vec!["network", "show", "Contoso East US network"],
        vec!["image", "list"],
        vec!["image", "show", "Contoso Finance Windows 11"],
        vec!["org-settings", "show"],
    ] {
        let out = output_of(nothing.cmd(&args)).await;
        out.expect(9);
        assert!(
            out.stderr.contains("CloudPC.Read.All"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let reader = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    let good = subnet("cloudpcs");
    let other = subnet("cloudpcs-2");
    for args in [
        vec![
            "network",
            "create",
            "--name",
            "n",
            "--join",
            "azure-ad",
            "--subnet-id",
            &good,
        ],
        vec!["org-settings", "update", "--single-sign-on", "true"],
        vec![
            "image",
            "import",
            "--name",
            "i",
            "--version",
            "1.0.0",
            "--source",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/i",
        ],
        vec!["image", "delete", "Contoso Finance Windows 11", "--yes"],
        vec![
            "network",
            "update",
            "Contoso East US network",
            "--subnet-id",
            &other,
        ],
        vec!["network", "delete", "Contoso East US network", "--yes"],
    ] {
        let out = output_of(reader.cmd(&args)).await;
        out.expect(9);
        assert!(
            out.stderr.contains("CloudPC.ReadWrite.All"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // The reader found what it was refused to change: the update and the delete reached Graph.
    let refused: Vec<String> = sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| {
            r.status == 403 && r.method != "GET" && r.path.contains("/onPremisesConnections/")
        })
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(refused, ["PATCH", "DELETE"]);
    let out = output_of(Env::new(&sim, None).cmd(&["network", "list", "-o", "json"])).await;
    let doc = json(&out);
    assert_eq!(doc["count"], 1);
    assert_eq!(doc["networkConnections"][0]["subnetId"], good.as_str());
}

#[tokio::test]
async fn image_list_filters_and_formats() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["image", "list", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["customImages"].as_array().unwrap().len(), 1);
    assert!(doc["galleryImages"].as_array().unwrap().len() >= 2);
    let out = output_of(env.cmd(&["image", "list", "--custom", "-o", "csv"])).await;
    out.expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "imageType,id,displayName,version,status,errorCode,operatingSystem"
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with("custom,"));
    let out = output_of(env.cmd(&["image", "list", "--gallery"])).await;
    out.expect(0);
    assert!(out.stdout.contains("0 custom"), "{}", out.stdout);
    let out = output_of(env.cmd(&["image", "show", "Contoso Finance Windows 11"])).await;
    out.expect(0);
    assert!(out.stdout.contains("ready"), "{}", out.stdout);
    let out = output_of(env.cmd(&["image", "show", "no such image"])).await;
    out.expect(3);
}

#[tokio::test]
async fn image_import_pending_then_failed_with_graphs_error_code_and_rerun_converges() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let source = format!(
        "/subscriptions/{SUB}/resourceGroups/images/providers/Microsoft.Compute/images/raw-notgeneralized"
    );
    let args = [
        "image",
        "import",
        "--name",
        "Raw",
        "--version",
        "1.0.0",
        "--source",
        &source,
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    output_of(env.cmd(&dry)).await.expect(0);
    assert_eq!(graph_writes(&sim), 0);
    let out = output_of(env.cmd(&args)).await;
    out.expect(0);
    assert!(out.stdout.contains("pending"), "{}", out.stdout);
    let out = output_of(env.cmd(&args)).await;
    out.expect(0);
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 1);
    sim.advance(Duration::from_secs(30 * 60)).await;
    let out = output_of(env.cmd(&["image", "show", "Raw", "-o", "json"])).await;
    let image = &json(&out)["image"];
    assert_eq!(image["status"], "failed");
    assert_eq!(image["errorCode"], "sourceImageNotGeneralized");

    let out = output_of(env.cmd(&[
        "image",
        "import",
        "--name",
        "Bad",
        "--version",
        "1.0.0",
        "--source",
        "image-1",
    ]))
    .await;
    out.expect(11);
    assert!(out.stderr.contains("managed image id"), "{}", out.stderr);
}

#[tokio::test]
async fn image_delete_names_the_policies_that_use_it_and_asks_consent() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["image", "list", "--custom", "-o", "json"])).await;
    let id = json(&out)["customImages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = output_of(env.cmd(&["image", "delete", &id])).await;
    out.expect(2);
    let policy = serde_json::json!({
        "displayName": "Finance desktops",
        "imageId": id,
        "imageDisplayName": "Contoso Finance Windows 11",
        "imageType": "custom",
        "provisioningType": "dedicated",
    });
    create_policy(&sim, &policy).await;
    let before = graph_writes(&sim);
    let out = output_of(env.cmd(&["image", "delete", &id, "--yes"])).await;
    out.expect(11);
    assert!(out.stderr.contains("Finance desktops"), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), before);
}

#[tokio::test]
async fn org_settings_show_and_update_with_a_dry_run_diff() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["org-settings", "show"])).await;
    out.expect(0);
    assert!(out.stdout.contains("windows11"), "{}", out.stdout);
    let out = output_of(env.cmd(&["org-settings", "show", "-o", "csv"])).await;
    assert!(
        out.stdout.starts_with("osVersion,userAccountType,"),
        "{}",
        out.stdout
    );

    let out = output_of(env.cmd(&[
        "org-settings",
        "update",
        "--language",
        "de-DE",
        "--os-version",
        "windows11",
        "--dry-run",
    ]))
    .await;
    out.expect(0);
    assert!(
        out.stdout
            .contains("windowsSettings.language: en-US -> de-DE"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("osVersion"),
        "unchanged values are not shown: {}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), 0);

    let out = output_of(env.cmd(&[
        "org-settings",
        "update",
        "--language",
        "de-DE",
        "-o",
        "json",
    ]))
    .await;
    out.expect(0);
    assert_eq!(json(&out)["changed"], true);
    assert_eq!(graph_writes(&sim), 1);
    let out = output_of(env.cmd(&["org-settings", "update", "--language", "de-DE"])).await;
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 1);

    let out = output_of(env.cmd(&["org-settings", "update", "--language", "not a tag"])).await;
    out.expect(2);
    let out = output_of(env.cmd(&["org-settings", "update"])).await;
    out.expect(2);
}

async fn stored_policy(sim: &TestSim, name: &str) -> w365_graph::models::ProvisioningPolicy {
    let found = sim
        .client()
        .provisioning_policies()
        .find_by_display_name(name)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{name}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn policy_files_name_the_image_and_the_network_connection_resolved_at_plan_time() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = env.dir().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("finance.toml"),
        "kind = \"provisioningPolicy\"\ndisplay_name = \"Finance by name\"\nimage_name = \"Contoso Finance Windows 11\"\n\
         provisioning_type = \"dedicated\"\n\n[[domain_join_configurations]]\ndomain_join_type = \"azureADJoin\"\n\
         network_connection = \"Contoso East US network\"\n",
    )
    .unwrap();
    let dir_s = dir.to_str().unwrap();
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert_eq!(graph_writes(&sim), 0);
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(0);
    let images = json(&output_of(env.cmd(&["image", "list", "--custom", "-o", "json"])).await);
    let networks = json(&output_of(env.cmd(&["network", "list", "-o", "json"])).await);
    let p = stored_policy(&sim, "Finance by name").await;
    assert_eq!(
        p.image_id.as_deref(),
        images["customImages"][0]["id"].as_str()
    );
    assert_eq!(p.image_type, Some(w365_graph::models::ImageType::Custom));
    assert_eq!(
        p.image_display_name.as_deref(),
        Some("Contoso Finance Windows 11")
    );
    let join = &p.domain_join_configurations.as_ref().unwrap()[0];
    assert_eq!(
        join.on_premises_connection_id.as_deref(),
        networks["networkConnections"][0]["id"].as_str()
    );
    // A re-run converges: the names resolve to what the policy already has.
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);
    // Now the image and the connection are in use.
    let out = output_of(env.cmd(&["network", "list", "-o", "json"])).await;
    assert_eq!(json(&out)["networkConnections"][0]["inUse"], true);
    let out = output_of(env.cmd(&["image", "delete", "Contoso Finance Windows 11", "--yes"])).await;
    out.expect(11);
    assert!(out.stderr.contains("Finance by name"), "{}", out.stderr);

    // A gallery image by its display name; a name that matches nothing is a clear error.
    let file = env.dir().join("gallery.toml");
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\ndisplay_name = \"Gallery by name\"\n\
         image_name = \"Windows 11 Enterprise + Microsoft 365 Apps 24H2\"\nprovisioning_type = \"dedicated\"\n",
    )
    .unwrap();
    output_of(env.cmd(&["policy", "create", "--file", file.to_str().unwrap()]))
        .await
        .expect(0);
    let p = stored_policy(&sim, "Gallery by name").await;
    assert_eq!(
        p.image_id.as_deref(),
        Some("microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365")
    );
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\ndisplay_name = \"Nowhere\"\nimage_name = \"No such image\"\nprovisioning_type = \"dedicated\"\n",
    )
    .unwrap();
    let out = output_of(env.cmd(&["policy", "create", "--file", file.to_str().unwrap()])).await;
    out.expect(3);
    assert!(out.stderr.contains("No such image"), "{}", out.stderr);

    // Two connections of the same name: ambiguous, with their ids.
    let good = subnet("cloudpcs");
    for _ in 0..2 {
        create_connection_twice_named(&sim, &good).await;
    }
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\ndisplay_name = \"Twice\"\nimage_name = \"Contoso Finance Windows 11\"\n\
         provisioning_type = \"dedicated\"\n\n[[domain_join_configurations]]\nnetwork_connection = \"Twin\"\n",
    )
    .unwrap();
    let out = output_of(env.cmd(&["policy", "create", "--file", file.to_str().unwrap()])).await;
    out.expect(4);
    assert!(out.stderr.contains("ambiguous"), "{}", out.stderr);
}

/// A connection named "Twin" created through Graph (w365 itself refuses a second one by name).
async fn create_connection_twice_named(sim: &TestSim, subnet: &str) {
    let vnet = subnet.split("/subnets/").next().unwrap();
    let body = serde_json::json!({
        "displayName": "Twin",
        "connectionType": "azureADJoin",
        "subscriptionId": SUB,
        "resourceGroupId": format!("/subscriptions/{SUB}/resourceGroups/contoso-cloudpc"),
        "virtualNetworkId": vnet,
        "subnetId": subnet,
    });
    sim.client()
        .post::<_, serde_json::Value>(
            w365_graph::ApiVersion::V1,
            &w365_graph::odata::GraphPath::new([
                "deviceManagement",
                "virtualEndpoint",
                "onPremisesConnections",
            ]),
            &body,
        )
        .await
        .unwrap();
}
