//! Azure network connections, custom and gallery images, and organization settings over real
//! HTTP: the health check and upload lifecycles on the virtual clock, the delete refusals while a
//! provisioning policy uses a connection or an image, and the permissions.

use crate::common;

use std::time::Duration;

use crate::common::{assert_graph_error, start};
use reqwest::Method;
use serde_json::{Value, json};

const VE: &str = "v1.0/deviceManagement/virtualEndpoint";
const SUB: &str = "0ac520ee-14c0-480f-b6c9-0a90c58f0001";

fn connection(name: &str, subnet: &str, hybrid_domain: Option<&str>) -> Value {
    let vnet = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
    );
    let mut body = json!({
        "displayName": name,
        "connectionType": "azureADJoin",
        "subscriptionId": SUB,
        "resourceGroupId": format!("/subscriptions/{SUB}/resourceGroups/rg"),
        "virtualNetworkId": vnet,
        "subnetId": format!("{vnet}/subnets/{subnet}"),
    });
    if let Some(domain) = hybrid_domain {
        body["connectionType"] = json!("hybridAzureADJoin");
        body["adDomainName"] = json!(domain);
        body["adDomainUsername"] = json!("join@contoso.com");
        body["adDomainPassword"] = json!("not-a-real-secret-1");
    }
    body
}

const DETAIL: &str = "$select=id,displayName,healthCheckStatus,healthCheckStatusDetail,inUse";

fn check<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["healthCheckStatusDetail"]["healthChecks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["displayName"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {c}"))
}

#[tokio::test]
async fn health_checks_run_pending_running_then_passed_on_the_virtual_clock() {
    let sim = start().await;
    let created = sim
        .post(
            &format!("{VE}/onPremisesConnections"),
            connection("Good", "cloudpcs", None),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["healthCheckStatus"], "pending");
    assert!(created.body.get("inUse").is_none(), "inUse only on $select");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let url = format!("{VE}/onPremisesConnections/{id}?{DETAIL}");

    sim.handle.advance(Duration::from_secs(60)).await;
    let running = sim.get(&url).await;
    assert_eq!(
        running.body["healthCheckStatus"], "running",
        "{}",
        running.text
    );
    assert_eq!(
        check(&running.body, "Azure subnet IP address usage")["status"],
        "running"
    );
    assert_eq!(running.body["inUse"], false);

    sim.handle.advance(Duration::from_secs(10 * 60)).await;
    let done = sim.get(&url).await;
    assert_eq!(done.body["healthCheckStatus"], "passed", "{}", done.text);
    let checks = done.body["healthCheckStatusDetail"]["healthChecks"]
        .as_array()
        .unwrap();
    assert!(checks.len() >= 5);
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == "passed" && c["errorType"].is_null())
    );
    assert!(done.body["healthCheckStatusDetail"]["endDateTime"].is_string());
    // The domain password never comes back.
    assert!(!done.text.contains("not-a-real-secret"));
}

#[tokio::test]
async fn a_full_subnet_and_an_unresolvable_domain_fail_their_checks_with_graphs_error_types() {
    let sim = start().await;
    let full = sim
        .post(
            &format!("{VE}/onPremisesConnections"),
            connection("Full", "cloudpcs-full", None),
        )
        .await;
    let dns = sim
        .post(
            &format!("{VE}/onPremisesConnections"),
            connection("Bad DNS", "cloudpcs", Some("corp.contoso.invalid")),
        )
        .await;
    assert_eq!(dns.status, 201, "{}", dns.text);
    assert!(!dns.text.contains("not-a-real-secret"));
    sim.handle.advance(Duration::from_secs(11 * 60)).await;

    let full = sim
        .get(&format!(
            "{VE}/onPremisesConnections/{}?{DETAIL}",
            full.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(full.body["healthCheckStatus"], "failed");
    let ip = check(&full.body, "Azure subnet IP address usage");
    assert_eq!(ip["status"], "failed");
    assert_eq!(ip["errorType"], "resourceAvailabilityCheckNoSubnetIP");
    assert!(ip["recommendedAction"].as_str().unwrap().contains("subnet"));
    assert_eq!(
        check(&full.body, "Endpoint connectivity")["status"],
        "passed"
    );

    let dns_id = dns.body["id"].as_str().unwrap().to_owned();
    let dns = sim
        .get(&format!("{VE}/onPremisesConnections/{dns_id}?{DETAIL}"))
        .await;
    assert_eq!(dns.body["healthCheckStatus"], "failed");
    assert_eq!(
        check(&dns.body, "DNS can resolve Active Directory domain")["errorType"],
        "dnsCheckFqdnNotFound"
    );

    // Fixing the domain starts a new run, which passes.
    let fixed = sim
        .patch(
            &format!("{VE}/onPremisesConnections/{dns_id}"),
            json!({"adDomainName": "corp.contoso.com"}),
        )
        .await;
    assert_eq!(fixed.status, 204, "{}", fixed.text);
    let again = sim
        .get(&format!("{VE}/onPremisesConnections/{dns_id}?{DETAIL}"))
        .await;
    assert_eq!(again.body["healthCheckStatus"], "pending");
    sim.handle.advance(Duration::from_secs(11 * 60)).await;
    let again = sim
        .get(&format!("{VE}/onPremisesConnections/{dns_id}?{DETAIL}"))
        .await;
    assert_eq!(again.body["healthCheckStatus"], "passed", "{}", again.text);
}

#[tokio::test]
async fn bad_connection_bodies_are_refused_naming_the_property() {
    let sim = start().await;
    let mut body = connection("Bad", "cloudpcs", None);
    body["subnetId"] = json!("subnet-1");
    let answer = sim.post(&format!("{VE}/onPremisesConnections"), body).await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(answer.message().contains("subnetId"), "{}", answer.text);
    let mut hybrid = connection("Hybrid", "cloudpcs", Some("corp.contoso.com"));
    hybrid.as_object_mut().unwrap().remove("adDomainPassword");
    let answer = sim
        .post(&format!("{VE}/onPremisesConnections"), hybrid)
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(
        answer.message().contains("adDomainPassword"),
        "{}",
        answer.text
    );
}

async fn policy_using(sim: &common::Sim, body: Value) -> String {
    let answer = sim.post(&format!("{VE}/provisioningPolicies"), body).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_connection_in_use_by_a_policy_cannot_be_deleted() {
    let sim = start().await;
    let created = sim
        .post(
            &format!("{VE}/onPremisesConnections"),
            connection("Used", "cloudpcs", None),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let policy = policy_using(
        &sim,
        json!({
            "displayName": "Uses the network",
            "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
            "imageDisplayName": "Windows 11",
            "imageType": "gallery",
            "provisioningType": "dedicated",
            "domainJoinConfigurations": [
                {"domainJoinType": "azureADJoin", "onPremisesConnectionId": id}
            ],
        }),
    )
    .await;
    let shown = sim
        .get(&format!("{VE}/onPremisesConnections/{id}?$select=inUse"))
        .await;
    assert_eq!(shown.body["inUse"], true);
    let refused = sim
        .delete(&format!("{VE}/onPremisesConnections/{id}"))
        .await;
    assert_graph_error(&refused, 400, "BadRequest");
    assert!(refused.message().contains("in use"), "{}", refused.text);
    assert!(
        refused.message().contains("Uses the network"),
        "{}",
        refused.text
    );

    assert_eq!(
        sim.delete(&format!("{VE}/provisioningPolicies/{policy}"))
            .await
            .status,
        204
    );
    assert_eq!(
        sim.delete(&format!("{VE}/onPremisesConnections/{id}"))
            .await
            .status,
        204
    );
    let gone = sim.get(&format!("{VE}/onPremisesConnections/{id}")).await;
    assert_graph_error(&gone, 404, "ResourceNotFound");
}

#[tokio::test]
async fn run_health_checks_is_refused_to_application_permissions_as_documented() {
    let sim = start().await;
    let list = sim.get(&format!("{VE}/onPremisesConnections")).await;
    let id = list.values()[0]["id"].as_str().unwrap().to_owned();
    let answer = sim
        .post(
            &format!("{VE}/onPremisesConnections/{id}/runHealthChecks"),
            json!({}),
        )
        .await;
    assert_graph_error(&answer, 403, "Forbidden");
    assert!(answer.message().contains("delegated"), "{}", answer.text);
    // A reader lacks even the permission the action would need.
    let reader = sim.token_with_roles(&["CloudPC.Read.All"]).await;
    let answer = sim
        .call(
            Method::POST,
            &format!("{VE}/onPremisesConnections/{id}/runHealthChecks"),
            Some(&reader),
            &[],
            None,
        )
        .await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
}

#[tokio::test]
async fn the_seed_has_a_passed_connection_a_ready_image_and_organization_settings() {
    let sim = start().await;
    let list = sim
        .get(&format!("{VE}/onPremisesConnections?{DETAIL}"))
        .await;
    assert_eq!(list.values().len(), 1, "{}", list.text);
    assert_eq!(list.values()[0]["healthCheckStatus"], "passed");
    let images = sim.get(&format!("{VE}/deviceImages")).await;
    assert_eq!(images.values().len(), 1, "{}", images.text);
    assert_eq!(images.values()[0]["status"], "ready");
    assert_eq!(
        images.values()[0]["operatingSystem"],
        "Windows 11 Enterprise"
    );
    let gallery = sim.get(&format!("{VE}/galleryImages")).await;
    assert!(gallery.values().len() >= 2);
    let settings = sim.get(&format!("{VE}/organizationSettings")).await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    assert_eq!(settings.body["osVersion"], "windows11");
    assert_eq!(settings.body["windowsSettings"]["language"], "en-US");
}

fn image(name: &str, version: &str, managed: &str) -> Value {
    json!({
        "displayName": name,
        "version": version,
        "sourceImageResourceId": format!(
            "/subscriptions/{SUB}/resourceGroups/images/providers/Microsoft.Compute/images/{managed}"
        ),
    })
}

#[tokio::test]
async fn image_uploads_go_pending_then_ready_or_failed_with_graphs_error_codes() {
    let sim = start().await;
    let ok = sim
        .post(
            &format!("{VE}/deviceImages"),
            image("Dev", "0.0.1", "dev-win11"),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.body["status"], "pending");
    assert!(ok.body["errorCode"].is_null());
    let bad = sim
        .post(
            &format!("{VE}/deviceImages"),
            image("Raw", "0.0.1", "raw-notgeneralized"),
        )
        .await;
    let paid = sim
        .post(
            &format!("{VE}/deviceImages"),
            image("Paid", "0.0.1", "marketplace-copy"),
        )
        .await;
    let ok_id = ok.body["id"].as_str().unwrap();
    sim.handle.advance(Duration::from_secs(29 * 60)).await;
    let still = sim.get(&format!("{VE}/deviceImages/{ok_id}")).await;
    assert_eq!(still.body["status"], "pending");
    sim.handle.advance(Duration::from_secs(60)).await;
    let ready = sim.get(&format!("{VE}/deviceImages/{ok_id}")).await;
    assert_eq!(ready.body["status"], "ready", "{}", ready.text);
    assert_eq!(ready.body["osStatus"], "supported");
    let failed = sim
        .get(&format!(
            "{VE}/deviceImages/{}",
            bad.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(failed.body["errorCode"], "sourceImageNotGeneralized");
    // A member after unknownFutureValue is masked unless the caller opts in.
    let paid_url = format!("{VE}/deviceImages/{}", paid.body["id"].as_str().unwrap());
    assert_eq!(
        sim.get(&paid_url).await.body["errorCode"],
        "unknownFutureValue"
    );
    let unmasked = sim
        .call(
            Method::GET,
            &paid_url,
            Some(&sim.token),
            &[("Prefer", "include-unknown-enum-members")],
            None,
        )
        .await;
    assert_eq!(unmasked.body["errorCode"], "paidSourceImageNotSupport");

    // Same display name and version again: refused.
    let dup = sim
        .post(
            &format!("{VE}/deviceImages"),
            image("Dev", "0.0.1", "dev-win11"),
        )
        .await;
    assert_graph_error(&dup, 409, "Conflict");
    let malformed = sim
        .post(
            &format!("{VE}/deviceImages"),
            json!({"displayName": "x", "version": "1", "sourceImageResourceId": "image-1"}),
        )
        .await;
    assert_graph_error(&malformed, 400, "BadRequest");
    assert!(malformed.message().contains("sourceImageResourceId"));
}

#[tokio::test]
async fn an_image_a_policy_uses_cannot_be_deleted_and_reading_needs_a_cloud_pc_permission() {
    let sim = start().await;
    let created = sim
        .post(
            &format!("{VE}/deviceImages"),
            image("Fin", "2.0.0", "fin-win11"),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    sim.handle.advance(Duration::from_secs(30 * 60)).await;
    policy_using(
        &sim,
        json!({
            "displayName": "Finance custom",
            "imageId": id,
            "imageDisplayName": "Fin",
            "imageType": "custom",
            "provisioningType": "dedicated",
        }),
    )
    .await;
    let refused = sim.delete(&format!("{VE}/deviceImages/{id}")).await;
    assert_graph_error(&refused, 400, "BadRequest");
    assert!(
        refused.message().contains("Finance custom"),
        "{}",
        refused.text
    );

    let nobody = sim.token_with_roles(&["User.Read.All"]).await;
    for path in [
        "deviceImages",
        "galleryImages",
        "organizationSettings",
        "onPremisesConnections",
    ] {
        let answer = sim
            .call(
                Method::GET,
                &format!("{VE}/{path}"),
                Some(&nobody),
                &[],
                None,
            )
            .await;
        assert_graph_error(&answer, 403, "Authorization_RequestDenied");
    }
}

#[tokio::test]
async fn organization_settings_patch_changes_only_what_is_sent() {
    let sim = start().await;
    let answer = sim
        .patch(
            &format!("{VE}/organizationSettings"),
            json!({"userAccountType": "administrator", "windowsSettings": {"language": "de-DE"}}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let settings = sim.get(&format!("{VE}/organizationSettings")).await;
    assert_eq!(settings.body["userAccountType"], "administrator");
    assert_eq!(settings.body["windowsSettings"]["language"], "de-DE");
    assert_eq!(settings.body["osVersion"], "windows11");
    let bad = sim
        .patch(
            &format!("{VE}/organizationSettings"),
            json!({"osVersion": "windows7"}),
        )
        .await;
    assert_graph_error(&bad, 400, "BadRequest");
    let reader = sim.token_with_roles(&["CloudPC.Read.All"]).await;
    let denied = sim
        .call(
            Method::PATCH,
            &format!("{VE}/organizationSettings"),
            Some(&reader),
            &[],
            Some(json!({"enableSingleSignOn": true})),
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
}
