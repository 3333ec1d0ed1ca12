//! `$batch` through the same router: per-item auth, dependsOn, 424, envelope errors.

use crate::common::{assert_graph_error, start};
use serde_json::json;

#[tokio::test]
async fn batch_items_run_through_the_router() {
    let sim = start().await;
    let group = sim.group_id("cfg - Windows 365 - Provisioning - Win10");
    let user = sim.user_id("megan.bowen@contoso.com");
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/users/alice.smith@contoso.com?$select=id,userPrincipalName" },
        { "id": "2", "method": "POST", "url": format!("/groups/{group}/members/$ref"), "dependsOn": ["1"],
          "headers": { "Content-Type": "application/json" },
          "body": { "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}") } },
        { "id": "3", "method": "GET", "url": "/users/ghost@contoso.com" },
        { "id": "4", "method": "GET", "url": "/users/ghost@contoso.com/memberOf", "dependsOn": ["3"] },
        { "id": "5", "method": "GET", "url": "/bogus" }
    ]});
    let answer = sim.post("v1.0/$batch", body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let responses = answer.body["responses"].as_array().expect("responses");
    let by_id = |id: &str| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .expect("item answered")
    };
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(
        by_id("1")["body"]["userPrincipalName"],
        "alice.smith@contoso.com"
    );
    assert_eq!(by_id("2")["status"], 204);
    assert_eq!(by_id("3")["status"], 404);
    assert_eq!(
        by_id("3")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(by_id("4")["status"], 424);
    assert_eq!(by_id("5")["status"], 400);
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert!(members.values().iter().any(|v| v["id"] == user.as_str()));
}

#[tokio::test]
async fn batch_items_are_authorized_one_by_one() {
    let sim = start().await;
    let token = sim.token_with_roles(&["User.Read.All"]).await;
    let body = json!({ "requests": [
        { "id": "a", "method": "GET", "url": "/users?$top=1" },
        { "id": "b", "method": "GET", "url": "/groups" }
    ]});
    let answer = sim
        .call(
            reqwest::Method::POST,
            "v1.0/$batch",
            Some(&token),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let responses = answer.body["responses"].as_array().expect("responses");
    let status = |id: &str| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("a"), Some(json!(200)));
    assert_eq!(status("b"), Some(json!(403)));
}

#[tokio::test]
async fn malformed_batches_are_400() {
    let sim = start().await;
    let too_many: Vec<_> = (0..21)
        .map(|i| json!({ "id": i.to_string(), "method": "GET", "url": "/users" }))
        .collect();
    let answer = sim
        .post("v1.0/$batch", json!({ "requests": too_many }))
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    let dup = json!({ "requests": [ { "id": "1", "method": "GET", "url": "/users" }, { "id": "1", "method": "GET", "url": "/groups" } ] });
    let answer = sim.post("v1.0/$batch", dup).await;
    assert_graph_error(&answer, 400, "BadRequest");
}

#[tokio::test]
async fn faults_apply_per_batch_item() {
    let sim = start().await;
    sim.handle.set_faults(vec![
        serde_json::from_value(json!({
            "path": "/v1.0/groups", "action": { "status": { "status": 429, "retryAfterSecs": 3 } }
        }))
        .expect("rule"),
    ]);
    let body = json!({ "requests": [
        { "id": "1", "method": "GET", "url": "/groups" },
        { "id": "2", "method": "GET", "url": "/users?$top=1" }
    ]});
    let answer = sim.post("v1.0/$batch", body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let responses = answer.body["responses"].as_array().expect("responses");
    let one = responses.iter().find(|r| r["id"] == "1").expect("item");
    assert_eq!(one["status"], 429);
    assert_eq!(one["headers"]["Retry-After"], "3");
    assert_eq!(
        responses.iter().find(|r| r["id"] == "2").expect("item")["status"],
        200
    );
}

#[tokio::test]
async fn absolute_and_versioned_item_urls_fail_only_their_item() {
    // msgraph-core for Python sends absolute item urls (msgraph-sdk-python#1015) and older
    // JavaScript clients `/v1.0/...` (msgraph-sdk-javascript#1178): Graph answers those items
    // 400 "Resource not found for the segment ..." and runs the others.
    let sim = start().await;
    let body = json!({ "requests": [
        { "id": "abs", "method": "GET", "url": format!("{}v1.0/users", sim.handle.base_url()) },
        { "id": "ver", "method": "GET", "url": "/v1.0/groups" },
        { "id": "ok", "method": "GET", "url": "/users?$top=1" }
    ]});
    let answer = sim.post("v1.0/$batch", body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let responses = answer.body["responses"].as_array().expect("responses");
    let by_id = |id: &str| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .expect("item answered")
    };
    assert_eq!(by_id("abs")["status"], 400, "{}", answer.text);
    assert_eq!(
        by_id("abs")["body"]["error"]["message"],
        "Resource not found for the segment 'http:'."
    );
    assert_eq!(by_id("ver")["status"], 400);
    assert_eq!(
        by_id("ver")["body"]["error"]["message"],
        "Resource not found for the segment 'v1.0'."
    );
    assert_eq!(by_id("ok")["status"], 200);
}
