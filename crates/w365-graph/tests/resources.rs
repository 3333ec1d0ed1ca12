//! Resource handlers against Graph-shaped fixtures: request shapes (paths, encoded filters,
//! bodies, headers) and response/error mapping.

use crate::common::*;
use serde_json::{Value, json};
use w365_graph::models::{
    BodyType, CloudPcStatus, ItemBody, LicenseAssignmentError, Message, PolicySettingType,
    ProvisioningPolicyAssignment, ProvisioningType, Recipient,
};
use w365_graph::{AddMemberOutcome, Error, RemoveMemberOutcome};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn find_by_upn_escapes_the_quote_in_the_filter() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(query_param(
            "$filter",
            "userPrincipalName eq 'o''brien@contoso.com'",
        ))
        .and(query_param(
            "$select",
            "id,userPrincipalName,displayName,mail,accountEnabled,usageLocation",
        ))
        .respond_with(fixture_response(200, "users_filter_obrien.json"))
        .expect(1)
        .mount(&server)
        .await;
    let user = static_client(&server)
        .users()
        .find_by_upn("o'brien@contoso.com")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(user.display_name, "Siobhán O'Brien");
    assert_eq!(user.account_enabled, Some(true));
    assert_eq!(user.usage_location.as_deref(), Some("IE"));
    let raw = server.received_requests().await.unwrap()[0]
        .url
        .query()
        .unwrap()
        .to_owned();
    assert!(raw.contains("%27o%27%27brien%40contoso.com%27"), "{raw}");
}

#[tokio::test]
async fn find_by_upn_plus_and_hash_are_encoded_and_absence_is_none() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(query_param(
            "$filter",
            "userPrincipalName eq 'a+b#EXT#@contoso.com'",
        ))
        .respond_with(fixture_response(200, "users_filter_empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let found = static_client(&server)
        .users()
        .find_by_upn("a+b#EXT#@contoso.com")
        .await
        .unwrap();
    assert!(found.is_none());
    let raw = server.received_requests().await.unwrap()[0]
        .url
        .query()
        .unwrap()
        .to_owned();
    assert!(raw.contains("a%2Bb%23EXT%23"), "{raw}");
}

#[tokio::test]
async fn guest_upn_path_segment_is_encoded_and_404_maps_to_none() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(
            "/v1.0/users/guest_fabrikam.com%23EXT%23@contoso.onmicrosoft.com",
        ))
        .respond_with(fixture_response(404, "error_not_found.json"))
        .expect(2)
        .mount(&server)
        .await;
    let client = static_client(&server);
    let upn = "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    assert!(client.users().get_opt(upn).await.unwrap().is_none());
    let err = client.users().get(upn).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("Request_ResourceNotFound"));
    assert_eq!(
        err.request_id(),
        Some("4a2b1c3d-0000-4000-8000-00000000aaaa")
    );
    match &err {
        Error::Api { error, .. } => assert_eq!(error.date.as_deref(), Some("2025-01-01T00:00:00")),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("request-id 4a2b1c3d"), "{err}");
}

#[tokio::test]
async fn forbidden_and_non_json_errors_are_mapped() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/groups/g1"))
        .respond_with(fixture_response(403, "error_forbidden.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/groups/g2"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_string("<html>Bad Gateway</html>")
                .insert_header("request-id", "hdr-id"),
        )
        .mount(&server)
        .await;
    let client = static_client(&server);
    let err = client.groups().get("g1").await.unwrap_err();
    assert!(err.is_permission_denied());
    assert_eq!(err.code(), Some("Authorization_RequestDenied"));
    let err = client.groups().get("g2").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.code(), None);
    assert_eq!(err.request_id(), Some("hdr-id"));
    assert!(err.to_string().contains("Bad Gateway"));
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"skuId": "226ca751-f0a4-4232-9be5-73c02a92555e", "consumedUnits": "many"}]
        })))
        .mount(&server)
        .await;
    let err = static_client(&server)
        .subscribed_skus()
        .list()
        .await
        .unwrap_err();
    match err {
        Error::Decode {
            path, operation, ..
        } => {
            assert_eq!(path, "value[0].consumedUnits");
            assert_eq!(operation, "GET /v1.0/subscribedSkus");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn license_assignment_states_are_typed() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1"))
        .and(query_param(
            "$select",
            "id,assignedLicenses,licenseAssignmentStates",
        ))
        .respond_with(fixture_response(200, "user_license_states.json"))
        .mount(&server)
        .await;
    let states = static_client(&server)
        .users()
        .license_assignment_states("u1")
        .await
        .unwrap();
    assert_eq!(states.len(), 2);
    assert!(states[0].is_active());
    assert_eq!(
        states[1].error,
        Some(LicenseAssignmentError::CountViolation)
    );
}

fn already_exists() -> ResponseTemplate {
    fixture_response(400, "error_already_exists.json")
}

#[tokio::test]
async fn add_member_posts_a_ref_and_treats_already_exists_as_member() {
    let server = server().await;
    let expected = json!({"@odata.id": format!("{}/v1.0/directoryObjects/u1", server.uri())});
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .and(body_json(expected))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .respond_with(already_exists())
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let groups = static_client(&server).groups();
    assert_eq!(
        groups.add_member("g1", "u1").await.unwrap(),
        AddMemberOutcome::Added
    );
    assert_eq!(
        groups.add_member("g1", "u1").await.unwrap(),
        AddMemberOutcome::AlreadyMember
    );
}

#[tokio::test]
async fn add_member_retried_after_503_reports_already_member() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .respond_with(
            fixture_response(503, "error_throttled.json").insert_header("Retry-After", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .respond_with(already_exists())
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let client = static_client(&server);
    assert_eq!(
        client.groups().add_member("g1", "u1").await.unwrap(),
        AddMemberOutcome::AlreadyMember
    );
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn other_bad_requests_on_add_member_are_errors() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"code": "Request_BadRequest",
            "message": "The source resource object or one of the objects being referenced don't exist."}})))
        .expect(1)
        .mount(&server)
        .await;
    let err = static_client(&server)
        .groups()
        .add_member("g1", "u1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_already_exists());
}

#[tokio::test]
async fn remove_member_always_uses_ref_and_maps_404_to_not_member() {
    let server = server().await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/groups/g1/members/u1/$ref"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/groups/g1/members/u2/$ref"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"code": "Request_ResourceNotFound",
            "message": "Resource 'u2' does not exist or one of its queried reference-property objects are not present."}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/groups/gone/members/u1/$ref"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"code": "Request_ResourceNotFound",
            "message": "Resource 'gone' does not exist or one of its queried reference-property objects are not present."}})))
        .expect(1)
        .mount(&server)
        .await;
    let groups = static_client(&server).groups();
    assert_eq!(
        groups.remove_member("g1", "u1").await.unwrap(),
        RemoveMemberOutcome::Removed
    );
    assert_eq!(
        groups.remove_member("g1", "u2").await.unwrap(),
        RemoveMemberOutcome::NotMember
    );
    assert!(
        groups
            .remove_member("gone", "u1")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let err = groups.remove_member("g1", "..").await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }),
        "a dot segment must never reach the wire"
    );
}

#[tokio::test]
async fn add_members_binds_twenty_per_patch() {
    let server = server().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/groups/g1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(3)
        .mount(&server)
        .await;
    let ids: Vec<String> = (0..45).map(|i| format!("u{i}")).collect();
    static_client(&server)
        .groups()
        .add_members("g1", &ids)
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    let sizes: Vec<usize> = received
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["members@odata.bind"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![20, 20, 5]);
    let first: Value = received[0].body_json().unwrap();
    assert_eq!(
        first["members@odata.bind"][0],
        format!("{}/v1.0/directoryObjects/u0", server.uri())
    );
}

#[tokio::test]
async fn check_member_groups_sends_twenty_ids_per_call() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u1/checkMemberGroups"))
        .respond_with(|req: &wiremock::Request| {
            let ids: Value = req.body_json::<Value>().unwrap()["groupIds"].clone();
            let ids = ids.as_array().unwrap();
            assert!(ids.len() <= 20);
            ResponseTemplate::new(200).set_body_json(json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
                "value": ids.iter().filter(|v| v.as_str().unwrap().ends_with('0')).collect::<Vec<_>>()
            }))
        })
        .expect(2)
        .mount(&server)
        .await;
    let ids: Vec<String> = (0..25).map(|i| format!("g{i}")).collect();
    let found = static_client(&server)
        .users()
        .check_member_groups("u1", &ids)
        .await
        .unwrap();
    assert_eq!(found, vec!["g0", "g10", "g20"]);
}

#[tokio::test]
async fn find_by_display_names_uses_in_with_at_most_fifteen_names() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/groups"))
        .respond_with(|req: &wiremock::Request| {
            let filter = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "$filter")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            assert!(filter.starts_with("displayName in ('"), "{filter}");
            assert!(filter.matches("','").count() < 15);
            ResponseTemplate::new(200).set_body_json(json!({"value": [
                {"id": "shared", "displayName": "W365-O''Neil"},
            ]}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let names: Vec<String> = (0..20).map(|i| format!("W365-{i}")).collect();
    let groups = static_client(&server)
        .groups()
        .find_by_display_names(&names)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "duplicates across chunks are merged");
}

#[tokio::test]
async fn cloud_pcs_are_read_from_beta_with_unknown_enum_members() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/beta/deviceManagement/virtualEndpoint/cloudPCs"))
        .and(header("Prefer", "include-unknown-enum-members"))
        .and(query_param(
            "$filter",
            "userPrincipalName eq 'alexw@contoso.com'",
        ))
        .respond_with(fixture_response(200, "cloud_pcs_beta.json"))
        .expect(1)
        .mount(&server)
        .await;
    let pcs = static_client(&server)
        .cloud_pcs()
        .list(Some(w365_graph::Filter::eq(
            "userPrincipalName",
            "alexw@contoso.com",
        )))
        .await
        .unwrap();
    assert_eq!(pcs.len(), 3);
    assert_eq!(pcs[0].status, Some(CloudPcStatus::Provisioned));
    assert!(pcs[0].status.as_ref().unwrap().is_usable());
    assert_eq!(
        pcs[0].managed_device_name.as_deref(),
        Some("CPC-alexw-1A2B3")
    );
    assert_eq!(pcs[1].status, Some(CloudPcStatus::Failed));
    let detail = pcs[1].status_detail.as_ref().unwrap();
    assert_eq!(detail.code.as_deref(), Some("intuneEnrollFailed"));
    assert_eq!(
        pcs[1].provisioning_type,
        Some(ProvisioningType::SharedByUser)
    );
    assert_eq!(
        pcs[2].status,
        Some(CloudPcStatus::Other("failoverInProgress".into()))
    );
    assert!(pcs[2].grace_period_end_date_time.is_some());
    let back = serde_json::to_value(&pcs[2]).unwrap();
    assert_eq!(back["status"], "failoverInProgress");
}

#[tokio::test]
async fn cloud_pc_actions_post_to_beta_with_bodies() {
    let server = server().await;
    let base = "/beta/deviceManagement/virtualEndpoint/cloudPCs/pc1";
    for (action, body) in [
        (
            "resize",
            Some(json!({"targetServicePlanId": "3efff3fe-528a-4fc5-b1ba-845802cc764f"})),
        ),
        ("rename", Some(json!({"displayName": "New name"}))),
        ("endGracePeriod", None),
        ("reprovision", Some(json!({"osVersion": "windows11"}))),
    ] {
        let mut mock = Mock::given(method("POST"))
            .and(path(format!("{base}/{action}")))
            .and(header("Prefer", "include-unknown-enum-members"));
        if let Some(b) = body {
            mock = mock.and(body_json(b));
        }
        mock.respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
    }
    let pcs = static_client(&server).cloud_pcs();
    pcs.resize("pc1", "3efff3fe-528a-4fc5-b1ba-845802cc764f")
        .await
        .unwrap();
    pcs.rename("pc1", "New name").await.unwrap();
    pcs.end_grace_period("pc1").await.unwrap();
    pcs.reprovision(
        "pc1",
        w365_graph::models::ReprovisionOptions {
            os_version: Some(w365_graph::models::CloudPcOperatingSystem::Windows11),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn provisioning_policies_find_assign_and_apply() {
    let server = server().await;
    let base = "/beta/deviceManagement/virtualEndpoint/provisioningPolicies";
    Mock::given(method("GET"))
        .and(path(base))
        .and(query_param("$filter", "displayName eq 'W365 Standard'"))
        .and(query_param("$expand", "assignments"))
        .and(header("Prefer", "include-unknown-enum-members"))
        .respond_with(fixture_response(200, "provisioning_policies_expanded.json"))
        .expect(1)
        .mount(&server)
        .await;
    let policy_id = "1ecb9d09-0000-4000-8000-000000000001";
    Mock::given(method("POST"))
        .and(path(format!("{base}/{policy_id}/assign")))
        .and(body_json(json!({"assignments": [
            {"target": {"@odata.type": "microsoft.graph.cloudPcManagementGroupAssignmentTarget", "groupId": "g1"}},
            {"target": {"@odata.type": "microsoft.graph.cloudPcManagementGroupAssignmentTarget", "groupId": "g2"}}
        ]})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/{policy_id}/apply")))
        .and(body_json(json!({"policySettings": "singleSignOn"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/applyConfig")))
        .and(body_json(
            json!({"cloudPcIds": ["pc1", "pc2"], "policySettings": "region"}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let policies = static_client(&server).provisioning_policies();
    let found = policies
        .find_by_display_name("W365 Standard")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(p.grace_period_in_hours, Some(168));
    assert_eq!(
        p.assigned_group_ids(),
        vec!["0c9a3e55-77b4-4f3e-9d3c-2a1b4c5d6e7f"]
    );
    assert_eq!(
        p.windows_settings.as_ref().unwrap().language.as_deref(),
        Some("en-US")
    );
    policies
        .assign(
            policy_id,
            &[
                ProvisioningPolicyAssignment::group("g1"),
                ProvisioningPolicyAssignment::group("g2"),
            ],
        )
        .await
        .unwrap();
    policies
        .apply(policy_id, PolicySettingType::SingleSignOn)
        .await
        .unwrap();
    policies
        .apply_config(
            &["pc1".to_owned(), "pc2".to_owned()],
            PolicySettingType::Region,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn send_mail_posts_the_message_and_accepts_202() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/noreply@contoso.com/sendMail"))
        .and(body_json(json!({
            "message": {
                "subject": "Your Cloud PC is ready",
                "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
                "toRecipients": [{"emailAddress": {"address": "alice@contoso.com", "name": "Alice"}}],
                "ccRecipients": [], "bccRecipients": []
            },
            "saveToSentItems": false
        })))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let message = Message {
        subject: "Your Cloud PC is ready".into(),
        body: ItemBody {
            content_type: BodyType::Html,
            content: "<p>Hi</p>".into(),
        },
        to_recipients: vec![Recipient::new("alice@contoso.com", Some("Alice".into()))],
        cc_recipients: vec![],
        bcc_recipients: vec![],
    };
    static_client(&server)
        .mail()
        .send_mail("noreply@contoso.com", &message, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn frontline_plans_and_the_legacy_shared_use_plan() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(
            "/beta/deviceManagement/virtualEndpoint/frontLineServicePlans",
        ))
        .respond_with(fixture_response(200, "frontline_service_plans.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/beta/deviceManagement/virtualEndpoint/sharedUseServicePlans/x",
        ))
        .respond_with(fixture_response(404, "error_not_found.json"))
        .mount(&server)
        .await;
    let plans = static_client(&server).service_plans();
    let frontline = plans.frontline().await.unwrap();
    assert_eq!(frontline[0].total_count - frontline[0].used_count, 6);
    assert!(plans.shared_use_get("x").await.unwrap().is_none());
}

#[tokio::test]
async fn a_upn_starting_with_dollar_is_resolved_by_filter() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(query_param(
            "$filter",
            "userPrincipalName eq '$svc@contoso.com'",
        ))
        .respond_with(fixture_response(200, "users_filter_empty.json"))
        .expect(2)
        .mount(&server)
        .await;
    let users = static_client(&server).users();
    assert!(users.get_opt("$svc@contoso.com").await.unwrap().is_none());
    assert!(
        users
            .get("$svc@contoso.com")
            .await
            .unwrap_err()
            .is_not_found()
    );
}
