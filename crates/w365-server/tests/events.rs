//! The live event stream of a job (SSE): log lines with `id:` = their sequence number, state
//! changes, a final `end` event; resumable with Last-Event-ID after a dropped connection. And a
//! worker stopped with a job running releases it (nothing is lost).

use crate::common::{Harness, Options, start_with};
use serde_json::{Value, json};
use w365_jobs::{JobEvent, JobState};

#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: String,
}

/// Reads events until `stop` says so or the stream ends.
async fn read_events(
    response: &mut reqwest::Response,
    mut stop: impl FnMut(&SseEvent) -> bool,
) -> Vec<SseEvent> {
    let mut buffer = String::new();
    let mut out = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut e = SseEvent {
                id: None,
                event: "message".into(),
                data: String::new(),
            };
            let mut has_data = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    e.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    e.event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    e.data.push_str(v.trim_start());
                    has_data = true;
                }
            }
            if !has_data {
                continue; // keep-alive comment
            }
            let done = stop(&e);
            out.push(e);
            if done {
                return out;
            }
        }
        match response.chunk().await.expect("stream chunk") {
            Some(bytes) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
            None => return out,
        }
    }
}

async fn open(h: &Harness, token: &str, id: &str, last: Option<&str>) -> reqwest::Response {
    let mut request = h
        .http
        .get(h.url(&format!("/api/v1/jobs/{id}/events")))
        .bearer_auth(token);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    let r = request.send().await.expect("events");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    r
}

async fn submit(h: &Harness, token: &str, body: Value) -> String {
    let (status, job) = h.post(token, "/api/v1/jobs", &body).await;
    assert_eq!(status, 202, "{job}");
    job["id"].as_str().expect("id").to_owned()
}

async fn event_stream_resumes_after_a_dropped_connection_and_ends_with_the_final_state() {
    let mut h = start_with(Options::default()).await;
    let helpdesk = h.token("helpdesk").await;
    let id = submit(
        &h,
        &helpdesk,
        json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox",
        "params": {"cloudPc": "alice.smith@contoso.com"}}),
    )
    .await;

    // No worker yet: the stream shows the job waiting; then the connection drops.
    let mut first = open(&h, &helpdesk, &id, None).await;
    let seen = read_events(&mut first, |e| e.event == "state").await;
    let state = seen.last().expect("a state event");
    let data: Value = serde_json::from_str(&state.data).expect("json");
    assert_eq!(data["state"], "available");
    let resume_from = state.id.clone().expect("state events carry the position");
    drop(first);

    // The job runs while nobody listens.
    h.start_worker();
    // Reconnect with Last-Event-ID: every line since, in order, then the end.
    let mut second = open(&h, &helpdesk, &id, Some(&resume_from)).await;
    let events = read_events(&mut second, |e| e.event == "end").await;
    let end = events.last().expect("events");
    assert_eq!(end.event, "end", "{events:?}");
    let job: Value = serde_json::from_str(&end.data).expect("job");
    assert_eq!(job["id"], id.as_str());
    assert!(
        matches!(job["state"].as_str(), Some("succeeded" | "failed")),
        "{job}"
    );
    let logs: Vec<i64> = events
        .iter()
        .filter(|e| e.event == "log")
        .map(|e| e.id.as_deref().expect("id").parse().expect("seq"))
        .collect();
    assert!(!logs.is_empty(), "the run wrote log lines: {events:?}");
    assert!(
        logs.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {logs:?}"
    );
    assert!(logs[0] > resume_from.parse::<i64>().expect("seq"));
    let stored = h.store.log(id.parse().expect("id"), 0).await.expect("log");
    assert_eq!(
        logs,
        stored.iter().map(|l| l.seq).collect::<Vec<_>>(),
        "every line, once"
    );

    // Resuming in the middle gives only what follows; a finished job's stream ends by itself.
    let middle = logs[logs.len() / 2];
    let mut third = open(&h, &helpdesk, &id, Some(&middle.to_string())).await;
    let rest = read_events(&mut third, |_| false).await;
    let rest_logs: Vec<i64> = rest
        .iter()
        .filter(|e| e.event == "log")
        .map(|e| e.id.as_deref().expect("id").parse().expect("seq"))
        .collect();
    assert_eq!(
        rest_logs,
        logs.iter()
            .copied()
            .filter(|s| *s > middle)
            .collect::<Vec<_>>()
    );
    assert_eq!(rest.last().expect("end").event, "end");
    // ?after= works like the header.
    let mut fourth = h
        .http
        .get(h.url(&format!(
            "/api/v1/jobs/{id}/events?after={}",
            logs[logs.len() - 1]
        )))
        .bearer_auth(&helpdesk)
        .send()
        .await
        .expect("events");
    let tail = read_events(&mut fourth, |_| false).await;
    assert!(tail.iter().all(|e| e.event != "log"), "{tail:?}");
    h.shutdown().await;
}

async fn stopping_the_worker_releases_a_running_job() {
    let mut h = start_with(Options::default()).await;
    let helpdesk = h.token("helpdesk").await;
    // Graph answers slowly, so the job is still running when the worker stops.
    h.sim.set_faults(vec![w365_sim::FaultRule::always(
        w365_sim::faults::FaultAction::Latency(5_000),
    )]);
    let mut events = h.store.subscribe();
    let id = submit(
        &h,
        &helpdesk,
        json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox",
        "params": {"cloudPc": "alice.smith@contoso.com"}}),
    )
    .await;
    let job_id: w365_jobs::JobId = id.parse().expect("id");
    h.start_worker();
    loop {
        match events.recv().await.expect("store events") {
            JobEvent::State {
                job,
                state: JobState::Running,
            } if job == job_id => break,
            _ => {}
        }
    }
    h.stop_worker().await;
    let job = h.store.get(job_id).await.expect("get").expect("job");
    assert_eq!(
        job.state,
        JobState::Available,
        "released, not lost: {job:?}"
    );
    assert!(job.lease_owner.is_none());
    // Another worker picks it up and finishes it.
    h.sim.set_faults(Vec::new());
    h.start_worker();
    let mut stream = open(&h, &helpdesk, &id, None).await;
    let end = read_events(&mut stream, |e| e.event == "end").await;
    let job: Value = serde_json::from_str(&end.last().expect("end").data).expect("job");
    assert!(
        matches!(job["state"].as_str(), Some("succeeded" | "failed")),
        "{job}"
    );
    h.shutdown().await;
}

// The job store matters to these: each runs on SQLite and on PostgreSQL.
sqlite_and_postgres!(
    event_stream_resumes_after_a_dropped_connection_and_ends_with_the_final_state,
    stopping_the_worker_releases_a_running_job,
);
