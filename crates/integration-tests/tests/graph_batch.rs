//! JSON batching: chunks of 20, per-item results, a failed item among successes.

mod common;

use w365_graph::{BatchRequest, GraphPath, Query};

#[tokio::test]
async fn batch_is_sent_in_chunks_with_per_item_results() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let upns = [
        "alice.smith@contoso.com",
        "bob.jones@contoso.com",
        "carol.white@contoso.com",
        "dave.brown@contoso.com",
        "erin.davis@contoso.com",
    ];
    let mut requests = Vec::new();
    for i in 0..25 {
        let path = if i == 13 {
            GraphPath::new(["users", "nobody@contoso.com"])
        } else {
            GraphPath::new(["users", upns[i % upns.len()]])
        };
        requests.push(BatchRequest::get(
            format!("r{i}"),
            &path,
            &Query::new().select(["id", "userPrincipalName"]),
        ));
    }

    let responses = client.batch().send(requests).await.expect("batch");

    assert_eq!(responses.len(), 25);
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.id, format!("r{i}"), "responses in request order");
        if i == 13 {
            assert_eq!(response.status, 404);
            let error = response.error().expect("a failed item has an error");
            assert!(error.is_not_found(), "{error:?}");
        } else {
            assert_eq!(response.status, 200, "item {i}");
            let upn = response
                .body
                .as_ref()
                .and_then(|b| b.get("userPrincipalName"))
                .and_then(|v| v.as_str());
            assert_eq!(upn, Some(upns[i % upns.len()]));
        }
    }
    assert_eq!(common::logged(&sim, "POST", "/v1.0/$batch"), 2, "20 + 5");
}

#[tokio::test]
async fn dependent_item_of_a_failed_item_is_424() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let requests = vec![
        BatchRequest::get(
            "missing",
            &GraphPath::new(["users", "nobody@contoso.com"]),
            &Query::new(),
        ),
        BatchRequest::get(
            "after",
            &GraphPath::new(["users", "alice.smith@contoso.com"]),
            &Query::new(),
        )
        .depends_on("missing"),
    ];

    let responses = client.batch().send(requests).await.expect("batch");

    let status = |id: &str| responses.iter().find(|r| r.id == id).map(|r| r.status);
    assert_eq!(status("missing"), Some(404));
    assert_eq!(status("after"), Some(424));
}
