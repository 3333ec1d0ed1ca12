//! `/groups`: lists with duplicate names, members (paging, casts), member writes and their errors.

use crate::common;

use crate::common::{assert_graph_error, start};
use serde_json::json;

#[tokio::test]
async fn display_names_are_not_unique() {
    let sim = start().await;
    let answer = sim
        .get("v1.0/groups?$filter=displayName eq 'Sales'&$select=id,displayName,description")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.values().len(), 2);
    let prefixed = sim
        .get("v1.0/groups?$filter=startswith(displayName,'cfg - Windows 365 - Provisioning')&$select=displayName")
        .await;
    assert_eq!(prefixed.values().len(), 2, "{}", prefixed.text);
}

#[tokio::test]
async fn license_properties_need_select() {
    let sim = start().await;
    let id = sim.group_id("lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB");
    let plain = sim.get(&format!("v1.0/groups/{id}")).await;
    assert_eq!(plain.status, 200, "{}", plain.text);
    assert!(plain.body.get("assignedLicenses").is_none());
    assert_eq!(plain.body["securityEnabled"], true);
    let selected = sim
        .get(&format!("v1.0/groups/{id}?$select=id,displayName,assignedLicenses,licenseProcessingState,hasMembersWithLicenseErrors"))
        .await;
    assert_eq!(
        selected.body["assignedLicenses"][0]["skuId"],
        "226ca751-f0a4-4232-9be5-73c02a92555e"
    );
    assert_eq!(
        selected.body["licenseProcessingState"]["state"],
        "ProcessingComplete"
    );
    assert_eq!(selected.body["hasMembersWithLicenseErrors"], false);
    let missing = sim
        .get("v1.0/groups/00000000-0000-4000-8000-000000000000")
        .await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn members_page_and_cast() {
    let sim = start().await;
    let id = sim.group_id("Engineering");
    let mut next = Some(format!("v1.0/groups/{id}/members?$top=5"));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next {
        let answer = sim.get(&path).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        pages += 1;
        for v in answer.values() {
            assert_eq!(v["@odata.type"], "#microsoft.graph.user");
            seen.push(v["id"].as_str().expect("id").to_owned());
        }
        next = answer.body["@odata.nextLink"].as_str().map(|l| {
            l.trim_start_matches(sim.handle.base_url().as_str())
                .to_owned()
        });
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 12);
    let refused = sim.get(&format!("v1.0/groups/{id}/members/$count")).await;
    assert_graph_error(&refused, 400, "Request_BadRequest");
    let count = sim
        .get_eventual(&format!("v1.0/groups/{id}/members/$count"))
        .await;
    assert_eq!(count.text, "12");
    let groups = sim
        .get_eventual("v1.0/groups/$count?$filter=displayName eq 'Sales'")
        .await;
    assert_eq!(groups.text, "2");
    let all_staff = sim.group_id("All Staff");
    let mixed = sim.get(&format!("v1.0/groups/{all_staff}/members")).await;
    assert_eq!(mixed.values().len(), 2);
    assert!(
        mixed
            .values()
            .iter()
            .any(|v| v["@odata.type"] == "#microsoft.graph.group")
    );
    let users = sim
        .get(&format!(
            "v1.0/groups/{all_staff}/members/microsoft.graph.user?$select=userPrincipalName"
        ))
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert_eq!(users.values().len(), 1);
    assert_eq!(
        users.values()[0]["userPrincipalName"],
        "megan.bowen@contoso.com"
    );
    assert!(
        users.body["@odata.context"]
            .as_str()
            .expect("ctx")
            .contains("#users(userPrincipalName)")
    );
    let transitive = sim
        .get(&format!(
            "v1.0/groups/{all_staff}/transitiveMembers/microsoft.graph.user?$select=id&$top=999"
        ))
        .await;
    assert_eq!(transitive.status, 200, "{}", transitive.text);
    assert_eq!(
        transitive.values().len(),
        13,
        "12 engineers through the nested group + Megan"
    );
    let member = sim.user_id("megan.bowen@contoso.com");
    let one = sim
        .get(&format!("v1.0/groups/{all_staff}/members/{member}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["userPrincipalName"], "megan.bowen@contoso.com");
    let cast = sim
        .get(&format!(
            "v1.0/groups/{all_staff}/members/microsoft.graph.device"
        ))
        .await;
    assert_graph_error(&cast, 400, "Request_UnsupportedQuery");
    let outsider = sim.user_id("alice.smith@contoso.com");
    let not_member = sim
        .get(&format!("v1.0/groups/{all_staff}/members/{outsider}"))
        .await;
    assert_graph_error(&not_member, 404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn add_member_then_already_exists_then_remove() {
    let sim = start().await;
    let group = sim.group_id("cfg - Windows 365 - Provisioning - Win10");
    let user = sim.user_id("megan.bowen@contoso.com");
    let added = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&user),
        )
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    let again = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&user),
        )
        .await;
    assert_graph_error(&again, 400, "Request_BadRequest");
    assert_eq!(
        again.message(),
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert!(members.values().iter().any(|v| v["id"] == user.as_str()));
    let removed = sim
        .delete(&format!("v1.0/groups/{group}/members/{user}/$ref"))
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let again = sim
        .delete(&format!("v1.0/groups/{group}/members/{user}/$ref"))
        .await;
    assert_graph_error(&again, 404, "Request_ResourceNotFound");
    let ghost = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference("00000000-0000-4000-8000-000000000001"),
        )
        .await;
    assert_graph_error(&ghost, 404, "Request_ResourceNotFound");
    let no_group = sim
        .post(
            "v1.0/groups/00000000-0000-4000-8000-000000000002/members/$ref",
            sim.reference(&user),
        )
        .await;
    assert_graph_error(&no_group, 404, "Request_ResourceNotFound");
    let no_ref = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            json!({ "id": user }),
        )
        .await;
    assert_graph_error(&no_ref, 400, "Request_BadRequest");
}

#[tokio::test]
async fn bind_adds_up_to_twenty_all_or_nothing() {
    let sim = start().await;
    let group = sim.group_id("cfg - Windows 365 - User Settings - no restore");
    let new_a = sim.user_id("kate.thomas@contoso.com");
    let new_b = sim.user_id("liam.jackson@contoso.com");
    let existing = sim.user_id("bob.jones@contoso.com");
    let bind = |ids: &[&str]| json!({ "members@odata.bind": ids.iter().map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")).collect::<Vec<_>>() });
    let refused = sim
        .patch(&format!("v1.0/groups/{group}"), bind(&[&new_a, &existing]))
        .await;
    assert_graph_error(&refused, 400, "Request_BadRequest");
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert_eq!(members.values().len(), 1, "nothing added: {}", members.text);
    let ok = sim
        .patch(&format!("v1.0/groups/{group}"), bind(&[&new_a, &new_b]))
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert_eq!(members.values().len(), 3);
    let ids: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let too_many = sim
        .patch(&format!("v1.0/groups/{group}"), bind(&refs))
        .await;
    assert_graph_error(&too_many, 400, "Request_BadRequest");
    let unknown = sim
        .patch(
            &format!("v1.0/groups/{group}"),
            json!({ "visibility": "Private" }),
        )
        .await;
    assert_graph_error(&unknown, 400, "Request_BadRequest");
}

#[tokio::test]
async fn replication_lag_hides_membership_changes_until_the_clock_moves() {
    let mut cfg = w365_sim::SimConfig::contoso();
    cfg.timings.directory.replication_lag = std::time::Duration::from_secs(30);
    let sim = common::start_with(cfg).await;
    let group = sim.group_id("cfg - Windows 365 - Provisioning - Win10");
    let user = sim.user_id("megan.bowen@contoso.com");
    let added = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&user),
        )
        .await;
    assert_eq!(added.status, 204);
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert!(
        !members.values().iter().any(|v| v["id"] == user.as_str()),
        "not visible yet"
    );
    let again = sim
        .post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&user),
        )
        .await;
    assert_eq!(
        again.status, 400,
        "the primary already knows: {}",
        again.text
    );
    sim.handle.advance(std::time::Duration::from_secs(29)).await;
    let check = sim
        .post(
            "v1.0/users/megan.bowen@contoso.com/checkMemberGroups",
            json!({ "groupIds": [group] }),
        )
        .await;
    assert!(check.values().is_empty(), "{}", check.text);
    sim.handle.advance(std::time::Duration::from_secs(1)).await;
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert!(
        members.values().iter().any(|v| v["id"] == user.as_str()),
        "{}",
        members.text
    );
}
