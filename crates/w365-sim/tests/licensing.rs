//! Group-based licensing and `/subscribedSkus` over HTTP, on the virtual clock.

use crate::common;

use std::time::Duration;

use crate::common::{assert_graph_error, start};

const SKU_128: &str = "226ca751-f0a4-4232-9be5-73c02a92555e";
const SKU_256: &str = "5265a84e-8def-4fa2-ab4b-5dc278df5025";

async fn sku(sim: &common::Sim, sku_id: &str) -> serde_json::Value {
    let answer = sim.get("v1.0/subscribedSkus").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer
        .values()
        .iter()
        .find(|s| s["skuId"] == sku_id)
        .cloned()
        .expect("sku listed")
}

#[tokio::test]
async fn subscribed_skus_have_real_ids_and_counts() {
    let sim = start().await;
    let s = sku(&sim, SKU_128).await;
    assert_eq!(s["skuPartNumber"], "CPC_E_2C_4GB_128GB");
    assert_eq!(s["consumedUnits"], 5);
    assert_eq!(s["prepaidUnits"]["enabled"], 25);
    assert_eq!(s["id"], format!("{}_{SKU_128}", sim.handle.tenant_id()));
    assert!(
        s["servicePlans"]
            .as_array()
            .expect("plans")
            .iter()
            .any(|p| p["servicePlanName"] == "CPC_1"
                && p["servicePlanId"] == "545e3611-3af8-49a5-9a0a-b7867968f4b0")
    );
    let one = sim
        .get(&format!(
            "v1.0/subscribedSkus/{}_{SKU_256}",
            sim.handle.tenant_id()
        ))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["consumedUnits"], 3);
    let missing = sim.get("v1.0/subscribedSkus/nope").await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
    let filtered = sim
        .get("v1.0/subscribedSkus?$filter=skuPartNumber eq 'X'")
        .await;
    assert_eq!(filtered.status, 400);
}

#[tokio::test]
async fn joining_a_license_group_licenses_after_processing_and_leaving_frees_the_unit() {
    let sim = start().await;
    let group = sim.group_id("lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB");
    let added = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&sim.user_id("megan.bowen@contoso.com")),
        )
        .await;
    assert_eq!(added.status, 204);
    let state = |s: &serde_json::Value| {
        s["licenseProcessingState"]["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let g = sim
        .get(&format!(
            "v1.0/groups/{group}?$select=licenseProcessingState"
        ))
        .await;
    assert_eq!(state(&g.body), "QueuedForProcessing");
    let user = sim
        .get("v1.0/users/megan.bowen@contoso.com?$select=assignedLicenses,licenseAssignmentStates")
        .await;
    assert!(
        user.body["assignedLicenses"]
            .as_array()
            .expect("array")
            .is_empty()
    );
    sim.handle.advance(Duration::from_secs(61)).await;
    let g = sim
        .get(&format!(
            "v1.0/groups/{group}?$select=licenseProcessingState"
        ))
        .await;
    assert_eq!(state(&g.body), "ProcessingInProgress");
    sim.handle.advance(Duration::from_secs(60)).await;
    let g = sim
        .get(&format!(
            "v1.0/groups/{group}?$select=licenseProcessingState"
        ))
        .await;
    assert_eq!(state(&g.body), "ProcessingComplete");
    let user = sim
        .get("v1.0/users/megan.bowen@contoso.com?$select=assignedLicenses,licenseAssignmentStates")
        .await;
    assert_eq!(user.body["assignedLicenses"][0]["skuId"], SKU_128);
    assert_eq!(
        user.body["licenseAssignmentStates"][0]["assignedByGroup"],
        group.as_str()
    );
    assert_eq!(user.body["licenseAssignmentStates"][0]["state"], "Active");
    assert_eq!(sku(&sim, SKU_128).await["consumedUnits"], 6);

    let megan = sim.user_id("megan.bowen@contoso.com");
    let removed = sim
        .delete(&format!("v1.0/groups/{group}/members/{megan}/$ref"))
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        sku(&sim, SKU_128).await["consumedUnits"],
        6,
        "still consumed until processed"
    );
    sim.handle.advance(Duration::from_secs(120)).await;
    assert_eq!(sku(&sim, SKU_128).await["consumedUnits"], 5);
    let user = sim
        .get("v1.0/users/megan.bowen@contoso.com?$select=assignedLicenses,licenseAssignmentStates")
        .await;
    assert!(
        user.body["licenseAssignmentStates"]
            .as_array()
            .expect("array")
            .is_empty()
    );
}

#[tokio::test]
async fn no_free_unit_is_a_count_violation_that_consumes_nothing() {
    let sim = start().await;
    let group = sim.group_id("lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB");
    for upn in ["megan.bowen@contoso.com", "kate.thomas@contoso.com"] {
        let added = sim
            .post(
                &format!("v1.0/groups/{group}/members/$ref"),
                sim.reference(&sim.user_id(upn)),
            )
            .await;
        assert_eq!(added.status, 204);
    }
    sim.handle.advance(Duration::from_secs(300)).await;
    assert_eq!(sku(&sim, SKU_256).await["consumedUnits"], 4);
    let first = sim
        .get("v1.0/users/megan.bowen@contoso.com?$select=assignedLicenses,licenseAssignmentStates")
        .await;
    assert_eq!(first.body["licenseAssignmentStates"][0]["state"], "Active");
    let second = sim
        .get("v1.0/users/kate.thomas@contoso.com?$select=assignedLicenses,licenseAssignmentStates")
        .await;
    assert_eq!(second.body["licenseAssignmentStates"][0]["state"], "Error");
    assert_eq!(
        second.body["licenseAssignmentStates"][0]["error"],
        "CountViolation"
    );
    assert!(
        second.body["assignedLicenses"]
            .as_array()
            .expect("array")
            .is_empty()
    );
    let g = sim
        .get(&format!(
            "v1.0/groups/{group}?$select=hasMembersWithLicenseErrors"
        ))
        .await;
    assert_eq!(g.body["hasMembersWithLicenseErrors"], true);
    let errors = sim
        .get(&format!(
            "v1.0/groups/{group}/membersWithLicenseErrors?$select=userPrincipalName"
        ))
        .await;
    assert_eq!(errors.values().len(), 1);
    let filtered = sim
        .get("v1.0/groups?$filter=hasMembersWithLicenseErrors eq true&$select=displayName")
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.text);
    assert_eq!(filtered.values().len(), 1);
}

#[tokio::test]
async fn assign_license_gives_a_direct_licence_without_assigning_group() {
    let sim = start().await;
    let upn = "megan.bowen@contoso.com";
    let before = sku(&sim, SKU_256).await["consumedUnits"].as_u64().unwrap();
    let answer = sim
        .post(
            &format!("v1.0/users/{upn}/assignLicense"),
            serde_json::json!({"addLicenses": [{"skuId": SKU_256, "disabledPlans": []}], "removeLicenses": []}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["userPrincipalName"], upn);
    let user = sim
        .get(&format!(
            "v1.0/users/{upn}?$select=assignedLicenses,licenseAssignmentStates"
        ))
        .await;
    let states = user.body["licenseAssignmentStates"].as_array().unwrap();
    assert_eq!(states.len(), 1, "{}", user.text);
    assert_eq!(states[0]["skuId"], SKU_256);
    assert_eq!(states[0]["assignedByGroup"], serde_json::Value::Null);
    assert_eq!(states[0]["state"], "Active");
    assert_eq!(states[0]["error"], "None");
    assert_eq!(user.body["assignedLicenses"][0]["skuId"], SKU_256);
    assert_eq!(
        sku(&sim, SKU_256).await["consumedUnits"].as_u64().unwrap(),
        before + 1
    );
    // The SKU is now full: another direct licence is refused with a 400.
    let full = sim
        .post(
            "v1.0/users/henry.moore@contoso.com/assignLicense",
            serde_json::json!({"addLicenses": [{"skuId": SKU_256}], "removeLicenses": []}),
        )
        .await;
    assert_graph_error(&full, 400, "Request_BadRequest");
    // Removing it frees the unit.
    let removed = sim
        .post(
            &format!("v1.0/users/{upn}/assignLicense"),
            serde_json::json!({"addLicenses": [], "removeLicenses": [SKU_256]}),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(
        sku(&sim, SKU_256).await["consumedUnits"].as_u64().unwrap(),
        before
    );
    // Reading users is not enough to assign licences.
    let token = sim.token_with_roles(&["User.Read.All"]).await;
    let denied = sim
        .call(
            reqwest::Method::POST,
            &format!("v1.0/users/{upn}/assignLicense"),
            Some(&token),
            &[],
            Some(serde_json::json!({"addLicenses": [{"skuId": SKU_128}], "removeLicenses": []})),
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
}
