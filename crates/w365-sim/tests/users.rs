//! `/users`: default property set, `$select`, keys (UPN forms), filters, gating, paging, memberOf,
//! checkMemberGroups.

use crate::common::{assert_graph_error, start};
use serde_json::json;

#[tokio::test]
async fn get_by_upn_returns_the_default_property_set() {
    let sim = start().await;
    let answer = sim.get("v1.0/users/alice.smith@contoso.com").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.body;
    assert_eq!(body["userPrincipalName"], "alice.smith@contoso.com");
    assert_eq!(body["mail"], "alice.smith@contoso.com");
    assert!(body["id"].is_string());
    assert!(body["businessPhones"].is_array());
    for hidden in [
        "accountEnabled",
        "usageLocation",
        "assignedLicenses",
        "licenseAssignmentStates",
    ] {
        assert!(
            body.get(hidden).is_none(),
            "{hidden} must need $select: {}",
            answer.text
        );
    }
    assert!(
        body["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/v1.0/$metadata#users/$entity")
    );
}

#[tokio::test]
async fn select_returns_only_the_selected_properties() {
    let sim = start().await;
    let answer = sim.get("v1.0/users/alice.smith@contoso.com?$select=mail,accountEnabled,usageLocation,assignedLicenses,licenseAssignmentStates").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.body;
    assert!(
        body.get("id").is_none(),
        "id only when selected: {}",
        answer.text
    );
    assert_eq!(body["accountEnabled"], true);
    assert_eq!(body["usageLocation"], "US");
    assert_eq!(
        body["assignedLicenses"][0]["skuId"],
        "226ca751-f0a4-4232-9be5-73c02a92555e"
    );
    assert_eq!(body["licenseAssignmentStates"][0]["state"], "Active");
    assert_eq!(body["licenseAssignmentStates"][0]["error"], "None");
    assert!(
        body["@odata.context"]
            .as_str()
            .expect("context")
            .contains("users(mail,accountEnabled")
    );
    let bad = sim
        .get("v1.0/users/alice.smith@contoso.com?$select=nonsense")
        .await;
    assert_graph_error(&bad, 400, "BadRequest");
}

#[tokio::test]
async fn tricky_upns_resolve() {
    let sim = start().await;
    for (path, upn) in [
        ("v1.0/users/o'brien@contoso.com", "o'brien@contoso.com"),
        ("v1.0/users/O%27Brien%40contoso.com", "o'brien@contoso.com"),
        (
            "v1.0/users/ext.user_fabrikam.com%23EXT%23@contoso.onmicrosoft.com",
            "ext.user_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        ),
        ("v1.0/users/dev%2Bw365@contoso.com", "dev+w365@contoso.com"),
        ("v1.0/users/dev+w365@contoso.com", "dev+w365@contoso.com"),
        (
            "v1.0/users/ALICE.SMITH@CONTOSO.COM",
            "alice.smith@contoso.com",
        ),
    ] {
        let answer = sim.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert_eq!(answer.body["userPrincipalName"], upn, "{path}");
    }
    let id = sim.user_id("alice.smith@contoso.com");
    let by_id = sim.get(&format!("v1.0/users/{}", id.to_uppercase())).await;
    assert_eq!(
        by_id.status, 200,
        "GUIDs compare case-insensitively: {}",
        by_id.text
    );
    let missing = sim.get("v1.0/users/nobody@contoso.com").await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
    let nomail = sim
        .get("v1.0/users/nomail.user@contoso.com?$select=mail,displayName")
        .await;
    assert!(nomail.body["mail"].is_null(), "{}", nomail.text);
    let guest = sim.get("v1.0/users/ext.user_fabrikam.com%23EXT%23@contoso.onmicrosoft.com?$select=userType,mail").await;
    assert_eq!(guest.body["userType"], "Guest");
    let accents = sim.get("v1.0/users/zoe.muller@contoso.com").await;
    assert_eq!(accents.body["displayName"], "Zoë Müller");
}

#[tokio::test]
async fn filter_by_upn_is_a_collection_never_404() {
    let sim = start().await;
    let answer = sim.get("v1.0/users?$filter=userPrincipalName%20eq%20'o''brien%40contoso.com'&$select=id,userPrincipalName").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.values().len(), 1);
    assert_eq!(
        answer.values()[0]["userPrincipalName"],
        "o'brien@contoso.com"
    );
    let none = sim
        .get("v1.0/users?$filter=userPrincipalName eq 'ghost@contoso.com'")
        .await;
    assert_eq!(none.status, 200);
    assert!(none.values().is_empty());
    let many = sim
        .get("v1.0/users?$filter=startswith(displayName,'Alex')&$select=displayName")
        .await;
    assert_eq!(many.values().len(), 2, "{}", many.text);
    let disabled = sim
        .get("v1.0/users?$filter=accountEnabled eq false&$select=userPrincipalName")
        .await;
    assert_eq!(disabled.values().len(), 1, "{}", disabled.text);
    assert_eq!(
        disabled.values()[0]["userPrincipalName"],
        "disabled.user@contoso.com"
    );
}

#[tokio::test]
async fn advanced_queries_need_consistency_level_and_count() {
    let sim = start().await;
    let gated = sim
        .get("v1.0/users?$filter=endswith(mail,'@fabrikam.com')")
        .await;
    assert_graph_error(&gated, 400, "Request_UnsupportedQuery");
    assert!(
        gated.message().contains("endsWith") || gated.message().contains("endswith"),
        "{}",
        gated.text
    );
    let header_only = sim
        .get_eventual("v1.0/users?$filter=endswith(mail,'@fabrikam.com')")
        .await;
    assert_graph_error(&header_only, 400, "Request_UnsupportedQuery");
    let ok = sim
        .get_eventual("v1.0/users?$filter=endswith(mail,'@fabrikam.com')&$count=true")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["@odata.count"], 1);
    let search = sim.get("v1.0/users?$search=\"displayName:alex\"").await;
    assert_graph_error(&search, 400, "Request_UnsupportedQuery");
    let search = sim
        .get_eventual("v1.0/users?$search=\"displayName:alex\"&$select=displayName")
        .await;
    assert_eq!(search.status, 200, "{}", search.text);
    assert_eq!(search.values().len(), 2, "{}", search.text);
    // $count without the header is silently ignored.
    let ignored = sim.get("v1.0/users?$count=true&$top=1").await;
    assert_eq!(ignored.status, 200);
    assert!(ignored.body.get("@odata.count").is_none());
    let sorted_filter = sim
        .get("v1.0/users?$filter=accountEnabled eq true&$orderby=displayName")
        .await;
    assert_graph_error(&sorted_filter, 400, "Request_UnsupportedQuery");
}

#[tokio::test]
async fn count_segment_needs_the_header() {
    let sim = start().await;
    let refused = sim.get("v1.0/users/$count").await;
    assert_graph_error(&refused, 400, "Request_BadRequest");
    let count = sim.get_eventual("v1.0/users/$count").await;
    assert_eq!(count.status, 200);
    let n: usize = count.text.parse().expect("a number");
    assert_eq!(
        n,
        sim.handle
            .with_state(|s| s.default_tenant().expect("tenant").directory.user_count())
    );
}

#[tokio::test]
async fn orderby_and_paging_across_pages() {
    let sim = start().await;
    let mut url = Some(sim.url("v1.0/users?$top=10&$select=displayName&$orderby=displayName"));
    let mut names = Vec::new();
    let mut pages = 0;
    while let Some(next) = url {
        let path = next
            .trim_start_matches(sim.handle.base_url().as_str())
            .to_owned();
        let answer = sim.get(&path).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        pages += 1;
        names.extend(
            answer
                .values()
                .iter()
                .map(|v| v["displayName"].as_str().expect("name").to_owned()),
        );
        url = answer.body["@odata.nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &url {
            assert!(
                link.starts_with("http://127.0.0.1:"),
                "absolute nextLink: {link}"
            );
            assert!(link.contains("$skiptoken="));
        }
    }
    let total = sim
        .handle
        .with_state(|s| s.default_tenant().expect("tenant").directory.user_count());
    assert!(pages >= 4, "{pages} pages");
    assert_eq!(names.len(), total);
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    let tampered = sim
        .get("v1.0/users?$top=10&$skiptoken=AAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(tampered.status, 400, "{}", tampered.text);
    let too_big = sim.get("v1.0/users?$top=1000").await;
    assert_eq!(too_big.status, 400, "{}", too_big.text);
}

#[tokio::test]
async fn member_of_lists_groups_with_the_cast() {
    let sim = start().await;
    let answer = sim.get("v1.0/users/bob.jones@contoso.com/memberOf").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let values = answer.values();
    assert!(values.len() >= 4);
    assert!(
        values
            .iter()
            .all(|v| v["@odata.type"] == "#microsoft.graph.group")
    );
    assert!(
        answer.body["@odata.context"]
            .as_str()
            .expect("ctx")
            .ends_with("#directoryObjects")
    );
    let cast = sim
        .get_eventual("v1.0/users/bob.jones@contoso.com/memberOf/microsoft.graph.group?$count=true&$filter=displayName eq 'Sales'&$select=id,displayName,description")
        .await;
    assert_eq!(cast.status, 200, "{}", cast.text);
    assert_eq!(cast.values().len(), 1);
    assert_eq!(cast.values()[0]["description"], "Sales team (Americas).");
    assert!(
        cast.body["@odata.context"]
            .as_str()
            .expect("ctx")
            .contains("#groups(id,displayName,description)")
    );
    let transitive = sim
        .get("v1.0/users/carol.white@contoso.com/transitiveMemberOf?$select=displayName")
        .await;
    assert!(
        transitive
            .values()
            .iter()
            .any(|v| v["displayName"] == "All Staff"),
        "nested: {}",
        transitive.text
    );
    let missing = sim.get("v1.0/users/ghost@contoso.com/memberOf").await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
}

#[tokio::test]
async fn check_member_groups_is_transitive_and_validated() {
    let sim = start().await;
    let engineering = sim.group_id("Engineering");
    let all_staff = sim.group_id("All Staff");
    let win10 = sim.group_id("cfg - Windows 365 - Provisioning - Win10");
    let answer = sim
        .post(
            "v1.0/users/carol.white@contoso.com/checkMemberGroups",
            json!({ "groupIds": [engineering, all_staff, win10] }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let got: Vec<&str> = answer.values().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(got, vec![engineering.as_str(), all_staff.as_str()]);
    assert!(
        answer.body["@odata.context"]
            .as_str()
            .expect("ctx")
            .ends_with("#Collection(Edm.String)")
    );
    let user = sim.user_id("carol.white@contoso.com");
    let same = sim
        .post(
            &format!("v1.0/directoryObjects/{user}/checkMemberGroups"),
            json!({ "groupIds": [engineering] }),
        )
        .await;
    assert_eq!(same.values().len(), 1, "{}", same.text);
    let too_many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let answer = sim
        .post(
            "v1.0/users/carol.white@contoso.com/checkMemberGroups",
            json!({ "groupIds": too_many }),
        )
        .await;
    assert_graph_error(&answer, 400, "Request_BadRequest");
    let answer = sim
        .post(
            "v1.0/users/carol.white@contoso.com/checkMemberGroups",
            json!({ "groupIds": ["not-a-guid"] }),
        )
        .await;
    assert_graph_error(&answer, 400, "Request_BadRequest");
}

#[tokio::test]
async fn basic_read_permission_sees_only_basic_properties() {
    let sim = start().await;
    let token = sim.token_with_roles(&["User.ReadBasic.All"]).await;
    let answer = sim
        .call(
            reqwest::Method::GET,
            "v1.0/users/alice.smith@contoso.com?$select=displayName,accountEnabled",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["displayName"], "Alice Smith");
    assert!(
        answer.body.get("accountEnabled").is_none(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn directory_objects_are_typed() {
    let sim = start().await;
    let user = sim.user_id("alice.smith@contoso.com");
    let answer = sim.get(&format!("v1.0/directoryObjects/{user}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(answer.body["userPrincipalName"], "alice.smith@contoso.com");
    let group = sim.group_id("Engineering");
    let answer = sim
        .get(&format!(
            "v1.0/directoryObjects/{group}?$select=id,displayName"
        ))
        .await;
    assert_eq!(answer.body["@odata.type"], "#microsoft.graph.group");
    assert_eq!(answer.body["displayName"], "Engineering");
    let missing = sim
        .get("v1.0/directoryObjects/00000000-0000-4000-8000-000000000009")
        .await;
    assert_graph_error(&missing, 404, "Request_ResourceNotFound");
    let users_only = sim.token_with_roles(&["User.Read.All"]).await;
    let denied = sim
        .call(
            reqwest::Method::GET,
            &format!("v1.0/directoryObjects/{group}"),
            Some(&users_only),
            &[],
            None,
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
}
