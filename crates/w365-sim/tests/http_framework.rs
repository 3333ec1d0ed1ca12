//! The Graph protocol frame: ids, error bodies, unknown segments, 405, versions, 401/403.

use crate::common;

use crate::common::{assert_graph_error, start};
use reqwest::Method;

#[tokio::test]
async fn every_answer_has_request_ids_and_echoes_client_request_id() {
    let sim = start().await;
    let answer = sim
        .call(
            Method::GET,
            "v1.0/users?$top=1",
            Some(&sim.token),
            &[("client-request-id", "abc-123")],
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["client-request-id"], "abc-123");
    assert!(uuid::Uuid::parse_str(answer.headers["request-id"].to_str().expect("ascii")).is_ok());
    let error = sim
        .call(
            Method::GET,
            "v1.0/users/ghost@contoso.com",
            Some(&sim.token),
            &[("client-request-id", "xyz")],
            None,
        )
        .await;
    assert_graph_error(&error, 404, "Request_ResourceNotFound");
    assert_eq!(
        error.body["error"]["innerError"]["client-request-id"],
        "xyz"
    );
    assert_eq!(
        error.message(),
        "Resource 'ghost@contoso.com' does not exist or one of its queried reference-property objects are not present."
    );
}

#[tokio::test]
async fn unknown_segments_and_versions_are_graph_400s() {
    let sim = start().await;
    let answer = sim.get("v1.0/bogus").await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert_eq!(
        answer.message(),
        "Resource not found for the segment 'bogus'."
    );
    let alice = sim.user_id("alice.smith@contoso.com");
    let answer = sim.get(&format!("v1.0/users/{alice}/nonsense")).await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert_eq!(
        answer.message(),
        "Resource not found for the segment 'nonsense'."
    );
    let answer = sim.get("v2.0/users").await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(
        answer.message().contains("Invalid version"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let sim = start().await;
    let answer = sim.delete("v1.0/users").await;
    assert_graph_error(&answer, 405, "Request_BadRequest");
    assert_eq!(
        answer.message(),
        "Specified HTTP method is not allowed for the request target."
    );
    // Deleting a member without /$ref is not served (it would delete the user in Graph).
    let group = sim.group_id("Engineering");
    let user = sim.user_id("carol.white@contoso.com");
    let answer = sim
        .delete(&format!("v1.0/groups/{group}/members/{user}"))
        .await;
    assert_graph_error(&answer, 405, "Request_BadRequest");
}

#[tokio::test]
async fn beta_serves_the_same_directory_routes() {
    let sim = start().await;
    let answer = sim.get("beta/users/alice.smith@contoso.com").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.body["@odata.context"]
            .as_str()
            .expect("context")
            .contains("/beta/$metadata#users/$entity")
    );
}

#[tokio::test]
async fn missing_malformed_and_expired_tokens_are_401() {
    let sim = start().await;
    let none = sim.call(Method::GET, "v1.0/users", None, &[], None).await;
    assert_graph_error(&none, 401, "InvalidAuthenticationToken");
    let garbage = sim
        .call(Method::GET, "v1.0/users", Some("not-a-jwt"), &[], None)
        .await;
    assert_graph_error(&garbage, 401, "InvalidAuthenticationToken");

    let mut cfg = w365_sim::SimConfig::contoso();
    cfg.token_lifetime = std::time::Duration::from_secs(600);
    let short = common::start_with(cfg).await;
    // Tokens live on the virtual clock: one second before the end it is still good, at the end
    // it is expired (no real time passes).
    short
        .handle
        .advance(std::time::Duration::from_secs(599))
        .await;
    assert_eq!(short.get("v1.0/users?$top=1").await.status, 200);
    short
        .handle
        .advance(std::time::Duration::from_secs(1))
        .await;
    let expired = short.get("v1.0/users").await;
    assert_graph_error(&expired, 401, "InvalidAuthenticationToken");
    assert!(expired.message().contains("expired"), "{}", expired.text);
}

#[tokio::test]
async fn a_token_of_another_simulator_is_rejected() {
    let one = start().await;
    let two = start().await;
    let answer = two
        .call(Method::GET, "v1.0/users", Some(&one.token), &[], None)
        .await;
    assert_graph_error(&answer, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn missing_roles_are_403_per_route() {
    let sim = start().await;
    let mail_only = sim.token_with_roles(&["Mail.Send"]).await;
    for path in ["v1.0/users", "v1.0/groups", "v1.0/subscribedSkus"] {
        let answer = sim
            .call(Method::GET, path, Some(&mail_only), &[], None)
            .await;
        assert_graph_error(&answer, 403, "Authorization_RequestDenied");
        assert_eq!(
            answer.message(),
            "Insufficient privileges to complete the operation."
        );
    }
    let readers = sim.token_with_roles(&["GroupMember.Read.All"]).await;
    let group = sim.group_id("Engineering");
    let user = sim.user_id("megan.bowen@contoso.com");
    let answer = sim
        .call(
            Method::POST,
            &format!("v1.0/groups/{group}/members/$ref"),
            Some(&readers),
            &[],
            Some(sim.reference(&user)),
        )
        .await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
    let ok = sim
        .call(
            Method::GET,
            &format!("v1.0/groups/{group}/members"),
            Some(&readers),
            &[],
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let skus = sim.token_with_roles(&["LicenseAssignment.Read.All"]).await;
    let ok = sim
        .call(Method::GET, "v1.0/subscribedSkus", Some(&skus), &[], None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test]
async fn malformed_json_bodies_are_graph_400s() {
    let sim = start().await;
    let group = sim.group_id("Engineering");
    let response = sim
        .client
        .post(sim.url(&format!("v1.0/groups/{group}/members/$ref")))
        .bearer_auth(&sim.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "BadRequest");
}

#[tokio::test]
async fn error_dates_follow_the_date_header_not_the_virtual_clock() {
    let sim = start().await;
    // Thirty virtual days later, route errors and injected faults still carry the real date.
    sim.handle
        .advance(std::time::Duration::from_secs(30 * 86_400))
        .await;
    let answer = sim.get("v1.0/users/nobody@contoso.com").await;
    assert_graph_error(&answer, 404, "Request_ResourceNotFound");
    sim.handle.set_faults(vec![w365_sim::FaultRule::always(
        w365_sim::faults::FaultAction::Status {
            status: 429,
            retry_after_secs: Some(1),
            http_date: false,
        },
    )]);
    let answer = sim.get("v1.0/users").await;
    assert_graph_error(&answer, 429, "TooManyRequests");
}
