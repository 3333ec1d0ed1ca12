//! `$batch`: 45 requests in chunks of 20, a failed item, a per-item 429 resent after its
//! Retry-After, and dependsOn kept in one chunk.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};
use w365_graph::{BatchRequest, GraphPath, Query};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

#[derive(Clone, Default)]
struct BatchServer {
    /// Ids seen per $batch call.
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    /// Whether the throttled item was already answered with 429.
    throttled_once: Arc<Mutex<bool>>,
}

impl Respond for BatchServer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().expect("batch body is JSON");
        let items = body["requests"].as_array().expect("requests array");
        assert!(
            items.len() <= 20,
            "a batch carried {} requests",
            items.len()
        );
        self.calls.lock().unwrap().push(
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        let mut responses = Vec::new();
        // answer in reverse order: clients must correlate by id
        for item in items.iter().rev() {
            let id = item["id"].as_str().unwrap();
            assert!(
                item["url"].as_str().unwrap().starts_with("/users/"),
                "{item}"
            );
            let response = match id {
                "r7" => {
                    json!({"id": id, "status": 404, "headers": {"Content-Type": "application/json"},
                    "body": serde_json::from_str::<Value>(&fixture("error_not_found.json")).unwrap()})
                }
                "r30" => {
                    let mut once = self.throttled_once.lock().unwrap();
                    if *once {
                        json!({"id": id, "status": 200, "body": {"id": id}})
                    } else {
                        *once = true;
                        json!({"id": id, "status": 429, "headers": {"Retry-After": "1"},
                            "body": serde_json::from_str::<Value>(&fixture("error_throttled.json")).unwrap()})
                    }
                }
                _ => {
                    json!({"id": id, "status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": id}})
                }
            };
            responses.push(response);
        }
        ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
    }
}

#[tokio::test]
async fn forty_five_requests_in_chunks_with_a_failed_and_a_throttled_item() {
    let server = server().await;
    let batch_server = BatchServer::default();
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(batch_server.clone())
        .mount(&server)
        .await;
    let client = static_client(&server);
    let requests: Vec<BatchRequest> = (0..45)
        .map(|i| {
            BatchRequest::get(
                format!("r{i}"),
                &GraphPath::new(["users", &format!("user{i}@contoso.com")]),
                &Query::new().select(["id"]),
            )
        })
        .collect();
    let responses = client.batch().send(requests).await.unwrap();
    assert!(
        client.stats().retry_wait >= Duration::from_secs(1),
        "Retry-After of the item honoured: {:?}",
        client.stats().retry_wait
    );

    assert_eq!(responses.len(), 45);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(
            r.id,
            format!("r{i}"),
            "responses come back in request order"
        );
    }
    assert_eq!(responses[7].status, 404);
    assert!(responses[7].error().unwrap().is_not_found());
    assert_eq!(responses[30].status, 200, "the throttled item was resent");
    assert_eq!(responses[44].json::<Value>().unwrap()["id"], "r44");

    let calls = batch_server.calls.lock().unwrap().clone();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![20, 20, 1, 5],
        "three chunks plus the resend of r30"
    );
    assert_eq!(calls[2], vec!["r30".to_owned()]);
    assert_eq!(client.stats().throttled, 1);
}

#[tokio::test]
async fn depends_on_chains_stay_in_one_batch_and_are_serialized() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(|req: &Request| {
            let body: Value = req.body_json().unwrap();
            let items = body["requests"].as_array().unwrap();
            let responses: Vec<Value> = items
                .iter()
                .map(|i| json!({"id": i["id"], "status": 204}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
        })
        .expect(2)
        .mount(&server)
        .await;
    let client = static_client(&server);
    let mut requests: Vec<BatchRequest> = (0..19)
        .map(|i| {
            BatchRequest::get(
                format!("a{i}"),
                &GraphPath::new(["users", &format!("u{i}")]),
                &Query::new(),
            )
        })
        .collect();
    requests.push(BatchRequest::get(
        "lookup",
        &GraphPath::new(["users", "alice@contoso.com"]),
        &Query::new(),
    ));
    requests.push(
        BatchRequest::post(
            "add",
            &GraphPath::new(["groups", "g1", "members", "$ref"]),
            json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/u1"}),
        )
        .depends_on("lookup"),
    );
    let responses = client.batch().send(requests).await.unwrap();
    assert!(
        responses
            .iter()
            .all(|r| r.status == 204 && r.body.is_none())
    );
    let received = server.received_requests().await.unwrap();
    let second: Value = received.last().unwrap().body_json().unwrap();
    let items = second["requests"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the chain moved together into the second batch"
    );
    assert_eq!(items[1]["dependsOn"], json!(["lookup"]));
    assert_eq!(items[1]["headers"]["Content-Type"], "application/json");
    assert_eq!(items[1]["url"], "/groups/g1/members/$ref");
}

/// Counts the writes a client asks for.
#[derive(Default)]
struct CountingGate(std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl w365_graph::WriteGate for CountingGate {
    async fn acquire(&self, writes: u32) {
        self.0
            .fetch_add(writes, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A scoped client (one job run): its own User-Agent on every request, its own request counts,
/// and each write taken from its gate first: a single POST is one, a `$batch` is the writes
/// inside it (its GETs and the envelope itself are not).
#[tokio::test]
async fn a_scoped_client_names_itself_and_asks_its_gate_before_each_write() {
    let server = server().await;
    let agent = "w365/test (worker) job/0193";
    Mock::given(method("POST"))
        .and(path("/v1.0/groups/g1/members/$ref"))
        .and(wiremock::matchers::header("user-agent", agent))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .and(wiremock::matchers::header("user-agent", agent))
        .respond_with(|req: &Request| {
            let body: Value = req.body_json().unwrap();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| json!({"id": i["id"], "status": 204}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
        })
        .expect(1)
        .mount(&server)
        .await;
    let shared = static_client(&server);
    let gate = Arc::new(CountingGate::default());
    let run = shared.scoped(agent, Some(gate.clone()));
    run.groups().add_member("g1", "u1").await.unwrap();
    let member = GraphPath::new(["groups", "g2", "members", "$ref"]);
    run.batch()
        .send(vec![
            BatchRequest::post("a", &member, json!({"@odata.id": "x"})),
            BatchRequest::post("b", &member, json!({"@odata.id": "y"})),
            BatchRequest::get("c", &GraphPath::new(["users", "u1"]), &Query::new()),
        ])
        .await
        .unwrap();
    assert_eq!(gate.0.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(run.stats().requests, 2, "the run's own requests");
    assert_eq!(shared.stats().requests, 0, "not the shared client's");
}
