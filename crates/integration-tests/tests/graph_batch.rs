//! JSON batching: chunks of 20, per-item results, a failed item among successes.

use crate::common;

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

#[tokio::test]
async fn throttled_item_is_retried_in_a_later_batch() {
    use w365_sim::faults::{FaultAction, FaultRule, Trigger};

    let sim = common::start().await;
    let client = common::admin_client(&sim);
    // Batch items go through the same router as direct calls, so the rule hits one item.
    sim.set_faults(vec![FaultRule {
        method: Some("GET".to_owned()),
        path: Some("/v1.0/users/*".to_owned()),
        tenant: None,
        action: FaultAction::Status {
            status: 429,
            retry_after_secs: Some(1),
            http_date: false,
        },
        trigger: Trigger::FirstN(1),
    }]);
    let requests = [
        "alice.smith@contoso.com",
        "bob.jones@contoso.com",
        "carol.white@contoso.com",
    ]
    .iter()
    .enumerate()
    .map(|(i, upn)| {
        BatchRequest::get(
            format!("u{i}"),
            &GraphPath::new(["users", upn]),
            &Query::new().select(["id"]),
        )
    })
    .collect();

    let responses = client.batch().send(requests).await.expect("batch");

    assert_eq!(responses.len(), 3);
    assert!(responses.iter().all(|r| r.status == 200), "{responses:?}");
    assert_eq!(
        common::logged(&sim, "POST", "/v1.0/$batch"),
        2,
        "the throttled item went out again"
    );
}
