//! Two servers on one PostgreSQL database, as two `w365 serve` processes scaled out: a job
//! submitted to one is visible and followable (SSE) on the other, runs exactly once with a worker
//! on each, and an Idempotency-Key is honoured across both. Each server has its own store (its
//! own connection pool and LISTEN connection), so the events of the other one reach it through
//! the database, as between processes. Skipped with the reason without PostgreSQL (a failure
//! under W365_REQUIRE_SERVICES=1).

use crate::common;

use crate::common::{on_postgres, postgres_url, serve, server_config, spawn_worker, start_with};
use serde_json::{Value, json};
use w365_jobs::{AuditFilter, JobStore};
use w365_server::AppState;

/// Reads a job's event stream until its `end` event; the final job it carries.
async fn follow_to_end(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let mut response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("event stream");
    assert_eq!(response.status(), 200, "the stream is served");
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(at) = text.find("event: end\n") {
            let rest = &text[at..];
            if let Some(end) = rest.find("\n\n") {
                let data: String = rest[..end]
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                return serde_json::from_str(&data).expect("the end event carries the job");
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the job ends within a minute")
            .expect("stream chunk")
            .expect("the stream ends only after its end event");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn two_servers_on_one_database_share_jobs_events_and_idempotency() {
    on_postgres(two_servers).await;
}

async fn two_servers() {
    let mut a = start_with(common::Options::default()).await;
    let url = postgres_url().expect("runs on PostgreSQL");
    // Server B: same database, same tenant simulator and identity provider, a store of its own.
    let store_b: std::sync::Arc<dyn JobStore> = w365_jobs::connect(&url).await.expect("store b");
    let state_b = AppState::new(
        server_config(&a.sim, false),
        store_b.clone(),
        reqwest::Client::new(),
    );
    let (addr_b, stop_b, server_b) = serve(state_b).await;
    let on_b = |path: &str| format!("http://{addr_b}{path}");
    let helpdesk = a.token("helpdesk").await;
    let body = json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox",
        "params": {"cloudPc": "alice.smith@contoso.com"}});

    // Submitted to A with a key; the same key on B returns A's job, no second one.
    let submit = |url: String| {
        a.http
            .post(url)
            .bearer_auth(&helpdesk)
            .header("idempotency-key", "shared-database-test-1")
            .json(&body)
            .send()
    };
    let first = submit(a.url("/api/v1/jobs")).await.expect("submit to A");
    assert_eq!(first.status(), 202);
    let job: Value = first.json().await.expect("job");
    let id = job["id"].as_str().expect("id").to_owned();
    let again = submit(on_b("/api/v1/jobs")).await.expect("submit to B");
    assert_eq!(again.status(), 200, "the existing job, not a new one");
    let again: Value = again.json().await.expect("job");
    assert_eq!(again["id"], id.as_str());

    // B sees it, in its list and by id, before any worker ran it.
    let (status, listed) = {
        let r = a
            .http
            .get(on_b("/api/v1/jobs?operation=cloudpc.troubleshoot"))
            .bearer_auth(&helpdesk)
            .send()
            .await
            .expect("list on B");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()], "one job for the two submissions");

    // A worker beside each server; the job is followed on B while A's store saw it inserted.
    a.start_worker();
    let (stop_worker_b, worker_b) = spawn_worker(&a.sim, store_b.clone(), "worker-b");
    let end = follow_to_end(
        &a.http,
        &on_b(&format!("/api/v1/jobs/{id}/events")),
        &helpdesk,
    )
    .await;
    assert_eq!(end["id"], id.as_str());
    assert_eq!(end["state"], "succeeded", "{end}");

    // Exactly once: one attempt, one troubleshoot request to Graph, one "submitted" and one
    // "finished" audit record, whichever worker ran it.
    let (_, on_a) = a.get(&helpdesk, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(on_a["state"], "succeeded");
    assert_eq!(on_a["attempt"], 1, "{on_a}");
    let troubleshoots = a
        .sim
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/troubleshoot"))
        .count();
    assert_eq!(troubleshoots, 1, "the action was sent once");
    let records = store_b
        .audit_list(&AuditFilter {
            job_id: Some(id.parse().expect("job id")),
            ..AuditFilter::default()
        })
        .await
        .expect("audit")
        .items;
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "submitted").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "succeeded").count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        matches!(
            store_b.audit_verify().await.expect("verify"),
            w365_jobs::AuditVerdict::Ok { .. }
        ),
        "the audit chain written by two servers and two workers holds"
    );

    let _ = stop_worker_b.send(());
    worker_b.await.expect("worker b");
    let _ = stop_b.send(());
    server_b.await.expect("server b");
    a.shutdown().await;
}
