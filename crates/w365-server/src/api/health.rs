//! `/healthz` (alive), `/readyz` (store and tenants reachable), `/metrics` (Prometheus text).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use w365_jobs::{JobFilter, JobState};

use crate::state::AppState;

/// Counters kept by this process.
#[derive(Debug, Default)]
pub struct Metrics {
    submitted: AtomicU64,
}

impl Metrics {
    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process is alive (no dependency is checked).
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the job store answers and every tenant's Graph answers (5 s each).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    let limit = Duration::from_secs(5);
    let probe = JobFilter {
        limit: Some(1),
        ..JobFilter::default()
    };
    let store = match tokio::time::timeout(limit, app.store().list(&probe)).await {
        Ok(Ok(_)) => json!({"ok": true}),
        Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
        Err(_) => json!({"ok": false, "error": "no answer within 5 s"}),
    };
    let mut tenants = serde_json::Map::new();
    for t in app.tenants() {
        let answer = tokio::time::timeout(limit, t.client.subscribed_skus().list()).await;
        let v = match answer {
            Ok(Ok(_)) => json!({"ok": true}),
            Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
            Err(_) => json!({"ok": false, "error": "no answer within 5 s"}),
        };
        tenants.insert(t.name.clone(), v);
    }
    let ready = store["ok"] == true && tenants.values().all(|v| v["ok"] == true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"ready": ready, "store": store, "tenants": tenants})),
    )
        .into_response()
}

const STATES: [JobState; 8] = [
    JobState::Scheduled,
    JobState::Available,
    JobState::Running,
    JobState::Retryable,
    JobState::Parked,
    JobState::Succeeded,
    JobState::Failed,
    JobState::Cancelled,
];

/// Jobs by state and operation, job durations, Graph requests/retries/throttling per tenant.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut out = String::new();
    let mut by_state: Vec<(JobState, u64)> = Vec::new();
    let mut durations: Vec<(String, f64)> = Vec::new();
    for state in STATES {
        let mut count = 0u64;
        let mut filter = JobFilter {
            state: Some(state),
            limit: Some(500),
            ..JobFilter::default()
        };
        loop {
            let Ok(page) = app.store().list(&filter).await else {
                break;
            };
            count += page.items.len() as u64;
            if state.is_terminal() {
                for job in &page.items {
                    if let (Some(s), Some(f)) = (job.started_at, job.finished_at) {
                        durations.push((job.operation.clone(), (f - s).as_seconds_f64().max(0.0)));
                    }
                }
            }
            match page.next_cursor {
                Some(c) => filter.cursor = Some(c),
                None => break,
            }
        }
        by_state.push((state, count));
    }
    out.push_str("# HELP w365_jobs Jobs in the store by state.\n# TYPE w365_jobs gauge\n");
    for (state, n) in &by_state {
        let _ = writeln!(out, "w365_jobs{{state=\"{}\"}} {n}", state.as_str());
    }
    out.push_str("# HELP w365_job_duration_seconds Run time of finished jobs (first start to finish).\n# TYPE w365_job_duration_seconds summary\n");
    let mut ops: std::collections::BTreeMap<&str, (u64, f64)> = Default::default();
    for (op, secs) in &durations {
        let e = ops.entry(op.as_str()).or_default();
        e.0 += 1;
        e.1 += secs;
    }
    for (op, (n, sum)) in &ops {
        let _ = writeln!(
            out,
            "w365_job_duration_seconds_sum{{operation=\"{op}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "w365_job_duration_seconds_count{{operation=\"{op}\"}} {n}"
        );
    }
    out.push_str("# HELP w365_jobs_submitted_total Jobs submitted through this process.\n# TYPE w365_jobs_submitted_total counter\n");
    let _ = writeln!(
        out,
        "w365_jobs_submitted_total {}",
        app.metrics().submitted.load(Ordering::Relaxed)
    );
    // Per tenant: the API's reads (each tenant's client) plus the job runs of this process's
    // workers (every run's client counts into its tenant's counters).
    let mut graph: std::collections::BTreeMap<String, w365_graph::RequestStats> = app
        .tenants()
        .map(|t| (t.name.clone(), t.client.stats()))
        .collect();
    for (tenant, jobs) in app.job_graph_stats() {
        let s = graph.entry(tenant).or_default();
        s.requests += jobs.requests;
        s.retries += jobs.retries;
        s.throttled += jobs.throttled;
    }
    out.push_str("# HELP w365_graph_requests_total Graph requests per tenant, retries included: this process's API reads and job runs.\n# TYPE w365_graph_requests_total counter\n");
    let mut throttled = String::new();
    let mut retries = String::new();
    for (tenant, s) in &graph {
        let tenant = label_value(tenant);
        let _ = writeln!(
            out,
            "w365_graph_requests_total{{tenant=\"{tenant}\"}} {}",
            s.requests
        );
        let _ = writeln!(
            throttled,
            "w365_graph_throttled_total{{tenant=\"{tenant}\"}} {}",
            s.throttled
        );
        let _ = writeln!(
            retries,
            "w365_graph_retries_total{{tenant=\"{tenant}\"}} {}",
            s.retries
        );
    }
    out.push_str("# HELP w365_graph_throttled_total Graph answers 429 per tenant (API reads and job runs).\n# TYPE w365_graph_throttled_total counter\n");
    out.push_str(&throttled);
    out.push_str("# HELP w365_graph_retries_total Graph requests retried per tenant (API reads and job runs).\n# TYPE w365_graph_retries_total counter\n");
    out.push_str(&retries);
    let _ = writeln!(
        out,
        "# HELP w365_uptime_seconds Seconds since start.\n# TYPE w365_uptime_seconds gauge\nw365_uptime_seconds {}",
        app.uptime().as_secs()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
