//! `/deviceManagement/virtualEndpoint` over real HTTP: every route, its error answers, and the
//! provisioning flow driven by directory writes and the virtual clock.

use std::time::Duration;

use crate::common::{Sim, assert_graph_error, start};
use reqwest::Method;
use serde_json::{Value, json};

const VE: &str = "deviceManagement/virtualEndpoint";
const WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";
const FRONTLINE: &str = "cfg - Windows 365 - Frontline - Shift A";
const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
const PLAN_128: &str = "545e3611-3af8-49a5-9a0a-b7867968f4b0";
const PLAN_2C_8GB: &str = "3efff3fe-528a-4fc5-b1ba-845802cc764f";
const FRONTLINE_PLAN: &str = "057efbfe-a95d-4263-acb0-12b4a31fed8d";
const UNKNOWN: &str = "include-unknown-enum-members";

fn filter(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn policy_id(sim: &Sim, name: &str) -> String {
    let answer = sim
        .get(&format!(
            "beta/{VE}/provisioningPolicies?$filter={}",
            filter(&format!("displayName eq '{name}'"))
        ))
        .await;
    assert_eq!(answer.values().len(), 1, "{}", answer.text);
    answer.values()[0]["id"].as_str().unwrap().to_owned()
}

/// The beta Cloud PCs of a user, with unmasked status.
async fn cloud_pcs_of(sim: &Sim, upn: &str) -> Vec<Value> {
    let path = format!(
        "beta/{VE}/cloudPCs?$filter={}",
        filter(&format!("userPrincipalName eq '{upn}'"))
    );
    let answer = sim
        .call(
            Method::GET,
            &path,
            Some(&sim.token),
            &[("Prefer", UNKNOWN)],
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.values().clone()
}

async fn only_pc(sim: &Sim, upn: &str) -> Value {
    let pcs = cloud_pcs_of(sim, upn).await;
    assert_eq!(pcs.len(), 1, "{upn}: {pcs:#?}");
    pcs[0].clone()
}

async fn add_member(sim: &Sim, group: &str, upn: &str) {
    let answer = sim
        .post(
            &format!("v1.0/groups/{}/members/$ref", sim.group_id(group)),
            sim.reference(&sim.user_id(upn)),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
}

#[tokio::test]
async fn adding_a_user_to_the_policy_and_licence_groups_provisions_a_cloud_pc() {
    let sim = start().await;
    let upn = "henry.moore@contoso.com";
    assert!(cloud_pcs_of(&sim, upn).await.is_empty());
    add_member(&sim, WIN11, upn).await;
    add_member(&sim, LIC_128, upn).await;

    // Licence processing (2 min) then detection (3 min): provisioning.
    sim.handle.advance(Duration::from_secs(6 * 60)).await;
    let pc = only_pc(&sim, upn).await;
    assert_eq!(pc["status"], "provisioning", "{pc:#}");
    assert_eq!(pc["provisioningPolicyName"], WIN11);
    assert_eq!(pc["servicePlanId"], PLAN_128);
    assert_eq!(pc["servicePlanName"], "Cloud PC Enterprise 2vCPU/4GB/128GB");
    assert_eq!(pc["managedDeviceName"], Value::Null);
    assert!(pc.get("_engine").is_none());

    sim.handle.advance(Duration::from_secs(45 * 60)).await;
    let pc = only_pc(&sim, upn).await;
    assert_eq!(pc["status"], "provisioned", "{pc:#}");
    let name = pc["managedDeviceName"].as_str().unwrap();
    assert!(name.starts_with("CPC-henry-") && name.len() == 15, "{name}");
    assert!(pc["provisionedDateTime"].is_string());
    let v1 = sim
        .get(&format!(
            "v1.0/{VE}/cloudPCs/{}",
            pc["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v1.status, 200);
    assert!(
        v1.body.get("status").is_none(),
        "v1.0 has no status: {}",
        v1.text
    );
    assert_eq!(v1.body["managedDeviceName"], name);

    // Leaving the licence group: grace period of 168 hours.
    let answer = sim
        .delete(&format!(
            "v1.0/groups/{}/members/{}/$ref",
            sim.group_id(LIC_128),
            sim.user_id(upn)
        ))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    sim.handle.advance(Duration::from_secs(5 * 60)).await;
    let pc = only_pc(&sim, upn).await;
    assert_eq!(pc["status"], "inGracePeriod", "{pc:#}");
    assert!(pc["gracePeriodEndDateTime"].is_string());
    let id = pc["id"].as_str().unwrap().to_owned();
    let answer = sim
        .post(
            &format!("v1.0/{VE}/cloudPCs/{id}/endGracePeriod"),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    assert_eq!(only_pc(&sim, upn).await["status"], "deprovisioning");
    sim.handle.advance(Duration::from_secs(20 * 60)).await;
    assert!(cloud_pcs_of(&sim, upn).await.is_empty());
}

#[tokio::test]
async fn a_forced_failure_shows_failed_with_a_status_detail() {
    let sim = start().await;
    let upn = "jack.anderson@contoso.com";
    let answer = sim
        .post(
            "_sim/windows365/provisioning-outcomes",
            json!({"user": upn, "outcome": "failed", "code": "vNetUnavailable"}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let answer = sim
        .post(
            "_sim/windows365/provisioning-outcomes",
            json!({"user": "nobody@contoso.com", "outcome": "failed"}),
        )
        .await;
    assert_eq!(answer.status, 404);
    add_member(&sim, WIN11, upn).await;
    add_member(&sim, LIC_128, upn).await;
    sim.handle.advance(Duration::from_secs(2 * 3600)).await;
    let pc = only_pc(&sim, upn).await;
    assert_eq!(pc["status"], "failed", "{pc:#}");
    assert_eq!(pc["statusDetail"]["code"], "vNetUnavailable");
    let id = pc["id"].as_str().unwrap();
    let answer = sim
        .post(
            &format!("beta/{VE}/cloudPCs/{id}/reprovision"),
            json!({"osVersion": "windows11"}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    assert_eq!(only_pc(&sim, upn).await["status"], "provisioning");
    sim.handle.advance(Duration::from_secs(3600)).await;
    assert_eq!(only_pc(&sim, upn).await["status"], "provisioned");
}

#[tokio::test]
async fn provisioning_policies_crud_assign_and_errors() {
    let sim = start().await;
    let list = sim
        .get(&format!(
            "beta/{VE}/provisioningPolicies?$orderby=displayName"
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let names: Vec<&str> = list
        .values()
        .iter()
        .map(|p| p["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [FRONTLINE, "cfg - Windows 365 - Provisioning - Win10", WIN11]
    );
    assert!(
        list.values().iter().all(|p| p.get("assignments").is_none()),
        "assignments only with $expand"
    );
    assert!(
        list.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#deviceManagement/virtualEndpoint/provisioningPolicies")
    );

    let id = policy_id(&sim, WIN11).await;
    let expanded = sim
        .get(&format!(
            "beta/{VE}/provisioningPolicies/{id}?$expand=assignments&$select=id,displayName"
        ))
        .await;
    assert_eq!(expanded.status, 200, "{}", expanded.text);
    assert_eq!(
        expanded.body["assignments"][0]["target"]["groupId"],
        sim.group_id(WIN11)
    );
    assert_eq!(
        expanded.body["assignments"][0]["id"],
        format!("{id}_{}", sim.group_id(WIN11))
    );
    assert!(expanded.body.get("imageId").is_none(), "$select applies");
    let nav = sim
        .get(&format!("beta/{VE}/provisioningPolicies/{id}/assignments"))
        .await;
    assert_eq!(
        nav.status, 400,
        "GET .../assignments is not a route: {}",
        nav.text
    );
    let bad_expand = sim
        .get(&format!("beta/{VE}/provisioningPolicies?$expand=members"))
        .await;
    assert_eq!(bad_expand.status, 400);

    let body = json!({
        "@odata.type": "#microsoft.graph.cloudPcProvisioningPolicy",
        "displayName": "W365 Standard",
        "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
        "imageDisplayName": "Windows 11 Enterprise 24H2 + M365",
        "imageType": "gallery",
        "cloudPcNamingTemplate": "CPC-%USERNAME:4%-%RAND:5%",
        "domainJoinConfigurations": [{"domainJoinType": "azureADJoin", "regionName": "automatic", "regionGroup": "europeUnion"}]
    });
    let created = sim
        .post(&format!("v1.0/{VE}/provisioningPolicies"), body.clone())
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["gracePeriodInHours"], 168);
    assert_eq!(created.body["provisioningType"], "dedicated");
    assert!(
        created.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("provisioningPolicies/$entity")
    );
    let new_id = created.body["id"].as_str().unwrap().to_owned();

    let mut bad = body.clone();
    bad["cloudPcNamingTemplate"] = json!("CPC-%USERNAME:5%");
    let answer = sim
        .post(&format!("beta/{VE}/provisioningPolicies"), bad)
        .await;
    assert_graph_error(&answer, 400, "parameterValidationFailed");
    let mut bad = body.clone();
    bad["domainJoinConfigurations"] = json!([{"domainJoinType": "hybridAzureADJoin"}]);
    assert_graph_error(
        &sim.post(&format!("beta/{VE}/provisioningPolicies"), bad)
            .await,
        400,
        "BadRequest",
    );

    let policy_url = format!("beta/{VE}/provisioningPolicies/{new_id}");
    assert_eq!(
        sim.patch(&policy_url, json!({"description": "updated"}))
            .await
            .status,
        204
    );
    assert_eq!(sim.get(&policy_url).await.body["description"], "updated");
    let answer = sim
        .patch(&policy_url, json!({"provisioningType": "shared"}))
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(
        answer.message().contains("provisioningType"),
        "{}",
        answer.text
    );

    let group = sim.group_id("Engineering");
    let assign = json!({"assignments": [{"target": {"@odata.type": "microsoft.graph.cloudPcManagementGroupAssignmentTarget", "groupId": group}}]});
    assert_eq!(
        sim.post(&format!("{policy_url}/assign"), assign)
            .await
            .status,
        204
    );
    let answer = sim.post(&format!("{policy_url}/assign"), json!({"assignments": [{"target": {"groupId": "00000000-0000-0000-0000-000000000000"}}]})).await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert_graph_error(&sim.delete(&policy_url).await, 400, "BadRequest");
    assert_eq!(
        sim.post(&format!("{policy_url}/assign"), json!({"assignments": []}))
            .await
            .status,
        204
    );
    assert_eq!(sim.delete(&policy_url).await.status, 204);
    assert_graph_error(&sim.get(&policy_url).await, 404, "ResourceNotFound");
    assert_graph_error(
        &sim.patch(&policy_url, json!({})).await,
        404,
        "ResourceNotFound",
    );

    // apply is beta-only; applyConfig too.
    let answer = sim
        .post(
            &format!("v1.0/{VE}/provisioningPolicies/{id}/apply"),
            json!({"policySettings": "region"}),
        )
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    // Graph answers a beta-only segment on v1.0 like any unknown segment (reference §11).
    assert_eq!(
        answer.message(),
        "Resource not found for the segment 'apply'."
    );
    let answer = sim
        .call(
            Method::POST,
            &format!("beta/{VE}/provisioningPolicies/{id}/apply"),
            Some(&sim.token),
            &[],
            None,
        )
        .await;
    assert_eq!(
        answer.status, 204,
        "apply without a body means region: {}",
        answer.text
    );
    let alice = only_pc(&sim, "alice.smith@contoso.com").await;
    assert_eq!(alice["status"], "movingRegion");
    let masked = sim
        .get(&format!(
            "beta/{VE}/cloudPCs/{}",
            alice["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        masked.body["status"], "unknownFutureValue",
        "masked without Prefer"
    );
    let answer = sim
        .post(
            &format!("beta/{VE}/provisioningPolicies/applyConfig"),
            json!({"cloudPcIds": [alice["id"]], "policySettings": "singleSignOn"}),
        )
        .await;
    assert_graph_error(&answer, 409, "Conflict");
    let bob = only_pc(&sim, "bob.jones@contoso.com").await;
    assert_eq!(bob["status"], "movingRegion");
    sim.handle.advance(Duration::from_secs(2 * 3600)).await;
    let answer = sim
        .post(
            &format!("beta/{VE}/provisioningPolicies/applyConfig"),
            json!({"cloudPcIds": [alice["id"]], "policySettings": "singleSignOn"}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    assert_eq!(
        only_pc(&sim, "alice.smith@contoso.com").await["status"],
        "updatingSingleSignOn"
    );
    let answer = sim
        .post(
            &format!("v1.0/{VE}/provisioningPolicies/applyConfig"),
            json!({"cloudPcIds": [alice["id"]]}),
        )
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
}

#[tokio::test]
async fn user_settings_routes() {
    let sim = start().await;
    let list = sim
        .get(&format!("v1.0/{VE}/userSettings?$expand=assignments"))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.values().len(), 2);
    let restore = list
        .values()
        .iter()
        .find(|s| s["displayName"] == "cfg - Windows 365 - User Settings - restore allowed")
        .expect("seeded");
    assert_eq!(restore["restorePointSetting"]["userRestoreEnabled"], true);
    assert_eq!(
        restore["assignments"][0]["target"]["groupId"],
        sim.group_id("cfg - Windows 365 - User Settings - restore allowed")
    );

    let created = sim
        .post(
            &format!("beta/{VE}/userSettings"),
            json!({"displayName": "local admins", "localAdminEnabled": true}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let url = format!("beta/{VE}/userSettings/{id}");
    assert_eq!(
        sim.patch(&url, json!({"resetEnabled": true})).await.status,
        204
    );
    assert_eq!(sim.get(&url).await.body["resetEnabled"], true);
    assert_graph_error(
        &sim.patch(&url, json!({"id": "x"})).await,
        400,
        "BadRequest",
    );
    let assign = json!({"assignments": [{"target": {"groupId": sim.group_id("Engineering")}}]});
    assert_eq!(sim.post(&format!("{url}/assign"), assign).await.status, 204);
    let got = sim.get(&format!("{url}?$expand=assignments")).await;
    assert_eq!(got.body["assignments"].as_array().unwrap().len(), 1);
    assert_graph_error(
        &sim.post(
            &format!("beta/{VE}/userSettings"),
            json!({"localAdminEnabled": true}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_eq!(sim.delete(&url).await.status, 204);
    assert_graph_error(&sim.get(&url).await, 404, "ResourceNotFound");
}

#[tokio::test]
async fn service_plans_frontline_and_shared_use_plans() {
    let sim = start().await;
    let plans = sim.get(&format!("v1.0/{VE}/servicePlans")).await;
    assert_eq!(plans.status, 200);
    let e128 = plans
        .values()
        .iter()
        .find(|p| p["id"] == PLAN_128)
        .expect("CPC_1 in the catalog");
    assert_eq!(
        (
            e128["vCpuCount"].as_u64(),
            e128["ramInGB"].as_u64(),
            e128["storageInGB"].as_u64()
        ),
        (Some(2), Some(4), Some(128))
    );
    // `type` is a beta property: v1.0 answers carry only v1.0 properties.
    assert!(e128.get("type").is_none(), "{e128}");
    let beta = sim.get(&format!("beta/{VE}/servicePlans")).await;
    let beta128 = beta
        .values()
        .iter()
        .find(|p| p["id"] == PLAN_128)
        .expect("CPC_1 in the beta catalog");
    assert_eq!(beta128["type"], "enterprise");

    let frontline = sim.get(&format!("beta/{VE}/frontLineServicePlans")).await;
    assert_eq!(frontline.status, 200, "{}", frontline.text);
    let plan = &frontline.values()[0];
    assert_eq!(
        (
            plan["totalCount"].as_u64(),
            plan["usedCount"].as_u64(),
            plan["allotmentLicensesCount"].as_u64()
        ),
        (Some(3), Some(1), Some(3)),
        "two dedicated-mode Frontline Cloud PCs use one licence (up to three per licence)"
    );
    let one = sim
        .get(&format!("beta/{VE}/frontLineServicePlans/{FRONTLINE_PLAN}"))
        .await;
    assert_eq!(one.body["displayName"], "2vCPU/8GB/128GB Front-line");
    assert_graph_error(
        &sim.get(&format!("beta/{VE}/frontLineServicePlans/{PLAN_128}"))
            .await,
        404,
        "ResourceNotFound",
    );
    assert_graph_error(
        &sim.get(&format!("v1.0/{VE}/frontLineServicePlans")).await,
        400,
        "BadRequest",
    );

    let shared = sim.get(&format!("beta/{VE}/sharedUseServicePlans")).await;
    assert_eq!(shared.status, 200);
    assert!(shared.values().is_empty(), "Graph stopped returning data");
    assert_eq!(
        sim.get(&format!("beta/{VE}/sharedUseServicePlans/{FRONTLINE_PLAN}"))
            .await
            .status,
        404
    );

    // Shrink Shift A's allotment to one licence: in dedicated mode that is three Cloud PCs, two
    // held by Kate and Liam. The last seat goes to the next member; the one after waits, and says
    // why.
    let shift_a = policy_id(&sim, FRONTLINE).await;
    let group = sim
        .get(&format!(
            "v1.0/groups?$filter={}",
            filter(&format!("displayName eq '{FRONTLINE}'"))
        ))
        .await;
    let group_id = group.values()[0]["id"].as_str().unwrap().to_owned();
    let assign = json!({"assignments": [{"target": {
        "@odata.type": "microsoft.graph.cloudPcManagementGroupAssignmentTarget",
        "groupId": group_id, "servicePlanId": FRONTLINE_PLAN,
        "allotmentDisplayName": "Shift A", "allotmentLicensesCount": 1}}]});
    let answer = sim
        .post(
            &format!("beta/{VE}/provisioningPolicies/{shift_a}/assign"),
            assign,
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    add_member(&sim, FRONTLINE, "mia.martin@contoso.com").await;
    add_member(&sim, FRONTLINE, "paul.clark@contoso.com").await;
    sim.handle.advance(Duration::from_secs(10 * 60)).await;
    assert_eq!(
        only_pc(&sim, "mia.martin@contoso.com").await["status"],
        "provisioning"
    );
    let paul = only_pc(&sim, "paul.clark@contoso.com").await;
    assert_eq!(paul["status"], "notProvisioned");
    assert_eq!(paul["statusDetail"]["code"], "frontlineLicenseUnavailable");
    let admin = sim.get("_sim/windows365").await;
    assert_eq!(
        admin.body["waitingForFrontlineSeat"][0]["userPrincipalName"], "paul.clark@contoso.com",
        "{}",
        admin.text
    );
    let plan = sim
        .get(&format!("beta/{VE}/frontLineServicePlans/{FRONTLINE_PLAN}"))
        .await;
    assert_eq!(plan.body["usedCount"], 1, "three Cloud PCs, one licence");
    assert_eq!(plan.body["allotmentLicensesCount"], 1);
}

#[tokio::test]
async fn cloud_pcs_list_filter_page_and_mask() {
    let sim = start().await;
    let all = sim.get(&format!("beta/{VE}/cloudPCs?$count=true")).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let total = all.values().len();
    assert!(total >= 10, "{total}");
    assert_eq!(all.body["@odata.count"], total);
    assert!(
        all.values()
            .iter()
            .all(|pc| pc["@odata.type"] == "#microsoft.graph.cloudPC")
    );

    let grace = sim
        .get(&format!(
            "beta/{VE}/cloudPCs?$filter={}",
            filter("status eq 'inGracePeriod'")
        ))
        .await;
    assert_eq!(grace.values().len(), 1);
    assert_eq!(
        grace.values()[0]["userPrincipalName"],
        "grace.wilson@contoso.com"
    );
    let win11 = policy_id(&sim, WIN11).await;
    let by_policy = sim
        .get(&format!(
            "beta/{VE}/cloudPCs?$filter={}&$select=id,provisioningPolicyId",
            filter(&format!("provisioningPolicyId eq '{win11}'"))
        ))
        .await;
    assert!(by_policy.values().len() >= 6);
    assert!(
        by_policy
            .values()
            .iter()
            .all(|p| p.get("status").is_none() && p["provisioningPolicyId"] == win11.as_str())
    );
    let by_plan = sim
        .get(&format!(
            "beta/{VE}/cloudPCs?$filter={}",
            filter(&format!("servicePlanId eq '{FRONTLINE_PLAN}'"))
        ))
        .await;
    assert_eq!(by_plan.values().len(), 2);

    // Paging follows an absolute nextLink to the end.
    let mut seen = Vec::new();
    let mut next = Some(sim.url(&format!("beta/{VE}/cloudPCs?$top=4")));
    while let Some(url) = next {
        let page: Value = sim
            .client
            .get(&url)
            .bearer_auth(&sim.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].clone()),
        );
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), total);

    let v1 = sim.get(&format!("v1.0/{VE}/cloudPCs")).await;
    assert!(
        v1.values()
            .iter()
            .all(|pc| pc.get("status").is_none() && pc.get("powerState").is_none())
    );

    let mine = sim.get("beta/users/alice.smith@contoso.com/cloudPCs").await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.values().len(), 1);
    assert_graph_error(
        &sim.get("beta/users/nobody@contoso.com/cloudPCs").await,
        404,
        "Request_ResourceNotFound",
    );
    assert_graph_error(
        &sim.get(&format!("beta/{VE}/cloudPCs/nope")).await,
        404,
        "ResourceNotFound",
    );
}

#[tokio::test]
async fn cloud_pc_actions_and_their_errors() {
    let sim = start().await;
    let alice = only_pc(&sim, "alice.smith@contoso.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kate = only_pc(&sim, "kate.thomas@contoso.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grace = only_pc(&sim, "grace.wilson@contoso.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let action = |id: &str, name: &str| format!("beta/{VE}/cloudPCs/{id}/{name}");

    assert_graph_error(
        &sim.post(&action(&alice, "endGracePeriod"), json!({})).await,
        400,
        "BadRequest",
    );
    assert_eq!(
        sim.post(&action(&grace, "endGracePeriod"), json!({}))
            .await
            .status,
        204
    );
    assert_graph_error(
        &sim.post(&action("nope", "reboot"), json!({})).await,
        404,
        "ResourceNotFound",
    );
    assert_eq!(
        sim.post(&action(&alice, "reboot"), json!({})).await.status,
        204
    );
    assert_eq!(
        sim.post(&action(&alice, "troubleshoot"), json!({}))
            .await
            .status,
        204
    );
    let got = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(
        got.body["lastRemoteActionResult"]["actionName"],
        "Troubleshoot"
    );
    assert_eq!(
        sim.post(
            &action(&alice, "rename"),
            json!({"displayName": "Alice's Cloud PC"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await.body["displayName"],
        "Alice's Cloud PC"
    );
    let empty = sim
        .call(
            Method::POST,
            &action(&alice, "rename"),
            Some(&sim.token),
            &[],
            None,
        )
        .await;
    assert_graph_error(&empty, 400, "BadRequest");
    assert_graph_error(
        &sim.post(&action(&alice, "resize"), json!({})).await,
        400,
        "BadRequest",
    );
    assert_graph_error(
        &sim.post(&action(&alice, "poweron"), json!({})).await,
        400,
        "BadRequest",
    );
    assert_graph_error(
        &sim.post(&format!("v1.0/{VE}/cloudPCs/{kate}/powerOff"), json!({}))
            .await,
        400,
        "BadRequest",
    );
    assert_eq!(
        sim.post(&action(&kate, "powerOff"), json!({})).await.status,
        204
    );
    assert_eq!(
        only_pc(&sim, "kate.thomas@contoso.com").await["powerState"],
        "poweredOff"
    );
    assert_graph_error(
        &sim.post(&action(&alice, "selfDestruct"), json!({})).await,
        400,
        "BadRequest",
    );

    // Resize without the target licence waits; masked without the Prefer header.
    let answer = sim
        .post(
            &format!("v1.0/{VE}/cloudPCs/{alice}/resize"),
            json!({"targetServicePlanId": PLAN_2C_8GB}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let masked = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(masked.body["status"], "unknownFutureValue");
    assert_eq!(
        only_pc(&sim, "alice.smith@contoso.com").await["status"],
        "resizePendingLicense"
    );
    assert_graph_error(
        &sim.post(&action(&alice, "reboot"), json!({})).await,
        400,
        "BadRequest",
    );

    let bob = only_pc(&sim, "bob.jones@contoso.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let snapshot = sim
        .get(&format!("beta/{VE}/cloudPCs/{bob}/retrieveSnapshots"))
        .await
        .values()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sim.post(
            &action(&bob, "restore"),
            json!({"cloudPcSnapshotId": snapshot})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        only_pc(&sim, "bob.jones@contoso.com").await["status"],
        "restoring"
    );
    assert_graph_error(
        &sim.post(&action(&bob, "reprovision"), json!({})).await,
        409,
        "Conflict",
    );
    sim.handle.advance(Duration::from_secs(3600)).await;
    assert_eq!(
        only_pc(&sim, "bob.jones@contoso.com").await["status"],
        "provisioned"
    );
    assert!(
        cloud_pcs_of(&sim, "grace.wilson@contoso.com")
            .await
            .is_empty(),
        "ended grace: gone"
    );
}

#[tokio::test]
async fn permissions_are_checked() {
    let sim = start().await;
    let reader = sim.token_with_roles(&["CloudPC.Read.All"]).await;
    let other = sim.token_with_roles(&["User.Read.All"]).await;
    let list = format!("beta/{VE}/cloudPCs");
    assert_eq!(
        sim.call(Method::GET, &list, Some(&reader), &[], None)
            .await
            .status,
        200
    );
    let answer = sim.call(Method::GET, &list, Some(&other), &[], None).await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
    let answer = sim
        .call(
            Method::POST,
            &format!("beta/{VE}/userSettings"),
            Some(&reader),
            &[],
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
    let answer = sim.call(Method::GET, &list, None, &[], None).await;
    assert_graph_error(&answer, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn sim_admin_rates_timings_and_clear() {
    let sim = start().await;
    let timings = sim.get("_sim/windows365/timings").await;
    assert_eq!(timings.body["gracePeriodHours"], 168, "{}", timings.text);
    let mut fast = timings.body.clone();
    fast["provisioning"] = json!(60);
    assert_eq!(
        sim.call(
            Method::PUT,
            "_sim/windows365/timings",
            Some(&sim.token),
            &[],
            Some(fast)
        )
        .await
        .status,
        204
    );
    let answer = sim
        .call(
            Method::PUT,
            "_sim/windows365/provisioning-rates",
            Some(&sim.token),
            &[],
            Some(json!({"failureRate": 1.5})),
        )
        .await;
    assert_eq!(answer.status, 400);
    let answer = sim
        .call(
            Method::PUT,
            "_sim/windows365/provisioning-rates",
            Some(&sim.token),
            &[],
            Some(json!({"failureRate": 1.0, "seed": 3})),
        )
        .await;
    assert_eq!(answer.status, 204);
    add_member(&sim, WIN11, "henry.moore@contoso.com").await;
    add_member(&sim, LIC_128, "henry.moore@contoso.com").await;
    sim.handle.advance(Duration::from_secs(6 * 60)).await;
    assert_eq!(
        only_pc(&sim, "henry.moore@contoso.com").await["status"],
        "failed",
        "60 s provisioning, always failing"
    );
    assert_eq!(sim.delete("_sim/windows365/faults").await.status, 204);
    let summary = sim.get("_sim/windows365").await;
    assert_eq!(
        summary.body["faults"]["failureRate"], 0.0,
        "{}",
        summary.text
    );
}

#[tokio::test]
async fn sim_admin_sets_frontline_seats_and_shared_use_plans() {
    let sim = start().await;
    let url = format!("_sim/windows365/frontline-plans/{FRONTLINE_PLAN}");
    let answer = sim
        .call(
            Method::PUT,
            &url,
            Some(&sim.token),
            &[],
            Some(json!({"totalCount": 10})),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let plan = sim
        .get(&format!("beta/{VE}/frontLineServicePlans/{FRONTLINE_PLAN}"))
        .await;
    assert_eq!(plan.body["totalCount"], 10);
    let bad = format!("_sim/windows365/frontline-plans/{PLAN_128}");
    assert_eq!(
        sim.call(
            Method::PUT,
            &bad,
            Some(&sim.token),
            &[],
            Some(json!({"totalCount": 1}))
        )
        .await
        .status,
        400
    );

    let legacy = json!({"value": [{"id": "shared-1", "displayName": "Shared 2vCPU", "totalCount": 5, "usedCount": 1}]});
    let answer = sim
        .call(
            Method::PUT,
            "_sim/windows365/shared-use-service-plans",
            Some(&sim.token),
            &[],
            Some(legacy),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let one = sim
        .get(&format!("beta/{VE}/sharedUseServicePlans/shared-1"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["usedCount"], 1);
}
